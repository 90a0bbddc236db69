"""Cursor pagination of the API's lists, with its query parameters checked: a bad one is a
400 naming it, never a 500 from a database lookup."""

from __future__ import annotations

from base64 import b64decode
from urllib.parse import parse_qs

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from annotation.errors import ValidationFailed
from annotation.numbers import BIGINT_MAX, ascii_int


def _refused(field: str, error: str) -> ValidationFailed:
    return ValidationFailed(f"Bad {field}.", errors=[{"field": field, "error": error}])


def _cursor_keys(encoded: str) -> bool:
    """Whether a cursor holds only what DRF writes in one: an offset, a direction and a
    position."""
    try:
        text = b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
    except (ValueError, UnicodeError):
        return False
    return set(parse_qs(text, keep_blank_values=True)) <= {"o", "r", "p"}


class IdCursorPagination(CursorPagination):
    """Cursor pagination in id order: stable while rows are being added."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def query_parameters(self) -> tuple[str, str]:
        """The query parameters a paginated list takes."""
        return (self.cursor_query_param, self.page_size_query_param)

    def get_page_size(self, request: Request) -> int:
        """`page_size` in ASCII digits from 1 to max_page_size; anything else is refused
        rather than quietly read as another size."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        size = ascii_int(raw)
        if size is None or not 1 <= size <= self.max_page_size:
            raise _refused(
                self.page_size_query_param, f"must be a whole number from 1 to {self.max_page_size}"
            )
        return size

    def decode_cursor(self, request: Request) -> Cursor | None:
        """The cursor as this list wrote it: its position is an id (the rows are in id
        order), which a forged cursor might not hold."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise _refused(self.cursor_query_param, "not a cursor this list gave") from exc
        if cursor is not None and not _cursor_keys(request.query_params[self.cursor_query_param]):
            # DRF reads any other text as the first page.
            raise _refused(self.cursor_query_param, "not a cursor this list gave")
        if cursor is not None and cursor.position is not None:
            position = ascii_int(cursor.position)
            if position is None or not 0 <= position <= BIGINT_MAX:
                raise _refused(self.cursor_query_param, "not a cursor this list gave")
        return cursor
