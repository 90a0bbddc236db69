"""A ranking study over the REST API (README "Ranking tasks"): a project from the 4-way
ranking preset, items of four responses, annotators leasing and ranking until every task
has exactly k judgments; bad rankings refused with nothing stored; no model name shown."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, Judgment, Project, Task
from tests.api.test_annotating import JUDGMENT_QUERIES, NEXT_TASK_QUERIES
from tests.factories import AnnotatorUserFactory, ProjectFactory, import_items, item_rows

pytestmark = pytest.mark.django_db

K = 3
ITEMS = 4
ANNOTATORS = 5


@pytest.fixture
def study(researcher_client) -> str:
    created = researcher_client.post(
        "/api/v1/projects/",
        {
            "slug": "ranks",
            "name": "Rank four",
            "preset": "ranking-4",
            "annotations_per_task": K,
            "gold_rate": 0,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["kind"] == "ranking" and created.json()["allow_tie"] is True
    imported = researcher_client.post(
        "/api/v1/projects/ranks/items/", item_rows(ITEMS, responses=4), format="json"
    )
    assert imported.status_code == 201, imported.json()
    assert imported.json()["tasks_created"] == ITEMS
    return "ranks"


def _next(client):
    return client.get("/api/v1/projects/ranks/tasks/next/")


def _judge(client, assignment: int, body):
    return client.post(f"/api/v1/assignments/{assignment}/judgment/", body, format="json")


def test_annotators_rank_until_every_task_has_exactly_k_judgments(study, api_client_for):
    stored = 0
    for n in range(ANNOTATORS):
        client = api_client_for(AnnotatorUserFactory(username=f"ranker{n}"))
        while (response := _next(client)).status_code == 200:
            task = response.json()
            assert task["kind"] == "ranking"
            assert [r["label"] for r in task["responses"]] == ["A", "B", "C", "D"]
            assert all(set(r) == {"label", "text"} for r in task["responses"])
            assert "model-" not in response.content.decode()
            answer = _judge(client, task["assignment"], {"ranking": [["C"], ["A", "D"], ["B"]]})
            assert answer.status_code == 201, answer.json()
            stored += 1
        assert response.status_code == 204

    assert stored == K * ITEMS
    assert list(Task.objects.values_list("judgment_count", flat=True)) == [K] * ITEMS
    for judgment in Judgment.objects.select_related("assignment"):
        shown = dict(zip("ABCD", judgment.assignment.shown_order, strict=True))
        assert judgment.ranking == [[shown["C"]], sorted([shown["A"], shown["D"]]), [shown["B"]]]
        assert judgment.shown_order == judgment.assignment.shown_order
        assert judgment.source == Judgment.Source.API


def test_the_same_lease_shows_the_same_order_and_texts(study, api_client_for):
    client = api_client_for(AnnotatorUserFactory())
    first = _next(client).json()

    again = _next(client).json()

    assert again["assignment"] == first["assignment"]
    assert again["responses"] == first["responses"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"ranking": [["C"], ["A", "D"]]}, "B is not ranked"),
        ({"ranking": [["C"], ["A", "D"], ["B"], ["A"]]}, "'A' is ranked twice"),
        ({"ranking": [["C"], [], ["A", "D"], ["B"]]}, "group 2 is empty"),
        ({"ranking": [["C"], ["A", "E"], ["B"], ["D"]]}, "'E' is not one of A, B, C, D"),
        ({}, "required: the labels A, B, C, D in groups, best first"),
    ],
)
def test_a_bad_ranking_is_a_400_naming_the_problem_and_nothing_is_stored(
    study, api_client_for, body, error
):
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client).json()

    response = _judge(client, task["assignment"], body)

    assert response.status_code == 400
    assert {"field": "ranking", "error": error} in response.json()["errors"]
    assert not Judgment.objects.exists()
    assert Assignment.objects.get(pk=task["assignment"]).status == Assignment.Status.LEASED
    retried = _judge(client, task["assignment"], {"ranking": [["A"], ["B"], ["C"], ["D"]]})
    assert retried.status_code == 201  # the lease is still open for a right answer


def test_ties_are_refused_when_the_project_allows_none(study, researcher_client, api_client_for):
    researcher_client.patch("/api/v1/projects/ranks/", {"allow_tie": False}, format="json")
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client).json()

    response = _judge(client, task["assignment"], {"ranking": [["C"], ["A", "D"], ["B"]]})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "ranking", "error": "group 2 ties 2; this project allows no ties"}
    ]
    assert not Judgment.objects.exists()


def test_a_pairwise_answer_to_a_ranking_task_is_a_400(study, api_client_for):
    client = api_client_for(AnnotatorUserFactory())
    task = _next(client).json()

    response = _judge(client, task["assignment"], {"choice": "left"})

    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"ranking", "choice"}
    assert not Judgment.objects.exists()


def test_an_item_of_ten_responses_is_refused_by_line(study, researcher_client):
    rows = item_rows(1, responses=4, prefix="ok") + item_rows(1, responses=10, prefix="big")

    response = researcher_client.post("/api/v1/projects/ranks/items/", rows, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"line": 2, "error": "a ranking item needs 2 to 9 responses, this one has 10"}
    ]
    assert Task.objects.count() == ITEMS


# The hot paths on a ranking task: tasks/next as a pair's (tests/api/test_annotating.py) plus
# the item's responses to shuffle and their texts in the shown order; a judgment as a pair's.
RANKING_NEXT_TASK_QUERIES = NEXT_TASK_QUERIES + 2


@pytest.mark.parametrize(("items", "responses"), [(2, 3), (20, 9)])
def test_next_ranking_task_takes_a_fixed_number_of_queries(
    researcher, annotator, annotator_client, django_assert_num_queries, items, responses
):
    project = ProjectFactory(owner=researcher, slug="many", kind=Project.Kind.RANKING)
    import_items(project, items, responses=responses)

    with django_assert_num_queries(RANKING_NEXT_TASK_QUERIES):
        response = annotator_client.get("/api/v1/projects/many/tasks/next/")
    assert len(response.json()["responses"]) == responses


@pytest.mark.parametrize("earlier", [0, 5])
def test_a_ranking_judgment_takes_as_many_queries_as_a_pairs(
    researcher, annotator, annotator_client, django_assert_num_queries, earlier
):
    project = ProjectFactory(owner=researcher, slug="many", kind=Project.Kind.RANKING)
    import_items(project, earlier + 1, responses=4)
    body = {"ranking": [["A"], ["B"], ["C"], ["D"]]}
    for _ in range(earlier):
        task = annotator_client.get("/api/v1/projects/many/tasks/next/").json()
        _judge(annotator_client, task["assignment"], body)
    task = annotator_client.get("/api/v1/projects/many/tasks/next/").json()

    with django_assert_num_queries(JUDGMENT_QUERIES):
        assert _judge(annotator_client, task["assignment"], body).status_code == 201
