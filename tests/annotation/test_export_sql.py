"""On PostgreSQL the judgments export (JSON Lines and Parquet) comes out of COPY as columns;
it must give the same rows as the Python path."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.utils.dateparse import parse_datetime

from annotation.exports.encoders import (
    encode_jsonl,
    encode_parquet,
    export_stream,
    judgment_json_lines,
)
from annotation.exports.plan import export_plan
from annotation.exports.query import ExportFilters, ExportQuery
from annotation.exports.readers import (
    export_rows,
    judgment_wire_columns,
    judgments_for_export,
)
from annotation.models import Judgment
from annotation.pg.copy_out import WireColumn, select_batches, sql_rows
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from tests.factories import CriterionFactory, ProjectFactory, import_items, rubric_project

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

AWKWARD = 'line one\nline "two" \\ back\x01\x1f\t\r\x08\x0c é ✓ 😀'


def _parsed_times(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["created_at"] = parse_datetime(row["created_at"])
    return rows


def _json_lines(project, filters: ExportFilters) -> list[bytes]:
    plan = export_plan(project=project, query=ExportQuery("judgments", "jsonl", filters))
    return b"".join(judgment_json_lines(plan=plan)).splitlines()


def _same(project, filters: ExportFilters) -> None:
    plan = export_plan(project=project, query=ExportQuery("judgments", "jsonl", filters))
    from_sql = b"".join(judgment_json_lines(plan=plan)).decode()
    from_python = b"".join(encode_jsonl(export_rows(plan=plan), plan.schema)).decode()
    assert from_sql == from_python


def _same_parquet(project, filters: ExportFilters | None = None) -> pa.Table:
    filters = filters or ExportFilters()
    plan = export_plan(project=project, query=ExportQuery("judgments", "parquet", filters))
    from_copy = pq.read_table(io.BytesIO(b"".join(export_stream(plan=plan))))
    from_rows = pq.read_table(
        io.BytesIO(b"".join(encode_parquet(export_rows(plan=plan), plan.schema)))
    )
    assert from_copy.schema == from_rows.schema == plan.schema
    assert _parsed_times(from_copy.to_pylist()) == _parsed_times(from_rows.to_pylist())
    return from_copy


def _pairwise(*, criteria: bool = True):
    project = ProjectFactory(strength_scale=3, rationale="optional")
    if criteria:
        CriterionFactory(project=project, key="honesty")
    import_items(project, 3)
    rows = [
        {
            "annotator": f"h{k}",
            "item": f"q{i}",
            "a": "r1",
            "b": "r2",
            "choice": ["a", "b", "tie"][(i + k) % 3],
            "strength": 2 if (i + k) % 3 < 2 else None,
            "criteria": {"honesty": "a"} if criteria else {},
            "rationale": AWKWARD if k else "",
            "seconds": 1.5 if k else None,
        }
        for i in range(3)
        for k in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    return project


def _rubric():
    project = rubric_project()
    import_items(project, 2, responses=1)
    rows = [
        {
            "annotator": "x",
            "item": f"q{i}",
            "response": "r1",
            "scores": {"helpfulness": 3, "correctness": 1}
            if i
            else {"helpfulness": 0, "correctness": 4},
        }
        for i in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    return project


def test_pairwise_judgments_from_sql_match_the_python_rows():
    project = _pairwise()
    _same(project, ExportFilters())
    _same(project, ExportFilters(since=0, annotator_kind="human"))


def test_rubric_judgments_from_sql_match_the_python_rows():
    _same(_rubric(), ExportFilters())


def test_ids_and_models_that_need_escaping_survive_the_json_lines():
    project = ProjectFactory(slug="odd")
    row = {
        "id": 'q"1\\\n',
        "prompt": "p",
        "responses": [
            {"id": "r\t1", "model": "mödel \x02", "text": "a"},
            {"id": "r2", "model": "m", "text": "b"},
        ],
    }
    items_import(project=project, rows=[(1, row)])
    vote = {"annotator": 'ann "x"', "item": 'q"1\\\n', "a": "r\t1", "b": "r2", "choice": "a"}
    judgments_import(project=project, rows=[(1, vote)])

    _same(project, ExportFilters())
    (line,) = _json_lines(project, ExportFilters())
    assert json.loads(line)["a_model"] == "mödel \x02"


def test_pairwise_parquet_from_copy_matches_the_python_rows():
    table = _same_parquet(_pairwise())

    assert table.schema.field("criteria").type == pa.struct([("honesty", pa.string())])
    assert not table.schema.field("criteria").nullable
    assert AWKWARD in table.column("rationale").to_pylist()


def test_parquet_without_criteria_has_null_answers():
    table = _same_parquet(_pairwise(criteria=False))

    assert table.schema.field("criteria").type == pa.null()
    assert set(table.column("criteria").to_pylist()) == {None}


def test_rubric_parquet_from_copy_matches_the_python_rows():
    table = _same_parquet(_rubric())

    assert {"helpfulness": 0, "correctness": 4} in table.column("scores").to_pylist()


def test_parquet_of_judgments_after_a_cursor_and_of_none():
    project = _pairwise()
    last = Judgment.objects.filter(project=project).order_by("-pk").first()

    assert _same_parquet(project, ExportFilters(since=last.pk - 2)).num_rows == 2
    empty = _same_parquet(project, ExportFilters(since=last.pk))
    assert empty.num_rows == 0


def test_rows_split_across_copy_blocks_read_back_whole():
    project = _pairwise()
    queryset = judgments_for_export(project=project, filters=ExportFilters())
    columns = judgment_wire_columns(project)

    whole = pa.Table.from_batches(list(select_batches(queryset, columns)))
    tiny = pa.Table.from_batches(list(select_batches(queryset, columns, block_bytes=1)))

    assert tiny.num_rows == whole.num_rows == 6
    assert tiny.to_pylist() == whole.to_pylist()


def test_rows_read_through_copy_are_the_rows_a_cursor_reads():
    columns = (
        WireColumn("n", None, pa.int64()),
        WireColumn("text", None, pa.string()),
        WireColumn("mean", None, pa.float64()),
    )
    sql = (
        "SELECT * FROM (VALUES (1, %s, 2.5), (2, '', NULL), (NULL, NULL, 0.125)) v(n, text, mean)"
        " ORDER BY n"
    )
    params = [AWKWARD]

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        expected = cursor.fetchall()

    assert list(sql_rows(sql, params, columns)) == [tuple(row) for row in expected]
