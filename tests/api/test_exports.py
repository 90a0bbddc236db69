"""The streamed export (README "Exports") and incremental sync of judgments."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.exports.readers import as_messages
from annotation.models import Annotator, Judgment, Project
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from annotation.services.quality import annotator_block
from tests.factories import (
    CriterionFactory,
    ProjectFactory,
    import_items,
    item_rows,
    make_annotator,
)

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/projects/pairs/export/"
RUBRIC_EXPORT = "/api/v1/projects/rated/export/"
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


# ---------------------------------------------------------------- helpers for datasets


def import_votes(project: Project, rows: list[dict]) -> None:
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


def votes(item: str, *choices: str, judge: str = "h", kind: str = "human", **extra) -> list[dict]:
    """Imported pairwise votes on an item's (r1, r2) task, one judge per choice."""
    return [
        {
            "annotator": f"{judge}{n}",
            "annotator_kind": kind,
            "item": item,
            "a": "r1",
            "b": "r2",
            "choice": choice,
            **extra,
        }
        for n, choice in enumerate(choices)
    ]


def scores(item: str, *values: tuple[int, int], judge: str = "h") -> list[dict]:
    """Imported rubric judgments of an item's only response (helpfulness, correctness)."""
    return [
        {
            "annotator": f"{judge}{n}",
            "item": item,
            "response": "r1",
            "scores": {"helpfulness": helpfulness, "correctness": correctness},
        }
        for n, (helpfulness, correctness) in enumerate(values)
    ]


def rows_of(response, filetype: str) -> list[dict]:
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content)
    if filetype == "jsonl":
        return [json.loads(line) for line in content.decode().splitlines()]
    if filetype == "csv":
        return list(csv.DictReader(io.StringIO(content.decode())))
    return pq.read_table(io.BytesIO(content)).to_pylist()


def dpo(client, **params) -> list[dict]:
    return rows_of(client.get(EXPORT, {"format": "dpo", **params}), params.get("filetype", "jsonl"))


@pytest.fixture
def pairs(pairwise) -> Project:
    """The pairwise project, allowing 'both bad'."""
    pairwise.allow_both_bad = True
    pairwise.save()
    return pairwise


# ---------------------------------------------------------------- every format and filetype

CONTRACT_FIELDS = {
    "judgments": JUDGMENT_FIELDS,
    "dpo": {
        "prompt",
        "chosen",
        "rejected",
        "chosen_model",
        "rejected_model",
        "item_id",
        "n_judgments",
        "agreement",
        "margin",
    },
    "rubric": {
        "prompt",
        "response",
        "model",
        "item_id",
        "helpfulness",
        "correctness",
        "n_judgments",
        "agreement_helpfulness",
        "agreement_correctness",
    },
    "items": {"id", "prompt", "responses", "pairs", "metadata"},
    "annotators": {
        "annotator",
        "annotator_kind",
        "platform",
        "consented_at",
        "consent_version",
        "n_judgments",
        "gold_accuracy",
        "left_rate",
        "fast_share",
        "mean_seconds",
        "median_seconds",
        "flags",
        "blocked",
    },
}
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
}


@pytest.mark.parametrize("filetype", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("export_format", ["judgments", "dpo", "rubric", "items", "annotators"])
def test_every_format_and_filetype_streams_rows_with_the_contract_fields(
    researcher_client, pairs, rubric, export_format, filetype
):
    import_votes(pairs, votes("q0", "a", "a", "b"))
    import_votes(rubric, scores("q0", (3, 2), (4, 2)))
    slug = "rated" if export_format == "rubric" else "pairs"

    response = researcher_client.get(
        f"/api/v1/projects/{slug}/export/", {"format": export_format, "filetype": filetype}
    )

    assert response.streaming
    assert response["Content-Type"].startswith(CONTENT_TYPES[filetype])
    assert response["Content-Disposition"] == (
        f'attachment; filename="{slug}-{export_format}.{filetype}"'
    )
    rows = rows_of(response, filetype)
    assert rows
    assert set(rows[0]) >= CONTRACT_FIELDS[export_format]


# ---------------------------------------------------------------- dpo


def test_dpo_row_names_the_majority_winner_as_chosen(researcher_client, pairs):
    import_votes(pairs, votes("q0", "b", "b", "a"))

    (row,) = dpo(researcher_client)

    assert row["prompt"] == "Question 0?"
    assert (row["chosen"], row["rejected"]) == ("Answer 1 to 0.", "Answer 0 to 0.")
    assert (row["chosen_model"], row["rejected_model"]) == ("model-1", "model-0")
    assert row["item_id"] == "q0"
    assert row["n_judgments"] == 3
    assert row["agreement"] == pytest.approx(2 / 3)


def test_dpo_margin_is_the_vote_margin_without_strength(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "a", "a", "b"))

    (row,) = dpo(researcher_client)

    assert row["margin"] == pytest.approx((3 - 1) / 4)


