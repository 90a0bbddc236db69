"""The one layer that turns an export's rows into bytes: JSON Lines, CSV or Parquet,
from row dicts or (for `judgments` on PostgreSQL) Arrow batches, always to the plan's
schema. The encoders are generators of bytes: the API streams them, a snapshot build
writes them to storage. Memory stays flat: rows are encoded in small batches (Parquet in
row groups).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from annotation.db import read_connection
from annotation.exports.plan import ExportPlan
from annotation.exports.readers import chunked, export_rows, judgment_batches, plan_batches

_CONTROL = "".join(chr(code) for code in range(1, 32))
_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# JSON Lines escape the line and paragraph separators too: JavaScript and Python's
# str.splitlines() end a line at them.
_SEPARATORS = {"\u2028": "\\u2028", "\u2029": "\\u2029"}
_ESCAPED = re.compile(rb'["\\\x00-\x1f]')
_SEPARATOR_BYTES = re.compile(rb"\xe2\x80[\xa8\xa9]")  # apart: one alternation scans 5x slower


def json_text(value: Any) -> str:
    """A value as JSON text, as every JSON Lines export writes it: UTF-8 characters kept,
    the line and paragraph separators escaped."""
    text = json.dumps(value, ensure_ascii=False)
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text


def _needs_escaping(values: pa.Array) -> bool:
    """Whether any string holds a quote, a backslash or a control character: one regex pass
    over the array's bytes, not one match per value."""
    _, offsets, data = values.buffers()
    if data is None:
        return False
    bounds = np.frombuffer(offsets, dtype=np.int32)[values.offset : values.offset + len(values) + 1]
    window = memoryview(data)[bounds[0] : bounds[-1]]
    return _ESCAPED.search(window) is not None or _SEPARATOR_BYTES.search(window) is not None


def _json_escaped(values: pa.Array) -> pa.Array:
    """The strings escaped as json_text escapes them, without the quotes."""
    if not _needs_escaping(values):
        return values
    values = pc.replace_substring(values, "\\", "\\\\")
    values = pc.replace_substring(values, '"', '\\"')
    for character in _CONTROL:
        if pc.any(pc.match_substring(values, character)).as_py():
            escaped = _SHORT_ESCAPES.get(character, f"\\u{ord(character):04x}")
            values = pc.replace_substring(values, character, escaped)
    for character, escaped in _SEPARATORS.items():
        if pc.any(pc.match_substring(values, character)).as_py():
            values = pc.replace_substring(values, character, escaped)
    return values


def json_strings(values: pa.Array) -> pa.Array:
    """Each string as a JSON string literal (escaped as json_text does), null as null."""
    quoted = pc.binary_join_element_wise('"', _json_escaped(values), '"', "")
    return pc.fill_null(quoted, "null") if values.null_count else quoted


def json_numbers(values: pa.Array) -> pa.Array:
    """Numbers as JSON; a whole float keeps a fraction (`12.0`, as json.dumps writes it, so
    that a reader infers a float column, not an integer one); a float that is not finite
    becomes a string ("NaN", "Infinity"), as PostgreSQL's own JSON functions write it."""
    text = pc.cast(values, pa.string())
    if pa.types.is_floating(values.type):
        whole = pc.match_substring_regex(text, r"^-?[0-9]+$")
        if pc.any(whole).as_py():
            text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    if pa.types.is_floating(values.type) and not pc.all(pc.is_finite(values)).as_py():
        names = pc.if_else(
            pc.is_nan(values), '"NaN"', pc.if_else(pc.less(values, 0), '"-Infinity"', '"Infinity"')
        )
        text = pc.if_else(pc.is_finite(values), text, names)
    return pc.fill_null(text, "null") if values.null_count else text


def _json_values(values: pa.Array) -> pa.Array:
    """Each value of a column as JSON text."""
    if pa.types.is_string(values.type):
        return json_strings(values)
    if pa.types.is_list(values.type):  # a ranking's groups: few, short lists
        return pa.array(
            ["null" if value is None else json_text(value) for value in values.to_pylist()],
            pa.string(),
        )
    if pa.types.is_boolean(values.type):
        written = pc.if_else(values, "true", "false")
        return pc.fill_null(written, "null") if values.null_count else written
    return json_numbers(values)


