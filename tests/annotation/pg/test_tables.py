"""Tables are named one way: annotation.pg composes `psycopg.sql.Identifier` of the model's
db_table; no other module reads db_table or quotes a name by hand into SQL."""

from __future__ import annotations

import ast
from pathlib import Path

from django.db import connection

from annotation import pg
from annotation.models import Item, Judgment
from tests.processes import ROOT
from tests.sources import lines_where


def _names_by_hand(node: ast.AST, path: Path) -> bool:
    """Reads `_meta.db_table` or calls `quote_name`."""
    return isinstance(node, ast.Attribute) and node.attr in {"db_table", "quote_name"}


def _pg_or_migration(path: Path) -> bool:
    return "migrations" in path.parts or path.parent == ROOT / "annotation" / "pg"


def test_only_annotation_pg_names_tables():
    assert lines_where(_names_by_hand, skip=_pg_or_migration) == {}


def test_a_table_is_the_quoted_identifier_of_its_db_table(db):
    assert pg.text(pg.table(Judgment)) == '"annotation_judgment"'
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {pg.text(pg.table(Item))}")
        assert cursor.fetchone() == (0,)