def test_dpo_margin_is_the_mean_strength_behind_the_winner_when_collected(researcher_client, pairs):
    pairs.strength_scale = 3
    pairs.save()
    import_votes(pairs, votes("q0", "a", judge="x", strength=3))
    import_votes(pairs, votes("q0", "a", judge="y", strength=2))
    import_votes(pairs, votes("q0", "b", judge="z", strength=1))

    (row,) = dpo(researcher_client)

    assert row["margin"] == pytest.approx(2.5)


@pytest.mark.parametrize(
    "choices",
    [("tie", "tie", "a"), ("both_bad", "both_bad", "b"), ("a", "b"), ("a", "b", "tie", "tie")],
    ids=["tie-wins", "both-bad-wins", "split", "tie-for-first"],
)
def test_ties_both_bad_and_undecided_pairs_never_become_dpo_pairs(
    researcher_client, pairs, choices
):
    import_votes(pairs, votes("q0", *choices))

    assert dpo(researcher_client) == []


def test_dpo_min_agreement_keeps_only_clear_pairs(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "a", "a") + votes("q1", "a", "a", "b"))

    rows = dpo(researcher_client, min_agreement="0.8")

    assert [row["item_id"] for row in rows] == ["q0"]


def test_dpo_min_judgments_counts_the_passing_judgments(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "a", "a") + votes("q1", "a"))

    rows = dpo(researcher_client, min_judgments="2")

    assert [row["item_id"] for row in rows] == ["q0"]


def test_dpo_leaves_gold_pairs_out_unless_asked(researcher_client, pairs):
    gold_row = item_rows(1, prefix="gold")[0] | {"gold": {"preferred": "r1"}}
    items_import(project=pairs, rows=[(1, gold_row)])
    import_votes(pairs, votes("gold0", "a", "a") + votes("q0", "b"))

    default = dpo(researcher_client)
    with_gold = dpo(researcher_client, include_gold="true")

    assert [row["item_id"] for row in default] == ["q0"]
    assert [row["item_id"] for row in with_gold] == ["q0", "gold0"]


def test_dpo_leaves_flagged_annotators_votes_out_by_default(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "b", "b"))
    for external_id in ("h1", "h2"):
        annotator_block(project=pairs, annotator=Annotator.objects.get(external_id=external_id))

    default = dpo(researcher_client)
    everyone = dpo(researcher_client, exclude_flagged="false")

    assert [(r["chosen_model"], r["n_judgments"]) for r in default] == [("model-0", 1)]
    assert [(r["chosen_model"], r["n_judgments"]) for r in everyone] == [("model-1", 3)]


def test_dpo_annotator_kind_picks_human_or_model_judges(researcher_client, pairs):
    import_votes(
        pairs, votes("q0", "a", "a") + votes("q0", "b", "b", "b", judge="llm", kind="model")
    )

    humans = dpo(researcher_client, annotator_kind="human")
    models = dpo(researcher_client, annotator_kind="model")

    assert [(r["chosen_model"], r["n_judgments"]) for r in humans] == [("model-0", 2)]
    assert [(r["chosen_model"], r["n_judgments"]) for r in models] == [("model-1", 3)]


