"""Rows into tables in bulk: one binary COPY on PostgreSQL (bulk_create bound every column of
thousands of rows into one statement text: a 20,000-row import took 25 s), the ORM or one
executemany elsewhere; and binary COPY records built by numpy in one go."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import NOT_PROVIDED, JSONField, Model
from psycopg import sql
from psycopg.types.json import Jsonb

from annotation.pg import column, is_postgresql, table, text

#: The binary COPY format's header (signature, flags, no extension) and trailer (a field
#: count of -1).
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"


def insert_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    now: datetime,
    returning_ids: bool = False,
) -> list[int]:
    """Insert rows (values for `columns`, field attnames); the other fields take their
    defaults (auto_now ones `now`). On PostgreSQL one COPY, with ids reserved from the
    table's sequence beforehand when asked for; elsewhere bulk_create. Returns the new ids
    in the order of the rows when `returning_ids`."""
    if not rows:
        return []
    if not is_postgresql():
        created = model.objects.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=1000
        )
        return [obj.pk for obj in created]
    meta = model._meta
    given = [meta.get_field(name) for name in columns]
    defaults = _defaults(model, given, now)
    fields = given + [f for f, _ in defaults]
    ids = _ids_reserved(model, len(rows)) if returning_ids else []
    if returning_ids:
        fields = [meta.pk, *fields]
    tail = tuple(copy_value(f, value) for f, value in defaults)
    json_at = [i for i, f in enumerate(given) if isinstance(f, JSONField)]
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN WITH (FORMAT binary)").format(
        table=table(model), columns=sql.SQL(", ").join(column(f) for f in fields)
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        copy.set_types([wire_type(f) for f in fields])
        for index, row in enumerate(rows):
            if json_at:
                row = list(row)
                for i in json_at:
                    row[i] = None if row[i] is None else Jsonb(row[i])
            if returning_ids:
                copy.write_row((ids[index], *row, *tail))
            else:
                copy.write_row((*row, *tail))
    return ids


def _defaults(model: type[Model], given: list[Any], now: datetime) -> list[tuple[Any, Any]]:
    """Each field not given (nor the pk, nor one with a database default) with the value the
    ORM would give it."""
    defaults = []
    for f in model._meta.concrete_fields:
        if f in given or f.primary_key or f.db_default is not NOT_PROVIDED:
            continue
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults.append((f, now))
        else:
            defaults.append((f, f.get_default()))
    return defaults


def _ids_reserved(model: type[Model], count: int) -> list[int]:
    """`count` new ids from the table's sequence, taken in one statement."""
    meta = model._meta
    with connection.cursor() as cursor:
        # The sequence by name first: as a constant it is resolved once, not per id.
        cursor.execute(
            "SELECT pg_get_serial_sequence(%s, %s)", [text(table(model)), meta.pk.column]
        )
        sequence = cursor.fetchone()[0]
        cursor.execute(
            "SELECT array_agg(nextval(%s::regclass)) FROM generate_series(1, %s)",
            [sequence, count],
        )
        return cursor.fetchone()[0]


def wire_type(field: Any) -> str:
    """The PostgreSQL type of a field's column (without its length), for binary COPY."""
    return field.db_type(connection).split("(")[0]


def copy_value(field: Any, value: Any) -> Any:
    """A value as binary COPY takes it (JSON wrapped as jsonb)."""
    if isinstance(field, JSONField) and value is not None:
        return Jsonb(value)
    return value


def update_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    only_changed: bool = False,
) -> list[int]:
    """Set `columns` of existing rows, each given as (pk, *values); with `only_changed`, the
    database leaves alone the rows that already hold those values. The values go into a
    temporary table (one COPY on PostgreSQL, one executemany elsewhere) and the table is
    changed by one UPDATE ... FROM. Returns the pks of the rows it changed."""
    if not rows:
        return []
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    names = {
        "table": table(model),
        "pk": column(meta.pk),
        "columns": sql.SQL(", ").join(column(f) for f in fields),
        "staging": sql.Identifier(f"import_{meta.db_table}"),
    }
    with connection.cursor() as cursor:
        if is_postgresql():
            _staged_by_copy(cursor, names, meta.pk, fields, rows)
        else:
            _staged_by_insert(cursor, names, fields, rows)
        cursor.execute(text(_update_from_staging(names, fields, only_changed=only_changed)))
        changed = [row[0] for row in cursor.fetchall()]
        cursor.execute(text(sql.SQL("DROP TABLE {staging}").format(**names)))
    return changed


