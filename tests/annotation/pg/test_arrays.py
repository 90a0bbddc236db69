"""PostgreSQL's binary arrays read by numpy: every element type the readers ask for, exactly,
and a NULL refused rather than misread."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.db import connection

from annotation.pg.arrays import sql_arrays, unpack_array

pytestmark = pytest.mark.django_db


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("ARRAY[3, -1, 9007199254740993]::int8[]", [3, -1, 9007199254740993]),
        ("ARRAY[2, -1]::int4[]", [2, -1]),
        ("ARRAY[0.5, 'NaN']::float8[]", [0.5, math.nan]),
        ("'{}'::int8[]", []),
        ("NULL::int8[]", []),
    ],
)
def test_binary_arrays_are_read_exactly(sql, expected):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT encode(array_send({sql}), 'hex')")
        (hex_value,) = cursor.fetchone()
    values = unpack_array(None if hex_value is None else bytes.fromhex(hex_value))
    np.testing.assert_array_equal(values, np.array(expected, dtype=values.dtype))


@pytest.mark.postgres
def test_a_null_element_is_refused_rather_than_misread():
    with connection.cursor() as cursor:
        cursor.execute("SELECT encode(array_send(ARRAY[1, NULL]::int8[]), 'hex')")
        (hex_value,) = cursor.fetchone()
    with pytest.raises(ValueError, match="NULL"):
        unpack_array(bytes.fromhex(hex_value))


def test_integer_columns_of_a_query_come_as_arrays_on_any_database():
    arrays = sql_arrays(
        "SELECT 3 AS a, -1 AS b UNION ALL SELECT 9007199254740993, 0", [], ["a", "b"]
    )
    np.testing.assert_array_equal(arrays["a"], [3, 9007199254740993])
    np.testing.assert_array_equal(arrays["b"], [-1, 0])
    assert arrays["a"].dtype == np.int64


def test_a_query_without_rows_gives_empty_arrays():
    arrays = sql_arrays("SELECT 1 AS a WHERE 1 = 0", [], ["a"])
    assert len(arrays["a"]) == 0