def _json_lines(
    batch: pa.RecordBatch, columns: Sequence[pa.Field], constants: Mapping[str, Any]
) -> bytes:
    """One JSON object a line for each row of a batch, with the plan's columns as keys, in
    order: the pieces are joined column by column, not row by row. A struct column is an
    object of its children (read as `name.child`), a null-typed one null, a constant one
    (`project`) the same text on every line. Text between the values is gathered into one
    literal; strings without nulls take their quotes from it."""
    pieces: list[Any] = []
    literal = ""

    def add(key: str, values: pa.Array) -> None:
        nonlocal literal
        if pa.types.is_string(values.type) and not values.null_count:
            pieces.extend([literal + key + '"', _json_escaped(values)])
            literal = '"'
        else:
            pieces.extend([literal + key, _json_values(values)])
            literal = ""

    for index, field_ in enumerate(columns):
        key = ("{" if index == 0 else ", ") + json_text(field_.name) + ": "
        if field_.name in constants:
            literal += key + json_text(constants[field_.name])
        elif pa.types.is_null(field_.type):
            literal += key + "null"
        elif pa.types.is_struct(field_.type):
            literal += key
            for position, child in enumerate(field_.type):
                opening = "{" if position == 0 else ", "
                add(
                    opening + json_text(child.name) + ": ",
                    batch.column(f"{field_.name}.{child.name}"),
                )
            literal += "}"
        else:
            add(key, batch.column(field_.name))
    pieces.append(literal + "}\n")
    lines = pc.binary_join_element_wise(*pieces, "")
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return data.slice(bounds[0], bounds[-1] - bounds[0]).to_pybytes() if len(lines) else b""


def judgment_json_lines(*, plan: ExportPlan) -> Iterator[bytes]:
    """The `judgments` export as JSON Lines on PostgreSQL, one chunk per block of rows: the
    same objects as judgment_records, keys and types from the plan's columns."""
    constants = {"project": plan.project.slug}
    for batch in plan_batches(plan):
        yield _json_lines(batch, plan.columns, constants)


TEXT_BATCH = 500
PARQUET_ROW_GROUP = 5_000
COLUMNS_ROW_GROUP = 25_000  # rows decoded as columns are light: bigger groups compress better


# ---------------------------------------------------------------- encoders


