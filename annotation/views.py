"""Annotator pages: project list, consent and instructions, then one task after another.

Full pages extend base.html; a vote posted by htmx gets the next task card alone.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from annotation.errors import DomainError, ValidationFailed
from annotation.models import Annotator, Assignment, Judgment, Project
from annotation.rendering import render_markdown
from annotation.selectors.progress import (
    annotator_judgment_count,
    annotator_progress,
    progress_context,
)
from annotation.selectors.projects import projects_managed_by, projects_open_to
from annotation.selectors.tasks import assignment_preview, assignment_sides, task_for_preview
from annotation.services.annotators import (
    annotator_for_user,
    crowd_annotator_enter,
    crowd_entry_from_params,
)
from annotation.services.assignment import (
    assignment_lease,
    assignment_skip,
    project_check_open_for,
)
from annotation.services.judging import judgment_submit

CONSENT_SESSION_KEY = "consented_projects"


def _closed(request: HttpRequest, project: Project, reason: str, *, status: int) -> HttpResponse:
    """The page an annotator sees when a project will not give them work, and why."""
    return render(
        request, "annotation/closed.html", {"project": project, "reason": reason}, status=status
    )


def signup(request: HttpRequest) -> HttpResponse:
    """A new annotator makes an account and goes straight to the open projects."""
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        annotator_for_user(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("annotation:project-list")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    annotator = annotator_for_user(user=request.user)
    projects = projects_open_to(annotator=annotator).order_by("name")
    return render(request, "annotation/project_list.html", {"projects": projects})


def _has_consented(request: HttpRequest, project: Project) -> bool:
    return project.slug in request.session.get(CONSENT_SESSION_KEY, [])


def project_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Entry point. Crowd links sign the worker in; then consent and instructions; then tasks."""
    project = get_object_or_404(Project, slug=slug)
    try:
        entry = crowd_entry_from_params(request.GET)
    except ValidationFailed as exc:
        return _closed(request, project, exc.detail, status=400)
    if entry is not None:
        annotator = crowd_annotator_enter(project=project, entry=entry)
        if request.user.is_authenticated and request.user.pk != annotator.user_id:
            request.session.flush()
        login(request, annotator.user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("annotation:project-start", slug=slug)
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    annotator = annotator_for_user(user=request.user)
    try:
        project_check_open_for(project=project, annotator=annotator)
    except DomainError as exc:
        return _closed(request, project, exc.detail, status=403)
    if not _has_consented(request, project):
        return render(
            request,
            "annotation/consent.html",
            {"project": project, "instructions": mark_safe(render_markdown(project.instructions))},
        )
    return redirect("annotation:task", slug=slug)


@require_POST
@login_required
def project_consent(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_object_or_404(Project, slug=slug)
    consented = set(request.session.get(CONSENT_SESSION_KEY, []))
    consented.add(project.slug)
    request.session[CONSENT_SESSION_KEY] = sorted(consented)
    return redirect("annotation:task", slug=slug)


@login_required
@vary_on_headers("HX-Request")
def task_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The current (or next) task: the whole page, or only its card for htmx."""
    project = get_object_or_404(Project, slug=slug)
    if not _has_consented(request, project):
        return redirect("annotation:project-start", slug=slug)
    annotator = annotator_for_user(user=request.user)
    return _render_next(request, project, annotator)


def _render_next(
    request: HttpRequest,
    project: Project,
    annotator: Annotator,
    *,
    errors: list[dict[str, str]] | None = None,
    assignment: Assignment | None = None,
) -> HttpResponse:
    try:
        if assignment is None:
            assignment = assignment_lease(project=project, annotator=annotator)
    except DomainError as exc:
        return _closed(request, project, exc.detail, status=403)
    if assignment is None:
        return _finish(request, project, annotator)
    context = _task_context(project, annotator, assignment, errors=errors)
    template = "annotation/task.html#task-card" if request.htmx else "annotation/task.html"
    return render(request, template, context)


def _finish(request: HttpRequest, project: Project, annotator: Annotator) -> HttpResponse:
    """No task left: the completion code, or back to the crowd platform."""
    if project.completion_url and annotator.source != Annotator.Source.LOCAL:
        if request.htmx:
            return HttpResponseClientRedirect(project.completion_url)
        return HttpResponseRedirect(project.completion_url)
    context = {
        "project": project,
        "done": annotator_judgment_count(project=project, annotator=annotator, include_gold=True),
    }
    template = "annotation/task.html#done-card" if request.htmx else "annotation/done.html"
    return render(request, template, context)


def _task_context(
    project: Project,
    annotator: Annotator,
    assignment: Assignment,
    *,
    errors: list[dict[str, str]] | None,
) -> dict[str, Any]:
    left, right = assignment_sides(assignment)
    prompt = assignment.task.item.prompt
    if isinstance(prompt, str):
        conversation = [{"role": "user", "html": mark_safe(render_markdown(prompt))}]
    else:
        conversation = [
            {"role": m["role"], "html": mark_safe(render_markdown(m["content"]))} for m in prompt
        ]
    criteria = list(project.criteria.all())
    return {
        "project": project,
        "assignment": assignment,
        "conversation": conversation,
        "left_html": mark_safe(render_markdown(left.text)),
        "right_html": mark_safe(render_markdown(right.text)) if right is not None else None,
        "criteria": criteria,
        "strength_levels": list(range(1, project.strength_scale + 1)),
        "errors": errors or [],
        **annotator_progress(project=project, annotator=annotator),
    }


@staff_member_required
def task_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """A researcher sees a task exactly as an annotator would, plus the model names."""
    project = get_object_or_404(projects_managed_by(user=request.user), slug=slug)
    task = task_for_preview(project=project, task_id=request.GET.get("task"))
    if task is None:
        return _closed(request, project, "This project has no tasks yet.", status=200)
    assignment = assignment_preview(task=task)
    left, right = assignment_sides(assignment)
    annotator = annotator_for_user(user=request.user)
    context = _task_context(project, annotator, assignment, errors=None)
    context["preview"] = {"left_model": left.model, "right_model": right.model if right else ""}
    return render(request, "annotation/task.html", context)


@staff_member_required
def project_progress_partial(request: HttpRequest, slug: str) -> HttpResponse:
    """The researcher's live progress line, polled by htmx on the admin project page."""
    project = get_object_or_404(projects_managed_by(user=request.user), slug=slug)
    return render(request, "annotation/partials/progress.html", progress_context(project))


@require_POST
@login_required
@vary_on_headers("HX-Request")
def judgment_post(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    """Record the vote through the judging service, then show the next task."""
    project = get_object_or_404(Project, slug=slug)
    assignment = get_object_or_404(
        Assignment.objects.select_related("project", "task__item"),
        pk=assignment_id,
        project=project,
    )
    annotator = annotator_for_user(user=request.user)
    criteria_answers = {
        c.key: request.POST.get(f"criterion-{c.key}") for c in project.criteria.all()
    }
    strength_raw = request.POST.get("strength")
    try:
        judgment = judgment_submit(
            assignment=assignment,
            annotator=annotator,
            choice=request.POST.get("choice") if project.is_pairwise else None,
            strength=int(strength_raw) if strength_raw and strength_raw.isdigit() else None,
            rationale=request.POST.get("rationale"),
            criteria=criteria_answers if project.is_pairwise else None,
            scores=None if project.is_pairwise else criteria_answers,
            source=Judgment.Source.PAGE,
        )
    except ValidationFailed as exc:
        return _render_next(request, project, annotator, errors=exc.errors, assignment=assignment)
    except DomainError as exc:
        messages.warning(request, exc.detail)
    else:
        if judgment.seconds is not None and judgment.seconds < project.min_seconds_per_task:
            messages.info(
                request,
                "That was quick! Please take the time to read both responses before you vote.",
            )
    return _render_next(request, project, annotator)


@require_POST
@login_required
@vary_on_headers("HX-Request")
def assignment_skip_post(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = get_object_or_404(Project, slug=slug)
    assignment = get_object_or_404(Assignment, pk=assignment_id, project=project)
    annotator = annotator_for_user(user=request.user)
    try:
        assignment_skip(
            assignment=assignment, annotator=annotator, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.warning(request, exc.detail)
    return _render_next(request, project, annotator)
