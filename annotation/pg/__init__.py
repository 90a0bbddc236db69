"""PostgreSQL's fast paths, in one place: model rows from hand-written SQL (`rows`), binary
COPY in (`copy_in`) and COPY out (`copy_out`), binary arrays (`arrays`) and advisory locks
(`locks`). Each function that has a PostgreSQL path keeps the portable one beside it (SQLite
in development and most tests), so callers never ask which database they are on.

Tables and columns are named one way: `psycopg.sql.Identifier` of the model's `db_table`
(`table`) or the field's `column` (`column`), never a name quoted by hand into an f-string.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Model
from psycopg import sql


def is_postgresql() -> bool:
    """Whether the default connection is PostgreSQL (else the portable path runs)."""
    return connection.vendor == "postgresql"


def table(model: type[Model]) -> sql.Identifier:
    """The model's table, as an identifier to compose into SQL."""
    return sql.Identifier(model._meta.db_table)


def column(field: Any) -> sql.Identifier:
    """A model field's column, as an identifier to compose into SQL."""
    return sql.Identifier(field.column)


def text(statement: sql.Composable) -> str:
    """Composed SQL as text, for the places that take a string (Django's cursor with its
    query log, and SQL kept as a template for a later `.format`)."""
    return statement.as_string(None)
