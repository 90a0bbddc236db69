"""The survey builder of a project (README, Researchers, "Survey"): the questions as a form
to add, edit, reorder and delete, a preset to start from, and a preview of the pre-survey
page as annotators see it.

The form holds the whole draft: each button posts it with its action, and the answer is the
draft with that change (only the editor, swapped by htmx; the whole page without JavaScript).
Nothing is stored until "Save survey", which goes through project_update, the service the
API's PATCH calls: the same checks (each problem shown beside its field) and the same
versioning (answers given to the old questions stay under their version)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from csp.constants import SELF
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers

from annotation.console.pages import ConsolePage, console_project
from annotation.errors import ValidationFailed
from annotation.i18n import supported_language
from annotation.models import Project, SurveyAnswers
from annotation.presets import SURVEY_PRESETS, survey_preset_questions
from annotation.services.projects import project_update
from annotation.surveys import MAX_QUESTIONS, QUESTION_TYPES, WHENS, WITH_OPTIONS

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PAGE = ConsolePage(title="Survey", url_name="annotation_project_survey")
PREVIEW_URL_NAME = "annotation_project_survey_preview"
TEMPLATE = "admin/annotation/project_survey.html"
EDITOR = f"{TEMPLATE}#survey-editor"
PREVIEW_TEMPLATE = "annotation/survey.html"  # the annotators' own page
PREVIEW_EMPTY_TEMPLATE = "admin/annotation/survey_preview_empty.html"
#: The question a new row starts as (its key and text to be typed).
BLANK_QUESTION: dict[str, Any] = {
    "key": "",
    "text": "",
    "type": "single",
    "options": [],
    "required": False,
    "sensitive": False,
    "when": "pre",
}
_MOVE = re.compile(r"^(up|down|delete)-(\d+)$")
_QUESTION_FIELD = re.compile(r"^survey\[(\d+)\](?:\.(\w+))?$")
_FOCUS = re.compile(r"^(?:q-(?P<n>\d+)-(?P<control>key)|(?P<verb>up|down)-(?P<m>\d+))$")
#: The fields that show their own problems; any other problem of a question is shown on it.
_FIELDS_WITH_ERRORS = ("key", "text", "type", "options", "when")


def draft_from_form(form: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The questions as the form holds them (`q-<n>-<field>`, `count` of them; options one a
    line). Nothing is checked here: the save checks the draft as the API would."""
    try:
        count = min(int(form.get("count", "0")), MAX_QUESTIONS + 1)
    except ValueError:
        count = 0
    draft = []
    for n in range(max(count, 0)):
        field = f"q-{n}-"
        kind = form.get(f"{field}type", "")
        options = [line.strip() for line in form.get(f"{field}options", "").splitlines()]
        draft.append(
            {
                "key": form.get(f"{field}key", "").strip(),
                "text": form.get(f"{field}text", "").strip(),
                "type": kind,
                # Options typed for a type that takes none stay, so the check names them.
                "options": [o for o in options if o],
                "required": form.get(f"{field}required") == "on",
                "sensitive": form.get(f"{field}sensitive") == "on",
                "when": form.get(f"{field}when", "pre"),
            }
        )
    return draft


def draft_change(
    draft: list[dict[str, Any]], action: str, preset: str = "", language: str = ""
) -> tuple[list[dict[str, Any]], str, str]:
    """The draft after one editing action (`add`, `up-<n>`, `down-<n>`, `delete-<n>`,
    `preset`, its questions in the project's `language`), the id of the control to focus
    next (keyboard users stay where they were) and what happened, to announce."""
    if action == "add":
        draft = [*draft, dict(BLANK_QUESTION)]
        return draft, f"q-{len(draft) - 1}-key", f"Question {len(draft)} added: type its key."
    if action == "preset":
        if preset not in SURVEY_PRESETS:
            return draft, "survey-preset", "Choose a preset first."
        label = SURVEY_PRESETS[preset]["label"]
        questions = survey_preset_questions(preset, language)
        return questions, "q-0-key", f"The questions of “{label}” replace the draft (not saved)."
    match = _MOVE.match(action)
    if match is None or int(match[2]) >= len(draft):
        return draft, "", ""
    verb, n = match[1], int(match[2])
    draft = list(draft)
    name = draft[n]["key"] or f"question {n + 1}"
    if verb == "delete":
        del draft[n]
        focus = f"q-{min(n, len(draft) - 1)}-key" if draft else "survey-add"
        return draft, focus, f"{name} deleted (not saved)."
    to = n - 1 if verb == "up" else n + 1
    if not 0 <= to < len(draft):
        return draft, f"{verb}-{n}", ""
    draft[n], draft[to] = draft[to], draft[n]
    # Stay on the same button while it can move further, else on its opposite.
    can_go_on = to > 0 if verb == "up" else to < len(draft) - 1
    focus = f"{verb}-{to}" if can_go_on else f"{'down' if verb == 'up' else 'up'}-{to}"
    return draft, focus, f"{name} moved {verb} to position {to + 1}."


def _errors_by_question(
    errors: list[dict[str, str]], count: int
) -> tuple[dict[int, dict[str, list[str]]], list[str]]:
    """The service's errors beside their fields (`survey[2].options`), the rest for the top."""
    by_question: dict[int, dict[str, list[str]]] = {}
    general: list[str] = []
    for error in errors:
        match = _QUESTION_FIELD.match(error["field"])
        if match and int(match[1]) < count:
            field, message = match[2], error["error"]
            if field not in _FIELDS_WITH_ERRORS:
                field, message = "question", f"{match[2] or 'question'}: {message}"
            by_question.setdefault(int(match[1]), {}).setdefault(field, []).append(message)
        else:
            general.append(f"{error['field']}: {error['error']}")
    return by_question, general


