"""Gold for span-level feedback (issue 16.5; README "Span-level feedback"): an item's expected
spans, imported with the kind's own gold or alone, checked as an annotator's marks are; an
answer is right when its character-level F1 against them reaches SPAN_GOLD_F1 on each label
either side marks."""

from __future__ import annotations

import pytest

from annotation.errors import ImportRejected
from annotation.models import Judgment, Project, Task
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.projects import criteria_add
from annotation.services.quality import SPAN_GOLD_F1, gold_answer_matches
from annotation.stats.spans import gold_span_f1
from tests.factories import ProjectFactory, item_rows, make_annotator

pytestmark = pytest.mark.django_db

LABELS = [{"key": "wrong"}, {"key": "unsafe"}]
# "Answer 0 to 0.": "Answer" is [0, 6), "0 to 0" is [7, 13).
WRONG = {"response": "r1", "start": 0, "end": 6, "label": "wrong"}


def _project(kind: str = Project.Kind.RUBRIC, **fields) -> Project:
    project = ProjectFactory(kind=kind, **fields)
    criteria_add(project=project, criteria=[{"key": "errors", "type": "spans", "labels": LABELS}])
    return project


def _import(project: Project, gold: dict, responses: int = 1) -> None:
    row = item_rows(1, responses=responses)[0] | {"gold": gold}
    items_import(project=project, rows=[(1, row)])


def _marks(task: Task, *spans: tuple[str, int, int, str]) -> Judgment:
    pk = {r.external_id: r.pk for r in task.item.responses.all()}
    return Judgment(
        spans=[
            {"response": pk[r], "start": s, "end": e, "label": label} for r, s, e, label in spans
        ]
    )


def test_character_f1_per_label_against_gold():
    gold = [(1, 0, 6, "wrong"), (1, 7, 13, "unsafe")]

    scores = gold_span_f1(gold, [(1, 0, 3, "wrong"), (2, 0, 6, "irrelevant")])

    assert scores == {"irrelevant": 0.0, "unsafe": 0.0, "wrong": pytest.approx(2 * 3 / 9)}
    assert gold_span_f1(gold, gold) == {"unsafe": 1.0, "wrong": 1.0}
    assert gold_span_f1([], []) == {}


def test_rubric_gold_spans_are_stored_on_the_task_in_response_ids():
    project = _project()
    _import(project, {"spans": [WRONG]})

    task = Task.objects.select_related("response_a").get()
    assert task.is_gold
    assert task.gold_answer == {"spans": [{**WRONG, "response": task.response_a.pk}]}


@pytest.mark.parametrize(
    ("marks", "right"),
    [
        ([("r1", 0, 6, "wrong")], True),
        ([("r1", 0, 3, "wrong")], True),  # F1 2*3/9 = 0.67
        ([("r1", 0, 1, "wrong")], False),  # F1 2*1/7 = 0.29
        ([("r1", 0, 6, "unsafe")], False),  # the wrong label
        ([("r1", 0, 6, "wrong"), ("r1", 7, 13, "unsafe")], False),  # an error gold has not
        ([], False),  # nothing marked where gold marks
    ],
)
def test_a_span_answer_is_right_when_its_f1_reaches_the_threshold(marks, right):
    assert SPAN_GOLD_F1 == 0.5
    project = _project()
    _import(project, {"spans": [WRONG]})
    task = Task.objects.get()

    judgment = _marks(task, *marks)

    assert gold_answer_matches(gold_answer=task.gold_answer, judgment=judgment) is right


def test_gold_of_no_spans_wants_nothing_marked():
    project = _project()
    _import(project, {"spans": []})
    task = Task.objects.get()

    assert gold_answer_matches(gold_answer=task.gold_answer, judgment=_marks(task))
    assert not gold_answer_matches(
        gold_answer=task.gold_answer, judgment=_marks(task, ("r1", 0, 2, "wrong"))
    )


