"""Whose judgments exports and reports leave out by default."""

from __future__ import annotations

import pytest

from annotation.models import AnnotatorStats
from annotation.selectors.quality import flagged_annotator_ids
from tests.factories import ProjectFactory, make_annotator

pytestmark = pytest.mark.django_db


def test_blocked_site_wide_or_flagged_or_blocked_in_the_project_are_left_out():
    project, elsewhere = ProjectFactory(), ProjectFactory()
    clean, flagged, blocked_here, blocked_everywhere, flagged_elsewhere = (
        make_annotator() for _ in range(5)
    )
    AnnotatorStats.objects.create(project=project, annotator=clean)
    AnnotatorStats.objects.create(project=project, annotator=flagged, flags=["too_fast"])
    AnnotatorStats.objects.create(project=project, annotator=blocked_here, is_blocked=True)
    blocked_everywhere.is_blocked = True
    blocked_everywhere.save()
    AnnotatorStats.objects.create(
        project=elsewhere, annotator=flagged_elsewhere, flags=["one_side"]
    )
    left_out = {row["pk"] for row in flagged_annotator_ids(project=project)}
    assert left_out == {flagged.pk, blocked_here.pk, blocked_everywhere.pk}
