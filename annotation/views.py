"""Annotator pages: project list, consent and instructions, then one task after another.

Full pages extend base.html; a vote posted by htmx gets the next task card alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from html import unescape
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import login, logout
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from annotation.error_pages import answers_json, project_closed_page
from annotation.errors import (
    AnnotatorBlocked,
    DomainError,
    ProjectNotOpen,
    ValidationFailed,
    VoteTooSoon,
)
from annotation.i18n import (
    CROWD_ANNOTATOR_KEY,
    annotator_language_set,
    content_attributes,
    supported_language,
)
from annotation.models import Annotator, Assignment, Criterion, CrowdSession, Judgment, Project
from annotation.rankings import ranking_from_ranks, screen_labels
from annotation.rendering import media_hosts_for, render_markdown
from annotation.selectors.crowd import task_sample
from annotation.selectors.progress import (
    annotator_progress,
    progress_context,
)
from annotation.selectors.projects import projects_managed_by, projects_open_to
from annotation.selectors.tasks import (
    assignment_preview,
    assignment_shown_responses,
    assignment_sides,
    assignment_span_responses,
    task_for_preview,
)
from annotation.services.annotators import annotator_for_user, annotator_shortcuts_set
from annotation.services.assignment import (
    assignment_lease,
    assignment_renew,
    assignment_skip,
    project_check_open_for,
)
from annotation.services.consent import (
    ConsentOutdated,
    consent_current,
    consent_latest,
    consent_record,
)
from annotation.services.crowd import (
    CrowdEntry,
    completion_min_answers,
    crowd_end,
    crowd_entry_from_params,
    crowd_entry_params,
    crowd_entry_problems,
    crowd_identity_key,
    crowd_session_start,
    quiz_failed,
)
from annotation.services.judging import card_check_armed, card_token, judgment_submit
from annotation.services.rewriting import REWRITE_REQUIRED
from annotation.services.surveys import (
    SurveyLocked,
    survey_answers_current,
    survey_answers_record,
    survey_due,
    survey_questions,
)
from annotation.surveys import WHENS, answers_from_form
from config.client_ip import client_address

#: The crowd session (visit) of each project the crowd identity entered, by slug.
CROWD_VISITS_KEY = "crowd_visits"


def current_annotator(request: HttpRequest) -> Annotator | None:
    """The signed-in user's annotator, else the crowd identity of this browser session."""
    if request.user.is_authenticated:
        return annotator_for_user(user=request.user)
    annotator_id = request.session.get(CROWD_ANNOTATOR_KEY)
    if annotator_id is None:
        return None
    return Annotator.objects.filter(pk=annotator_id, user__isnull=True).first()


def annotator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like login_required, for signed-in users and crowd identities alike; the view finds
    the annotator in `request.annotator`."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        annotator = current_annotator(request)
        if annotator is None:
            return _sign_in_again(request, kwargs.get("slug"))
        request.annotator = annotator  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapped


def _sign_in_again(request: HttpRequest, slug: str | None) -> HttpResponse:
    """Someone whose session ended signs in and comes back where they can go on: the page
    they asked for, or after a POST or an htmx swap (no page to come back to, and a GET of
    a vote's address is a 405) the project's start. htmx is told to load the whole sign-in
    page, never to put it inside the task card."""
    if request.method == "GET" and not request.htmx:
        return redirect_to_login(request.get_full_path())
    if slug:
        back = reverse("annotation:project-start", kwargs={"slug": slug})
    else:
        back = reverse("annotation:project-list")
    if request.htmx:
        return HttpResponseClientRedirect(redirect_to_login(back).url)
    return redirect_to_login(back)


