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
from annotation.services.projects import criteria_add
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


# ---------------------------------------------------------------- spans, reasons, rewrites


SPAN_LABELS = [{"key": "wrong", "description": "False"}, {"key": "unsafe"}]


@pytest.fixture
def marked() -> Project:
    """A pairwise project with a spans criterion that takes rewrites (texts "Answer j to i.")."""
    project = ProjectFactory(rewrite=Project.Rewrite.OPTIONAL, allow_tie=True)
    criteria_add(
        project=project, criteria=[{"key": "errors", "type": "spans", "labels": SPAN_LABELS}]
    )
    import_items(project, 1)
    return project


def test_spans_and_a_rewrite_are_imported_with_response_ids(marked):
    span = {"response": "r2", "start": 0, "end": 6, "label": "wrong", "note": "no"}
    row = vote(choice="b", spans=[span], rewrite="A better answer 1 to 0.")

    judgments_import(project=marked, rows=[(1, row)])

    judgment = Judgment.objects.select_related("rewrite_of", "task__response_b").get()
    assert judgment.spans == [{**span, "response": judgment.task.response_b.pk}]
    assert judgment.rewrite == "A better answer 1 to 0."
    assert judgment.rewrite_of == judgment.task.response_b


def test_a_tie_names_the_response_its_rewrite_replaces_by_id(marked):
    judgments_import(
        project=marked, rows=[(1, vote(choice="tie", rewrite="Both, fixed.", rewrite_of="r1"))]
    )

    assert Judgment.objects.get().rewrite_of.external_id == "r1"


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (
            {"spans": [{"response": "r1", "start": 3, "end": 99, "label": "wrong"}]},
            "spans[0]: must have 0 <= start < end <= 14",
        ),
        (
            {"spans": [{"response": "r1", "start": 0, "end": 3, "label": "typo"}]},
            "spans[0].label: must be one of unsafe, wrong",
        ),
        (
            {"spans": [{"response": "r9", "start": 0, "end": 3, "label": "wrong"}]},
            "spans[0].response: must be one of r1, r2",
        ),
        ({"rewrite": "Mine.", "rewrite_of": "r2"}, "rewrite_of: must be one of r1"),
        ({"reasons": {"errors": "because"}}, "reasons: reasons go with verdicts"),
    ],
)
def test_a_bad_mark_is_refused_naming_it_and_nothing_is_stored(marked, given, error):
    rows = [(1, vote(annotator="fine")), (2, vote(**given))]

    with pytest.raises(ImportRejected) as refused:
        judgments_import(project=marked, rows=rows)

    assert [e["line"] for e in refused.value.errors] == [2]
    assert error in refused.value.errors[0]["error"]
    assert not Judgment.objects.exists()


def test_a_rewrite_for_a_project_that_takes_none_is_refused(pairwise):
    with pytest.raises(ImportRejected) as refused:
        judgments_import(project=pairwise, rows=[(1, vote(rewrite="Better."))])

    assert refused.value.errors == [{"line": 1, "error": "rewrite: this project takes no rewrite"}]
    assert not Judgment.objects.exists()


def test_verdict_reasons_are_imported_and_a_null_one_is_none():
    project = ProjectFactory(kind=Project.Kind.RUBRIC)
    criteria_add(project=project, criteria=[{"key": "harmless", "type": "verdict"}])
    import_items(project, 1, responses=1)
    row = {"annotator": "x", "item": "q0", "response": "r1", "scores": {"harmless": False}}

    judgments_import(project=project, rows=[(1, {**row, "reasons": {"harmless": " Risky. "}})])
    assert Judgment.objects.get().reasons == {"harmless": "Risky."}
    judgments_import(project=project, rows=[(1, {**row, "reasons": {"harmless": None}})])
    assert Judgment.objects.get().reasons == {}


def test_a_ranking_row_takes_spans_on_its_responses_by_id():
    project = ProjectFactory(kind=Project.Kind.RANKING)
    criteria_add(
        project=project, criteria=[{"key": "errors", "type": "spans", "labels": SPAN_LABELS}]
    )
    import_items(project, 1, responses=3)
    row = {
        "annotator": "x",
        "item": "q0",
        "ranking": [["r3"], ["r1"], ["r2"]],
        "spans": [{"response": "r3", "start": 0, "end": 6, "label": "unsafe"}],
    }

    judgments_import(project=project, rows=[(1, row)])

    judgment = Judgment.objects.get()
    assert judgment.spans[0]["response"] == judgment.ranking[0][0]
