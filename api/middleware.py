"""Request bodies under /api/ over MAX_IMPORT_BYTES are refused before they are parsed."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from annotation.numbers import ascii_int
from api.handlers import database_unavailable, is_api_request
from api.parsers import body_too_large_detail

DISCARD_CHUNK = 64 * 1024


class BodySizeLimitMiddleware:
    """A JSON 413 for an API request whose body is over MAX_IMPORT_BYTES: by its
    Content-Length, before authentication and before a byte is kept; a chunked body (no
    Content-Length) is counted as it is read, and one within the limit is handed on to the
    parsers (Django would give them an empty body).

    The body of a refused request is read and dropped, up to twice the limit, so that the
    client, still sending it, reads the 413 instead of a connection reset."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            limit: int = settings.MAX_IMPORT_BYTES
            declared = request.META.get("CONTENT_LENGTH") or ""
            if declared:
                size = ascii_int(declared)
                if size is not None and size > limit:
                    _discard(request, 2 * limit)  # nothing of it is kept
                    return _too_large(limit, size)
            elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
                source = request.META.get("wsgi.input") or request
                body = source.read(limit + 1)
                while len(body) <= limit and (more := source.read(limit + 1 - len(body))):
                    body += more
                if len(body) > limit:
                    del body
                    _discard(source, limit)
                    return _too_large(limit, None)
                request._stream = io.BytesIO(body)  # type: ignore[attr-defined]
                request.META["CONTENT_LENGTH"] = str(len(body))
        return self.get_response(request)


def _too_large(limit: int, size: int | None) -> JsonResponse:
    detail = body_too_large_detail(limit=limit, size=size)
    return JsonResponse({"detail": detail, "errors": []}, status=413)


def _discard(stream: Any, at_most: int) -> None:
    """Read and drop what the client still sends, `at_most` bytes."""
    while at_most > 0 and (chunk := stream.read(min(DISCARD_CHUNK, at_most))):
        at_most -= len(chunk)


class DatabaseUnavailableMiddleware:
    """A view that meets an unreachable database answers 503 with Retry-After (JSON under
    /api/, a plain page elsewhere) instead of a 500; every other error passes on. Errors
    raised in a middleware reach handler500, which gives the same answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return database_unavailable(request, exception)