def conform_rows(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> Iterator[dict[str, Any]]:
    """The rows as every file of the schema holds them, so that a JSON Lines file and a
    Parquet file of one export load with the same types: every column present, in order
    (null when absent), a whole number in a float column a float (`2.0`, which a JSON reader
    does not take for an integer), an object or list in a text column its JSON text."""
    names = schema.names
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    texts = [f.name for f in schema if pa.types.is_string(f.type)]
    for row in rows:
        for name in floats:
            if row.get(name).__class__ is int:
                row[name] = float(row[name])
        for name in texts:
            value = row.get(name)
            if value is not None and value.__class__ is not str:
                row[name] = json.dumps(value, ensure_ascii=False)
        yield row if list(row) == names else {name: row.get(name) for name in names}


def encode_jsonl(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> Iterator[bytes]:
    """One JSON object a line, UTF-8, in the schema's types (conform_rows); the line and
    paragraph separators are escaped, so that any line splitter finds one row a line."""
    lines: list[str] = []
    for row in conform_rows(rows, schema):
        lines.append(json_text(row))
        if len(lines) >= TEXT_BATCH:
            yield ("\n".join(lines) + "\n").encode()
            lines.clear()
    if lines:
        yield ("\n".join(lines) + "\n").encode()


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_START = frozenset("=+-@\t\r")
_QUOTE = "'"
_RISKY_START = FORMULA_START | {_QUOTE}


def csv_text(value: str) -> str:
    """A text cell no spreadsheet runs: a leading ' before a formula's first character. A text
    that already starts with quotes before one gets one more, so that csv_text_read gives
    every text back as it was."""
    first = value[:1]
    if first in FORMULA_START or (first == _QUOTE and value.lstrip(_QUOTE)[:1] in FORMULA_START):
        return _QUOTE + value
    return value


def csv_text_read(cell: str) -> str:
    """The text a csv_text cell stands for (what an import of our own CSV reads)."""
    if cell[:1] == _QUOTE and cell.lstrip(_QUOTE)[:1] in FORMULA_START:
        return cell[1:]
    return cell


def _is_number(column_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(column_type)
        or pa.types.is_floating(column_type)
        or pa.types.is_boolean(column_type)
    )


def encode_csv(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> Iterator[bytes]:
    """A header from the plan's columns, then one line a row; nested values (message
    lists, objects) are written as JSON text, absent ones as empty cells. Text columns are
    escaped by csv_text, whatever their values look like; number columns stay numbers."""
    names = schema.names
    text_positions = [i for i, column in enumerate(schema) if not _is_number(column.type)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    for count, row in enumerate(rows, start=1):
        cells = [row.get(name) for name in names]
        for i in text_positions:
            value = cells[i]
            if value is None:
                continue
            if value.__class__ is not str:
                if isinstance(value, dict | list):
                    value = json.dumps(value, ensure_ascii=False)
                else:
                    value = str(value)
                cells[i] = value
            if value[:1] in _RISKY_START:
                cells[i] = csv_text(value)
        writer.writerow(cells)
        if count % TEXT_BATCH == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue().encode()


class Drain(io.RawIOBase):
    """A write-only file that keeps what was written until it is drained, and reports
    its true position, which the Parquet writer records in the footer."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def encode_parquet(
    rows: Iterable[dict[str, Any]], schema: pa.Schema, *, row_group_size: int = PARQUET_ROW_GROUP
) -> Iterator[bytes]:
    """Parquet with a fixed schema, one row group per `row_group_size` rows, each
    yielded as soon as it is written; the rows are conformed as for JSON Lines."""

    def batches() -> Iterator[pa.RecordBatch]:
        for chunk in chunked(conform_rows(rows, schema), row_group_size):
            yield pa.RecordBatch.from_pylist(chunk, schema=schema)

    return encode_parquet_batches(batches(), schema, row_group_size=row_group_size)


def encode_parquet_batches(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    *,
    row_group_size: int = PARQUET_ROW_GROUP,
) -> Iterator[bytes]:
    """Parquet from columns already in the schema, batches gathered into row groups of at
    least `row_group_size` rows, each yielded as soon as it is written."""
    sink = Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for batch in batches:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= row_group_size:
                writer.write_table(
                    pa.Table.from_batches(pending, schema), row_group_size=pending_rows
                )
                pending, pending_rows = [], 0
                yield sink.drain()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=pending_rows)
    finally:
        writer.close()
    yield sink.drain()


def export_stream(
    *, plan: ExportPlan, rows: Iterable[dict[str, Any]] | None = None
) -> Iterator[bytes]:
    """The plan's file as bytes, produced while its rows are read. On PostgreSQL the raw
    judgments come out of COPY as columns, never as Python objects per row (JSON Lines and
    Parquet); other formats, and rows given by the caller, go through the row encoders."""
    if (
        rows is None
        and plan.query.format == "judgments"
        and plan.query.filetype in ("jsonl", "parquet")
        and read_connection().vendor == "postgresql"
    ):
        if plan.query.filetype == "jsonl":
            return judgment_json_lines(plan=plan)
        return encode_parquet_batches(
            judgment_batches(plan=plan), plan.schema, row_group_size=COLUMNS_ROW_GROUP
        )
    rows = export_rows(plan=plan) if rows is None else rows
    if plan.query.filetype == "csv":
        return encode_csv(rows, plan.schema)
    if plan.query.filetype == "parquet":
        return encode_parquet(rows, plan.schema)
    return encode_jsonl(rows, plan.schema)
