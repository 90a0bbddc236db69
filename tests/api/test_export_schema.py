"""One logical schema per export, whatever the file type (README "Exports"): a JSON Lines
pull and a Parquet pull of the same query load with the same types in Hugging Face
`datasets` (so `concatenate_datasets` takes both), required columns are non-nullable in
Parquet, and every JSON Lines body splits into one object a line, whatever the texts hold."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotation.exports.plan import export_plan
from annotation.exports.query import EXPORT_FORMATS, ExportQuery
from annotation.models import Consent, Judgment, Project, Response
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from annotation.services.projects import (
    criteria_add,
    project_create,
    project_update,
    rubric_snapshot,
)
from tests.api.test_exports import vote
from tests.factories import CriterionFactory, ProjectFactory, make_annotator, rubric_project

pytestmark = pytest.mark.django_db

datasets = pytest.importorskip("datasets")

# A time to the second: `datasets` reads "...T22:01:00+00:00" in JSON as a timestamp, and
# the same column with a fraction as text, so every export must write the fraction.
ON_THE_MINUTE = datetime(2026, 1, 2, 22, 1, tzinfo=UTC)
SEPARATED = "first line\u2028second line\u2029third"

PAIRWISE_ITEMS = [
    {
        "id": "q0",
        "prompt": f"Question 0? {SEPARATED}",
        "responses": [
            {"id": "r1", "model": "m1", "text": f"Yes. {SEPARATED}"},
            {"id": "r2", "model": "m2", "text": "No."},
        ],
        "metadata": {"source": "hh", "n": 1, "nested": {"tags": ["a", SEPARATED]}},
        "reference": {"preferred": "r1"},
    },
    {
        "id": "q1",
        "prompt": "Question 1?",
        "responses": [
            {"id": "r1", "model": "m1", "text": "Maybe."},
            {"id": "r2", "model": "m2", "text": ""},
        ],
    },
    {
        "id": "chat0",
        "prompt": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Explain TCP."},
        ],
        "responses": [
            {"id": "r1", "model": "m1", "text": "Reliable streams."},
            {"id": "r2", "model": "m2", "text": "Packets."},
        ],
        "metadata": {"lang": "en"},
    },
    {
        "id": "g0",
        "prompt": "Gold?",
        "responses": [
            {"id": "r1", "model": "m1", "text": "Right."},
            {"id": "r2", "model": "m2", "text": "Wrong."},
        ],
        "gold": {"preferred": "r1"},
    },
]


RANKING_ITEMS = [
    {
        "id": "q0",
        "prompt": f"Rank these. {SEPARATED}",
        "responses": [
            {"id": "r1", "model": "m1", "text": f"One. {SEPARATED}"},
            {"id": "r2", "model": "m2", "text": "Two."},
            {"id": "r3", "model": "m3", "text": ""},
        ],
        "gold": {"ranking": [["r2"], ["r1"], ["r3"]]},
    },
    {
        "id": "chat0",
        "prompt": [{"role": "user", "content": "Explain TCP."}],
        "responses": [
            {"id": "r1", "model": "m1", "text": "Reliable streams."},
            {"id": "r2", "model": "m2", "text": "Packets."},
        ],
    },
]


def pairwise_vote(annotator: str, item: str, choice: str, **extra) -> dict:
    return {"annotator": annotator, "item": item, "a": "r1", "b": "r2", "choice": choice, **extra}


@pytest.fixture
def exported(researcher) -> dict[str, Project]:
    """Projects whose exports hold nulls, nested values, conversations, whole-number floats,
    line separators in texts and times on the minute."""
    pairs = ProjectFactory(owner=researcher, slug="pairs", strength_scale=3, allow_tie=True)
    CriterionFactory(project=pairs, key="honesty")
    CriterionFactory(project=pairs, key="safety")
    items_import(project=pairs, rows=list(enumerate(PAIRWISE_ITEMS, start=1)))
    both = {"criteria": {"honesty": "a", "safety": "tie"}}
    votes = [
        pairwise_vote("h0", "q0", "a", seconds=12, strength=2, **both),
        pairwise_vote("h1", "q0", "a", rationale=f"Because {SEPARATED}", strength=1, **both),
        pairwise_vote("h2", "q0", "a", seconds=7.5, strength=3, **both),
        pairwise_vote("h0", "q1", "a", seconds=3, strength=3, **both),
        pairwise_vote("h1", "q1", "b", seconds=4, strength=3, **both),
        pairwise_vote("h0", "chat0", "b", strength=3, **both),
        pairwise_vote("h1", "chat0", "b", strength=1, **both),
        pairwise_vote("judge", "q0", "b", annotator_kind="model", strength=2, **both),
    ]
    judgments_import(project=pairs, rows=list(enumerate(votes, start=1)))
    # A vote on the page (sides drawn at random, so a tie: the labels stay the same).
    page_annotator = vote(
        pairs, choice="tie", criteria={"honesty": "left", "safety": "tie"}, seconds=9.25
    ).annotator
    Consent.objects.create(
        project=pairs, annotator=page_annotator, version=1, consented_at=ON_THE_MINUTE
    )

    plain = ProjectFactory(owner=researcher, slug="plain")
    items_import(project=plain, rows=list(enumerate(PAIRWISE_ITEMS[:2], start=1)))
    judgments_import(
        project=plain,
        rows=list(enumerate([pairwise_vote("h0", "q0", "a"), pairwise_vote("h0", "q1", "b")], 1)),
    )

    rated = rubric_project(owner=researcher, slug="rated")
    CriterionFactory(project=rated, key="style")
    items_import(
        project=rated,
        rows=list(
            enumerate(
                [
                    {"id": "q0", "prompt": "Rate?", "responses": [{"model": "m1", "text": "A"}]},
                    {
                        "id": "q1",
                        "prompt": SEPARATED,
                        "responses": [{"model": "m2", "text": SEPARATED}],
                        "metadata": {"split": "test"},
                    },
                ],
                start=1,
            )
        ),
    )
    ratings = [
        {"annotator": "h0", "item": "q0", "response": "r1", "scores": scores, "seconds": 20}
        for scores in [{"helpfulness": 3, "correctness": 2, "style": 1}]
    ] + [
        {
            "annotator": "h1",
            "item": "q1",
            "response": "r1",
            "scores": {"helpfulness": 4, "correctness": 1, "style": 0},
        }
    ]
    judgments_import(project=rated, rows=list(enumerate(ratings, start=1)))
    # A new rubric version without `style`: earlier judgments keep their answers for it.
    project_update(
        project=rated, criteria=[c for c in rubric_snapshot(project=rated) if c["key"] != "style"]
    )
    judgments_import(
        project=rated,
        rows=[
            (
                1,
                {
                    "annotator": "h2",
                    "item": "q0",
                    "response": "r1",
                    "scores": {"helpfulness": 1, "correctness": 3},
                },
            )
        ],
    )

    ranked = ProjectFactory(owner=researcher, slug="ranked", kind="ranking", allow_tie=True)
    items_import(project=ranked, rows=list(enumerate(RANKING_ITEMS, start=1)))
    rankings = [
        {"annotator": "h0", "item": "q0", "ranking": [["r2"], ["r1", "r3"]], "seconds": 30},
        {"annotator": "h1", "item": "q0", "ranking": [["r2"], ["r3"], ["r1"]]},
        {"annotator": "h0", "item": "chat0", "ranking": [["r1"], ["r2"]]},
        {
            "annotator": "judge",
            "annotator_kind": "model",
            "item": "q0",
            "ranking": [["r1", "r2", "r3"]],
        },
    ]
    judgments_import(project=ranked, rows=list(enumerate(rankings, start=1)))
    ranker = make_annotator()
    assignment = assignment_lease(project=ranked, annotator=ranker)
    judgment_submit(
        assignment=assignment,
        annotator=ranker,
        ranking=[["B"], ["A"], ["C"]][: len(assignment.shown_order)],
    )

    thumbs = project_create(
        owner=researcher,
        preset="helpful-harmless-verdict",
        slug="thumbs",
        name="Thumbs",
        rewrite="optional",
        annotations_per_task=5,
    )
    items_import(
        project=thumbs,
        rows=list(
            enumerate([{**RANKING_ITEMS[-1], "responses": RANKING_ITEMS[-1]["responses"][:1]}], 1)
        ),
    )
    verdicts = [
        {"annotator": who, "item": "chat0", "response": "r1", "scores": scores}
        for who, scores in (
            ("h0", {"helpful": True, "harmless": True}),
            ("h1", {"helpful": True, "harmless": False}),
            ("h2", {"helpful": True, "harmless": True}),
        )
    ]
    judgments_import(project=thumbs, rows=list(enumerate(verdicts, start=1)))
    # Span marks on the ranking (the span formats): overlapping, with line separators.
    criteria_add(
        project=ranked,
        criteria=[
            {"key": "errors", "type": "spans", "labels": [{"key": "wrong"}, {"key": "unsafe"}]}
        ],
    )
    one, two = (
        Response.objects.get(item__project=ranked, item__external_id="q0", external_id=r).pk
        for r in ("r1", "r2")
    )
    marks = {
        "h0": [
            {"response": one, "start": 0, "end": 20, "label": "wrong", "note": SEPARATED},
            {"response": two, "start": 0, "end": 4, "label": "unsafe", "note": ""},
        ],
        "h1": [{"response": one, "start": 5, "end": 26, "label": "wrong", "note": ""}],
    }
    for annotator, spans in marks.items():
        Judgment.objects.filter(
            project=ranked, annotator__external_id=annotator, task__item__external_id="q0"
        ).update(spans=spans)
    editor = make_annotator()
    judgment_submit(
        assignment=assignment_lease(project=thumbs, annotator=editor),
        annotator=editor,
        scores={"helpful": True, "harmless": True},
        reasons={"helpful": "Complete", "harmless": f"Nothing risky {SEPARATED}"},
        rewrite=f"A fuller answer: {SEPARATED}",
    )

    Judgment.objects.update(created_at=ON_THE_MINUTE)
    return {"pairs": pairs, "plain": plain, "rated": rated, "ranked": ranked, "thumbs": thumbs}


def export_cases() -> list[tuple[str, str]]:
    """(project, format) for every format of every kind of project."""
    cases = []
    for export_format in EXPORT_FORMATS:
        pairwise = ["pairs", "plain"]
        slugs = {
            "dpo": [*pairwise, "ranked"],
            "labels": pairwise,
            "rubric": ["rated", "thumbs"],
            "kto": ["thumbs"],
            "spans": ["ranked"],
            "spans_merged": ["ranked"],
            "rewrites": ["thumbs"],
        }.get(export_format, ["pairs", "plain", "rated", "ranked", "thumbs"])
        cases += [(slug, export_format) for slug in slugs]
    return cases


def pull(client, slug: str, export_format: str, filetype: str, **params) -> bytes:
    """A pull with every row the data has: gold too, and the model judge's (but for items,
    which have no judges)."""
    if export_format != "items":
        params.setdefault("annotator_kind", "all")
    response = client.get(
        f"/api/v1/projects/{slug}/export/",
        {"format": export_format, "filetype": filetype, "include_gold": "true", **params},
    )
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)


def load(tmp_path, name: str, content: bytes, builder: str):
    path = tmp_path / name
    path.write_bytes(content)
    return datasets.load_dataset(
        builder, data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )


def only_nulls(feature) -> bool:
    inner = getattr(feature, "feature", feature)  # a List's items
    return getattr(inner, "dtype", None) == "null"


@pytest.mark.parametrize(("slug", "export_format"), export_cases())
def test_a_jsonl_and_a_parquet_pull_concatenate_with_hugging_face_datasets(
    researcher_client, exported, tmp_path, slug, export_format
):
    jsonl = pull(researcher_client, slug, export_format, "jsonl")
    parquet = pull(researcher_client, slug, export_format, "parquet")

    from_jsonl = load(tmp_path, "rows.jsonl", jsonl, "json")
    from_parquet = load(tmp_path, "rows.parquet", parquet, "parquet")
    both = datasets.concatenate_datasets([from_parquet, from_jsonl])

    assert from_jsonl.num_rows == from_parquet.num_rows > 0
    assert both.num_rows == 2 * from_jsonl.num_rows
    # JSON cannot say the type of a column that holds only nulls (or empty lists): `datasets`
    # types it null, and aligns it with the Parquet type. Every other column matches.
    assert {
        name: feature for name, feature in from_jsonl.features.items() if not only_nulls(feature)
    } == {
        name: from_parquet.features[name]
        for name in from_jsonl.features
        if not only_nulls(from_jsonl.features[name])
    }
    assert from_jsonl.to_list() == from_parquet.to_list()


def test_an_incremental_dpo_pull_with_a_retraction_concatenates_with_a_full_pull(
    researcher_client, exported, tmp_path
):
    pairs = exported["pairs"]
    cursor = Judgment.objects.filter(project=pairs).order_by("-pk").first().pk
    both = {"criteria": {"honesty": "b", "safety": "b"}, "strength": 1}
    undecided = [pairwise_vote(f"late{n}", "q0", "b", **both) for n in range(3)]
    judgments_import(project=pairs, rows=list(enumerate(undecided, start=1)))
    people = {"annotator_kind": "human"}  # 3 a and a tie, now 3 b: no longer a pair
    full = pull(researcher_client, "pairs", "dpo", "parquet", **people)
    since = {"since": str(cursor), **people}
    jsonl = pull(researcher_client, "pairs", "dpo", "jsonl", **since)
    parquet = pull(researcher_client, "pairs", "dpo", "parquet", **since)

    pulls = [
        load(tmp_path, "full.parquet", full, "parquet"),
        load(tmp_path, "since.jsonl", jsonl, "json"),
        load(tmp_path, "since.parquet", parquet, "parquet"),
    ]
    rows = datasets.concatenate_datasets(pulls).to_list()

    retracted = [row for row in rows if row["retracted"]]  # in the JSONL and the Parquet pull
    assert [(row["item_id"], row["chosen"]) for row in retracted] == [("q0", None)] * 2
    assert pq.read_schema(io.BytesIO(parquet)).field("chosen").nullable
    assert not pq.read_schema(io.BytesIO(full)).field("chosen").nullable


def test_times_are_iso_strings_with_microseconds_in_every_file(researcher_client, exported):
    for slug, export_format, column in [
        ("pairs", "judgments", "created_at"),
        ("rated", "judgments", "created_at"),
        ("pairs", "annotators", "consented_at"),
    ]:
        rows = [
            json.loads(line)
            for line in pull(researcher_client, slug, export_format, "jsonl").splitlines()
        ]
        table = pq.read_table(io.BytesIO(pull(researcher_client, slug, export_format, "parquet")))
        times = {row[column] for row in rows} - {None}

        assert times == {"2026-01-02T22:01:00.000000+00:00"}
        assert set(table.column(column).to_pylist()) - {None} == times


# ---------------------------------------------------------------- nullability

#: The columns that may be null, per format (everything else is required).
NULLABLE = {
    "judgments": {"strength", "shown_left", "seconds", "shown_order", "rewrite", "rewrite_of"},
    "dpo": {"margin", "expand"},
    "labels": {"majority", "ds_label", "adjudicated_label", "adjudicated_by"},
    "rubric": {"helpfulness", "correctness", "style", "agreement"}
    | {"agreement_helpfulness", "agreement_correctness", "agreement_style"}
    | {"helpful", "harmless", "share_helpful", "share_harmless"}
    | {"agreement_helpful", "agreement_harmless"},
    "kto": set(),
    "rewrites": set(),
    "items": {"gold", "reference"},
    "annotators": {
        "consented_at",
        "consent_version",
        "gold_accuracy",
        "left_rate",
        "fast_share",
        "mean_seconds",
        "median_seconds",
        "qualified",
        "survey_version",
    },
    "spans": set(),
    "spans_merged": set(),
}


@pytest.mark.parametrize(("slug", "export_format"), export_cases())
def test_parquet_declares_required_columns_non_nullable(
    researcher_client, exported, slug, export_format
):
    project = exported[slug]
    plan = export_plan(project=project, query=ExportQuery(export_format, "parquet"))

    content = pull(researcher_client, slug, export_format, "parquet")
    schema = pq.read_schema(io.BytesIO(content))

    assert schema.equals(plan.schema)
    nullable = {field.name for field in schema if field.nullable}
    if export_format == "judgments" and slug == "plain":  # no criteria: the answers are null
        assert schema.field("criteria").type == pa.null()
        nullable -= {"criteria"}
    assert nullable == NULLABLE[export_format] & set(schema.names)


@pytest.mark.parametrize(("slug", "export_format"), export_cases())
def test_jsonl_rows_carry_every_column_and_no_null_where_parquet_forbids_it(
    researcher_client, exported, slug, export_format
):
    project = exported[slug]
    plan = export_plan(project=project, query=ExportQuery(export_format, "jsonl"))
    required = [field.name for field in plan.schema if not field.nullable]

    content = pull(researcher_client, slug, export_format, "jsonl")
    rows = [json.loads(line) for line in content.splitlines()]

    assert rows
    for row in rows:
        assert list(row) == plan.schema.names
        assert [name for name in required if row[name] is None] == []


def test_answers_have_every_key_of_every_rubric_version_in_both_files(researcher_client, exported):
    jsonl = pull(researcher_client, "rated", "judgments", "jsonl")
    parquet = pull(researcher_client, "rated", "judgments", "parquet")

    from_jsonl = [json.loads(line)["scores"] for line in jsonl.splitlines()]
    from_parquet = pq.read_table(io.BytesIO(parquet)).column("scores").to_pylist()

    assert (
        from_jsonl
        == from_parquet
        == [
            {"helpfulness": 3, "correctness": 2, "style": 1},
            {"helpfulness": 4, "correctness": 1, "style": 0},
            {"helpfulness": 1, "correctness": 3, "style": None},
        ]
    )


# ---------------------------------------------------------------- line separators


@pytest.mark.parametrize(("slug", "export_format"), export_cases())
def test_jsonl_splits_into_one_object_per_row_on_any_line_separator(
    researcher_client, exported, slug, export_format
):
    content = pull(researcher_client, slug, export_format, "jsonl")
    text = content.decode()
    parquet = pull(researcher_client, slug, export_format, "parquet")

    lines = text.splitlines()

    assert "\u2028" not in text and "\u2029" not in text
    assert len(lines) == pq.read_metadata(io.BytesIO(parquet)).num_rows
    assert [json.loads(line) for line in lines]


def test_texts_with_line_separators_come_back_whole(researcher_client, exported):
    jsonl = pull(researcher_client, "pairs", "judgments", "jsonl")

    rationales = [json.loads(line)["rationale"] for line in jsonl.splitlines()]

    assert f"Because {SEPARATED}" in rationales
