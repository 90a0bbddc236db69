"""Rows out of PostgreSQL by `COPY (<query>) TO STDOUT`, decoded into Arrow columns.

The rows leave PostgreSQL as CSV (as cheap as any read of those rows) and are decoded by
pyarrow's CSV reader into typed columns, a block at a time: no Python object per row. The
exports write Parquet from those columns and assemble JSON Lines from them with vectorised
string functions. Elsewhere (SQLite) rows come from the cursor. Every read goes through
`read_connection()`: the read replica inside `replica_reads` (README, Running at scale).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
from django.db.models import QuerySet

from annotation.db import read_connection

COPY_BLOCK_BYTES = 512 * 1024  # bigger blocks are no faster and hold more memory
#: Rows fetched at a time from the cursor where there is no COPY.
FETCH_ROWS = 2000


@dataclass(frozen=True)
class WireColumn:
    """One column of the COPY: its name in the batches, what to select, its Arrow type."""

    name: str
    expression: Any  # what a queryset selects for it (None in hand-written SQL)
    type: pa.DataType


def copy_batches(
    sql: str,
    params: Sequence[Any],
    columns: Sequence[WireColumn],
    *,
    block_bytes: int = COPY_BLOCK_BYTES,
) -> Iterator[pa.RecordBatch]:
    """The rows of a query as Arrow record batches of about `block_bytes` of CSV each, read
    from `COPY (<sql>) TO STDOUT` while the database still sends the rest (PostgreSQL). COPY
    hands out whole rows, so each block is parsed on its own, in this thread. CSV tells NULL
    (an empty field) from an empty string (a quoted one)."""
    options = {
        "read_options": pacsv.ReadOptions(
            column_names=[column.name for column in columns], use_threads=False
        ),
        "parse_options": pacsv.ParseOptions(newlines_in_values=True),
        "convert_options": pacsv.ConvertOptions(
            column_types={column.name: column.type for column in columns},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    }
    with (
        read_connection().cursor() as cursor,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy,
    ):
        block = bytearray()
        for row in copy:
            block += row
            if len(block) >= block_bytes:
                yield from pacsv.read_csv(pa.py_buffer(block), **options).to_batches()
                block = bytearray()
        if block:
            yield from pacsv.read_csv(pa.py_buffer(block), **options).to_batches()


def select_batches(
    queryset: QuerySet, columns: Sequence[WireColumn], **options: Any
) -> Iterator[pa.RecordBatch]:
    """copy_batches of the columns' expressions selected from a queryset."""
    selected = queryset.values_list(*(column.expression for column in columns))
    sql, params = selected.query.sql_with_params()
    return copy_batches(sql, params, columns, **options)


def sql_rows(sql: str, params: Sequence[Any], columns: Sequence[WireColumn]) -> Iterator[tuple]:
    """The rows of a query as tuples, read a block at a time: through COPY and Arrow on
    PostgreSQL, from the cursor elsewhere. JSON columns come as their text."""
    connection = read_connection()
    if connection.vendor == "postgresql":
        for batch in copy_batches(sql, params, columns):
            yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_ROWS):
            yield from rows
