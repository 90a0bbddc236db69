"""Request bodies of the API: read up to MAX_IMPORT_BYTES (a JSON 413 beyond), JSON parsed
with its nesting bounded (a JSON 400 beyond 64 levels, never a RecursionError), JSON Lines
handed as bytes to the import services, which parse and number the lines.

These parsers read the request stream themselves, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
(2.5 MB, which DRF's own JSONParser meets through request.body) does not cap an import.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer

from annotation.services.importing import MAX_JSON_DEPTH, JSONTooDeep, json_error, json_loads


class BodyTooLarge(exceptions.APIException):
    """A request body over MAX_IMPORT_BYTES."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"

    def __init__(self, *, limit: int, size: int | None = None) -> None:
        super().__init__(body_too_large_detail(limit=limit, size=size))


def body_too_large_detail(*, limit: int, size: int | None = None) -> str:
    given = f"of {size} bytes " if size is not None else ""
    return (
        f"The request body {given}is over the limit of {limit} bytes (MAX_IMPORT_BYTES): "
        "split the import into smaller requests."
    )


class JSONNotValid(exceptions.ParseError):
    """A body that is not JSON; `errors` says what is wrong with it."""

    def __init__(self, detail: str, *, error: str) -> None:
        super().__init__(detail)
        self.errors = [{"field": "", "error": error}]


class JSONNestedTooDeep(JSONNotValid):
    def __init__(self, *, max_depth: int) -> None:
        super().__init__(
            f"The JSON body is nested deeper than {max_depth} levels.",
            error=f"nested deeper than {max_depth} levels",
        )


def read_body(stream: Any) -> bytes:
    """The whole body, or BodyTooLarge as soon as it passes MAX_IMPORT_BYTES: counted while
    read, so a body without a Content-Length (chunked) meets the limit too."""
    limit: int = settings.MAX_IMPORT_BYTES
    if stream is None:
        return b""
    body = stream.read(limit + 1)
    while len(body) <= limit and (more := stream.read(limit + 1 - len(body))):
        body += more
    if len(body) > limit:
        raise BodyTooLarge(limit=limit)
    return body


class JSONParser(BaseParser):
    """JSON of at most MAX_JSON_DEPTH levels; NaN and Infinity are refused (strict JSON, as
    DRF's JSONParser)."""

    media_type = "application/json"
    renderer_class = JSONRenderer

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return json_loads(read_body(stream))
        except JSONTooDeep as exc:
            raise JSONNestedTooDeep(max_depth=MAX_JSON_DEPTH) from exc
        except ValueError as exc:  # not UTF-8 too
            error = json_error(exc)
            where = f"{exc.msg} at {exc.pos}" if isinstance(exc, json.JSONDecodeError) else error
            raise JSONNotValid(f"JSON parse error - {where}", error=error) from exc


class NDJSONParser(BaseParser):
    """JSON Lines, as bytes: the import services split them and name each bad line."""

    media_type = "application/x-ndjson"

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> bytes:
        return read_body(stream)


class JSONLinesParser(NDJSONParser):
    media_type = "application/jsonl"
