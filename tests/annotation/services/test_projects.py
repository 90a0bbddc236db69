from __future__ import annotations

import pytest

from annotation.errors import ValidationFailed
from annotation.models import Criterion, RubricVersion
from annotation.presets import PRESETS
from annotation.services.judgment_import import judgments_import
from annotation.services.projects import project_create, project_update
from tests.factories import import_items

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_makes_a_valid_project(preset):
    project = project_create(owner=None, slug=f"p-{preset}", name=preset, preset=preset)
    assert project.kind == PRESETS[preset]["fields"]["kind"]
    assert Criterion.objects.filter(project=project).count() == len(PRESETS[preset]["criteria"])


def test_explicit_fields_win_over_the_preset():
    project = project_create(
        owner=None, slug="p", name="p", preset="pairwise-strength", allow_tie=False
    )
    assert project.strength_scale == 3 and project.allow_tie is False


def test_an_unknown_preset_is_refused():
    with pytest.raises(ValidationFailed):
        project_create(owner=None, slug="p", name="p", preset="nope")


def test_changing_criteria_after_judgments_starts_a_new_rubric_version():
    project = project_create(owner=None, slug="r", name="r", preset="likert-7")
    import_items(project, 1, responses=1)
    judgments_import(
        project=project,
        rows=[(1, {"annotator": "x", "item": "q0", "response": "r1", "scores": {"quality": 5}})],
    )
    project_update(project=project, criteria=[{"key": "quality", "min": 1, "max": 5}])
    project.refresh_from_db()
    assert project.rubric_version == 2
    archived = RubricVersion.objects.get(project=project)
    assert archived.version == 1 and archived.criteria[0]["max"] == 7
    assert project.judgments.get().rubric_version == 1


def test_changing_criteria_before_any_judgment_keeps_the_version():
    project = project_create(owner=None, slug="r", name="r", preset="likert-7")
    project_update(project=project, criteria=[{"key": "quality", "min": 1, "max": 5}])
    assert project.rubric_version == 1 and not RubricVersion.objects.exists()
