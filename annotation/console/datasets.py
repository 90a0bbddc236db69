"""The datasets page of a project: every export as a link with its filters (and the same
link as `curl` and `datasets.load_dataset`), snapshots with their cards and a form to make
one, the researcher's API tokens, and the crowd platforms' links.

Downloads go to the API's own URLs, which take the console's session as well as a token,
so the console and a pipeline fetch the very same stream."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from annotation.console.pages import ConsolePage
from annotation.errors import ValidationFailed
from annotation.exports.plan import export_plan
from annotation.exports.query import (
    ANNOTATOR_KINDS,
    AVAILABLE_PAIR_LABELS,
    EXPORT_FILETYPES,
    RANKING_EXPANSIONS,
    ExportQuery,
    export_filters_of,
    export_formats_of,
    export_query_from_params,
)
from annotation.models import Project, Snapshot
from annotation.rendering import render_markdown
from annotation.selectors.crowd import mturk_external_question, prolific_study_url
from annotation.services.exporting import snapshot_create
from annotation.services.tokens import (
    api_token_issue,
    api_token_revoke,
    api_tokens_of,
    command_line_token_of,
    command_line_token_revoke,
)

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PAGE = ConsolePage(title="Datasets", url_name="annotation_project_datasets")

SNAPSHOTS_PER_PAGE = 10
TOKENS_PER_PAGE = 20
#: How often the snapshot list asks again while one of its snapshots is being built.
POLL_SECONDS = 2
TOKEN_PLACEHOLDER = "YOUR_API_TOKEN"
#: The `datasets` builder that reads each file type.
LOADERS = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}


@dataclass(frozen=True)
class FilterField:
    """How the form asks for one export filter (the values are checked by
    export_query_from_params, not here)."""

    label: str
    input: str  # "select", "number" or "text"
    choices: tuple[tuple[str, str], ...] = ()
    step: str = ""
    help: str = ""


_YES_NO = (("true", "yes"), ("false", "no"))
FILTER_FIELDS: dict[str, FilterField] = {
    "exclude_flagged": FilterField(
        "Leave out flagged and blocked annotators", "select", (("", "default (yes)"), *_YES_NO)
    ),
    "include_gold": FilterField("Include gold tasks", "select", (("", "default (no)"), *_YES_NO)),
    "include_rewrites": FilterField(
        "Add annotators' rewrites as pairs", "select", (("", "default (no)"), *_YES_NO)
    ),
    "include_identity_leak": FilterField(
        "Include votes on answers that named their model",
        "select",
        (("", "default (no)"), *_YES_NO),
        help="arena answers flagged identity_leak: votes that were not blind",
    ),
    "include_sensitive": FilterField(
        "Include sensitive survey answers",
        "select",
        (("", "default (no)"), *_YES_NO),
        help="annotators: the answers to questions marked sensitive; judgments: sensitive "
        "profile keys",
    ),
    "with_profile": FilterField(
        "Profile fields", "text", help="judgments: survey keys, comma-separated (age_band,country)"
    ),
    "annotator_kind": FilterField(
        "Annotators",
        "select",
        (("", "default"), *((kind, kind) for kind in ANNOTATOR_KINDS)),
        help="dpo, labels and rubric count people unless asked",
    ),
    "label": FilterField(
        "Pair label",
        "select",
        (("", "default (majority)"), *((label, label) for label in AVAILABLE_PAIR_LABELS)),
    ),
    "expand": FilterField(
        "Pairs from each ranking",
        "select",
        (("", "default (adjacent)"), *((expand, expand) for expand in RANKING_EXPANSIONS)),
        help="adjacent places, all pairs, or best against worst",
    ),
    "min_agreement": FilterField("Minimum agreement", "number", step="0.01", help="0 to 1"),
    "min_judgments": FilterField("Minimum judgments per task", "number", step="1"),
    "rubric_version": FilterField("Rubric version", "number", step="1", help="empty: every one"),
    "since": FilterField("Since", "text", help="a judgment id or an ISO datetime"),
}


@dataclass(frozen=True)
class BoundFilter:
    name: str
    field: FilterField
    value: str
    errors: tuple[str, ...]


@dataclass(frozen=True)
class ExportForm:
    """The export form as the researcher filled it in: the query's parameters (only those
    the chosen format takes, empty ones left out), and either the checked query or the
    errors of each field."""

    formats: tuple[str, ...]
    format: str
    filetype: str
    filters: tuple[BoundFilter, ...]
    params: dict[str, str]
    query: ExportQuery | None
    errors: dict[str, list[str]]


def export_form(params: Mapping[str, str], *, project: Project) -> ExportForm:
    """Read the form: the format (one of the project's), the file type and the filters that
    format takes; every value is checked by the export's own reader and planner, so the
    form refuses exactly what the API refuses."""
    formats = export_formats_of(project=project)
    chosen = params.get("format") or formats[0]
    export_format = chosen if chosen in formats else formats[0]
    names = [
        name
        for name in FILTER_FIELDS
        if name in export_filters_of(export_format) and (name != "expand" or project.is_ranking)
    ]
    given = {
        name: params[name].strip()
        for name in ("filetype", *names)
        if name in params and params[name].strip()
    }
    query_params = {"format": export_format, **given}
    errors: dict[str, list[str]] = {}
    if chosen != export_format:
        errors["format"] = [f"this project has no {chosen} export"]
    query = None
    try:
        query = export_query_from_params(query_params)
        export_plan(project=project, query=query)
    except ValidationFailed as exc:
        for error in exc.errors:
            errors.setdefault(error["field"] or "format", []).append(error["error"])
    return ExportForm(
        formats=formats,
        format=export_format,
        filetype=given.get("filetype", EXPORT_FILETYPES[0]),
        filters=tuple(
            BoundFilter(name, FILTER_FIELDS[name], given.get(name, ""), tuple(errors.get(name, ())))
            for name in names
        ),
        params=query_params,
        query=None if errors else query,
        errors=errors,
    )


def export_snippets(*, url: str, filetype: str, filename: str) -> dict[str, str]:
    """The export's URL as a `curl` command and as Python that saves the file and loads it
    with `datasets.load_dataset` (plain `urllib`: loading an http URL directly would need
    aiohttp, which `datasets` does not install), with a placeholder for the token."""
    curl = f'curl -H "Authorization: Token {TOKEN_PLACEHOLDER}" -o {filename} "{url}"'
    python = (
        "import shutil\n"
        "import urllib.request\n\n"
        "from datasets import load_dataset\n\n"
        "request = urllib.request.Request(\n"
        f'    "{url}",\n'
        f'    headers={{"Authorization": "Token {TOKEN_PLACEHOLDER}"}},\n'
        ")\n"
        f'with urllib.request.urlopen(request) as answer, open("{filename}", "wb") as file:\n'
        "    shutil.copyfileobj(answer, file)\n"
        f'dataset = load_dataset("{LOADERS[filetype]}", data_files="{filename}", split="train")'
    )
    return {"curl": curl, "python": python}


def card_parts(card: str) -> tuple[str, str]:
    """A dataset card's YAML front matter and its Markdown body."""
    if card.startswith("---\n"):
        end = card.find("\n---\n", 4)
        if end != -1:
            return card[4:end], card[end + 5 :]
    return "", card


@dataclass(frozen=True)
class SnapshotRow:
    snapshot: Snapshot
    filters: str
    front_matter: str
    card_html: str
    download_url: str


def _managed_project(project_admin: ModelAdmin, request: HttpRequest, project_id: int) -> Project:
    """The project if this researcher manages it (the console's own scoping), else 404."""
    project = get_object_or_404(project_admin.get_queryset(request), pk=project_id)
    if not project_admin.has_view_permission(request, project):
        raise Http404("No such project.")
    return project


def _page(items: Any, per_page: int, number: str | None) -> Page:
    return Paginator(items, per_page).get_page(number)


def _snapshot_page(request: HttpRequest, project: Project) -> dict[str, Any]:
    page = _page(
        Snapshot.objects.filter(project=project).order_by("-created_at", "-id"),
        SNAPSHOTS_PER_PAGE,
        request.GET.get("snapshots"),
    )
    rows = []
    for snapshot in page:
        front_matter, body = card_parts(snapshot.card)
        rows.append(
            SnapshotRow(
                snapshot=snapshot,
                filters=", ".join(
                    f"{name}={value if isinstance(value, str) else json.dumps(value)}"
                    for name, value in snapshot.query.items()
                    if name not in ("format", "filetype") and value is not None
                ),
                front_matter=front_matter,
                card_html=mark_safe(render_markdown(body)) if body.strip() else "",
                download_url=reverse(
                    "api:snapshot-download",
                    kwargs={"slug": project.slug, "snapshot_id": snapshot.pk},
                ),
            )
        )
    pending = any(row.snapshot.status == Snapshot.Status.PENDING for row in rows)
    list_url = reverse("admin:annotation_project_snapshots", args=[project.pk])
    return {
        "snapshot_page": page,
        "snapshot_rows": rows,
        "snapshots_pending": pending,
        "snapshots_url": f"{list_url}?{urlencode({'snapshots': page.number})}",
        "page_url": reverse(f"admin:{PAGE.url_name}", args=[project.pk]),
        "poll_seconds": POLL_SECONDS,
    }


def _export_context(request: HttpRequest, project: Project, form: ExportForm) -> dict[str, Any]:
    export_url = reverse("api:export", kwargs={"slug": project.slug})
    links = [
        (
            export_format,
            [
                (
                    filetype,
                    f"{export_url}?{urlencode({'format': export_format, 'filetype': filetype})}",
                )
                for filetype in EXPORT_FILETYPES
            ],
        )
        for export_format in form.formats
    ]
    context: dict[str, Any] = {"form": form, "export_links": links, "filetypes": EXPORT_FILETYPES}
    if form.query is not None:
        link = f"{export_url}?{urlencode(form.params)}"
        filename = f"{project.slug}-{form.query.format}.{form.query.filetype}"
        context["link"] = link
        context["filename"] = filename
        context["snippets"] = export_snippets(
            url=request.build_absolute_uri(link),
            filetype=form.query.filetype,
            filename=filename,
        )
    return context


def _page_context(
    project_admin: ModelAdmin, request: HttpRequest, project: Project, **extra: Any
) -> dict[str, Any]:
    form = extra.pop("form", None) or export_form(request.GET, project=project)
    return {
        **project_admin.admin_site.each_context(request),
        "title": f"Datasets of {project.name}",
        "project": project,
        "opts": project_admin.model._meta,
        **_export_context(request, project, form),
        **_snapshot_page(request, project),
        "token_page": _page(
            api_tokens_of(user=request.user), TOKENS_PER_PAGE, request.GET.get("tokens")
        ),
        "command_line_token": command_line_token_of(user=request.user),
        **crowd_links_context(request, project),
        **extra,
    }


def crowd_links_context(request: HttpRequest, project: Project) -> dict[str, Any]:
    """What the crowd links block shows: the project's start page as this site is reached,
    as a Prolific study URL and an MTurk ExternalQuestion."""
    start_url = request.build_absolute_uri(reverse("annotation:project-start", args=[project.slug]))
    return {
        "prolific_url": prolific_study_url(start_url),
        "mturk_xml": mturk_external_question(start_url),
        "mturk_needs_https": not start_url.startswith("https://"),
    }


TEMPLATE = "admin/annotation/project_datasets.html"


def datasets_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_GET
    @vary_on_headers("HX-Request")
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = _managed_project(project_admin, request, project_id)
        context = _page_context(project_admin, request, project)
        if request.htmx:  # the form changed: only the export part is drawn again
            return TemplateResponse(request, f"{TEMPLATE}#export-builder", context)
        return TemplateResponse(request, TEMPLATE, context)

    return view


def snapshots_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """The snapshot list alone, asked for by htmx while a snapshot is being built."""

    @require_GET
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = _managed_project(project_admin, request, project_id)
        context = {"project": project, **_snapshot_page(request, project)}
        return TemplateResponse(request, f"{TEMPLATE}#snapshot-list", context)

    return view


def snapshot_new_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """Make a snapshot of the form's export through the snapshot service; a query the
    export refuses is shown on the form with its errors, and nothing is made."""

    @require_POST
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = _managed_project(project_admin, request, project_id)
        form = export_form(request.POST, project=project)
        if form.query is None:
            messages.error(request, "The snapshot's query is not valid: see the form.")
            context = _page_context(project_admin, request, project, form=form)
            return TemplateResponse(request, TEMPLATE, context, status=400)
        snapshot = snapshot_create(project=project, query=form.query, created_by=request.user)
        messages.success(request, f"Snapshot {snapshot.pk} asked for: it is listed below.")
        page_url = reverse(f"admin:{PAGE.url_name}", args=[project.pk])
        return HttpResponseRedirect(f"{page_url}?{urlencode(form.params)}#snapshots")

    return view


def token_new_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """Make a named API token and show its key, this once (it is stored hashed)."""

    @require_POST
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = _managed_project(project_admin, request, project_id)
        try:
            token, key = api_token_issue(user=request.user, name=request.POST.get("name", ""))
        except ValidationFailed as exc:
            context = _page_context(
                project_admin, request, project, token_errors=[e["error"] for e in exc.errors]
            )
            return TemplateResponse(request, TEMPLATE, context, status=400)
        context = _page_context(project_admin, request, project, new_token=token, new_key=key)
        return TemplateResponse(request, TEMPLATE, context)

    return view


def token_revoke_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_POST
    def view(request: HttpRequest, project_id: int, token_id: int) -> HttpResponse:
        project = _managed_project(project_admin, request, project_id)
        # Another user's token, or one already revoked: NotFound, a 404 page.
        api_token_revoke(user=request.user, token_id=token_id)
        messages.success(request, "The token is revoked: its key no longer signs in.")
        page_url = reverse(f"admin:{PAGE.url_name}", args=[project.pk])
        return HttpResponseRedirect(f"{page_url}#tokens")

    return view


def command_line_token_revoke_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_POST
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = _managed_project(project_admin, request, project_id)
        command_line_token_revoke(user=request.user)
        messages.success(request, "The command-line token is revoked: its key no longer signs in.")
        page_url = reverse(f"admin:{PAGE.url_name}", args=[project.pk])
        return HttpResponseRedirect(f"{page_url}#tokens")

    return view


def urlpatterns(project_admin: ModelAdmin) -> list[Any]:
    def route(pattern: str, make: Callable[..., Any], name: str) -> Any:
        return path(pattern, project_admin.admin_site.admin_view(make(project_admin)), name=name)

    return [
        route("<int:project_id>/datasets/", datasets_view, PAGE.url_name),
        route(
            "<int:project_id>/datasets/snapshots/", snapshots_view, "annotation_project_snapshots"
        ),
        route(
            "<int:project_id>/datasets/snapshots/new/",
            snapshot_new_view,
            "annotation_project_snapshot_new",
        ),
        route("<int:project_id>/datasets/tokens/", token_new_view, "annotation_project_token_new"),
        route(
            "<int:project_id>/datasets/tokens/<int:token_id>/revoke/",
            token_revoke_view,
            "annotation_project_token_revoke",
        ),
        route(
            "<int:project_id>/datasets/tokens/command-line/revoke/",
            command_line_token_revoke_view,
            "annotation_project_command_line_token_revoke",
        ),
    ]