def signup(request: HttpRequest) -> HttpResponse:
    """A new annotator makes an account and goes straight to the open projects."""
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        annotator_for_user(user=user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("annotation:project-list")
    return render(request, "registration/signup.html", {"form": form})


@annotator_required
def project_list(request: HttpRequest) -> HttpResponse:
    annotator = request.annotator  # type: ignore[attr-defined]
    projects = projects_open_to(annotator=annotator).order_by("name")
    return render(request, "annotation/project_list.html", {"projects": projects})


def _has_consented(request: HttpRequest, project: Project) -> bool:
    """Whether the signed-in annotator agreed to the project's current consent text."""
    return consent_current(project=project, annotator=request.annotator)  # type: ignore[attr-defined]


def project_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Entry point: consent and instructions, then tasks. A crowd link (GET) shows the
    start page and changes nothing; its POST signs the worker in as a crowd identity."""
    project = get_object_or_404(Project, slug=slug)
    if request.method == "POST":
        return _crowd_enter(request, project)
    entry = crowd_entry_from_params(request.GET)
    annotator = current_annotator(request)
    if entry is not None and not _is_current_visit(request, project, entry, annotator):
        return _start_page(request, project, entry)
    if annotator is None:
        return redirect_to_login(request.path)
    project_check_open_for(project=project, annotator=annotator)
    latest = consent_latest(project=project, annotator=annotator)
    if latest is None or latest.version != project.consent_version:
        hosts = media_hosts_for(project.media_hosts)
        context = {
            "project": project,
            "instructions": mark_safe(render_markdown(project.instructions, media_hosts=hosts)),
            "consent_text": mark_safe(render_markdown(project.consent_text, media_hosts=hosts)),
            "consent_changed": latest is not None,
        }
        return _allow_media(render(request, "annotation/consent.html", context), hosts)
    return redirect("annotation:task", slug=slug)


def _is_current_visit(
    request: HttpRequest, project: Project, entry: CrowdEntry, annotator: Annotator | None
) -> bool:
    """The entry link of the visit this browser is already on (a reload): go on working."""
    if annotator is None or not annotator.is_crowd or request.user.is_authenticated:
        return False
    visit_id = request.session.get(CROWD_VISITS_KEY, {}).get(project.slug)
    return (
        visit_id is not None
        and (annotator.source, annotator.external_id) == crowd_identity_key(entry)
        and CrowdSession.objects.filter(
            pk=visit_id, annotator=annotator, session_id=entry.session_id
        ).exists()
    )


def _start_page(
    request: HttpRequest,
    project: Project,
    entry: CrowdEntry,
    *,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """What a crowd link shows: the study, and a button that starts (or resumes) the work.
    A malformed link is explained here and has no button; an MTurk HIT preview shows a
    sample task instead."""
    if entry.preview and not error and project.status == Project.Status.ACTIVE:
        return _mturk_preview(request, project)
    problems = [error] if error else crowd_entry_problems(project=project, entry=entry)
    context = {
        "project": project,
        "entry": entry,
        "problems": problems,
        "can_start": not problems and project.status == Project.Status.ACTIVE,
        "signed_in_as": request.user.get_username() if request.user.is_authenticated else "",
        # Where the language switcher comes back to: this start page, its link as kept.
        "language_next": f"{request.path}?{urlencode(crowd_entry_params(entry))}",
    }
    if project.status != Project.Status.ACTIVE and (not problems or entry.preview):
        context["problems"] = [_("This study is not accepting participants at the moment.")]
    return render(request, "annotation/crowd_start.html", context, status=status)


def _crowd_enter(request: HttpRequest, project: Project) -> HttpResponse:
    """The start page's POST (CSRF-checked): create or resume the crowd identity, then
    sign this browser in as it, and only as it."""
    entry = crowd_entry_from_params(request.POST)
    if entry is None:
        return project_closed_page(
            request, project, _("This page needs a link from a crowd platform."), status=400
        )
    try:
        visit = crowd_session_start(
            project=project, entry=entry, client_address=client_address(request)
        )
    except DomainError as exc:
        return _start_page(request, project, entry, error=exc.detail, status=exc.status)
    if request.user.is_authenticated or request.session.get(CROWD_ANNOTATOR_KEY) not in (
        None,
        visit.annotator_id,
    ):
        logout(request)  # whoever was signed in here is signed out, not taken over
    request.session.cycle_key()
    request.session[CROWD_ANNOTATOR_KEY] = visit.annotator_id
    request.session[CROWD_VISITS_KEY] = {
        **request.session.get(CROWD_VISITS_KEY, {}),
        project.slug: visit.pk,
    }
    return redirect("annotation:project-start", slug=project.slug)


@require_POST
@annotator_required
def project_consent(request: HttpRequest, slug: str) -> HttpResponse:
    """The consent page's POST: the annotator agrees to the version of the text it showed,
    then works. A text changed in the meantime is shown again."""
    project = get_object_or_404(Project, slug=slug)
    annotator = request.annotator  # type: ignore[attr-defined]
    try:
        project_check_open_for(project=project, annotator=annotator)
        consent_record(
            project=project,
            annotator=annotator,
            version=_form_integer(request.POST.get("version")),
        )
    except ConsentOutdated as exc:
        messages.info(request, exc.detail)
        return redirect("annotation:project-start", slug=slug)
    return redirect("annotation:task", slug=slug)


@annotator_required
@vary_on_headers("HX-Request")
def task_page(request: HttpRequest, slug: str) -> HttpResponse:
    """The current (or next) task: the whole page, or only its card for htmx. An arena
    project's tasks are made by its annotators' prompts: its page is the arena."""
    project = get_object_or_404(Project, slug=slug)
    if project.is_arena:
        return redirect("annotation:arena", slug=slug)
    if not _has_consented(request, project):
        return redirect("annotation:project-start", slug=slug)
    if survey_due(project=project, annotator=request.annotator, when="pre"):  # type: ignore[attr-defined]
        return _to_survey(request, project, "pre")
    return _render_next(request, project, request.annotator)  # type: ignore[attr-defined]


def _to_survey(
    request: HttpRequest, project: Project, when: str, *, early: bool = False
) -> HttpResponse:
    url = reverse("annotation:survey", kwargs={"slug": project.slug, "when": when})
    url += "?early=1" if early else ""
    return HttpResponseClientRedirect(url) if request.htmx else HttpResponseRedirect(url)


@annotator_required
def project_survey(request: HttpRequest, slug: str, when: str) -> HttpResponse:
    """The pre-survey (after consent, before the first task) or the post-survey (at the end):
    one question per fieldset, answered with the keyboard like a task card. A post-survey
    reached by finishing early ends the visit the same way once sent."""
    project = get_object_or_404(Project, slug=slug)
    annotator = request.annotator  # type: ignore[attr-defined]
    if not _has_consented(request, project):
        return redirect("annotation:project-start", slug=slug)
    questions = survey_questions(project=project, when=when) if when in WHENS else []
    if not questions:
        return redirect("annotation:task", slug=slug)
    early = request.POST.get("early") == "1" or request.GET.get("early") == "1"
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = answers_from_form(questions, request.POST)
        try:
            survey_answers_record(project=project, annotator=annotator, answers=values, when=when)
        except SurveyLocked as exc:
            messages.info(request, exc.detail)
            return redirect("annotation:task", slug=slug)
        except ValidationFailed as exc:
            errors = {e["field"].removeprefix("answers."): e["error"] for e in exc.errors}
        else:
            if when == "post" and early:
                return _finish(request, project, annotator, nothing_left=False)
            return redirect("annotation:task", slug=slug)
    else:
        record = survey_answers_current(project=project, annotator=annotator)
        values = record.answers if record else {}
    context = {
        "project": project,
        "when": when,
        "early": early,
        "questions": [
            {**q, "value": values.get(q["key"]), "error": errors.get(q["key"])} for q in questions
        ],
        "errors": errors,
    }
    return render(request, "annotation/survey.html", context, status=400 if errors else 200)


def _render_next(
    request: HttpRequest,
    project: Project,
    annotator: Annotator,
    *,
    errors: list[dict[str, str]] | None = None,
    assignment: Assignment | None = None,
    refusal: dict[str, Any] | None = None,
    posted: Any = None,
    status: int = 200,
) -> HttpResponse:
    try:
        if assignment is None:
            assignment = assignment_lease(project=project, annotator=annotator)
    except AnnotatorBlocked:
        if annotator.is_crowd and quiz_failed(project=project, annotator=annotator):
            return _finish(request, project, annotator)  # screened out by the quiz
        raise
    if assignment is None:
        return _finish(request, project, annotator)
    context = _task_context(
        project, annotator, assignment, errors=errors, refusal=refusal, posted=posted
    )
    template = "annotation/task.html#task-card" if request.htmx else "annotation/task.html"
    response = render(request, template, context, status=status)
    return _allow_media(response, context["media_hosts"])


def _crowd_visit(request: HttpRequest, project: Project, annotator: Annotator) -> CrowdSession:
    visit_id = request.session.get(CROWD_VISITS_KEY, {}).get(project.slug)
    return CrowdSession.objects.filter(pk=visit_id, annotator=annotator).first()


def _finish(
    request: HttpRequest, project: Project, annotator: Annotator, *, nothing_left: bool = True
) -> HttpResponse:
    """The end: the completion code (or back to the crowd platform) for work done, the
    screen-out page for a worker who answered too little."""
    if nothing_left and survey_due(project=project, annotator=annotator, when="post"):
        return _to_survey(request, project, "post")
    visit = _crowd_visit(request, project, annotator) if annotator.is_crowd else None
    end = crowd_end(project=project, annotator=annotator, nothing_left=nothing_left, session=visit)
    if annotator.is_crowd and end.url:
        if request.htmx:
            return HttpResponseClientRedirect(end.url)
        return HttpResponseRedirect(end.url)
    context = {"project": project, "end": end, "done": end.answered}
    template = "annotation/task.html#done-card" if request.htmx else "annotation/done.html"
    return render(request, template, context)


def _span_labels(criteria: list[Criterion], *, taken: set[str]) -> list[dict[str, str]]:
    """The task page's span label buttons: every label of the spans criteria, named after
    its key (factual_error: "Factual error"). A shortcut the card already answers to (`taken`)
    is left off: pressed to mark a span, it would vote, skip or place a response instead."""
    return [
        {
            **label,
            "shortcut": "" if label.get("shortcut", "") in taken else label.get("shortcut", ""),
            "name": label["key"].replace("_", " ").replace("-", " ").capitalize(),
        }
        for criterion in criteria
        if criterion.is_spans
        for label in criterion.labels
    ]


def _card_keys(project: Project, criteria: list[Any], responses: int) -> set[str]:
    """The single keys a task card answers to (templates/annotation/task.html, keys.js):
    skip, a pair's answers, a ranking's letters for its `responses`, the verdicts' digits."""
    keys = {"s"}
    if project.is_pairwise:
        keys |= {"1", "2", "3", "4", "a", "b", "t"}
    elif project.is_ranking:
        keys |= {label.lower() for label in screen_labels(responses)}
    keys |= {key for criterion in criteria for key in getattr(criterion, "keys", ())}
    return keys


def _task_context(
    project: Project,
    annotator: Annotator,
    assignment: Assignment,
    *,
    errors: list[dict[str, str]] | None = None,
    refusal: dict[str, Any] | None = None,
    posted: Any = None,
) -> dict[str, Any]:
    """What the task card shows. `posted` is a refused form's answer, shown again as it was
    (the card of a plain form post is rendered anew; an htmx page keeps its own)."""
    prompt = assignment.task.item.prompt
    hosts = media_hosts_for(project.media_hosts)

    def html(text: str) -> str:
        return mark_safe(render_markdown(text, media_hosts=hosts))

    if isinstance(prompt, str):
        conversation = [{"role": "user", "html": html(prompt)}]
    else:
        conversation = [{"role": m["role"], "html": html(m["content"])} for m in prompt]
    posted = posted or {}
    criteria = list(project.criteria.all())
    for criterion in criteria:
        criterion.posted = posted.get(f"criterion-{criterion.key}", "")  # type: ignore[attr-defined]
        criterion.posted_reason = posted.get(f"reason-{criterion.key}", "")  # type: ignore[attr-defined]
    verdict_keys = _verdict_keys(criteria)
    if errors and refusal is None:
        refusal = _refusal(project, ValidationFailed(errors=errors), criteria=criteria)
    progress = annotator_progress(project=project, annotator=annotator)
    live = assignment.pk is not None and assignment.expires_at is not None
    if project.is_ranking:
        ranked = []
        for label, response in assignment_shown_responses(assignment):
            rendered = html(response.text)
            # What the ranking's row shows of the response, to tell the rows apart: the
            # start of its text as read (Markdown rendered, then as plain text).
            plain = " ".join(unescape(strip_tags(rendered)).split())
            ranked.append(
                {
                    "label": label,
                    "html": rendered,
                    "empty": not response.text.strip(),
                    "snippet": Truncator(plain).chars(90),
                    "text": response.text,
                    "posted": posted.get(f"rank-{label}", ""),
                }
            )
        shown: dict[str, Any] = {"ranked": ranked, "places": range(1, len(ranked) + 1)}
    else:
        left, right = assignment_sides(assignment)
        shown = {
            "left_html": html(left.text),
            "left_empty": not left.text.strip(),
            "right_html": html(right.text) if right is not None else None,
            "right_empty": right is not None and not right.text.strip(),
            # A spans project shows the texts as imported: span offsets count their characters.
            "left_text": left.text,
            "right_text": right.text if right is not None else None,
        }
    return {
        "project": project,
        "assignment": assignment,
        # Older turns fold away on a phone ("show earlier turns"); the last one stays open.
        "earlier_turns": conversation[:-1],
        "latest_turns": conversation[-1:],
        **shown,
        "media_hosts": hosts,
        "content_attrs": content_attributes(project.content_language),
        "criteria": criteria,
        "verdict_keys": verdict_keys,
        # A rubric of span criteria only asks for marks, not how good the response is.
        "marks_only": bool(criteria) and all(c.is_spans for c in criteria),
        "span_labels": _span_labels(
            criteria, taken=_card_keys(project, criteria, len(shown.get("ranked", [])))
        ),
        **_rewrite_boxes(project, assignment, posted),
        "strength_levels": list(range(1, project.strength_scale + 1)),
        "refusal": refusal,
        "posted": posted,
        "served_token": card_token(assignment_id=assignment.pk) if live else "",
        "expires_in": (
            max(0, int((assignment.expires_at - timezone.now()).total_seconds())) if live else 0
        ),
        "shortcuts_enabled": annotator.shortcuts_enabled,
        **progress,
        "can_finish": annotator.is_crowd and progress["done"] >= completion_min_answers(project),
    }


def _rewrite_boxes(project: Project, assignment: Assignment, posted: Any) -> dict[str, Any]:
    """A rewrite box per response the annotator may rewrite, as shown (README "Rewrites"),
    holding the original text (or what a refused form had)."""
    if project.rewrite == Project.Rewrite.OFF or assignment.task_id is None:
        return {"rewrites": [], "rewrites_posted": False}
    boxes = []
    for name, (_response_id, text) in assignment_span_responses(assignment).items():
        if name == "response":
            label = _("Your rewrite of the response")
        else:
            shown = {"left": "A", "right": "B"}.get(name, name)
            label = _("Your rewrite of response %(label)s") % {"label": shown}
        boxes.append({"name": name, "label": label, "text": posted.get(f"rewrite-{name}", text)})
    return {
        "rewrites": boxes,
        "rewrites_posted": any(f"rewrite-{b['name']}" in posted for b in boxes),
    }


#: Two rewrite boxes edited on one task page (README "Rewrites").
ONE_REWRITE_ONLY = "rewrite one response only"


def _rewrite_posted(
    project: Project, assignment: Assignment, form: Any
) -> tuple[str | None, str | None]:
    """The rewrite a task form sends, and the response it rewrites as shown: the one box
    whose text differs from its original. Two edited boxes are a refusal."""
    if project.rewrite == Project.Rewrite.OFF:
        return None, None
    edited = [
        (name, form[f"rewrite-{name}"])
        for name, (_response_id, text) in assignment_span_responses(assignment).items()
        if form.get(f"rewrite-{name}") is not None
        and form[f"rewrite-{name}"].strip() != text.strip()
    ]
    if len(edited) > 1:
        raise ValidationFailed(errors=[{"field": "rewrite", "error": ONE_REWRITE_ONLY}])
    if not edited:
        return None, None
    name, text = edited[0]
    return text, (None if name == "response" else name)


def _verdict_keys(criteria: list[Any]) -> bool:
    """Give the first four verdict criteria single-key answers, Good and Bad by number (1 / 2
    for the first, 3 / 4 for the next...), set on each as `keys`; whether any got some."""
    verdicts = [c for c in criteria if c.is_verdict]
    for index, criterion in enumerate(verdicts):
        criterion.keys = (str(2 * index + 1), str(2 * index + 2)) if index < 4 else ()
    return bool(verdicts)


def _refusal(
    project: Project, exc: DomainError, *, criteria: list[Any] | None = None
) -> dict[str, Any]:
    """What the alert next to the buttons says of a refused vote or skip: the reason, what
    to fix in the answer, and the next task when trying again cannot help."""
    problems: list[str] = []
    rewrite_problem = 0  # which problem (from 1) asks for a missing rewrite
    if isinstance(exc, ValidationFailed):
        labels = {c.key: c.label for c in (criteria or project.criteria.all())}
        for error in exc.errors:
            field = str(error.get("field", ""))
            key = field.partition(".")[2]
            if field == "strength":
                problems.append(_("How much better? Choose one of the levels."))
            elif field == "rationale":
                problems.append(_("Why? This project asks for a reason."))
            elif field == "choice":
                problems.append(_("Choose one of the answers."))
            elif field == "rewrite_of" and project.is_ranking:
                problems.append(
                    _(
                        "Rewrite the response you ranked first, and only that one; for a tie "
                        "for first place, either one."
                    )
                )
            elif field == "rewrite_of":
                problems.append(
                    _(
                        "Rewrite the response you preferred, and only that one; for a tie or "
                        "both bad, either one."
                    )
                )
            elif field == "rewrite" and str(error.get("error", "")).startswith(REWRITE_REQUIRED):
                rewrite_problem = len(problems) + 1
                problems.append(
                    _(
                        "This project asks for a rewrite: edit the response in its box until "
                        "it is good."
                    )
                )
            elif field == "rewrite" and error.get("error") == ONE_REWRITE_ONLY:
                problems.append(
                    _("Rewrite one response only: put the other boxes back as they were.")
                )
            elif field == "rewrite":
                problems.append(_("Rewrite: %(error)s.") % {"error": error.get("error", "")})
            elif field == "ranking":
                problems.append(
                    _(
                        "Place every response exactly once, best first (the same place "
                        "for two only where this project allows ties)."
                    )
                )
            elif field.startswith(("criteria.", "scores.")) and key in labels:
                problems.append(_("%(criterion)s: choose one.") % {"criterion": labels[key]})
            else:
                problems.append(f"{field}: {error.get('error', '')}")
    return {
        "status": exc.status,
        "message": _("Please complete your answer.") if problems else exc.detail,
        "problems": problems,
        "offer_next": not isinstance(exc, ValidationFailed | VoteTooSoon),
        # The box a missing rewrite is asked in (_rewrite_box_asked) is flagged with that
        # problem (aria-invalid, aria-describedby) and focused.
        "rewrite_problem": rewrite_problem,
        "rewrite_box": "",
    }


def _rewrite_box_asked(assignment: Assignment, posted: Any) -> str:
    """The rewrite box a refusal asking for a rewrite points to: the response the answer
    prefers (the side chosen, the response ranked first), else the first box."""
    names = list(assignment_span_responses(assignment))
    wanted = [str(posted.get("choice", ""))]
    wanted += [name for name in names if posted.get(f"rank-{name}") == "1"]
    return next((name for name in wanted if name in names), names[0] if names else "")


def _refused(
    request: HttpRequest,
    project: Project,
    annotator: Annotator,
    assignment: Assignment,
    exc: DomainError,
) -> HttpResponse:
    """A vote or skip the domain refused. When the annotator can no longer go on here
    (blocked, a failed quiz, the project closed) the card gives way to the reason.
    Otherwise the card stays as it is, with what was typed: htmx gets the reason alone, for
    the alert next to the buttons; a plain form post gets the page again."""
    if isinstance(exc, AnnotatorBlocked | ProjectNotOpen):
        return _render_next(request, project, annotator)
    refusal = _refusal(project, exc)
    if refusal["rewrite_problem"]:
        refusal["rewrite_box"] = _rewrite_box_asked(assignment, request.POST)
    if request.htmx:
        context = {"project": project, "refusal": refusal}
        return render(request, "annotation/partials/refusal.html", context, status=exc.status)
    if isinstance(exc, ValidationFailed | VoteTooSoon):
        return _render_next(
            request,
            project,
            annotator,
            assignment=assignment,
            refusal=refusal,
            posted=request.POST,
            status=exc.status,
        )
    messages.warning(request, exc.detail)
    return _render_next(request, project, annotator)


@staff_member_required
def task_preview(request: HttpRequest, slug: str) -> HttpResponse:
    """A researcher sees a task exactly as an annotator would, plus the model names."""
    project = get_object_or_404(projects_managed_by(user=request.user), slug=slug)
    task = task_for_preview(project=project, task_id=request.GET.get("task"))
    if task is None:
        return project_closed_page(
            request, project, _("This project has no tasks yet."), status=200
        )
    assignment = assignment_preview(task=task)
    annotator = annotator_for_user(user=request.user)
    context = _task_context(project, annotator, assignment)
    if project.is_ranking:
        shown = assignment_shown_responses(assignment)
        context["preview"] = {"models": [(label, r.model) for label, r in shown]}
    else:
        left, right = assignment_sides(assignment)
        context["preview"] = {"left_model": left.model, "right_model": right.model if right else ""}
    return _allow_media(render(request, "annotation/task.html", context), context["media_hosts"])


@staff_member_required
def project_progress_partial(request: HttpRequest, slug: str) -> HttpResponse:
    """The researcher's live progress line, polled by htmx on the admin project page."""
    project = get_object_or_404(projects_managed_by(user=request.user), slug=slug)
    return render(request, "annotation/partials/progress.html", progress_context(project))


def _form_spans(value: str | None) -> Any:
    """The task page's spans field: JSON written by static/js/spans.js (empty: none). Text
    that is not JSON is passed on as it is, for the judging service to refuse by name."""
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


@require_POST
@annotator_required
@vary_on_headers("HX-Request")
def judgment_post(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    """Record the vote through the judging service, then show the next task."""
    project = get_object_or_404(Project, slug=slug)
    assignment = get_object_or_404(
        Assignment.objects.select_related("project", "task__item"),
        pk=assignment_id,
        project=project,
    )
    annotator = request.annotator  # type: ignore[attr-defined]
    criteria = list(project.criteria.all())
    criteria_answers = {
        c.key: request.POST.get(f"criterion-{c.key}") for c in criteria if not c.is_spans
    }
    reasons = {
        c.key: request.POST.get(f"reason-{c.key}", "")
        for c in criteria
        if c.is_verdict and not project.is_pairwise
    }
    ranking = None
    if project.is_ranking:
        labels = screen_labels(len(assignment.shown_order or []))
        ranking = ranking_from_ranks({label: request.POST.get(f"rank-{label}") for label in labels})
    try:
        rewrite, rewrite_of = _rewrite_posted(project, assignment, request.POST)
        card_check_armed(
            project=project, assignment_id=assignment.pk, token=request.POST.get("served")
        )
        judgment = judgment_submit(
            assignment=assignment,
            annotator=annotator,
            choice=request.POST.get("choice") if project.is_pairwise else None,
            strength=_form_integer(request.POST.get("strength")),
            rationale=request.POST.get("rationale"),
            criteria=criteria_answers if project.is_pairwise else None,
            scores=None if project.is_pairwise or project.is_ranking else criteria_answers,
            ranking=ranking,
            spans=_form_spans(request.POST.get("spans"))
            if any(c.is_spans for c in criteria)
            else None,
            reasons=reasons or None,
            rewrite=rewrite,
            rewrite_of=rewrite_of,
            source=Judgment.Source.PAGE,
        )
    except DomainError as exc:
        return _refused(request, project, annotator, assignment, exc)
    if judgment.seconds is not None and judgment.seconds < project.min_seconds_per_task:
        if project.is_pairwise:
            quick = _(
                "That was quick! Please take the time to read both responses before you answer."
            )
        elif project.is_ranking:
            quick = _(
                "That was quick! Please take the time to read every response before you answer."
            )
        else:
            quick = _(
                "That was quick! Please take the time to read the response before you answer."
            )
        messages.info(request, quick)
    return _render_next(request, project, annotator)


@require_POST
@annotator_required
@vary_on_headers("HX-Request")
def assignment_skip_post(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project = get_object_or_404(Project, slug=slug)
    assignment = get_object_or_404(Assignment, pk=assignment_id, project=project)
    annotator = request.annotator  # type: ignore[attr-defined]
    try:
        assignment_skip(
            assignment=assignment, annotator=annotator, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        return _refused(request, project, annotator, assignment, exc)
    return _render_next(request, project, annotator)


@require_POST
@annotator_required
@answers_json
def assignment_renew_post(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    """The task page keeps its lease while it is on screen: JSON as the API's renew (a
    refusal too), for signed-in users and crowd identities alike (the API wants an account)."""
    assignment = get_object_or_404(
        Assignment.objects.select_related("project"), pk=assignment_id, project__slug=slug
    )
    expires_at = assignment_renew(
        assignment=assignment,
        annotator=request.annotator,  # type: ignore[attr-defined]
    )
    return JsonResponse({"expires_at": expires_at})


@require_POST
@annotator_required
def shortcuts_setting(request: HttpRequest) -> HttpResponse:
    """The task page's switch for the single-key shortcuts, kept per annotator."""
    annotator_shortcuts_set(
        annotator=request.annotator,  # type: ignore[attr-defined]
        enabled=request.POST.get("shortcuts") == "on",
    )
    if request.htmx:
        return HttpResponse(status=204)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("annotation:project-list")
    return redirect(back)


@require_POST
def language_setting(request: HttpRequest) -> HttpResponse:
    """The annotator pages' language switcher: the choice is kept on the annotator (signed
    in, or a crowd identity) and in Django's language cookie, so a visitor who is not signed
    in yet (a crowd start page, the sign-in page) keeps it too. Back to the page it was on."""
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("annotation:project-list")
    response = redirect(back)
    language = supported_language(request.POST.get("language"))
    if language is None:
        return response
    annotator = current_annotator(request)
    if annotator is not None:
        annotator_language_set(annotator=annotator, language=language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


@require_POST
@annotator_required
@vary_on_headers("HX-Request")
def project_finish(request: HttpRequest, slug: str) -> HttpResponse:
    """A crowd worker who has answered enough ends the study early with their code."""
    project = get_object_or_404(Project, slug=slug)
    annotator = request.annotator  # type: ignore[attr-defined]
    if not annotator.is_crowd:
        return redirect("annotation:task", slug=slug)
    end = crowd_end(project=project, annotator=annotator, nothing_left=False, session=None)
    if not end.completed:
        least = completion_min_answers(project)
        messages.warning(
            request,
            ngettext(
                "Please answer at least %(count)d task before you finish.",
                "Please answer at least %(count)d tasks before you finish.",
                least,
            )
            % {"count": least},
        )
        return _render_next(request, project, annotator)
    if survey_due(project=project, annotator=annotator, when="post"):
        return _to_survey(request, project, "post", early=True)
    return _finish(request, project, annotator, nothing_left=False)


def _allow_media(response: HttpResponse, hosts: tuple[str, ...]) -> HttpResponse:
    """Let this page load media from the project's hosts (the policy's other sources stay)."""
    if hosts:
        response._csp_update = {"img-src": list(hosts), "media-src": list(hosts)}  # type: ignore[attr-defined]
    return response


def _form_integer(raw: str | None) -> int | str | None:
    """A form's number: an int for ASCII digits, None when empty, else the raw text, which
    the service refuses with a message (int() would take '²' as a digit and fail)."""
    if not raw:
        return None
    return int(raw) if raw.isascii() and raw.isdigit() else raw


@annotator_required
def project_instructions(request: HttpRequest, slug: str) -> HttpResponse:
    """The project's instructions on a page of their own: what the Instructions button of
    a task card shows in a dialog (and opens in a new tab when scripts are off)."""
    project = get_object_or_404(Project, slug=slug)
    if not _manages(request, project):
        project_check_open_for(project=project, annotator=request.annotator)  # type: ignore[attr-defined]
    hosts = media_hosts_for(project.media_hosts)
    context = {
        "project": project,
        "instructions": mark_safe(render_markdown(project.instructions, media_hosts=hosts)),
    }
    return _allow_media(render(request, "annotation/instructions.html", context), hosts)


def _manages(request: HttpRequest, project: Project) -> bool:
    """A researcher who manages the project (previewing it, whatever its status)."""
    return bool(request.user.is_staff) and (
        projects_managed_by(user=request.user).filter(pk=project.pk).exists()
    )


def _mturk_preview(request: HttpRequest, project: Project) -> HttpResponse:
    """What an MTurk HIT preview shows before the worker accepts the HIT: the instructions
    and one of the project's tasks, read only and without model names. Nobody signs in and
    nothing is stored."""
    hosts = media_hosts_for(project.media_hosts)

    def html(text: str) -> str:
        return mark_safe(render_markdown(text, media_hosts=hosts))

    task = task_sample(project=project)
    sample = None
    if task is not None:
        prompt = task.item.prompt
        turns = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        sample = {
            "conversation": [{"role": t["role"], "html": html(t["content"])} for t in turns],
            "left_html": html(task.response_a.text),
            "right_html": html(task.response_b.text) if task.response_b_id else None,
            "criteria": list(project.criteria.all()),
            "content_attrs": content_attributes(project.content_language),
        }
        if project.is_ranking:  # every response, in the item's order: nobody leased it
            responses = list(task.item.responses.all())
            labels = screen_labels(len(responses))
            sample["ranked"] = [
                {"label": label, "html": html(r.text)}
                for label, r in zip(labels, responses, strict=True)
            ]
    context = {"project": project, "instructions": html(project.instructions), "sample": sample}
    return _allow_media(render(request, "annotation/mturk_preview.html", context), hosts)
