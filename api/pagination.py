"""Cursor pagination of the API's lists, with its query parameters checked: a bad one is a
400 naming it, never a 500 from a database lookup."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from annotation.errors import ValidationFailed
from annotation.numbers import BIGINT_MAX, ascii_int


def _refused(field: str, error: str) -> ValidationFailed:
    return ValidationFailed(f"Bad {field}.", errors=[{"field": field, "error": error}])


class IdCursorPagination(CursorPagination):
    """Cursor pagination in id order: stable while rows are being added."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request: Request) -> int:
        """`page_size` in ASCII digits from 1 up (more than max_page_size gives that many)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        size = ascii_int(raw)
        if size is None or size < 1:
            raise _refused(
                self.page_size_query_param, f"must be a whole number from 1 to {self.max_page_size}"
            )
        return min(size, self.max_page_size)

    def decode_cursor(self, request: Request) -> Cursor | None:
        """The cursor as this list wrote it: its position is an id (the rows are in id
        order), which a forged cursor might not hold."""
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise _refused(self.cursor_query_param, "not a cursor this list gave") from exc
        if cursor is not None and cursor.position is not None:
            position = ascii_int(cursor.position)
            if position is None or not 0 <= position <= BIGINT_MAX:
                raise _refused(self.cursor_query_param, "not a cursor this list gave")
        return cursor