def _rows(
    draft: list[dict[str, Any]], errors: dict[int, dict[str, list[str]]], focus: str
) -> list[dict[str, Any]]:
    """The questions as the template shows them, each knowing which of its controls (`key`,
    `up`, `down`) takes the focus after the last action."""
    at = _FOCUS.match(focus)
    focused = (int(at["n"] or at["m"]), at["control"] or at["verb"]) if at else None
    return [
        {
            **question,
            "n": n,
            "options_text": "\n".join(str(o) for o in question.get("options") or []),
            "errors": errors.get(n, {}),
            "last": n == len(draft) - 1,
            "focus": focused[1] if focused and focused[0] == n else None,
        }
        for n, question in enumerate(draft)
    ]


def _render(
    project_admin: ModelAdmin,
    request: HttpRequest,
    project: Project,
    draft: list[dict[str, Any]],
    *,
    status: int = 200,
    errors: list[dict[str, str]] = (),  # type: ignore[assignment]
    focus: str = "",
    announcement: str = "",
    unsaved: bool = False,
) -> TemplateResponse:
    by_question, general = _errors_by_question(list(errors), len(draft))
    context = {
        **project_admin.admin_site.each_context(request),
        "title": f"Survey of {project.name}",
        "project": project,
        "opts": Project._meta,
        "questions": _rows(draft, by_question, focus),
        "count": len(draft),
        "general_errors": general,
        "focus": focus,
        "announcement": announcement,
        "unsaved": unsaved,
        "types": QUESTION_TYPES,
        "with_options": WITH_OPTIONS,
        "whens": WHENS,
        "presets": [(key, preset["label"]) for key, preset in SURVEY_PRESETS.items()],
        "can_change": project_admin.has_change_permission(request, project),
        "answered": SurveyAnswers.objects.filter(
            project=project, version=project.survey_version
        ).count(),
    }
    template = EDITOR if request.htmx else TEMPLATE  # type: ignore[attr-defined]
    return TemplateResponse(request, template, context, status=status)


def survey_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """The builder: GET shows the saved survey; POST applies its button's action to the
    posted draft, or saves it."""

    @vary_on_headers("HX-Request")
    @require_http_methods(["GET", "POST"])
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        if request.method == "GET":
            return _render(project_admin, request, project, list(project.survey))
        if not project_admin.has_change_permission(request, project):
            return HttpResponseForbidden("You may read this project but not change its survey.")
        draft = draft_from_form(request.POST)
        action = request.POST.get("action", "save")
        if action != "save":
            draft, focus, said = draft_change(
                draft, action, request.POST.get("preset", ""), project.ui_language
            )
            return _render(
                project_admin,
                request,
                project,
                draft,
                focus=focus,
                announcement=said,
                unsaved=True,
            )
        previous, version = list(project.survey), project.survey_version
        try:
            project_update(project=project, survey=draft)
        except ValidationFailed as exc:
            project.refresh_from_db()
            # htmx swaps only 2xx answers; a plain post gets the 400 with the same page.
            return _render(
                project_admin,
                request,
                project,
                draft,
                status=200 if request.htmx else 400,  # type: ignore[attr-defined]
                errors=exc.errors,
                focus="survey-errors",
                announcement="The survey is not saved: see the problems marked below.",
                unsaved=True,
            )
        messages.success(request, _saved_message(project, previous, version))
        return HttpResponseRedirect(reverse(f"admin:{PAGE.url_name}", args=[project.pk]))

    return view


def _saved_message(project: Project, previous: list[dict[str, Any]], version: int) -> str:
    if project.survey == previous:
        return f"Nothing changed: the survey is still version {version}."
    if project.survey_version != version:
        return (
            f"Survey saved as version {project.survey_version}. Annotators had answered version "
            f"{version}: their answers stay under version {version}, and everyone is asked the "
            "new questions."
        )
    return (
        f"Survey saved. No one has answered version {version} yet, so it stays version {version}."
    )


def preview_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """The pre-survey page as annotators see it (their template, in the project's
    `ui_language`, their default), shown in the builder's frame: the saved questions, or the
    posted draft's."""

    @xframe_options_sameorigin
    @require_http_methods(["GET", "POST"])
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        survey = draft_from_form(request.POST) if request.method == "POST" else project.survey
        questions = [
            {**q, "value": None, "error": None} for q in survey if q.get("when", "pre") == "pre"
        ]
        context = {"project": project, "when": "pre", "questions": questions, "errors": {}}
        template = PREVIEW_TEMPLATE if questions else PREVIEW_EMPTY_TEMPLATE
        language = supported_language(project.ui_language) or settings.LANGUAGE_CODE
        with translation.override(language):  # the annotators' default, not the console's
            response = TemplateResponse(request, template, context).render()
        response._csp_replace = {"frame-ancestors": [SELF]}  # type: ignore[attr-defined]
        return response

    return view


def urlpatterns(project_admin: ModelAdmin) -> list[Any]:
    def route(pattern: str, make: Callable[..., Any], name: str) -> Any:
        return path(pattern, project_admin.admin_site.admin_view(make(project_admin)), name=name)

    return [
        route("<int:project_id>/survey/", survey_view, PAGE.url_name),
        route("<int:project_id>/survey/preview/", preview_view, PREVIEW_URL_NAME),
    ]