def test_dpo_counts_people_only_unless_asked_for_the_judges_too(researcher_client, pairs):
    """Regression: with one judge imported every row had n_judgments 4 and pairs
    changed side. Here q0's people split 2-1 and the judge sides with the majority; on q1
    they tie 1-1 and the judge breaks the tie."""
    import_votes(pairs, votes("q0", "a", "a", "b") + votes("q1", "a", "b", judge="p"))
    import_votes(pairs, votes("q0", "a", judge="llm", kind="model"))
    import_votes(pairs, votes("q1", "b", judge="llm", kind="model"))

    default = dpo(researcher_client)
    everyone = dpo(researcher_client, annotator_kind="all")

    assert [(r["item_id"], r["chosen_model"], r["n_judgments"]) for r in default] == [
        ("q0", "model-0", 3)
    ]
    assert all(r["n_judgments"] == 3 for r in default)
    assert sorted((r["item_id"], r["chosen_model"], r["n_judgments"]) for r in everyone) == [
        ("q0", "model-0", 4),
        ("q1", "model-1", 3),
    ]
    assert dpo(researcher_client, annotator_kind="human") == default


def test_rubric_counts_people_only_unless_asked_for_the_judges_too(researcher_client, rubric):
    import_votes(rubric, scores("q0", (4, 2), (4, 2)))
    judge = {"annotator_kind": "model", "item": "q0", "response": "r1"}
    judged = {"scores": {"helpfulness": 0, "correctness": 0}}
    import_votes(rubric, [{**judge, **judged, "annotator": name} for name in ("llm", "llm2")])

    (default,) = rows_of(researcher_client.get(RUBRIC_EXPORT, {"format": "rubric"}), "jsonl")
    (everyone,) = rows_of(
        researcher_client.get(RUBRIC_EXPORT, {"format": "rubric", "annotator_kind": "all"}),
        "jsonl",
    )

    # helpfulness is ordinal: the median, the lower one of an even count
    assert (default["n_judgments"], default["helpfulness"]) == (2, 4)
    assert (everyone["n_judgments"], everyone["helpfulness"]) == (4, 0)


