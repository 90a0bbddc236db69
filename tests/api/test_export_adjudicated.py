"""Adjudications in the exports (README "Exports" and "Researchers"): `labels` carries
`adjudicated_label` and `adjudicated_by`, `dpo` takes `label=adjudicated`, and incremental
pulls pick up decisions made after their cursor."""

from __future__ import annotations

import random

import pytest

from annotation.models import Adjudication, Judgment, Task
from annotation.services.adjudication import adjudication_record
from tests.api.test_export_pairs import (  # noqa: F401 (snapshot is a fixture)
    apply_pull,
    dpo,
    labels,
    last_judgment,
    snapshot,
    snapshot_rows,
)
from tests.api.test_exports import import_votes, votes
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def pairs(pairwise):
    pairwise.allow_both_bad = True
    pairwise.save()
    return pairwise


def decide(item: str, label: str, researcher, note: str = "") -> Adjudication:
    task = Task.objects.get(item__external_id=item)
    return adjudication_record(task=task, researcher=researcher, label=label, note=note)


def test_labels_carry_the_adjudicated_label_and_the_researchers_pseudonym(
    researcher_client, researcher, pairs
):
    import_votes(pairs, votes("q0", "a", "b") + votes("q1", "a", "a"))
    decide("q0", "b", researcher)

    rows = {row["item_id"]: row for row in labels(researcher_client)}

    assert (rows["q0"]["adjudicated_label"], rows["q0"]["adjudicated_by"]) == (
        "b",
        f"researcher-{researcher.pk}",
    )
    assert (rows["q1"]["adjudicated_label"], rows["q1"]["adjudicated_by"]) == (None, None)
    assert researcher.get_username() not in str(rows)


@pytest.mark.parametrize("filetype", ["csv", "parquet"])
def test_labels_keep_one_schema_with_and_without_adjudications(
    researcher_client, researcher, pairs, filetype
):
    import_votes(pairs, votes("q0", "a", "b") + votes("q1", "a", "a"))
    decide("q0", "tie", researcher)

    rows = labels(researcher_client, filetype=filetype)

    assert [list(row) for row in rows] == [list(rows[0])] * 2
    assert rows[0]["adjudicated_label"] == "tie"


def test_dpo_label_adjudicated_lets_the_decision_decide_and_falls_back_to_the_majority(
    researcher_client, researcher, pairs
):
    import_votes(
        pairs,
        votes("q0", "a", "a", "b")  # majority a, adjudicated b
        + votes("q1", "a", "b")  # no majority, adjudicated a
        + votes("q2", "b", "b"),  # majority b, not adjudicated
    )
    decide("q0", "b", researcher)
    decide("q1", "a", researcher)

    rows = {row["item_id"]: row for row in dpo(researcher_client, label="adjudicated")}
    majority = {row["item_id"]: row for row in dpo(researcher_client)}

    assert {item: row["chosen_id"] for item, row in rows.items()} == {
        "q0": "r2",
        "q1": "r1",
        "q2": "r2",
    }
    assert rows["q0"]["agreement"] == pytest.approx(1 / 3, abs=1e-6)
    assert {item: row["chosen_id"] for item, row in majority.items()} == {"q0": "r1", "q2": "r2"}


def test_an_adjudicated_tie_or_both_bad_is_no_pair(researcher_client, researcher, pairs):
    import_votes(pairs, votes("q0", "a", "a", "b") + votes("q1", "b", "b"))
    decide("q0", "tie", researcher)
    decide("q1", "both_bad", researcher)

    assert dpo(researcher_client, label="adjudicated") == []


def test_an_adjudicated_pair_is_kept_whatever_min_agreement_and_min_judgments(
    researcher_client, researcher, pairs
):
    import_votes(pairs, votes("q0", "a", "b", "tie") + votes("q1", "a", "b", "b"))
    decide("q0", "a", researcher)

    rows = dpo(researcher_client, label="adjudicated", min_agreement="0.9", min_judgments="5")

    assert [(row["item_id"], row["chosen_id"]) for row in rows] == [("q0", "r1")]


