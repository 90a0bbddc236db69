"""The webhooks page of a project (README, Webhooks): the researcher's webhooks with their
events and latest attempts (status, attempt, answer), a button to send an attempt's event
again, and forms to subscribe a URL and to delete a webhook; all through the webhook
services the API calls, scoped as the API scopes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.views.decorators.http import require_GET, require_POST

from annotation.console.pages import ConsolePage, console_context, console_project
from annotation.errors import ValidationFailed
from annotation.models import Project, Webhook
from annotation.selectors.webhooks import RECENT_DELIVERIES, webhooks_with_recent_deliveries
from annotation.services.webhooks import (
    EVENTS,
    webhook_create,
    webhook_delete,
    webhook_delivery_resend,
    webhook_of,
)

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PAGE = ConsolePage(title="Webhooks", url_name="annotation_project_webhooks")
TEMPLATE = "admin/annotation/project_webhooks.html"


def _webhook(request: HttpRequest, project: Project, webhook_id: int) -> Webhook:
    """One of this researcher's webhooks on `project`; another's (NotFound), or another
    project's, 404."""
    webhook = webhook_of(user=request.user, webhook_id=webhook_id)
    if webhook.project_id != project.pk:
        raise Http404("No such webhook on this project.")
    return webhook


def _page_url(project: Project) -> str:
    return reverse(f"admin:{PAGE.url_name}", args=[project.pk])


def _render(
    project_admin: ModelAdmin,
    request: HttpRequest,
    project: Project,
    status: int = 200,
    **extra: Any,
) -> TemplateResponse:
    context = {
        **console_context(project_admin, request, project, title=f"Webhooks of {project.name}"),
        "webhooks": webhooks_with_recent_deliveries(user=request.user, project=project),
        "recent": RECENT_DELIVERIES,
        "events": EVENTS,
        "chosen_events": extra.pop("chosen_events", ()),
        "url_value": extra.pop("url_value", ""),
        "errors": extra.pop("errors", {}),
        **extra,
    }
    return TemplateResponse(request, TEMPLATE, context, status=status)


def webhooks_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_GET
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        return _render(project_admin, request, console_project(project_admin, request, project_id))

    return view


def webhook_new_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """Subscribe a URL and show the signing secret, this once; a refused URL or no event
    is shown on the form (400) and nothing is stored."""

    @require_POST
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        url, events = request.POST.get("url", "").strip(), request.POST.getlist("events")
        try:
            webhook = webhook_create(
                project=project, created_by=request.user, url=url, events=events
            )
        except ValidationFailed as exc:
            errors: dict[str, list[str]] = {}
            for error in exc.errors:
                errors.setdefault(error["field"], []).append(error["error"])
            return _render(
                project_admin,
                request,
                project,
                status=400,
                errors=errors,
                url_value=url,
                chosen_events=events,
            )
        return _render(project_admin, request, project, new_webhook=webhook)

    return view


def webhook_delete_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_POST
    def view(request: HttpRequest, project_id: int, webhook_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        webhook = _webhook(request, project, webhook_id)
        webhook_delete(webhook=webhook)
        messages.success(request, f"The webhook to {webhook.url} is deleted.")
        return HttpResponseRedirect(_page_url(project))

    return view


def delivery_resend_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_POST
    def view(
        request: HttpRequest, project_id: int, webhook_id: int, delivery_id: int
    ) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        webhook = _webhook(request, project, webhook_id)
        delivery = webhook_delivery_resend(webhook=webhook, delivery_id=delivery_id)
        messages.success(
            request,
            f"The {delivery.event} event is sent again to {webhook.url} (a new attempt, "
            "listed first).",
        )
        return HttpResponseRedirect(f"{_page_url(project)}#webhook-{webhook.pk}")

    return view


def urlpatterns(project_admin: ModelAdmin) -> list[Any]:
    def route(pattern: str, make: Callable[..., Any], name: str) -> Any:
        return path(pattern, project_admin.admin_site.admin_view(make(project_admin)), name=name)

    return [
        route("<int:project_id>/webhooks/", webhooks_view, PAGE.url_name),
        route("<int:project_id>/webhooks/new/", webhook_new_view, "annotation_project_webhook_new"),
        route(
            "<int:project_id>/webhooks/<int:webhook_id>/delete/",
            webhook_delete_view,
            "annotation_project_webhook_delete",
        ),
        route(
            "<int:project_id>/webhooks/<int:webhook_id>/deliveries/<int:delivery_id>/resend/",
            delivery_resend_view,
            "annotation_project_webhook_resend",
        ),
    ]
