"""Big fixtures in bulk SQL (INSERT ... SELECT over generate_series), never row by row.

Columns are taken from the models, so a field added later with a Python default still gets
a value: every column the caller does not compute in SQL is filled with the default of a
template instance, passed as a parameter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from django.db import connection, models


def insert_select(
    model: type[models.Model],
    *,
    values: Mapping[str, str],
    source: str,
    params: Sequence[Any] = (),
    template: models.Model | None = None,
    on_conflict_do_nothing: bool = False,
) -> int:
    """INSERT INTO <model table> (columns) SELECT <values or defaults> <source>.

    `values` maps a column name to an SQL expression over `source` (which starts with FROM
    and holds the `params`); columns left out take the template's value, except the id and
    columns with a db_default, which the database fills. Returns the row count.
    """
    template = template if template is not None else model()
    columns: list[str] = []
    selects: list[str] = []
    select_params: list[Any] = []
    known = set()
    for f in model._meta.concrete_fields:
        if f.column not in values and (f.primary_key or f.db_default is not models.NOT_PROVIDED):
            continue  # the database fills it (identity, or a db_default)
        columns.append(connection.ops.quote_name(f.column))
        known.add(f.column)
        if f.column in values:
            selects.append(values[f.column])
        elif isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            selects.append("now()")
        else:
            selects.append("%s")
            select_params.append(f.get_db_prep_save(getattr(template, f.attname), connection))
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{model.__name__} has no column {sorted(unknown)}")
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} "
        f"({', '.join(columns)}) SELECT {', '.join(selects)} {source}"
    )
    if on_conflict_do_nothing:
        sql += " ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*select_params, *params])
        return cursor.rowcount


def execute(sql: str, params: Sequence[Any] = ()) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def scalar(sql: str, params: Sequence[Any] = ()) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def explain(sql: str, params: Sequence[Any]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) in a transaction that is rolled back (the statement may
    lock or write)."""
    from django.db import transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            lines = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    return "\n".join(lines)


@contextlib.contextmanager
def bulk_load() -> Iterator[None]:
    """Skip trigger-based foreign-key checks while a fixture that is consistent by
    construction is loaded (session_replication_role = replica; the bench connects as the
    postgres superuser). Unique and check constraints still hold."""
    execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        execute("SET session_replication_role = origin")