def test_judgments_export_keeps_every_kind_unless_asked(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a", "b") + votes("q0", "b", judge="llm", kind="model"))

    def kinds(**params) -> list[str]:
        response = researcher_client.get(EXPORT, {"format": "judgments", **params})
        return sorted(row["annotator_kind"] for row in rows_of(response, "jsonl"))

    assert kinds() == ["human", "human", "model"]
    assert kinds(annotator_kind="all") == ["human", "human", "model"]
    assert kinds(annotator_kind="model") == ["model"]
    assert kinds(annotator_kind="human") == ["human", "human"]


def test_a_snapshot_of_dpo_states_that_it_counts_people(researcher_client, pairs):
    response = researcher_client.post(
        "/api/v1/projects/pairs/snapshots/", {"format": "dpo"}, format="json"
    )

    assert response.status_code == 202, response.json()
    body = researcher_client.get(f"/api/v1/projects/pairs/snapshots/{response.json()['id']}/")
    assert body.json()["query"]["annotator_kind"] == "human"


def test_dpo_since_gives_pairs_judged_after_the_cursor_with_all_their_votes(
    researcher_client, pairs
):
    import_votes(pairs, votes("q0", "a") + votes("q1", "a"))
    cursor = Judgment.objects.latest("pk").pk
    import_votes(pairs, votes("q1", "b", "b", judge="late"))

    rows = dpo(researcher_client, since=str(cursor))

    assert [(r["item_id"], r["chosen_model"], r["n_judgments"]) for r in rows] == [
        ("q1", "model-1", 3)
    ]


def test_dpo_since_an_iso_datetime(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a"))
    Judgment.objects.update(created_at=timezone.now() - timedelta(days=2))
    import_votes(pairs, votes("q1", "a"))

    since = (timezone.now() - timedelta(days=1)).isoformat()
    rows = dpo(researcher_client, since=since)

    assert [row["item_id"] for row in rows] == ["q1"]


def test_plain_prompts_stay_strings_in_dpo(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a"))

    (row,) = dpo(researcher_client)

    assert isinstance(row["prompt"], str)
    assert isinstance(row["chosen"], str)


@pytest.fixture
def mixed_prompts(pairs) -> Project:
    """q0..q2 have plain prompts; chat0 is a conversation."""
    chat = item_rows(1, prefix="chat")[0] | {
        "prompt": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Explain TCP."},
        ]
    }
    items_import(project=pairs, rows=[(1, chat)])
    import_votes(pairs, votes("q0", "a") + votes("chat0", "b"))
    return pairs


def test_when_any_prompt_is_a_conversation_every_dpo_prompt_is_a_message_list(
    researcher_client, mixed_prompts
):
    rows = {row["item_id"]: row for row in dpo(researcher_client)}

    assert rows["q0"]["prompt"] == [{"role": "user", "content": "Question 0?"}]
    assert rows["chat0"]["prompt"][-1] == {"role": "user", "content": "Explain TCP."}
    assert rows["q0"]["chosen"] == [{"role": "assistant", "content": "Answer 0 to 0."}]
    assert rows["chat0"]["rejected"] == [{"role": "assistant", "content": "Answer 0 to 0."}]


def test_mixed_prompts_in_parquet_have_one_list_type(researcher_client, mixed_prompts):
    response = researcher_client.get(EXPORT, {"format": "dpo", "filetype": "parquet"})
    table = pq.read_table(io.BytesIO(b"".join(response.streaming_content)))

    assert pa.types.is_list(table.schema.field("prompt").type)
    assert pa.types.is_list(table.schema.field("chosen").type)
    assert len(table) == 2


# ---------------------------------------------------------------- datasets


@pytest.mark.parametrize("builder", ["json", "parquet"])
@pytest.mark.parametrize("conversational", [False, True], ids=["plain", "conversation"])
def test_dpo_export_loads_with_hugging_face_datasets(
    researcher_client, pairs, tmp_path, builder, conversational
):
    datasets = pytest.importorskip("datasets")
    if conversational:
        chat = item_rows(1, prefix="chat")[0] | {"prompt": [{"role": "user", "content": "Hi"}]}
        items_import(project=pairs, rows=[(1, chat)])
        import_votes(pairs, votes("chat0", "a"))
    import_votes(pairs, votes("q0", "a", "a") + votes("q1", "b"))
    filetype = "jsonl" if builder == "json" else "parquet"
    response = researcher_client.get(EXPORT, {"format": "dpo", "filetype": filetype})
    path = tmp_path / f"pairs.{filetype}"
    path.write_bytes(b"".join(response.streaming_content))

    dataset = datasets.load_dataset(
        builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )

    assert {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
    assert dataset.num_rows == (3 if conversational else 2)


# ---------------------------------------------------------------- rubric


def test_rubric_rows_carry_mean_scores_and_per_criterion_agreement(researcher_client, rubric):
    import_votes(rubric, scores("q0", (4, 0), (4, 4), (4, 2)))

    (row,) = rows_of(researcher_client.get(RUBRIC_EXPORT, {"format": "rubric"}), "jsonl")

    assert (row["prompt"], row["response"], row["model"]) == (
        "Question 0?",
        "Answer 0 to 0.",
        "model-0",
    )
    assert row["helpfulness"] == pytest.approx(4.0)
    assert row["correctness"] == pytest.approx(2.0)
    assert row["n_judgments"] == 3
    assert row["agreement_helpfulness"] == pytest.approx(1.0)
    # pairs differ by 4, 2 and 2 on a 0..4 scale: 1 - (8 / 3) / 4
    assert row["agreement_correctness"] == pytest.approx(1 / 3)


def test_rubric_min_agreement_is_on_the_mean_of_the_criteria(researcher_client, rubric):
    import_votes(rubric, scores("q0", (4, 0), (4, 4)) + scores("q1", (3, 3), (3, 3)))

    rows = rows_of(
        researcher_client.get(RUBRIC_EXPORT, {"format": "rubric", "min_agreement": "0.9"}),
        "jsonl",
    )

    assert [row["item_id"] for row in rows] == ["q1"]


def test_rubric_leaves_out_responses_nobody_rated(researcher_client, rubric):
    import_votes(rubric, scores("q1", (2, 2)))

    rows = rows_of(researcher_client.get(RUBRIC_EXPORT, {"format": "rubric"}), "jsonl")

    assert [row["item_id"] for row in rows] == ["q1"]


# ---------------------------------------------------------------- items


@pytest.mark.parametrize("filetype", ["jsonl", "csv", "parquet"])
@pytest.mark.parametrize("conversation", [False, True], ids=["plain", "conversation"])
def test_items_export_reimports_into_a_new_project_unchanged(
    researcher_client, researcher, pairs, filetype, conversation
):
    extra = [
        {
            "id": "chat",
            "prompt": [{"role": "user", "content": "Hi"}] if conversation else "Hi",
            "responses": [
                {"id": "x", "model": "m1", "text": "one"},
                {"id": "y", "model": "m2", "text": ""},
                {"id": "z", "model": "m3", "text": "three"},
            ],
            "pairs": [["x", "z"], ["y", "x"]],
            "metadata": {"source": "test", "tags": ["a", "b"], "n": 1.5},
            "reference": {"preferred": "x"},
        }
    ]
    items_import(project=pairs, rows=list(enumerate(extra, start=1)))
    response = researcher_client.get(EXPORT, {"format": "items", "filetype": filetype})
    content = b"".join(response.streaming_content)
    if filetype == "parquet":  # what a pipeline would send back: the rows as JSON Lines
        rows = pq.read_table(io.BytesIO(content)).to_pylist()
        content, filetype = "\n".join(json.dumps(row) for row in rows).encode(), "jsonl"
    copy = ProjectFactory(owner=researcher, slug="copy")

    items_import(project=copy, content=content, filetype=filetype)

    expected = item_snapshot(pairs)
    if conversation:  # one type per column: every prompt of the project is a conversation
        expected = [(row[0], as_messages(row[1]), *row[2:]) for row in expected]
    assert item_snapshot(copy) == expected


def item_snapshot(project: Project) -> list:
    return [
        (
            item.external_id,
            item.prompt,
            item.metadata,
            item.reference,
            [(r.external_id, r.model, r.text) for r in item.responses.all()],
            sorted((t.response_a.external_id, t.response_b.external_id) for t in item.tasks.all()),
        )
        for item in project.items.order_by("external_id").prefetch_related(
            "responses", "tasks__response_a", "tasks__response_b"
        )
    ]


def test_items_export_leaves_gold_items_out_unless_asked(researcher_client, pairs):
    gold_row = item_rows(1, prefix="gold")[0] | {"gold": {"preferred": "r1"}}
    items_import(project=pairs, rows=[(1, gold_row)])

    default = rows_of(researcher_client.get(EXPORT, {"format": "items"}), "jsonl")
    with_gold = rows_of(
        researcher_client.get(EXPORT, {"format": "items", "include_gold": "true"}), "jsonl"
    )

    assert [row["id"] for row in default] == ["q0", "q1", "q2"]
    assert json.loads(with_gold[-1]["gold"]) == {"preferred": "r1"}
    assert default[0]["gold"] is None


# ---------------------------------------------------------------- transport


def test_gzip_when_the_client_accepts_it(researcher_client, pairs):
    import_votes(pairs, votes("q0", "a") + votes("q1", "b"))
    plain = b"".join(researcher_client.get(EXPORT, {"format": "dpo"}).streaming_content)

    response = researcher_client.get(EXPORT, {"format": "dpo"}, HTTP_ACCEPT_ENCODING="gzip, br")

    assert response.streaming
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert gzip.decompress(b"".join(response.streaming_content)) == plain


def test_no_gzip_unless_asked(researcher_client, pairs):
    response = researcher_client.get(EXPORT, {"format": "dpo"}, HTTP_ACCEPT_ENCODING="gzip;q=0")

    assert not response.has_header("Content-Encoding")


def _export_queries(client, url: str, params: dict) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
        b"".join(response.streaming_content)
    return len(queries.captured_queries)


@pytest.mark.parametrize("export_format", ["judgments", "dpo", "rubric", "items"], ids=lambda f: f)
def test_export_queries_do_not_grow_with_the_rows(researcher_client, researcher, export_format):
    kind = Project.Kind.RUBRIC if export_format == "rubric" else Project.Kind.PAIRWISE
    project = ProjectFactory(owner=researcher, slug="many", kind=kind)
    if kind == Project.Kind.RUBRIC:
        CriterionFactory(project=project, key="helpfulness")

    def grow(start: int, stop: int) -> None:
        rows = item_rows(stop, responses=2 if kind == Project.Kind.PAIRWISE else 1)[start:]
        items_import(project=project, rows=list(enumerate(rows, start=1)))
        if kind == Project.Kind.RUBRIC:
            import_votes(
                project,
                [
                    {
                        "annotator": "h",
                        "item": r["id"],
                        "response": "r1",
                        "scores": {"helpfulness": 2},
                    }
                    for r in rows
                ],
            )
        else:
            import_votes(project, [v for r in rows for v in votes(r["id"], "a", "a")])

    url = "/api/v1/projects/many/export/"
    params = {"format": export_format, "filetype": "parquet"}
    grow(0, 5)
    few = _export_queries(researcher_client, url, params)
    grow(5, 50)
    many = _export_queries(researcher_client, url, params)

    assert len(rows_of(researcher_client.get(url, params), "parquet")) >= 50
    assert few == many


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"format": "rubric"}, "format"),
        ({"format": "dpo", "min_agreement": "1.5"}, "min_agreement"),
        ({"format": "dpo", "min_agreement": "high"}, "min_agreement"),
        ({"format": "dpo", "min_judgments": "-1"}, "min_judgments"),
        ({"format": "dpo", "min_judgments": "2.5"}, "min_judgments"),
        ({"format": "judgments", "min_agreement": "0.5"}, "min_agreement"),
        ({"format": "items", "since": "12"}, "since"),
        ({"format": "items", "annotator_kind": "human"}, "annotator_kind"),
        ({"format": "annotators", "since": "12"}, "since"),
        ({"format": "annotators", "min_judgments": "2"}, "min_judgments"),
    ],
)
def test_a_query_that_does_not_fit_is_a_400_naming_the_field(
    researcher_client, pairs, query, field
):
    response = researcher_client.get(EXPORT, query)

    assert response.status_code == 400
    assert not response.streaming
    assert field in [e["field"] for e in response.json()["errors"]]


