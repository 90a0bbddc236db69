"""Where a project's report stands: the newest good report, staleness and what beat
recomputes, read without computing anything."""

from __future__ import annotations

from datetime import timedelta

import pytest

from annotation.models import AgreementReport, Project
from annotation.selectors.reports import (
    projects_with_stale_reports,
    report_is_stale,
    report_last_attempt,
    report_latest,
    report_state,
)
from annotation.services.reports import report_compute, report_refresh
from tests.annotation.services.test_reports import _simulate_pairwise
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def voted() -> Project:
    project = ProjectFactory()
    import_items(project, 4)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.7})
    return project


def _failed_after(report: AgreementReport) -> AgreementReport:
    return AgreementReport.objects.create(
        project=report.project,
        last_judgment_id=report.last_judgment_id,
        n_judgments=report.n_judgments,
        failed=True,
        computed_at=report.computed_at + timedelta(seconds=1),
        error="MemoryError: worker ran out of memory",
    )


def test_a_project_never_reported_has_no_report_and_is_stale(voted):
    assert report_latest(project=voted) is None
    assert report_last_attempt(project=voted) is None
    assert report_is_stale(project=voted, report=None)
    assert report_state(project=voted) == (None, True, None)


def test_a_report_becomes_stale_when_a_vote_arrives_after_it(voted):
    report = report_compute(project=voted, n_boot=10)
    assert not report_is_stale(project=voted, report=report)
    _simulate_pairwise(voted, annotators={"h3": 0.9})
    assert report_is_stale(project=voted, report=report)


def test_a_failed_computation_keeps_the_good_report_shown_with_its_error(voted):
    good = report_compute(project=voted, n_boot=10)
    failed = _failed_after(good)
    assert report_latest(project=voted) == good
    assert report_last_attempt(project=voted) == failed
    assert report_state(project=voted) == (good, False, failed)


def projects_some_behind() -> Project:
    """Beside the `voted` one: a fresh project, one with votes after its report (returned),
    a paused one with unreported votes and an active one never judged."""
    fresh = ProjectFactory()
    import_items(fresh, 2)
    _simulate_pairwise(fresh, annotators={"h1": 0.9, "h2": 0.8})
    report_refresh(project_id=fresh.pk)
    behind = ProjectFactory()
    import_items(behind, 2)
    _simulate_pairwise(behind, annotators={"h1": 0.9})
    report_refresh(project_id=behind.pk)
    _simulate_pairwise(behind, annotators={"h2": 0.8})  # votes after its report
    paused = ProjectFactory(status=Project.Status.PAUSED)
    import_items(paused, 2)
    _simulate_pairwise(paused, annotators={"h1": 0.9})
    ProjectFactory()  # active, never judged
    return behind


def test_beat_finds_each_active_project_whose_report_is_behind_in_one_query(
    voted, django_assert_num_queries
):
    behind = projects_some_behind()
    with django_assert_num_queries(1):
        assert projects_with_stale_reports() == sorted([voted.pk, behind.pk])
