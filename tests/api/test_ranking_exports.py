"""Exports of a ranking project: `judgments` rows carry the ranking in response ids (the
COPY path on PostgreSQL and the row path agree), `dpo` expands rankings into pairs counted
as pairwise votes (`expand`), and the dataset card describes the protocol."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.exports.plan import export_plan
from annotation.exports.query import ExportFilters, ExportQuery
from annotation.exports.rankings import ranking_votes
from annotation.models import Judgment, Response
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from tests.api.test_task_type_studies import assert_copy_and_row_paths_agree
from tests.factories import import_items, make_annotator, ranked_judgments, ranking_project

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/projects/ranked/export/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def ranked(researcher):
    """Item q0 of four responses ranked by three people (r1 mostly first, r4 last), q1 of
    three by two who disagree on the top."""
    project = ranking_project(owner=researcher, slug="ranked", allow_tie=True)
    import_items(project, 2, responses=4)
    ranked_judgments(
        project,
        [
            {"annotator": "h0", "item": "q0", "ranking": [["r1"], ["r2"], ["r3"], ["r4"]]},
            {"annotator": "h1", "item": "q0", "ranking": [["r1"], ["r2", "r3"], ["r4"]]},
            {
                "annotator": "h2",
                "item": "q0",
                "ranking": [["r2"], ["r1"], ["r3"], ["r4"]],
                "shown": ["r4", "r2", "r3", "r1"],
            },
            {"annotator": "h0", "item": "q1", "ranking": [["r1"], ["r2"], ["r3", "r4"]]},
            {"annotator": "h1", "item": "q1", "ranking": [["r2"], ["r1"], ["r4"], ["r3"]]},
        ],
    )
    return project


def pull(client, **params) -> list[dict]:
    response = client.get(EXPORT, {"filetype": "jsonl", **params})
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def pairs_of(rows: list[dict]) -> dict[tuple[str, str, str], tuple]:
    return {
        (row["item_id"], row["chosen_id"], row["rejected_id"]): (
            row["n_judgments"],
            row["agreement"],
        )
        for row in rows
    }


def test_the_votes_each_expand_draws_from_a_ranking_with_a_tie():
    ranking = [[3], [1, 4], [2]]
    assert sorted(ranking_votes(ranking, "adjacent")) == [
        (1, 2, "a"),
        (1, 3, "b"),
        (1, 4, "tie"),
        (2, 4, "b"),
        (3, 4, "a"),
    ]
    assert sorted(ranking_votes(ranking, "all")) == sorted(
        [(1, 2, "a"), (1, 3, "b"), (1, 4, "tie"), (2, 4, "b"), (3, 4, "a"), (2, 3, "b")]
    )
    assert sorted(ranking_votes(ranking, "best_worst")) == [(2, 3, "b")]
    assert sorted(ranking_votes([[2, 1]], "best_worst")) == [(1, 2, "tie")]


def test_judgments_of_a_ranking_project_carry_the_ranking_in_response_ids(
    researcher_client, ranked
):
    rows = pull(researcher_client, format="judgments")

    by_annotator = {(row["annotator"], row["item_id"]): row for row in rows}
    assert by_annotator[("h1", "q0")]["ranking"] == [["r1"], ["r2", "r3"], ["r4"]]
    assert by_annotator[("h1", "q0")]["shown_order"] is None  # imported: nothing was shown
    assert by_annotator[("h2", "q0")]["shown_order"] == ["r4", "r2", "r3", "r1"]
    assert not {"a", "b", "choice", "response", "scores"} & set(rows[0])


def test_a_ranking_voted_on_the_page_exports_what_the_annotator_saw(researcher_client, ranked):
    annotator = make_annotator()
    assignment = assignment_lease(project=ranked, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, ranking=[["D"], ["A", "B"], ["C"]])
    external = dict(Response.objects.values_list("pk", "external_id"))
    shown = [external[pk] for pk in assignment.shown_order]

    (row,) = [
        r
        for r in pull(researcher_client, format="judgments")
        if r["annotator"] not in ("h0", "h1", "h2")
    ]

    assert row["shown_order"] == shown
    assert [set(group) for group in row["ranking"]] == [
        {shown[3]},
        {shown[0], shown[1]},
        {shown[2]},
    ]


@pytest.mark.parametrize("filetype", ["jsonl", "parquet"])
def test_the_copy_path_and_the_row_path_give_the_same_ranking_judgments(ranked, filetype):
    plan = export_plan(project=ranked, query=ExportQuery("judgments", filetype, ExportFilters()))

    assert_copy_and_row_paths_agree(plan)
    assert connection.vendor in ("postgresql", "sqlite")


def test_dpo_expands_adjacent_places_by_default_and_counts_votes_per_pair(
    researcher_client, ranked
):
    rows = pull(researcher_client, format="dpo")

    assert {(r["source"], r["expand"]) for r in rows} == {("ranking", "adjacent")}
    pairs = pairs_of(rows)
    # q0: r1 over r2 twice (h0, h2 reversed it: 2 of 3), r2-r3 one win one tie one skip...
    assert pairs[("q0", "r1", "r2")] == (3, pytest.approx(2 / 3, abs=1e-6))
    assert pairs[("q0", "r3", "r4")] == (3, 1.0)
    # h1 tied r2 and r3 and h0 ranked r2 above: a vote each, no majority... plus h2 (r1
    # between them: no adjacent vote) -> 1 win, 1 tie: undecided, no row.
    assert ("q0", "r2", "r3") not in pairs and ("q0", "r3", "r2") not in pairs
    # q1: h0 and h1 disagree on r1-r2: no row.
    assert not {("q1", "r1", "r2"), ("q1", "r2", "r1")} & set(pairs)
    assert all(r["prompt"] and r["chosen"] and r["rejected"] for r in rows)
    assert {r["chosen_model"] for r in rows} >= {"model-0"}


def test_dpo_expand_all_and_best_worst(researcher_client, ranked):
    every = pairs_of(pull(researcher_client, format="dpo", expand="all"))
    extremes = pairs_of(pull(researcher_client, format="dpo", expand="best_worst"))

    assert every[("q0", "r1", "r4")] == (3, 1.0)
    assert every[("q0", "r2", "r4")] == (3, 1.0)
    assert every[("q0", "r1", "r3")] == (3, 1.0)
    # h0's worst group on q1 ties r3 and r4: both lose to r1.
    assert set(extremes) == {
        ("q0", "r1", "r4"),
        ("q0", "r2", "r4"),
        ("q1", "r1", "r3"),
        ("q1", "r1", "r4"),
        ("q1", "r2", "r3"),
    }
    assert extremes[("q0", "r1", "r4")] == (2, 1.0)  # h2's best was r2


def test_dpo_of_rankings_takes_min_agreement_min_judgments_and_dawid_skene(
    researcher_client, ranked
):
    strict = pairs_of(pull(researcher_client, format="dpo", expand="all", min_agreement="0.9"))
    assert strict and all(agreement >= 0.9 for _, agreement in strict.values())
    three = pairs_of(pull(researcher_client, format="dpo", expand="all", min_judgments="3"))
    assert three and all(n >= 3 for n, _ in three.values())
    weighted = pairs_of(pull(researcher_client, format="dpo", expand="all", label="dawid_skene"))
    # Unanimous pairs keep their winner; the agreement is the label's posterior.
    assert ("q0", "r3", "r4") in weighted and ("q0", "r1", "r4") in weighted
    assert all(0 < agreement <= 1 for _, agreement in weighted.values())


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "dpo", "expand": "pairs"}, "expand"),
        ({"format": "judgments", "expand": "all"}, "expand"),
        ({"format": "dpo", "label": "adjudicated"}, "label"),
        ({"format": "labels"}, "format"),
        ({"format": "rubric"}, "format"),
    ],
)
def test_a_query_that_does_not_fit_rankings_is_a_400_naming_the_field(
    researcher_client, ranked, params, field
):
    response = researcher_client.get(EXPORT, params)

    assert response.status_code == 400, response.content
    assert field in [error["field"] for error in response.json()["errors"]]


def test_expand_on_a_pairwise_project_is_a_400(researcher_client, researcher):
    from tests.factories import ProjectFactory

    ProjectFactory(owner=researcher, slug="pairs")
    response = researcher_client.get(
        "/api/v1/projects/pairs/export/", {"format": "dpo", "expand": "all"}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "expand", "error": "applies to ranking projects only"}
    ]


def test_a_since_pull_retracts_a_ranking_pair_that_lost_its_majority(researcher_client, ranked):
    cursor = Judgment.objects.order_by("-pk").first().pk
    ranked_judgments(
        ranked,
        [
            {"annotator": f"h{k}", "item": "q0", "ranking": [["r4"], ["r3"], ["r2"], ["r1"]]}
            for k in (3, 4, 5)
        ],
    )

    rows = pull(researcher_client, format="dpo", since=str(cursor))

    by_pair = {(r["chosen_id"], r["rejected_id"]): r for r in rows if not r["retracted"]}
    retracted = [r for r in rows if r["retracted"]]
    assert all(r["item_id"] == "q0" for r in rows)  # q1 was not ranked again
    # r1 over r2 twice before, r2 over r1 once and now three times more.
    assert (by_pair[("r2", "r1")]["n_judgments"], by_pair[("r2", "r1")]["agreement"]) == (
        6,
        round(4 / 6, 6),
    )
    # r3 over r4 three times before, r4 over r3 three times now: no longer a pair.
    (gone,) = retracted
    assert gone["n_judgments"] == 6 and gone["source"] == "ranking" and gone["chosen"] is None
    assert gone["pair_id"] not in {r["pair_id"] for r in pull(researcher_client, format="dpo")}


def test_ranking_exports_load_with_hugging_face_datasets(researcher_client, ranked, tmp_path):
    datasets = pytest.importorskip("datasets")
    for name, params in (
        ("judgments", {"format": "judgments"}),
        ("dpo", {"format": "dpo", "expand": "all"}),
    ):
        for filetype, builder in (("jsonl", "json"), ("parquet", "parquet"), ("csv", "csv")):
            response = researcher_client.get(EXPORT, params | {"filetype": filetype})
            path = tmp_path / f"{name}.{filetype}"
            path.write_bytes(b"".join(response.streaming_content))
            dataset = datasets.load_dataset(
                builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "c")
            )
            assert dataset.num_rows == len(pull(researcher_client, **params)), (name, filetype)
            if name == "judgments" and filetype != "csv":
                assert dataset[1]["ranking"] == [["r1"], ["r2", "r3"], ["r4"]]


def test_ranking_dpo_takes_a_fixed_number_of_queries(researcher_client, ranked):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            pull(researcher_client, format="dpo", expand="all")
        return len(queries.captured_queries)

    few = count()
    import_items(ranked, 30, responses=4, prefix="more")
    ranked_judgments(
        ranked,
        [
            {"annotator": f"h{k}", "item": f"more{i}", "ranking": [["r1"], ["r2"], ["r3"], ["r4"]]}
            for i in range(30)
            for k in range(2)
        ],
    )
    assert count() == few


def test_the_dataset_card_describes_the_ranking_protocol_and_the_expansion(
    researcher_client, ranked, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(
            "/api/v1/projects/ranked/snapshots/",
            {"format": "dpo", "expand": "best_worst"},
            format="json",
        )
    assert response.status_code == 202, response.json()
    built = researcher_client.get(f"/api/v1/projects/ranked/snapshots/{response.json()['id']}/")
    body = built.json()

    assert body["status"] == "ready" and body["query"]["expand"] == "best_worst"
    card = body["card"]
    assert "Listwise ranking: annotators saw a prompt and all of its responses" in card
    assert "responses could be tied" in card
    assert "`source: ranking`, `expand: best_worst`" in card
    assert "each response of its first group against each of its last" in card
    assert '| expand | "best_worst" |' in card