def test_dpo_of_a_rubric_project_is_a_400(researcher_client, rubric):
    response = researcher_client.get(RUBRIC_EXPORT, {"format": "dpo"})

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "format", "error": "dpo needs a pairwise or ranking project"}
    ]


def test_csv_export_of_nothing_still_has_its_header(researcher_client, pairs):
    response = researcher_client.get(EXPORT, {"format": "dpo", "filetype": "csv"})

    header = b"".join(response.streaming_content).decode()
    assert header.startswith("pair_id,prompt,chosen,rejected,")


@pytest.mark.django_db(transaction=True)
def test_export_streams_in_autocommit_as_a_real_request_does(researcher, api_client_for):
    project = ProjectFactory(owner=researcher, slug="pairs")
    import_items(project, 3)
    import_votes(project, votes("q0", "a") + votes("q2", "b"))

    rows = dpo(api_client_for(researcher), filetype="parquet")

    assert [row["item_id"] for row in rows] == ["q0", "q2"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cursors_off", [False, True], ids=["server-side", "pgbouncer"])
def test_an_export_streams_with_server_side_cursors_off_for_pgbouncer_transaction_mode(
    researcher, api_client_for, monkeypatch, cursors_off
):
    """DISABLE_SERVER_SIDE_CURSORS (settings): no cursor outlives a statement, which
    PgBouncer in transaction mode needs, and the export still streams every row."""
    project = ProjectFactory(owner=researcher, slug="pairs")
    import_items(project, 600)
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", cursors_off)

    response = api_client_for(researcher).get(EXPORT, {"format": "items"})
    chunks = iter(response.streaming_content)
    first = next(chunks)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_cursors")
        (open_cursors,) = cursor.fetchone()
    rest = list(chunks)

    assert response.streaming and rest  # more than one chunk: rows went out while read
    assert len(b"".join([first, *rest]).splitlines()) == 600
    assert open_cursors == (0 if cursors_off else 1)


def test_export_of_an_unknown_project_is_a_404(researcher_client, db):
    assert researcher_client.get("/api/v1/projects/nope/export/").status_code == 404


# ---------------------------------------------------------------- sync


def test_sync_returns_judgments_oldest_first_with_a_cursor(researcher_client, pairwise):
    judgments = [vote(pairwise, choice=c) for c in ("left", "right", "tie")]

    response = researcher_client.get(SYNC)

    assert response.status_code == 200
    page = response.json()
    assert [row["id"] for row in page["results"]] == [j.pk for j in judgments]
    assert researcher_client.get(SYNC, {"since": page["next_since"]}).json()["results"] == []


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
