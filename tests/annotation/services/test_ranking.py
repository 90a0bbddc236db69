"""Listwise ranking tasks through the one import, lease and vote path (README "Ranking tasks")."""

from __future__ import annotations

import pytest

from annotation.errors import AlreadyAnswered, ImportRejected, ValidationFailed
from annotation.models import AnnotatorStats, Assignment, Judgment, Project, Response, Task
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from tests.factories import ProjectFactory, item_rows, make_annotator

pytestmark = pytest.mark.django_db


def ranking_project(**kwargs) -> Project:
    return ProjectFactory(kind=Project.Kind.RANKING, **kwargs)


def _import(project: Project, rows: list[dict]) -> None:
    items_import(project=project, rows=list(enumerate(rows, start=1)))


def _leased(project: Project):
    annotator = make_annotator()
    return annotator, assignment_lease(project=project, annotator=annotator)


def _labels_of(assignment: Assignment) -> dict[str, int]:
    """Screen label -> response id, as the annotator saw them."""
    return dict(zip("ABCDEFGHI", assignment.shown_order, strict=False))


# ---------------------------------------------------------------- import


def test_a_ranking_item_becomes_one_task_showing_all_its_responses():
    project = ranking_project()
    _import(project, item_rows(2, responses=4))

    tasks = Task.objects.filter(project=project)
    assert tasks.count() == 2
    for task in tasks:
        first = Response.objects.get(item=task.item, external_id="r1")
        assert (task.response_a_id, task.response_b_id) == (first.pk, None)


def test_reimporting_a_ranking_item_in_another_order_keeps_its_one_task():
    project = ranking_project()
    rows = item_rows(1, responses=3)
    _import(project, rows)
    rows[0]["responses"].reverse()
    _import(project, rows)

    assert Task.objects.filter(project=project).count() == 1


@pytest.mark.parametrize("count", [1, 10])
def test_a_ranking_item_of_one_or_more_than_nine_responses_is_refused_by_line(count):
    project = ranking_project()
    rows = item_rows(1, responses=3) + item_rows(1, responses=count, prefix="bad")

    with pytest.raises(ImportRejected) as refused:
        _import(project, rows)

    assert refused.value.errors == [
        {"line": 2, "error": f"a ranking item needs 2 to 9 responses, this one has {count}"}
    ]
    assert not Task.objects.filter(project=project).exists()


def test_gold_of_a_ranking_item_is_a_full_order_stored_by_response():
    project = ranking_project(allow_tie=True)
    row = item_rows(1, responses=4)[0] | {"gold": {"ranking": [["r3"], ["r4", "r1"], ["r2"]]}}
    _import(project, [row])

    task = Task.objects.get(project=project)
    pk = dict(Response.objects.filter(item=task.item).values_list("external_id", "pk"))
    assert task.is_gold
    assert task.gold_answer == {"ranking": [[pk["r3"]], sorted([pk["r1"], pk["r4"]]), [pk["r2"]]]}


@pytest.mark.parametrize(
    ("gold", "error"),
    [
        ({"ranking": [["r1"], ["r2"]]}, 'gold "ranking": r3 is not ranked'),
        ({"ranking": [["r1"], ["r2"], ["r3"], ["r1"]]}, "gold \"ranking\": 'r1' is ranked twice"),
        (
            {"ranking": [["r1", "r2"], ["r3"]]},
            'gold "ranking": group 1 ties 2; this project allows no ties',
        ),
        ({"preferred": "r1"}, 'ranking "gold" needs "ranking": [[response id], ...], best first'),
    ],
)
def test_a_gold_ranking_that_is_not_a_full_order_is_refused(gold, error):
    project = ranking_project(allow_tie=False)
    row = item_rows(1, responses=3)[0] | {"gold": gold}

    with pytest.raises(ImportRejected) as refused:
        _import(project, [row])

    assert refused.value.errors == [{"line": 1, "error": error}]


# ---------------------------------------------------------------- lease


