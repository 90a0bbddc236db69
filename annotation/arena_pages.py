"""The arena page (README, Arena): write a prompt (or pick a seed prompt), watch two blind
answers stream in, vote once both are complete, see the models revealed, go on.

One template, `annotation/arena.html`; its `arena-body` partial is what every htmx request
swaps: the panes polled while the models answer, the vote, the reveal. Answers are generated
by a worker (services.arena); no view here waits for a model.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from annotation.errors import AnnotatorBlocked, DomainError, ProjectNotOpen
from annotation.i18n import content_attributes
from annotation.models import Annotator, ArenaTurn, Judgment, Project
from annotation.rendering import media_hosts_for, render_markdown
from annotation.selectors.arena import arena_turn_judgment, arena_turn_latest, arena_turn_of
from annotation.services.arena import (
    arena_reveal,
    arena_turn_revive_if_stalled,
    arena_turn_start,
)
from annotation.services.assignment import project_check_open_for
from annotation.services.judging import card_check_armed, card_token, judgment_submit
from annotation.services.surveys import survey_due
from annotation.views import (
    _allow_media,
    _form_integer,
    _has_consented,
    _to_survey,
    annotator_required,
)
from config.client_ip import client_address

#: How often the page asks for the answers while the models write them (ms).
POLL_MS = 300


def _html(text: str, hosts: tuple[str, ...]) -> str:
    return mark_safe(render_markdown(text, media_hosts=hosts))  # sanitised by render_markdown


def _arena_context(
    project: Project,
    turn: ArenaTurn | None,
    *,
    error: str = "",
    problems: list[dict[str, str]] | None = None,
    posted_prompt: str = "",
) -> dict[str, Any]:
    """What the arena shows: the conversation so far, the current turn's two panes, the
    vote (armed once both answers are complete) or the reveal, and the prompt box."""
    hosts = media_hosts_for(project.media_hosts)
    context: dict[str, Any] = {
        "project": project,
        "turn": turn,
        "error": error,
        "problems": [f"{p.get('field', '')}: {p.get('error', '')}" for p in problems or []],
        "posted_prompt": posted_prompt,
        "media_hosts": hosts,
        "content_attrs": content_attributes(project.content_language),
        "poll_ms": POLL_MS,
        "user_message": {"role": "user"},
    }
    if turn is None:
        return context
    judgment = arena_turn_judgment(turn) if turn.status == ArenaTurn.Status.READY else None
    generating = turn.status in (ArenaTurn.Status.PENDING, ArenaTurn.Status.GENERATING)
    context.update(
        {
            "earlier": [
                {"role": m["role"], "html": _html(m["content"], hosts)} for m in turn.messages[:-1]
            ],
            "prompt_html": _html(turn.prompt, hosts),
            "left_html": _html(turn.left_text, hosts),
            "right_html": _html(turn.right_text, hosts),
            "generating": generating,
            "failed": turn.status == ArenaTurn.Status.FAILED,
            "votable": turn.status == ArenaTurn.Status.READY and judgment is None,
            "judgment": judgment,
            "reveal": arena_reveal(judgment=judgment) if judgment is not None else None,
            "chosen_side": _chosen_side(judgment) if judgment is not None else "",
            "served_token": card_token(assignment_id=turn.assignment_id)
            if turn.assignment_id
            else "",
            "poll_url": reverse(
                "annotation:arena-turn", kwargs={"slug": project.slug, "turn_id": turn.pk}
            ),
            "strength_levels": range(1, project.strength_scale + 1),
            "criteria": [c for c in project.criteria.all() if not c.is_spans]
            if turn.status == ArenaTurn.Status.READY and judgment is None
            else [],
        }
    )
    return context


def _chosen_side(judgment: Judgment) -> str:
    """The answer as the annotator gave it: left, right, tie or both_bad."""
    if judgment.choice not in (Judgment.Choice.A, Judgment.Choice.B):
        return judgment.choice
    left_is_a = judgment.shown_left_id in (None, judgment.task.response_a_id)
    return "left" if (judgment.choice == Judgment.Choice.A) == left_is_a else "right"


def _render(request: HttpRequest, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    template = "annotation/arena.html#arena-body" if request.htmx else "annotation/arena.html"
    return _allow_media(render(request, template, context, status=status), context["media_hosts"])


def _arena_project(request: HttpRequest, slug: str) -> Project | HttpResponse:
    """The arena project when the annotator may be here now, else where to go instead."""
    project = get_object_or_404(Project, slug=slug)
    if not project.is_arena:
        return redirect("annotation:task", slug=slug)
    if not _has_consented(request, project):
        return redirect("annotation:project-start", slug=slug)
    if survey_due(project=project, annotator=request.annotator, when="pre"):  # type: ignore[attr-defined]
        return _to_survey(request, project, "pre")
    return project


@annotator_required
@vary_on_headers("HX-Request")
def arena_page(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: the annotator's current conversation (`?new=1`: a fresh prompt box). POST: a
    prompt, new or (with `battle`) the next turn; the turn swaps in and polls itself."""
    project = _arena_project(request, slug)
    if isinstance(project, HttpResponse):
        return project
    annotator: Annotator = request.annotator  # type: ignore[attr-defined]
    if request.method == "POST":
        return _prompt_posted(request, project, annotator)
    project_check_open_for(project=project, annotator=annotator)
    turn = (
        None if request.GET.get("new") else arena_turn_latest(project=project, annotator=annotator)
    )
    if turn is not None:
        turn = arena_turn_revive_if_stalled(turn=turn)
    return _render(request, _arena_context(project, turn))


