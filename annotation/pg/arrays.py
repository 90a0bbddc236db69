"""Columns as PostgreSQL binary arrays (`array_send(array_agg(...))`): a million rows cross
the wire as a few values, and numpy reads them without parsing. Reads go through
`read_connection()` (the read replica inside `replica_reads`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from annotation.db import read_connection

#: array_send's element types: the OIDs of int4, int8 and float8, and their wire formats.
_ELEMENT_TYPES = {23: ">i4", 20: ">i8", 701: ">f8"}


def unpack_array(blob: bytes | None) -> npt.NDArray:
    """A one-dimensional array from PostgreSQL's binary array format (what array_send
    returns): a 12-byte header, the length and lower bound, then each element after its
    4-byte length. Every column is coalesced, so an element is never NULL."""
    if blob is None:  # array_agg over no rows
        return np.empty(0, dtype=np.int64)
    n_dims, has_nulls, element_type = np.frombuffer(blob, dtype=">i4", count=3)
    wire = _ELEMENT_TYPES[int(element_type)]
    native = np.dtype(wire).newbyteorder("=")
    if n_dims == 0:
        return np.empty(0, dtype=native)
    if n_dims != 1 or has_nulls:
        raise ValueError("expected a one-dimensional array without NULLs")
    length = int(np.frombuffer(blob, dtype=">i4", count=1, offset=12)[0])
    elements = np.frombuffer(
        blob, dtype=np.dtype([("size", ">i4"), ("value", wire)]), count=length, offset=20
    )
    return elements["value"].astype(native if native.kind == "f" else np.int64)


def binary_row(statement: Any, params: Sequence[Any]) -> tuple[Any, ...]:
    """The one row of a statement, its values in binary (bytea as bytes, not hex text):
    through psycopg's own cursor (server-side binding), since Django's binds client-side."""
    connection = read_connection()
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(statement, params, binary=True)
        return cursor.fetchone()


def sql_arrays(sql: str, params: Sequence[Any], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The integer columns (`names`, in order) of a query's rows as numpy arrays: on
    PostgreSQL each column as one binary array, elsewhere from the rows."""
    connection = read_connection()
    if connection.vendor == "postgresql":
        aggregated = ", ".join(f"array_send(array_agg(rows.{name}::int8))" for name in names)
        statement = f"SELECT {aggregated} FROM ({sql}) AS rows({', '.join(names)})"
        blobs = binary_row(statement, params)
        return {name: unpack_array(blob) for name, blob in zip(names, blobs, strict=True)}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        values = list(zip(*cursor.fetchall(), strict=True)) or [() for _ in names]
    return {
        name: np.array(value, dtype=np.int64) for name, value in zip(names, values, strict=True)
    }