def test_a_since_pull_gives_pairs_adjudicated_after_the_cursor(
    researcher_client, researcher, pairs
):
    import_votes(pairs, votes("q0", "a", "a", "b") + votes("q1", "a", "b") + votes("q2", "b"))
    cursor = last_judgment()
    decide("q0", "tie", researcher)  # unmakes the pair
    decide("q1", "b", researcher)  # makes one

    pulled = dpo(researcher_client, label="adjudicated", since=str(cursor))
    labelled = labels(researcher_client, since=str(cursor))

    assert [(r["item_id"], r["retracted"], r["chosen_id"]) for r in pulled] == [
        ("q0", True, None),
        ("q1", False, "r2"),
    ]
    assert [(r["item_id"], r["adjudicated_label"]) for r in labelled] == [
        ("q0", "tie"),
        ("q1", "b"),
    ]


def test_a_since_pull_by_time_gives_pairs_adjudicated_after_it(
    researcher_client, researcher, pairs
):
    import_votes(pairs, votes("q0", "a", "a", "b") + votes("q1", "b"))
    moment = Judgment.objects.latest("pk").created_at.isoformat()
    decide("q0", "b", researcher)

    pulled = dpo(researcher_client, label="adjudicated", since=moment)
    labelled = labels(researcher_client, since=moment)

    assert [(r["item_id"], r["chosen_id"]) for r in pulled] == [("q0", "r2")]
    assert [(r["item_id"], r["adjudicated_label"]) for r in labelled] == [("q0", "b")]


def test_the_default_dpo_ignores_adjudications_and_its_since_pull_too(
    researcher_client, researcher, pairs
):
    import_votes(pairs, votes("q0", "a", "a", "b"))
    cursor = last_judgment()
    decide("q0", "b", researcher)

    assert [r["chosen_id"] for r in dpo(researcher_client)] == ["r1"]
    assert dpo(researcher_client, since=str(cursor)) == []


def test_incremental_adjudicated_pulls_applied_in_turn_end_equal_to_a_full_pull(
    researcher_client, researcher
):
    project = ProjectFactory(owner=researcher, slug="pairs", allow_tie=True, allow_both_bad=True)
    import_items(project, 10)
    rng = random.Random(15)
    copy: dict[int, dict] = {}
    apply_pull(copy, dpo(researcher_client, label="adjudicated"))
    for round_number in range(5):
        cursor = Judgment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        rows = []
        for item in rng.sample(range(10), 4):
            choices = rng.choices(["a", "b", "tie"], k=2)
            rows += votes(f"q{item}", *choices, judge=f"r{round_number}-")
        import_votes(project, rows)
        judged = sorted(set(Judgment.objects.values_list("task__item__external_id", flat=True)))
        for item in rng.sample(judged, 2):
            decide(item, rng.choice(["a", "b", "tie", "both_bad"]), researcher)

        apply_pull(copy, dpo(researcher_client, label="adjudicated", since=str(cursor)))

        full = dpo(researcher_client, label="adjudicated")
        assert sorted(copy.values(), key=lambda row: row["pair_id"]) == full


def test_a_snapshot_with_label_adjudicated_states_it_and_carries_the_decisions(
    researcher_client,
    researcher,
    pairs,
    snapshot,  # noqa: F811 (the fixture)
):
    import_votes(pairs, votes("q0", "a", "a", "b"))
    decide("q0", "b", researcher)
    _, build = snapshot({"format": "dpo", "label": "adjudicated"})
    built = build()

    assert built["query"]["label"] == "adjudicated"
    assert "adjudication" in built["card"]
    assert [row["chosen_id"] for row in snapshot_rows(researcher_client, built)] == ["r2"]


@pytest.mark.parametrize("value", [1.5, -0.1, "most"])
def test_review_min_share_is_a_share_from_0_to_1(researcher_client, pairs, value):
    response = researcher_client.patch(
        "/api/v1/projects/pairs/", {"review_min_share": value}, format="json"
    )

    assert response.status_code == 400
    assert "review_min_share" in str(response.json())


def test_review_min_share_is_set_and_shown_by_the_api(researcher_client, pairs):
    response = researcher_client.patch(
        "/api/v1/projects/pairs/", {"review_min_share": 0.75}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert researcher_client.get("/api/v1/projects/pairs/").json()["review_min_share"] == 0.75
