"""The original dataset's label of each pairwise task, as the report reads it."""

from __future__ import annotations

import pytest

from annotation.selectors.judgment_table import REFERENCE_CHOICES, task_references
from annotation.services.importing import items_import
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_each_task_gets_the_code_of_the_response_its_item_prefers():
    project = ProjectFactory()
    responses = [{"id": f"r{j}", "model": f"m{j}", "text": str(j)} for j in (1, 2, 3)]
    rows = [
        {"id": "pref-r2", "prompt": "p", "responses": responses, "reference": {"preferred": "r2"}},
        {"id": "tie", "prompt": "p", "responses": responses[:2], "reference": {"preferred": "tie"}},
        {"id": "none", "prompt": "p", "responses": responses[:2]},
        {"id": "other", "prompt": "p", "responses": responses[:2], "reference": {"score": 3}},
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    items_import(
        project=ProjectFactory(),
        rows=[(1, {**rows[0], "id": "elsewhere"})],  # another project's items stay out
    )

    task, code = task_references(project=project)

    expected = {
        (t.item.external_id, t.response_a.external_id, t.response_b.external_id): t.pk
        for t in project.tasks.select_related("item", "response_a", "response_b")
    }
    labels = dict(zip(task.tolist(), code.tolist(), strict=True))
    assert list(task) == sorted(task)
    assert labels == {
        expected["pref-r2", "r1", "r2"]: REFERENCE_CHOICES.index("b"),
        expected["pref-r2", "r1", "r3"]: -1,
        expected["pref-r2", "r2", "r3"]: REFERENCE_CHOICES.index("a"),
        expected["tie", "r1", "r2"]: REFERENCE_CHOICES.index("tie"),
    }


def test_a_project_without_references_has_none():
    project = ProjectFactory()
    items_import(
        project=project,
        rows=[(1, {"prompt": "p", "responses": [{"model": "a"}, {"model": "b"}]})],
    )
    task, code = task_references(project=project)
    assert len(task) == len(code) == 0