def _prompt_posted(request: HttpRequest, project: Project, annotator: Annotator) -> HttpResponse:
    battle = request.POST.get("battle") or None
    prompt = request.POST.get("prompt", "")
    try:
        turn = arena_turn_start(
            project=project,
            annotator=annotator,
            prompt=prompt,
            address=client_address(request),
            battle_id=_form_integer(battle) if battle is not None else None,
        )
    except (AnnotatorBlocked, ProjectNotOpen):
        raise
    except DomainError as exc:
        # The prompt box again, with what was typed and why it was refused.
        shown = arena_turn_latest(project=project, annotator=annotator) if battle else None
        context = _arena_context(project, shown, error=exc.detail, posted_prompt=prompt)
        return _render(request, context, status=exc.status)
    if not request.htmx:
        return redirect("annotation:arena", slug=project.slug)
    return _render(request, _arena_context(project, turn))


@annotator_required
@vary_on_headers("HX-Request")
def arena_turn_partial(request: HttpRequest, slug: str, turn_id: int) -> HttpResponse:
    """One of the annotator's turns as far as the models got: the page polls it every
    POLL_MS, so it reads the project and the turn only (the turn is theirs: they passed
    consent to write it)."""
    project = get_object_or_404(Project, slug=slug)
    turn = arena_turn_of(project=project, annotator=request.annotator, turn_id=turn_id)  # type: ignore[attr-defined]
    if turn is None:
        return redirect("annotation:arena", slug=slug)
    turn = arena_turn_revive_if_stalled(turn=turn)
    return _render(request, _arena_context(project, turn))


@require_POST
@annotator_required
@vary_on_headers("HX-Request")
def arena_vote(request: HttpRequest, slug: str, turn_id: int) -> HttpResponse:
    """The vote on a complete turn, through the judging service as every vote; then the
    reveal and the box to go on."""
    project = _arena_project(request, slug)
    if isinstance(project, HttpResponse):
        return project
    annotator: Annotator = request.annotator  # type: ignore[attr-defined]
    turn = arena_turn_of(project=project, annotator=annotator, turn_id=turn_id)
    if turn is None or turn.assignment is None:
        return redirect("annotation:arena", slug=slug)
    assignment = turn.assignment
    assignment.project = project
    criteria = [c for c in project.criteria.all() if not c.is_spans]
    try:
        card_check_armed(
            project=project, assignment_id=assignment.pk, token=request.POST.get("served")
        )
        judgment_submit(
            assignment=assignment,
            annotator=annotator,
            choice=request.POST.get("choice"),
            strength=_form_integer(request.POST.get("strength")),
            rationale=request.POST.get("rationale"),
            criteria={c.key: request.POST.get(f"criterion-{c.key}") for c in criteria},
            source=Judgment.Source.PAGE,
        )
    except (AnnotatorBlocked, ProjectNotOpen):
        raise
    except DomainError as exc:
        context = _arena_context(project, turn, error=exc.detail, problems=exc.errors)
        return _render(request, context, status=exc.status)
    return _render(request, _arena_context(project, turn))
