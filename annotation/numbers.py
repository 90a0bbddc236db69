"""Numbers read from text that arrives from outside (query parameters, form fields, JSON
strings, cursors): ASCII digits only, and the ranges of the database's integer columns.

int() and float() also read other scripts' digits ('٣' is 3), and str.isdigit() is true for
'²', which int() then refuses with a ValueError: a check with isdigit() before int() lets a
500 through. These functions answer None for anything but plain ASCII numbers, so callers
refuse it with a message naming their field.
"""

from __future__ import annotations

import math
import re

#: The largest value of an `integer` column (PostgreSQL int4; Django IntegerField).
INT_MAX = 2**31 - 1
#: The largest value of a `bigint` column (ids: BigAutoField).
BIGINT_MAX = 2**63 - 1

_INTEGER = re.compile(r"[+-]?[0-9]{1,40}")
_DECIMAL = re.compile(
    r"[+-]?(?:[0-9]{1,40}(?:\.[0-9]{0,40})?|\.[0-9]{1,40})(?:[eE][+-]?[0-9]{1,4})?"
)


def ascii_int(text: str) -> int | None:
    """The integer a text of ASCII digits spells (an optional sign, spaces around), else None."""
    text = text.strip()
    return int(text) if _INTEGER.fullmatch(text) else None


def ascii_float(text: str) -> float | None:
    """The finite number a decimal text in ASCII spells (12, -0.5, 1e-3), else None."""
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None
