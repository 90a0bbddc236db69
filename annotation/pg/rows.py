"""Model instances from hand-written SQL, for the hot paths (next task, vote); the same SQL
runs on SQLite.

The ORM spends more time building a multi-table query than PostgreSQL spends running it;
on the two requests every vote makes, the SQL is written once here and the rows are turned
into ordinary model instances with the same converters the ORM applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Model
from psycopg import sql

from annotation.pg import text

Converter = Callable[[Any, Any, Any], Any]


@cache
def model_columns(model: type[Model]) -> tuple[str, ...]:
    """The model's concrete columns, in the order `model_select` lists them."""
    return tuple(field.column for field in model._meta.concrete_fields)


def model_select(model: type[Model], alias: str | None = None) -> str:
    """`alias."col1", alias."col2", ...` for every concrete column of the model."""
    return _select_list(model, alias, connection.vendor)


@cache
def _select_list(model: type[Model], alias: str | None, vendor: str) -> str:
    prefix = sql.SQL(f"{alias}." if alias else "")
    return text(sql.SQL(", ").join(prefix + sql.Identifier(c) for c in model_columns(model)))


@cache
def _converters(model: type[Model], vendor: str) -> tuple[tuple[int, list[Converter], Any], ...]:
    """Per column, the converters the ORM would apply (keyed by vendor: tests switch)."""
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            found.append((index, functions, column))
    return tuple(found)


def model_from_row(model: type[Model], values: Sequence[Any]) -> Model:
    """A model instance from the values of `model_select(model, ...)`, converted as the
    ORM would (JSON decoded, SQLite timestamps parsed, ...)."""
    values = list(values)
    for index, functions, column in _converters(model, connection.vendor):
        value = values[index]
        for function in functions:
            value = function(value, column, connection)
        values[index] = value
    return model.from_db(connection.alias, _attnames(model), values)


def db_time(moment: datetime) -> Any:
    """A datetime as a parameter of hand-written SQL, as the ORM would pass it (naive UTC
    text on SQLite)."""
    return connection.ops.adapt_datetimefield_value(moment)


def field_from_db(model: type[Model], name: str, value: Any) -> Any:
    """One column's raw value converted as the ORM would."""
    field = model._meta.get_field(name)
    column = field.get_col(model._meta.db_table)
    for function in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
        value = function(value, column, connection)
    return value


@cache
def _attnames(model: type[Model]) -> list[str]:
    return [field.attname for field in model._meta.concrete_fields]
