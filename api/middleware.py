"""Request bodies under /api/ over MAX_IMPORT_BYTES are refused before anything reads them."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from annotation.numbers import ascii_int
from api.handlers import is_api_request
from api.parsers import body_too_large_detail


class BodySizeLimitMiddleware:
    """A JSON 413 for an API request whose Content-Length is over MAX_IMPORT_BYTES, before
    authentication and before a byte of the body is read. Bodies without a Content-Length
    (chunked) are counted by the API's parsers as they read them (api.parsers.read_body)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_request(request):
            size = ascii_int(request.META.get("CONTENT_LENGTH") or "0")
            limit: int = settings.MAX_IMPORT_BYTES
            if size is not None and size > limit:
                return JsonResponse(
                    {"detail": body_too_large_detail(limit=limit, size=size), "errors": []},
                    status=413,
                )
        return self.get_response(request)