def test_the_shown_order_is_drawn_per_annotator_and_kept_on_a_renewed_lease():
    project = ranking_project(lease_seconds=60, annotations_per_task=8)
    _import(project, item_rows(1, responses=6))
    orders = set()
    for _ in range(8):
        annotator, assignment = _leased(project)
        item_responses = set(
            Response.objects.filter(item=assignment.task.item).values_list("pk", flat=True)
        )
        assert set(assignment.shown_order) == item_responses
        assert Assignment.objects.get(pk=assignment.pk).shown_order == assignment.shown_order
        orders.add(tuple(assignment.shown_order))
        again = assignment_lease(project=project, annotator=annotator)
        assert again.pk == assignment.pk and again.shown_order == assignment.shown_order
    assert len(orders) > 1  # 8 draws of 720 orders: all the same would be a fixed order


def test_a_lapsed_lease_taken_again_shows_the_same_order():
    project = ranking_project(lease_seconds=60)
    _import(project, item_rows(1, responses=5))
    annotator, assignment = _leased(project)
    Assignment.objects.filter(pk=assignment.pk).update(expires_at=assignment.leased_at)

    again = assignment_lease(project=project, annotator=annotator)

    assert again.pk == assignment.pk
    assert again.shown_order == assignment.shown_order


# ---------------------------------------------------------------- judging


def test_a_ranking_in_screen_labels_is_stored_as_response_ids_with_the_shown_order():
    project = ranking_project(allow_tie=True)
    _import(project, item_rows(1, responses=4))
    annotator, assignment = _leased(project)
    shown = _labels_of(assignment)

    judgment = judgment_submit(
        assignment=assignment, annotator=annotator, ranking=[["C"], ["A", "D"], ["B"]]
    )

    judgment.refresh_from_db()
    assert judgment.ranking == [[shown["C"]], sorted([shown["A"], shown["D"]]), [shown["B"]]]
    assert judgment.shown_order == assignment.shown_order
    assert judgment.choice == "" and judgment.source == Judgment.Source.PAGE
    assert Task.objects.get(pk=assignment.task_id).judgment_count == 1
    assert AnnotatorStats.objects.get(project=project, annotator=annotator).judgments == 1


@pytest.mark.parametrize(
    ("ranking", "error"),
    [
        (None, "required: the labels A, B, C, D in groups, best first"),
        ([["A"], ["B"], ["C"]], "D is not ranked"),
        ([["A"], ["B"], ["C"], ["D"], ["A"]], "'A' is ranked twice"),
        ([["A"], [], ["B"], ["C"], ["D"]], "group 2 is empty"),
        ([["A"], ["B"], ["C"], ["E"]], "'E' is not one of A, B, C, D"),
        ([["A", "B"], ["C"], ["D"]], "group 1 ties 2; this project allows no ties"),
        ("ABCD", 'must be a non-empty list of groups, best first, e.g. [["A"], ["B"]]'),
        ([["A"], ["B"], "C", ["D"]], "group 3 must be a list of names"),
    ],
)
def test_a_bad_ranking_is_refused_naming_the_problem_and_nothing_is_stored(ranking, error):
    project = ranking_project(allow_tie=False)
    _import(project, item_rows(1, responses=4))
    annotator, assignment = _leased(project)

    with pytest.raises(ValidationFailed) as refused:
        judgment_submit(assignment=assignment, annotator=annotator, ranking=ranking)

    assert refused.value.errors == [{"field": "ranking", "error": error}]
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(pk=assignment.pk).status == Assignment.Status.LEASED
    assert Task.objects.get(pk=assignment.task_id).judgment_count == 0


@pytest.mark.parametrize(
    ("kind", "field", "error"),
    [
        (Project.Kind.RANKING, "choice", "a ranking task takes a ranking only"),
        (Project.Kind.PAIRWISE, "ranking", "only a ranking task takes a ranking"),
    ],
)
def test_a_ranking_task_takes_no_choice_and_a_pairwise_task_no_ranking(kind, field, error):
    project = ProjectFactory(kind=kind)
    _import(project, item_rows(1, responses=2))
    annotator, assignment = _leased(project)

    with pytest.raises(ValidationFailed) as refused:
        judgment_submit(
            assignment=assignment, annotator=annotator, choice="left", ranking=[["A"], ["B"]]
        )

    assert refused.value.errors == [{"field": field, "error": error}]
    assert not Judgment.objects.exists()


