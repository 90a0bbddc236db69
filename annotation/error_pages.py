"""Domain errors as the site's pages answer them, in one place: a DomainError that leaves
a view becomes the answer its class maps to (`DomainError.status`, the same table the API's
exception handler reads). On an annotator page of a project it is the page (or, for an htmx
swap, the card) that says why the project gives no work; in the console Django's 403 or 404
page; under /api/ (views outside DRF) and from a page endpoint marked `answers_json` (what
the task page's script calls) the API's JSON. Views catch a domain error only to answer it
in their own terms: a refused vote shown on its card, a crowd link's problem on its start
page."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from annotation.errors import DomainError
from annotation.framing import framed_by_mturk, is_frameable_by_mturk
from annotation.models import Project

API_PREFIX = "/api/"


def project_closed_page(
    request: HttpRequest, project: Project, reason: str, *, status: int
) -> HttpResponse:
    """The page an annotator sees when a project will not give them work, and why; in place
    of the task card when an htmx swap asked for the next task."""
    template = "annotation/partials/closed_card.html" if request.htmx else "annotation/closed.html"
    return render(request, template, {"project": project, "reason": reason}, status=status)


def answers_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Mark a page endpoint that a script calls for JSON: its domain errors are answered as
    the API's. Put it next to the view, under decorators that copy attributes (wraps)."""
    view.answers_json = True  # type: ignore[attr-defined]
    return view


def domain_error_answer(request: HttpRequest, error: DomainError) -> HttpResponse:
    """The answer to a domain error that a view left to the site (with `Retry-After` when
    the error says when to try again)."""
    answer = _answer(request, error)
    if error.retry_after is not None:
        answer["Retry-After"] = str(error.retry_after)
    return answer


def _answer(request: HttpRequest, error: DomainError) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error.as_json(), status=error.status)
    project = _annotator_page_project(request)
    if project is not None:
        page = project_closed_page(request, project, error.detail, status=error.status)
        return framed_by_mturk(page) if is_frameable_by_mturk(request) else page
    if error.status == 404:
        return defaults.page_not_found(request, Http404(error.detail))
    if error.status == 403:
        return defaults.permission_denied(request, DjangoPermissionDenied(error.detail))
    return HttpResponse(error.detail, status=error.status, content_type="text/plain; charset=utf-8")


def _wants_json(request: HttpRequest) -> bool:
    """Under /api/, or from a view marked answers_json."""
    match = request.resolver_match
    return request.path_info.startswith(API_PREFIX) or bool(
        match is not None and getattr(match.func, "answers_json", False)
    )


def _annotator_page_project(request: HttpRequest) -> Project | None:
    """The project of an annotator page (annotation's URLs that name one by its slug)."""
    match = request.resolver_match
    if match is None or match.namespace != "annotation" or "slug" not in match.kwargs:
        return None
    return Project.objects.filter(slug=match.kwargs["slug"]).first()


class DomainErrorMiddleware:
    """Turns a DomainError raised by a view into its answer (domain_error_answer)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DomainError):
            return domain_error_answer(request, exception)
        return None
