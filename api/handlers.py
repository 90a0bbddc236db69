"""The site's 400, 403, 404, 500 and 503 answers: JSON under /api/ (README "REST API": errors are
JSON {"detail", "errors"}), Django's pages everywhere else (README "When services fail")."""

from __future__ import annotations

import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.urls import Resolver404, resolve
from django.utils import translation
from django.views import defaults

from annotation.db import database_unreachable
from annotation.i18n import browser_language, is_annotator_page, supported_language

API_PREFIX = "/api/"
#: Seconds a client is told to wait before it retries while the database is unreachable.
DATABASE_RETRY_AFTER = 10


def is_api_request(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: a request Django refuses before any view (a forged Host header, a
    malformed body) is a JSON 400 under /api/."""
    if is_api_request(request):
        return JsonResponse({"detail": "Bad request.", "errors": []}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: a refusal outside DRF (a CSRF failure has its own view) is JSON under /api/."""
    if is_api_request(request):
        return JsonResponse({"detail": "You may not do this.", "errors": []}, status=403)
    return defaults.permission_denied(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: an unknown path under /api/ is a JSON 404."""
    if is_api_request(request):
        return JsonResponse({"detail": "Not found.", "errors": []}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: an unexpected error under /api/ is a JSON 500 that tells nothing of the
    error itself (it is logged). An error that came from an unreachable database (raised in
    a middleware, before any view) is the 503 of `database_unavailable` instead."""
    if (unavailable := database_unavailable(request, sys.exc_info()[1])) is not None:
        return unavailable
    if is_api_request(request):
        return JsonResponse(
            {"detail": "A server error occurred. It was logged.", "errors": []}, status=500
        )
    return defaults.server_error(request)


def database_unavailable(
    request: HttpRequest, exception: BaseException | None
) -> HttpResponse | None:
    """The 503 for a request that met an unreachable database, else None: JSON
    {"detail", "errors"} under /api/, a plain page (in the annotator's language on an
    annotator page) elsewhere; both with Retry-After. The page reads nothing from the
    database, so the language is the cookie's or the browser's."""
    if not database_unreachable(exception):
        return None
    if is_api_request(request):
        response: HttpResponse = JsonResponse(
            {
                "detail": "The database is unavailable. Please retry shortly.",
                "errors": [],
            },
            status=503,
        )
    else:
        with translation.override(_page_language(request)):
            response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


def _page_language(request: HttpRequest) -> str | None:
    """The language of the 503 page without a query: an annotator page's is the language
    cookie's, else the browser's; the console keeps the language already active."""
    try:
        match = request.resolver_match or resolve(request.path_info)
    except Resolver404:
        match = None
    if not is_annotator_page(match):
        return translation.get_language()
    return (
        supported_language(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
        or browser_language(request)
        or settings.LANGUAGE_CODE
    )