def _staged_by_copy(
    cursor: Any, names: dict[str, sql.Composable], pk: Any, fields: list[Any], rows: list
) -> None:
    cursor.execute(
        text(
            sql.SQL(
                "CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
                "SELECT {pk}, {columns} FROM {table} WITH NO DATA"
            ).format(**names)
        )
    )
    statement = sql.SQL("COPY {staging} ({pk}, {columns}) FROM STDIN WITH (FORMAT binary)")
    with cursor.cursor.copy(statement.format(**names)) as copy:
        copy.set_types([wire_type(f) for f in [pk, *fields]])
        for row_pk, *values in rows:
            copy.write_row(
                (row_pk, *(copy_value(f, v) for f, v in zip(fields, values, strict=True)))
            )


def _staged_by_insert(
    cursor: Any, names: dict[str, sql.Composable], fields: list[Any], rows: list
) -> None:
    cursor.execute(text(sql.SQL("DROP TABLE IF EXISTS temp.{staging}").format(**names)))
    cursor.execute(
        text(
            sql.SQL(
                "CREATE TEMPORARY TABLE {staging} AS SELECT {pk}, {columns} FROM {table} WHERE 0"
            ).format(**names)
        )
    )
    values = sql.SQL(", ").join([sql.SQL("%s")] * (len(fields) + 1))
    cursor.executemany(
        text(
            sql.SQL("INSERT INTO {staging} ({pk}, {columns}) VALUES ({values})").format(
                values=values, **names
            )
        ),
        [
            [
                row_pk,
                *(f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)),
            ]
            for row_pk, *values in rows
        ],
    )


def _update_from_staging(
    names: dict[str, sql.Composable], fields: list[Any], *, only_changed: bool
) -> sql.Composed:
    """UPDATE the table from the staged rows, returning the pks it changed."""
    condition = sql.SQL("{table}.{pk} = s.{pk}").format(**names)
    if only_changed:
        differs = sql.SQL("IS DISTINCT FROM" if is_postgresql() else "IS NOT")
        changed = sql.SQL(" OR ").join(
            sql.SQL("{table}.{column} {differs} s.{column}").format(
                table=names["table"], column=column(f), differs=differs
            )
            for f in fields
        )
        condition = sql.SQL("{condition} AND ({changed})").format(
            condition=condition, changed=changed
        )
    assignments = sql.SQL(", ").join(
        sql.SQL("{column} = s.{column}").format(column=column(f)) for f in fields
    )
    return sql.SQL(
        "UPDATE {table} SET {assignments} FROM {staging} s WHERE {condition} RETURNING {table}.{pk}"
    ).format(assignments=assignments, condition=condition, **names)


def binary_records(fields: Sequence[tuple[str, str]], count: int) -> np.ndarray:
    """An empty array of `count` binary COPY rows of `fields` (name, big-endian numpy type,
    none NULL): the field count, then each field's length and value, filled in."""
    dtype = np.dtype(
        [("fields", ">i2")]
        + [part for name, wire in fields for part in ((f"{name}_size", ">i4"), (name, wire))]
    )
    records = np.empty(count, dtype=dtype)
    records["fields"] = len(fields)
    for name, wire in fields:
        records[f"{name}_size"] = np.dtype(wire).itemsize
    return records


def copy_records(cursor: Any, target: sql.Composable, records: np.ndarray) -> None:
    """Write `records` (from binary_records, values filled in) into `target` by one binary
    COPY; `cursor` is Django's."""
    statement = sql.SQL("COPY {target} FROM STDIN WITH (FORMAT binary)").format(target=target)
    with cursor.cursor.copy(statement) as copy:
        copy.write(COPY_HEADER + records.tobytes() + COPY_TRAILER)