def test_the_same_ranking_posted_again_returns_the_stored_judgment_and_another_is_refused():
    project = ranking_project(allow_tie=True)
    _import(project, item_rows(1, responses=3))
    annotator, assignment = _leased(project)
    first = judgment_submit(assignment=assignment, annotator=annotator, ranking=[["B", "A"], ["C"]])

    again = judgment_submit(assignment=assignment, annotator=annotator, ranking=[["A", "B"], ["C"]])
    assert again.pk == first.pk
    with pytest.raises(AlreadyAnswered):
        judgment_submit(assignment=assignment, annotator=annotator, ranking=[["C"], ["A", "B"]])
    assert Judgment.objects.count() == 1


def test_a_ranking_task_takes_exactly_k_judgments():
    project = ranking_project(annotations_per_task=2)
    _import(project, item_rows(1, responses=3))
    for _ in range(2):
        annotator, assignment = _leased(project)
        judgment_submit(assignment=assignment, annotator=annotator, ranking=[["A"], ["B"], ["C"]])

    _, nothing = _leased(project)

    assert nothing is None
    assert Task.objects.get(project=project).judgment_count == 2


def test_a_gold_ranking_is_answered_right_only_in_full():
    project = ranking_project(allow_tie=False, gold_rate=1.0)
    row = item_rows(1, responses=3)[0] | {"gold": {"ranking": [["r2"], ["r1"], ["r3"]]}}
    _import(project, [row])
    pk = dict(Response.objects.values_list("external_id", "pk"))
    outcomes = []
    for order in (["r2", "r1", "r3"], ["r2", "r3", "r1"]):
        annotator, assignment = _leased(project)
        label_of = {v: k for k, v in _labels_of(assignment).items()}
        judgment = judgment_submit(
            assignment=assignment,
            annotator=annotator,
            ranking=[[label_of[pk[r]]] for r in order],
        )
        outcomes.append(judgment.gold_correct)
        stats = AnnotatorStats.objects.get(project=project, annotator=annotator)
        assert (stats.gold_judgments, stats.gold_correct) == (1, int(judgment.gold_correct))

    assert outcomes == [True, False]


# ---------------------------------------------------------------- judgment import


def test_imported_rankings_name_responses_by_their_ids():
    project = ranking_project(allow_tie=True)
    _import(project, item_rows(1, responses=3))
    rows = [{"annotator": "judge-1", "item": "q0", "ranking": [["r3"], ["r1", "r2"]]}]

    judgments_import(project=project, rows=list(enumerate(rows, start=1)))

    pk = dict(Response.objects.values_list("external_id", "pk"))
    judgment = Judgment.objects.get()
    assert judgment.ranking == [[pk["r3"]], sorted([pk["r1"], pk["r2"]])]
    assert judgment.source == Judgment.Source.IMPORT


def test_an_imported_ranking_that_misses_a_response_is_refused_by_line():
    project = ranking_project()
    _import(project, item_rows(1, responses=3))
    rows = [
        {"annotator": "judge-1", "item": "q0", "ranking": [["r3"], ["r1"], ["r2"]]},
        {"annotator": "judge-2", "item": "q0", "ranking": [["r3"], ["r1"]]},
        {"annotator": "judge-3", "item": "nope", "ranking": [["r3"], ["r1"], ["r2"]]},
    ]

    with pytest.raises(ImportRejected) as refused:
        judgments_import(project=project, rows=list(enumerate(rows, start=1)))

    assert refused.value.errors == [
        {"line": 2, "error": "ranking: r2 is not ranked"},
        {"line": 3, "error": "item: no item 'nope'"},
    ]
    assert not Judgment.objects.exists()
