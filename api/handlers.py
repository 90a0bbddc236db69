"""The site's 400, 403, 404 and 500 answers: JSON under /api/ (CONTRACT 5: errors are JSON
{"detail", "errors"}), Django's pages everywhere else."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


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
    error itself (it is logged)."""
    if is_api_request(request):
        return JsonResponse(
            {"detail": "A server error occurred. It was logged.", "errors": []}, status=500
        )
    return defaults.server_error(request)
