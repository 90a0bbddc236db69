"""The review queue (README "Researchers"): a project's split and gold-contradicting pairwise tasks,
listed oldest first, and a page deciding one at a time by keyboard (htmx swaps in the next)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from annotation.console.pages import ConsolePage, console_project
from annotation.errors import ValidationFailed
from annotation.i18n import content_attributes
from annotation.models import Adjudication, Project, Task
from annotation.rendering import media_hosts_for, render_markdown
from annotation.selectors.adjudications import researcher_pseudonym
from annotation.selectors.review import (
    review_judgments,
    review_next,
    review_queue,
    review_rows,
    review_task_labels,
)
from annotation.services.adjudication import (
    NOTE_MAX_CHARS,
    adjudication_labels,
    adjudication_record,
)

PAGE = ConsolePage(title="Review queue", url_name="annotation_project_review")
PER_PAGE = 50

#: The decision buttons: label, text, key (as the annotator page's 1/2/3/4).
LABEL_BUTTONS = (
    ("a", "A is better", "1"),
    ("b", "B is better", "2"),
    ("tie", "Tie", "3"),
    ("both_bad", "Both bad", "4"),
)
LABEL_NAMES = {"a": "A", "b": "B", "tie": "Tie", "both_bad": "Both bad"}


def urlpatterns(project_admin: Any) -> list[Any]:
    site = project_admin.admin_site
    return [
        path(
            "<int:project_id>/review/",
            site.admin_view(queue_view(project_admin)),
            name=PAGE.url_name,
        ),
        path(
            "<int:project_id>/review/start/",
            site.admin_view(first_view(project_admin)),
            name="annotation_project_review_start",
        ),
        path(
            "<int:project_id>/review/<int:task_id>/",
            site.admin_view(task_view(project_admin)),
            name="annotation_project_review_task",
        ),
        path(
            "<int:project_id>/review/<int:task_id>/labels/",
            site.admin_view(labels_view(project_admin)),
            name="annotation_project_review_labels",
        ),
    ]


def queue_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """The review queue: split and gold-contradicting pairwise tasks, a page at a time."""

    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        paginator = Paginator(review_queue(project=project), PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        context = {
            **project_admin.admin_site.each_context(request),
            "title": f"Review queue of {project.name}",
            "project": project,
            "page": page,
            "rows": review_rows(list(page.object_list)),
            "opts": Project._meta,
        }
        return TemplateResponse(request, "admin/annotation/review_queue.html", context)

    return view


def task_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """One task to adjudicate; its POST records the label and moves to the next task."""

    @vary_on_headers("HX-Request")
    def view(request: HttpRequest, project_id: int, task_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        task = get_object_or_404(
            Task.objects.select_related("item", "response_a", "response_b"),
            pk=task_id,
            project=project,
            response_b__isnull=False,  # pairwise tasks are adjudicated
        )
        if request.method != "POST":
            return _task_page(request, project_admin, project, task)
        if not project_admin.has_change_permission(request, project):
            return HttpResponseForbidden("You may read this project but not adjudicate.")
        label, note = request.POST.get("label", ""), request.POST.get("note", "")
        try:
            adjudication = adjudication_record(
                task=task, researcher=request.user, label=label, note=note
            )
        except ValidationFailed as exc:
            # htmx swaps only 2xx answers: it gets the card with the errors (and the note).
            status = 200 if request.htmx else 400
            return _task_page(
                request, project_admin, project, task, errors=exc.errors, note=note, status=status
            )
        done = f"Task {task.pk} adjudicated: {LABEL_NAMES[adjudication.label]}."
        following = review_next(project=project, after=task.pk)
        if following is None:
            queue = reverse(f"admin:{PAGE.url_name}", args=[project.pk])
            if not request.htmx:
                return HttpResponseRedirect(queue)
            return _task_page(request, project_admin, project, None, message=done)
        url = reverse("admin:annotation_project_review_task", args=[project.pk, following])
        if not request.htmx:
            return HttpResponseRedirect(url)
        following_task = Task.objects.select_related("item", "response_a", "response_b").get(
            pk=following
        )
        response = _task_page(request, project_admin, project, following_task, message=done)
        return push_url(response, url)

    return view


def labels_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """The task's majority and Dawid-Skene rows, loaded after the page: the fit reads
    every counted vote of the project, so the card does not wait for it."""

    def view(request: HttpRequest, project_id: int, task_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        task = get_object_or_404(Task, pk=task_id, project=project, response_b__isnull=False)
        labels = review_task_labels(project=project, task=task)
        context = {
            "project": project,
            "task": task,
            "computed": True,
            "labels": labels,
            "names": {
                "majority": LABEL_NAMES.get(labels.majority)
                if labels and labels.majority
                else None,
                "ds_label": LABEL_NAMES.get(labels.ds_label)
                if labels and labels.ds_label
                else None,
            },
        }
        return TemplateResponse(
            request, "admin/annotation/review_task.html#review-computed", context
        )

    return view


def first_view(project_admin: Any) -> Callable[..., HttpResponse]:
    """ "Start reviewing": the first task waiting, or back to the queue when none is."""

    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        first = review_next(project=project, after=0)
        if first is None:
            return HttpResponseRedirect(reverse(f"admin:{PAGE.url_name}", args=[project.pk]))
        return HttpResponseRedirect(
            reverse("admin:annotation_project_review_task", args=[project.pk, first])
        )

    return view


def _task_page(
    request: HttpRequest,
    project_admin: Any,
    project: Project,
    task: Task | None,
    *,
    errors: list[dict[str, str]] | None = None,
    note: str = "",
    message: str = "",
    status: int = 200,
) -> HttpResponse:
    """The review page of one task (or the end of the queue when `task` is None); an htmx
    request gets the card alone."""
    hosts = media_hosts_for(project.media_hosts)
    context: dict[str, Any] = {
        **project_admin.admin_site.each_context(request),
        "title": f"Review: {project.name}",
        "project": project,
        "task": task,
        "message": message,
        "errors": errors or [],
        "note": note,
        "opts": Project._meta,
        "queue_url": reverse(f"admin:{PAGE.url_name}", args=[project.pk]),
        "note_max": NOTE_MAX_CHARS,
    }
    if task is not None:
        context.update(_task_context(project, task, hosts))
    template = "admin/annotation/review_task.html"
    if request.htmx:
        template += "#review-card"
    response = TemplateResponse(request, template, context, status=status)
    if hosts:
        response._csp_update = {"img-src": list(hosts), "media-src": list(hosts)}  # type: ignore[attr-defined]
    return response


def _task_context(project: Project, task: Task, hosts: tuple[str, ...]) -> dict[str, Any]:
    def html(text: str) -> str:
        return mark_safe(render_markdown(text, media_hosts=hosts))

    prompt = task.item.prompt
    if isinstance(prompt, str):
        conversation = [{"role": "user", "html": html(prompt)}]
    else:
        conversation = [
            {"role": m.get("role", ""), "html": html(m.get("content", ""))} for m in prompt
        ]
    allowed = adjudication_labels(project)
    adjudication = Adjudication.objects.filter(task=task).select_related("researcher").first()
    following = review_next(project=project, after=task.pk)
    judgments = review_judgments(project=project, task=task)
    for judgment in judgments:
        judgment.choice_name = LABEL_NAMES.get(judgment.choice, "—")  # type: ignore[attr-defined]
        left = judgment.shown_left_id
        judgment.side = (  # type: ignore[attr-defined]
            ""
            if left is None or judgment.choice not in ("a", "b")
            else "left"
            if (left == task.response_a_id) == (judgment.choice == "a")
            else "right"
        )
    gold = (task.gold_answer or {}).get("choice") if isinstance(task.gold_answer, dict) else None
    names = {
        "gold": LABEL_NAMES.get(gold),
        "adjudication": LABEL_NAMES.get(adjudication.label) if adjudication else None,
    }
    return {
        "conversation": conversation,
        "responses": [
            ("A", task.response_a, html(task.response_a.text)),
            ("B", task.response_b, html(task.response_b.text) if task.response_b else ""),
        ],
        "content_attrs": content_attributes(project.content_language),
        "names": names,
        "gold": gold,
        "judgments": judgments,
        "adjudication": adjudication,
        "adjudicated_by": (
            adjudication.researcher.get_username()
            if adjudication and adjudication.researcher
            else None
        ),
        "adjudicated_pseudonym": researcher_pseudonym(adjudication.researcher_id)
        if adjudication
        else None,
        "buttons": [button for button in LABEL_BUTTONS if button[0] in allowed],
        "next_url": reverse("admin:annotation_project_review_task", args=[project.pk, following])
        if following
        else None,
    }
