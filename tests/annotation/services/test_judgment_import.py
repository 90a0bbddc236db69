"""Importing judgments made elsewhere: what a row may say, what is kept, and the report
refresh it schedules."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from annotation.errors import ImportRejected
from annotation.models import Judgment, Project
from annotation.scheduling import REPORT_REFRESH
from annotation.services import reports
from annotation.services.judgment_import import judgments_import
from tests.factories import CriterionFactory, ProjectFactory, import_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def pairwise() -> Project:
    project = ProjectFactory()  # rationale "off": its annotators are asked for none
    import_items(project, 2)
    return project


def vote(**fields) -> dict:
    return {"annotator": "llm", "item": "q0", "a": "r1", "b": "r2", "choice": "a", **fields}


def test_a_judges_rationale_and_seconds_are_kept_whatever_the_project_asks(pairwise):
    assert pairwise.rationale == Project.Rationale.OFF
    judgments_import(
        project=pairwise,
        rows=[(1, vote(annotator_kind="model", rationale="  A is correct. ", seconds=2.5))],
    )
    judgment = Judgment.objects.get()
    assert (judgment.rationale, judgment.seconds) == ("A is correct.", 2.5)


def test_importing_a_row_again_updates_its_rationale(pairwise):
    judgments_import(project=pairwise, rows=[(1, vote(rationale="first"))])
    judgments_import(project=pairwise, rows=[(1, vote(rationale="second"))])
    assert Judgment.objects.get().rationale == "second"


def test_a_rubric_judgment_keeps_its_rationale():
    project = ProjectFactory(kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="helpful")
    import_items(project, 1, responses=1)
    row = {"annotator": "x", "item": "q0", "response": "r1", "scores": {"helpful": 2}}
    judgments_import(project=project, rows=[(1, {**row, "rationale": "clear"})])
    assert Judgment.objects.get().rationale == "clear"


def test_a_rationale_that_is_not_text_is_refused(pairwise):
    with pytest.raises(ImportRejected) as refused:
        judgments_import(project=pairwise, rows=[(1, vote(rationale=["a"]))])
    assert refused.value.errors == [{"line": 1, "error": "rationale: must be a string"}]


def test_unknown_keys_are_refused_by_name_and_line(pairwise):
    rows = [
        (1, vote()),
        (2, vote(annotator="b", confidence=0.9, explanation="x")),
        (3, vote(annotator="c", response="r1")),  # a rubric key in a pairwise row
    ]
    with pytest.raises(ImportRejected) as refused:
        judgments_import(project=pairwise, rows=rows)
    assert refused.value.errors == [
        {"line": 2, "error": "confidence: unknown key; explanation: unknown key"},
        {"line": 3, "error": "response: unknown key"},
    ]
    assert not Judgment.objects.exists()


def test_a_rubric_row_takes_no_pairwise_keys():
    project = ProjectFactory(kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="helpful")
    import_items(project, 1, responses=1)
    row = {"annotator": "x", "item": "q0", "response": "r1", "scores": {"helpful": 2}}
    with pytest.raises(ImportRejected) as refused:
        judgments_import(project=project, rows=[(1, {**row, "choice": "a"})])
    assert refused.value.errors == [{"line": 1, "error": "choice: unknown key"}]


@pytest.fixture
def scheduled(settings, monkeypatch, published) -> list[dict]:
    """Run as with a worker (not eager); record instead of sending to a broker."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.REPORT_DEBOUNCE_SECONDS = 30
    cache.clear()
    monkeypatch.setattr(reports, "_refresh_due", {})
    return published


def test_an_import_schedules_a_report_refresh_once_committed(
    pairwise, scheduled, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        judgments_import(project=pairwise, rows=[(1, vote()), (2, vote(item="q1"))])
        assert scheduled == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert scheduled == [
        {"task": REPORT_REFRESH, "args": [pairwise.pk], "countdown": 30, "retry": False}
    ]


def test_a_refused_import_schedules_nothing(
    pairwise, scheduled, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ImportRejected):
        judgments_import(project=pairwise, rows=[(1, vote(choice="maybe"))])
    assert scheduled == []


def test_importing_the_same_rows_again_updates_nothing(pairwise):
    rows = [(1, vote(rationale="why", seconds=2.5)), (2, vote(item="q1", choice="tie"))]
    judgments_import(project=pairwise, rows=rows)

    again = judgments_import(project=pairwise, rows=rows)
    changed = judgments_import(project=pairwise, rows=[rows[0], (2, vote(item="q1", choice="b"))])

    assert again.as_dict() == {
        "judgments_created": 0,
        "judgments_updated": 0,
        "judgments_unchanged": 2,
        "annotators_created": 0,
    }
    assert (changed.updated, changed.unchanged) == (1, 1)
    assert Judgment.objects.get(task__item__external_id="q1").choice == "b"
