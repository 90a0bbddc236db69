"""The streamed export (CONTRACT section 7) and incremental sync of judgments."""

from __future__ import annotations

import csv
import io
import json

import pytest

from annotation.models import Annotator, Judgment, Project
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from tests.factories import item_rows, make_annotator

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/projects/pairs/export/"
SYNC = "/api/v1/projects/pairs/judgments/"
JUDGMENT_FIELDS = {
    "project",
    "item_id",
    "task",
    "annotator",
    "annotator_kind",
    "choice",
    "strength",
    "rationale",
    "shown_left",
    "seconds",
    "created_at",
    "is_gold",
}


def vote(project: Project, annotator: Annotator | None = None, **answer) -> Judgment:
    annotator = annotator or make_annotator()
    assignment = assignment_lease(project=project, annotator=annotator)
    return judgment_submit(assignment=assignment, annotator=annotator, **answer)


def body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def jsonl_rows(response) -> list[dict]:
    return [json.loads(line) for line in body(response).splitlines()]


@pytest.fixture
def blocked(pairwise) -> Annotator:
    annotator = make_annotator()
    vote(pairwise, annotator, choice="right")
    annotator.is_blocked = True
    annotator.save()
    return annotator


def test_judgments_export_streams_one_jsonl_line_per_judgment(researcher_client, pairwise):
    judgments = [vote(pairwise, choice="left"), vote(pairwise, choice="tie")]

    response = researcher_client.get(EXPORT, {"format": "judgments"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/x-ndjson")
    rows = jsonl_rows(response)
    assert len(rows) == 2
    assert [row["choice"] for row in rows] == [j.choice for j in judgments]


def test_judgments_export_rows_carry_the_contract_fields(researcher_client, pairwise, annotator):
    judgment = vote(pairwise, annotator, choice="left")

    (row,) = jsonl_rows(researcher_client.get(EXPORT, {"format": "judgments"}))

    assert set(row) >= JUDGMENT_FIELDS
    assert row["project"] == "pairs"
    assert row["item_id"] == "q0"
    assert row["task"] == judgment.task_id
    assert row["annotator"] == annotator.pseudonym
    assert row["annotator_kind"] == "human"
    assert row["choice"] == judgment.choice
    assert row["shown_left"] in ("r1", "r2")
    assert row["is_gold"] is False


def test_export_names_annotators_only_by_pseudonym(researcher_client, pairwise, annotator):
    vote(pairwise, annotator, choice="left")

    text = body(researcher_client.get(EXPORT))

    assert annotator.user.username not in text


def test_export_as_csv_has_a_header_and_one_row_per_judgment(researcher_client, pairwise):
    vote(pairwise, choice="left")
    vote(pairwise, choice="right")

    response = researcher_client.get(EXPORT, {"format": "judgments", "filetype": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert len(rows) == 2
    assert set(rows[0]) >= JUDGMENT_FIELDS


def test_export_of_a_project_without_judgments_is_empty(researcher_client, pairwise):
    response = researcher_client.get(EXPORT)

    assert response.status_code == 200
    assert body(response) == ""


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"format": "parquet-ish"}, "format"),
        ({"filetype": "xlsx"}, "filetype"),
        ({"include_gold": "maybe"}, "include_gold"),
        ({"since": "yesterday"}, "since"),
        ({"annotator_kind": "robot"}, "annotator_kind"),
    ],
)
def test_unknown_export_parameter_is_a_400_naming_it(researcher_client, pairwise, query, field):
    response = researcher_client.get(EXPORT, query)

    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]


def test_export_leaves_gold_out_unless_asked(researcher_client, pairwise):
    annotator = make_annotator()
    gold_row = item_rows(1, prefix="gold")[0] | {"gold": {"preferred": "r1"}}
    items_import(project=pairwise, rows=[(1, gold_row)])
    pairwise.gold_rate = 1.0  # the gold task comes first
    gold = vote(pairwise, annotator, choice="left")
    regular = vote(pairwise, annotator, choice="left")
    assert (gold.is_gold, regular.is_gold) == (True, False)

    default = jsonl_rows(researcher_client.get(EXPORT))
    with_gold = jsonl_rows(researcher_client.get(EXPORT, {"include_gold": "true"}))

    assert [row["id"] for row in default] == [regular.pk]
    assert [row["id"] for row in with_gold] == [gold.pk, regular.pk]


def test_export_leaves_blocked_annotators_out_by_default(researcher_client, pairwise, blocked):
    kept = vote(pairwise, choice="left")

    rows = jsonl_rows(researcher_client.get(EXPORT))

    assert [row["id"] for row in rows] == [kept.pk]


def test_export_includes_blocked_annotators_when_not_excluding_flagged(
    researcher_client, pairwise, blocked
):
    vote(pairwise, choice="left")

    rows = jsonl_rows(researcher_client.get(EXPORT, {"exclude_flagged": "false"}))

    assert blocked.pseudonym in [row["annotator"] for row in rows]
    assert len(rows) == 2


def test_export_is_refused_to_an_annotator(annotator_client, pairwise):
    response = annotator_client.get(EXPORT)

    assert response.status_code == 403
    assert not response.streaming


def test_export_of_a_rubric_project_carries_scores(researcher_client, rubric):
    vote(rubric, scores={"helpfulness": 3, "correctness": 1})

    (row,) = jsonl_rows(researcher_client.get("/api/v1/projects/rated/export/"))

    assert row["scores"] == {"helpfulness": 3, "correctness": 1}
    assert row["item_id"] == "q0"


# ---------------------------------------------------------------- sync


def test_sync_returns_judgments_oldest_first_with_a_cursor(researcher_client, pairwise):
    judgments = [vote(pairwise, choice=c) for c in ("left", "right", "tie")]

    response = researcher_client.get(SYNC)

    assert response.status_code == 200
    page = response.json()
    assert [row["id"] for row in page["results"]] == [j.pk for j in judgments]
    assert page["next_since"] == str(judgments[-1].pk)


def test_polling_with_next_since_returns_only_newer_judgments(researcher_client, pairwise):
    vote(pairwise, choice="left")
    cursor = researcher_client.get(SYNC).json()["next_since"]
    newer = vote(pairwise, choice="right")

    page = researcher_client.get(SYNC, {"since": cursor}).json()

    assert [row["id"] for row in page["results"]] == [newer.pk]
    assert researcher_client.get(SYNC, {"since": page["next_since"]}).json()["results"] == []


def test_sync_with_nothing_new_keeps_the_cursor(researcher_client, pairwise):
    page = researcher_client.get(SYNC, {"since": "0"}).json()

    assert page["results"] == []
    assert page["next_since"] == "0"


@pytest.mark.parametrize("cursor", ["abc", "-1", "1.5"])
def test_sync_with_a_bad_cursor_is_a_400(researcher_client, pairwise, cursor):
    response = researcher_client.get(SYNC, {"since": cursor})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "since"


def test_sync_is_refused_to_an_annotator(annotator_client, pairwise):
    assert annotator_client.get(SYNC).status_code == 403


def test_sync_pages_through_many_judgments(researcher_client, pairwise, monkeypatch):
    monkeypatch.setattr("api.views.judgments.SYNC_PAGE", 2)
    judgments = [vote(pairwise, choice=c) for c in ("left", "right", "tie")]

    first = researcher_client.get(SYNC).json()
    second = researcher_client.get(SYNC, {"since": first["next_since"]}).json()

    assert [row["id"] for row in first["results"]] == [j.pk for j in judgments[:2]]
    assert first["has_more"] is True
    assert [row["id"] for row in second["results"]] == [judgments[2].pk]
    assert second["has_more"] is False
