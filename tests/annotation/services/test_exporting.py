"""Exports as files and snapshots: the encoders stream, the labels are decided as
documented, items round-trip, and a snapshot is built once."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.storage import default_storage

from annotation.errors import ValidationFailed
from annotation.exports.encoders import (
    csv_text,
    csv_text_read,
    encode_csv,
    encode_jsonl,
    encode_parquet,
    encode_parquet_batches,
    export_stream,
    json_numbers,
    json_strings,
    json_text,
)
from annotation.exports.plan import export_plan, project_has_conversations
from annotation.exports.query import ExportFilters, ExportQuery, export_query_from_params
from annotation.exports.readers import (
    criterion_agreement,
    criterion_value,
    decide_pair,
    export_rows,
    item_export_rows,
    rubric_summary,
)
from annotation.models import Criterion, Project, Snapshot
from annotation.services.exporting import snapshot_build, snapshot_create
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from tests.factories import CriterionFactory, ProjectFactory, import_items, item_rows, voted_project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def endless_rows() -> itertools.count:
    return ({"n": n} for n in itertools.count())


# ---------------------------------------------------------------- deciding a pair


def test_the_plurality_of_a_or_b_decides_a_pair():
    decision = decide_pair(7, {"a": (1, None), "b": (3, None), "tie": (1, None)}, by_strength=False)

    assert (decision.winner, decision.n_judgments) == ("b", 5)
    assert decision.agreement == pytest.approx(3 / 5)
    assert decision.margin == pytest.approx((3 - 1) / 5)


@pytest.mark.parametrize(
    "counts",
    [
        {"a": (2, None), "b": (2, None)},
        {"a": (1, None), "tie": (2, None)},
        {"both_bad": (3, None), "a": (1, None)},
        {"a": (2, None), "tie": (2, None)},
    ],
)
def test_no_pair_without_a_single_leader_among_a_and_b(counts):
    assert decide_pair(1, counts, by_strength=False) is None


def test_margin_is_the_winners_mean_strength_when_strength_is_collected():
    decision = decide_pair(1, {"a": (2, 2.5), "b": (1, 3.0)}, by_strength=True)

    assert decision.margin == pytest.approx(2.5)


# ---------------------------------------------------------------- rubric agreement


def _criterion(level: str = "ordinal") -> Criterion:
    return Criterion(key="k", min=0, max=4, level=level)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([3], 1.0), ([2, 2, 2], 1.0), ([0, 4], 0.0), ([0, 2], 0.5), ([0, 4, 2], 1 - (8 / 3) / 4)],
)
def test_ordinal_agreement_is_one_minus_the_mean_pairwise_distance(values, expected):
    assert criterion_agreement(values, _criterion()) == pytest.approx(expected)


def test_nominal_agreement_is_the_share_of_agreeing_pairs():
    assert criterion_agreement([1, 1, 3], _criterion("nominal")) == pytest.approx(1 / 3)


def test_a_criterion_nobody_scored_has_no_value_and_no_agreement():
    criteria = (
        Criterion(key="a", min=0, max=4, level="interval"),
        Criterion(key="b", min=0, max=4),
    )

    summary = rubric_summary([{"a": 4}, {"a": 2}], criteria)

    assert summary["a"] == pytest.approx(3.0)
    assert summary["b"] is None and summary["agreement_b"] is None
    assert summary["agreement"] == summary["agreement_a"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("level", "values", "expected"),
    [
        ("nominal", [3, 1, 3], (3, 2 / 3)),
        ("nominal", [2], (2, 1.0)),
        ("nominal", [1, 3, 3, 1], (None, None)),
        ("ordinal", [4, 0, 3], (3, None)),
        ("ordinal", [4, 0, 3, 1], (1, None)),
        ("interval", [4, 0, 3, 1], (2.0, None)),
    ],
)
def test_a_criterion_comes_to_a_value_fit_for_its_level(level, values, expected):
    value, share = criterion_value(values, _criterion(level))

    assert (value, share) == (expected[0], pytest.approx(expected[1]))


# ---------------------------------------------------------------- encoders


def test_jsonl_yields_before_the_rows_run_out():
    first = next(encode_jsonl(endless_rows(), pa.schema([("n", pa.int64())])))

    assert first.decode().splitlines()[0] == '{"n": 0}'


def test_parquet_yields_each_row_group_as_it_is_written():
    drawn = []
    rows = ({"n": n} for n in itertools.count() if not drawn.append(n))
    chunks = encode_parquet(rows, pa.schema([("n", pa.int64())]), row_group_size=3)

    first = next(chunks)

    assert first.startswith(b"PAR1")
    assert len(drawn) <= 4


def test_parquet_written_in_row_groups_reads_back_whole():
    rows = [{"n": n, "note": {"x": n}} for n in range(7)]
    schema = pa.schema([("n", pa.int64()), ("note", pa.string())])

    content = b"".join(encode_parquet(iter(rows), schema, row_group_size=3))

    parquet = pq.ParquetFile(io.BytesIO(content))
    assert parquet.metadata.num_row_groups == 3
    table = parquet.read()
    assert table.column("n").to_pylist() == list(range(7))
    assert json.loads(table.column("note")[2].as_py()) == {"x": 2}


def test_empty_parquet_still_has_its_schema():
    schema = pa.schema([("prompt", pa.string())])

    table = pq.read_table(io.BytesIO(b"".join(encode_parquet(iter([]), schema))))

    assert table.schema.names == ["prompt"] and table.num_rows == 0


def test_csv_writes_nested_values_as_json_and_absent_ones_empty():
    schema = pa.schema([("a", pa.string()), ("b", pa.string())])

    content = b"".join(encode_csv(iter([{"a": [1, 2]}, {"b": None}]), schema)).decode()

    assert content.splitlines() == ["a,b", '"[1, 2]",', ","]


def test_csv_escapes_text_columns_by_type_and_leaves_number_columns_alone():
    schema = pa.schema([("text", pa.string()), ("count", pa.int64()), ("mean", pa.float64())])
    rows = [{"text": "-2", "count": -2, "mean": -2.5}, {"text": "=1+1", "count": 3, "mean": None}]

    content = b"".join(encode_csv(iter(rows), schema)).decode()

    assert content.splitlines() == ["text,count,mean", "'-2,-2,-2.5", "'=1+1,3,"]


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ("=x", "'=x"),
        ("+x", "'+x"),
        ("-x", "'-x"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("x=", "x="),
        ("", ""),
        ("'", "'"),
        ("'x", "'x"),
        ("'=x", "''=x"),
        ("''-x", "'''-x"),
    ],
)
def test_csv_text_escapes_formulas_and_reads_back_exactly(text, cell):
    assert csv_text(text) == cell
    assert csv_text_read(cell) == text


# ---------------------------------------------------------------- queries and plans


def test_a_snapshot_body_with_typed_values_reads_like_url_parameters():
    typed = export_query_from_params(
        {"format": "dpo", "min_agreement": 0.8, "include_gold": True, "since": 12}, strict=True
    )
    text = export_query_from_params(
        {"format": "dpo", "min_agreement": "0.8", "include_gold": "true", "since": "12"}
    )

    assert typed == text


def test_a_query_survives_its_json_form():
    query = export_query_from_params(
        {"format": "rubric", "filetype": "csv", "since": "2024-05-01", "min_judgments": "2"}
    )

    again = export_query_from_params(query.as_dict(), strict=True)

    assert again == query
    assert again.filters.since == datetime(2024, 5, 1, tzinfo=UTC)


def test_every_bad_value_is_named_at_once():
    with pytest.raises(ValidationFailed) as caught:
        export_query_from_params({"filetype": "xlsx", "min_judgments": "-2", "since": "soon"})

    assert [e["field"] for e in caught.value.errors] == ["filetype", "since", "min_judgments"]


def test_conversations_are_detected_by_the_type_of_the_prompt():
    project = ProjectFactory()
    import_items(project, 2)
    assert not project_has_conversations(project=project)

    chat = item_rows(1, prefix="chat")[0] | {"prompt": [{"role": "user", "content": "Hi"}]}
    items_import(project=project, rows=[(1, chat)])

    assert project_has_conversations(project=project)


def test_a_criterion_named_like_a_fixed_rubric_column_gets_a_prefix():
    project = ProjectFactory(kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="model")

    plan = export_plan(project=project, query=ExportQuery(format="rubric"))

    assert "score_model" in plan.column_names
    assert "agreement_model" in plan.column_names


# ---------------------------------------------------------------- items


def test_items_round_trip_through_items_import_with_gold_reference_and_conversations():
    source = ProjectFactory()
    rows = [
        item_rows(1, prefix="gold")[0] | {"gold": {"preferred": "r2"}, "metadata": {"s": 1}},
        {
            "id": "chat",
            "prompt": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
            ],
            "responses": [
                {"id": "x", "model": "m", "text": "Hey"},
                {"id": "y", "model": "n", "text": ""},
            ],
        },
        {"prompt": "Say hi", "chosen": "Hi!", "rejected": "No."},
    ]
    items_import(project=source, rows=list(enumerate(rows, start=1)))
    exported = list(item_export_rows(project=source, filters=ExportFilters(include_gold=True)))
    copy = ProjectFactory()

    items_import(project=copy, rows=list(enumerate(exported, start=1)))

    again = list(item_export_rows(project=copy, filters=ExportFilters(include_gold=True)))
    assert again == exported
    assert exported[0]["gold"] == {"preferred": "r2"}
    assert exported[2]["reference"] == {"preferred": "chosen"}
    assert copy.tasks.filter(is_gold=True).count() == 1


def test_items_parquet_with_mixed_prompts_has_message_lists_only():
    project = ProjectFactory()
    import_items(project, 1)
    chat = item_rows(1, prefix="chat")[0] | {"prompt": [{"role": "user", "content": "Hi"}]}
    items_import(project=project, rows=[(1, chat)])
    plan = export_plan(project=project, query=ExportQuery(format="items", filetype="parquet"))

    table = pq.read_table(io.BytesIO(b"".join(export_stream(plan=plan))))

    assert table.column("prompt").to_pylist() == [
        [{"role": "user", "content": "Question 0?"}],
        [{"role": "user", "content": "Hi"}],
    ]


def test_rubric_export_of_a_pairwise_project_is_refused():
    with pytest.raises(ValidationFailed):
        export_plan(project=ProjectFactory(), query=ExportQuery(format="rubric"))


# ---------------------------------------------------------------- snapshots


@pytest.fixture
def voted() -> Project:
    return voted_project()


def _snapshot(project: Project, **query) -> Snapshot:
    return snapshot_create(
        project=project,
        query=export_query_from_params({"format": "dpo", **query}, strict=True),
        created_by=None,
    )


def test_snapshot_build_writes_the_file_through_the_default_storage(voted):
    snapshot = snapshot_build(snapshot=_snapshot(voted))

    assert snapshot.status == Snapshot.Status.READY
    assert default_storage.exists(snapshot.file.name)
    assert snapshot.file.name.startswith(f"snapshots/{voted.slug}/")
    assert snapshot.row_count == 1
    assert snapshot.finished_at is not None


def test_a_ready_snapshot_is_never_rewritten(voted, monkeypatch):
    snapshot = snapshot_build(snapshot=_snapshot(voted))
    before = (snapshot.file.name, snapshot.sha256, snapshot.card, snapshot.finished_at)

    def must_not_run(**kwargs):
        raise AssertionError("a ready snapshot was rebuilt")

    monkeypatch.setattr("annotation.exports.encoders.export_rows", must_not_run)
    monkeypatch.setattr("annotation.services.exporting.export_rows", must_not_run)
    again = snapshot_build(snapshot=snapshot)

    assert (again.file.name, again.sha256, again.card, again.finished_at) == before
    assert again.status == Snapshot.Status.READY


def test_a_failed_snapshot_keeps_its_error_and_leaves_no_file(voted, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("no space left")

    monkeypatch.setattr("annotation.services.exporting.dataset_card", broken)

    snapshot = snapshot_build(snapshot=_snapshot(voted))

    assert snapshot.status == Snapshot.Status.FAILED
    assert snapshot.error == "RuntimeError: no space left"
    assert not snapshot.file
    assert not default_storage.exists(
        f"snapshots/{voted.slug}/{voted.slug}-dpo-{snapshot.pk}.jsonl"
    )


def test_the_snapshot_task_builds_by_id(voted):
    from annotation.tasks import snapshot_build as task

    snapshot = _snapshot(voted)
    task(snapshot.pk)
    task(snapshot.pk)

    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.READY
    assert len(default_storage.listdir(f"snapshots/{voted.slug}")[1]) == 1


def test_the_card_lists_the_criteria_with_their_level_labels():
    project = ProjectFactory(kind=Project.Kind.RUBRIC, name="Helpful answers")
    CriterionFactory(
        project=project,
        key="helpfulness",
        label="Helpfulness",
        level_labels={"0": "useless", "4": "perfect"},
    )
    import_items(project, 1, responses=1)
    judgments_import(
        project=project,
        rows=[
            (1, {"annotator": "h", "item": "q0", "response": "r1", "scores": {"helpfulness": 3}})
        ],
    )
    query = export_query_from_params({"format": "rubric", "filetype": "csv"}, strict=True)

    card = snapshot_build(
        snapshot=snapshot_create(project=project, query=query, created_by=None)
    ).card

    assert "# Helpful answers" in card
    assert "0 = useless; 4 = perfect" in card
    assert "judgments passing the filters below: 1, from 1 annotators" in card
    assert 'load_dataset("csv"' in card
    assert "No agreement report" in card


@pytest.mark.parametrize("export_format", ["judgments", "dpo", "rubric", "items"])
def test_rows_carry_exactly_the_plans_columns_in_order(voted, export_format):
    project = voted
    if export_format == "rubric":
        project = ProjectFactory(kind=Project.Kind.RUBRIC)
        CriterionFactory(project=project, key="helpfulness")
        import_items(project, 1, responses=1)
        row = {"annotator": "h", "item": "q0", "response": "r1", "scores": {"helpfulness": 1}}
        judgments_import(project=project, rows=[(1, row)])
    plan = export_plan(project=project, query=ExportQuery(format=export_format))

    row = next(iter(export_rows(plan=plan)))

    assert list(row) == plan.column_names


# ---------------------------------------------------------------- JSON from columns


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        'quote " and \\ backslash',
        "".join(map(chr, range(1, 32))),
        "é ✓ 😀 \u2028 and \u2029",
    ],
)
def test_strings_from_columns_are_written_as_the_row_encoder_writes_them(value):
    (written,) = json_strings(pa.array([value])).to_pylist()

    assert written == json_text(value)
    assert json.loads(written) == value
    assert len(written.splitlines()) == 1


def test_whole_floats_from_columns_keep_a_fraction_as_json_dumps_writes_them():
    values = pa.array([12.0, -3.0, 0.5, 1e20, None], pa.float64())

    written = json_numbers(values).to_pylist()

    assert written[:3] == ["12.0", "-3.0", "0.5"]
    assert [type(json.loads(text)) for text in written[:4]] == [float] * 4
    assert written[4] == "null"


def test_missing_values_from_columns_are_json_null():
    assert json_strings(pa.array([None], pa.string())).to_pylist() == ["null"]
    assert json_numbers(pa.array([None, 3], pa.int64())).to_pylist() == ["null", "3"]


def test_floats_that_are_not_finite_become_strings_as_postgresql_writes_them():
    values = pa.array([1.5, float("nan"), float("inf"), float("-inf"), None])

    assert [json.loads(v) for v in json_numbers(values).to_pylist()] == [
        1.5,
        "NaN",
        "Infinity",
        "-Infinity",
        None,
    ]


def test_parquet_batches_are_gathered_into_row_groups():
    schema = pa.schema([("n", pa.int64())])
    batches = [pa.RecordBatch.from_pylist([{"n": n}], schema=schema) for n in range(5)]

    content = b"".join(encode_parquet_batches(iter(batches), schema, row_group_size=2))

    parquet = pq.ParquetFile(io.BytesIO(content))
    assert parquet.metadata.num_row_groups == 3
    assert parquet.read().column("n").to_pylist() == list(range(5))