def test_pairwise_gold_needs_the_choice_and_the_spans_on_its_two_responses():
    project = _project(kind=Project.Kind.PAIRWISE)
    _import(project, {"preferred": "r2", "spans": [WRONG]}, responses=2)
    task = Task.objects.get()

    right = _marks(task, ("r1", 0, 6, "wrong"))
    right.choice = "b" if task.response_b.external_id == "r2" else "a"
    wrong_choice = _marks(task, ("r1", 0, 6, "wrong"))
    wrong_choice.choice = "a" if right.choice == "b" else "b"

    assert gold_answer_matches(gold_answer=task.gold_answer, judgment=right)
    assert not gold_answer_matches(gold_answer=task.gold_answer, judgment=wrong_choice)


def test_ranking_gold_holds_the_order_and_the_spans():
    project = _project(kind=Project.Kind.RANKING)
    _import(project, {"ranking": [["r2"], ["r1"], ["r3"]], "spans": [WRONG]}, responses=3)
    task = Task.objects.get()
    pk = {r.external_id: r.pk for r in task.item.responses.all()}

    judgment = _marks(task, ("r1", 0, 5, "wrong"))
    judgment.ranking = [[pk["r2"]], [pk["r1"]], [pk["r3"]]]

    assert task.gold_answer["ranking"] == judgment.ranking
    assert gold_answer_matches(gold_answer=task.gold_answer, judgment=judgment)
    judgment.ranking = [[pk["r1"]], [pk["r2"]], [pk["r3"]]]
    assert not gold_answer_matches(gold_answer=task.gold_answer, judgment=judgment)


@pytest.mark.parametrize(
    ("spans", "error"),
    [
        ([WRONG | {"end": 99}], "spans[0]: must have 0 <= start < end <= 14"),
        ([WRONG | {"label": "typo"}], "spans[0].label: must be one of unsafe, wrong"),
        ([WRONG | {"response": "r7"}], "spans[0].response: must be one of r1"),
        ("all of it", "spans: must be a list of spans"),
    ],
)
def test_bad_gold_spans_are_refused_naming_the_problem(spans, error):
    project = _project()

    with pytest.raises(ImportRejected) as refused:
        _import(project, {"spans": spans})

    assert error in str(refused.value.errors)
    assert not Task.objects.exists()


def test_gold_spans_need_a_spans_criterion():
    project = ProjectFactory(kind=Project.Kind.RUBRIC)

    with pytest.raises(ImportRejected) as refused:
        _import(project, {"spans": [WRONG]})

    assert "needs a project with a spans criterion" in str(refused.value.errors)


def test_a_vote_on_a_gold_task_is_scored_by_its_spans():
    project = _project(gold_rate=1.0)
    _import(project, {"spans": [WRONG]})
    right, wrong = make_annotator(), make_annotator()

    for annotator, start in ((right, 0), (wrong, 7)):
        assignment = assignment_lease(project=project, annotator=annotator)
        assert assignment.task.is_gold
        span = {"response": "response", "start": start, "end": start + 6, "label": "wrong"}
        judgment_submit(assignment=assignment, annotator=annotator, spans=[span])

    marked = dict(Judgment.objects.values_list("annotator_id", "gold_correct"))
    assert marked == {right.pk: True, wrong.pk: False}


def test_gold_spans_survive_an_items_export_and_reimport(researcher, researcher_client):
    for slug in ("facts", "again"):
        created = researcher_client.post(
            "/api/v1/projects/",
            {"slug": slug, "name": slug, "preset": "factuality-spans", "gold_rate": 0.5},
            format="json",
        )
        assert created.status_code == 201, created.json()
    gold = {"spans": [WRONG | {"label": "factual_error"}]}
    row = item_rows(1, responses=1)[0] | {"gold": gold}
    assert (
        researcher_client.post("/api/v1/projects/facts/items/", [row], format="json").status_code
        == 201
    )

    exported = researcher_client.get(
        "/api/v1/projects/facts/export/", {"format": "items", "include_gold": "true"}
    )
    lines = b"".join(exported.streaming_content).decode()
    reimported = researcher_client.post(
        "/api/v1/projects/again/items/", lines, content_type="application/x-ndjson"
    )

    assert reimported.status_code == 201, reimported.json()
    tasks = {t.project.slug: t for t in Task.objects.select_related("project", "response_a")}
    for task in tasks.values():
        assert task.gold_answer == {"spans": [{**gold["spans"][0], "response": task.response_a.pk}]}
