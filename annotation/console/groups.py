"""The groups page of a project (README "Figures by group"): the profile summary (how many
annotators gave each answer, small answers merged into `other`) and, for a chosen survey
question, each group's leaderboard and agreement side by side, with the differences between
groups and whether their majorities agree. The figures come from the same services as the
API (fetched by htmx once the page is shown: their first fit after a report takes a moment).
Sensitive questions are neither listed nor summarised unless the researcher asks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from annotation.charts import leaderboard_svg, rating_bounds
from annotation.console.pages import ConsolePage, console_project
from annotation.errors import ValidationFailed
from annotation.models import Project
from annotation.selectors.profiles import GROUPABLE_TYPES, profile_summary
from annotation.services.groups import agreement_by_current, group_by_parse
from annotation.services.leaderboard_options import (
    LeaderboardOptions,
    leaderboard_current_with_options,
)
from annotation.services.reports import DEFAULT_KIND

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PAGE = ConsolePage(title="Groups", url_name="annotation_project_groups")
TEMPLATE = "admin/annotation/project_groups.html"


def urlpatterns(project_admin: ModelAdmin) -> list[Any]:
    return [
        path(
            "<int:project_id>/groups/",
            project_admin.admin_site.admin_view(groups_view(project_admin)),
            name=PAGE.url_name,
        ),
        path(
            "<int:project_id>/groups/figures/",
            project_admin.admin_site.admin_view(figures_view(project_admin)),
            name="annotation_project_group_figures",
        ),
    ]


def _asked(request: HttpRequest) -> tuple[str, bool]:
    """The question chosen (`profile.<key>`, or "") and whether sensitive ones are shown."""
    return request.GET.get("by", ""), request.GET.get("include_sensitive") == "true"


def groups_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_GET
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        by, include_sensitive = _asked(request)
        error, status = "", 200
        if by:
            try:
                group_by_parse(project=project, by=by, include_sensitive=include_sensitive)
            except ValidationFailed as failed:
                error, status, by = _error_text(failed), 400, ""
        questions = [
            q
            for q in project.survey
            if q["type"] in GROUPABLE_TYPES and (include_sensitive or not q.get("sensitive"))
        ]
        figures_url = ""
        if by:
            query = {"by": by, **({"include_sensitive": "true"} if include_sensitive else {})}
            figures_url = (
                reverse("admin:annotation_project_group_figures", args=[project.pk])
                + "?"
                + urlencode(query)
            )
        context = {
            **project_admin.admin_site.each_context(request),
            "title": f"Groups of annotators in {project.name}",
            "project": project,
            "opts": Project._meta,
            "questions": questions,
            "by": by,
            "include_sensitive": include_sensitive,
            "error": error,
            "figures_url": figures_url,
            "summary": profile_summary(project=project, include_sensitive=include_sensitive),
            "k": project.min_group_annotators,
        }
        return TemplateResponse(request, TEMPLATE, context, status=status)

    return view


def figures_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    """Each group's leaderboard and agreement side by side (the page fetches it by htmx)."""

    @require_GET
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        by, include_sensitive = _asked(request)
        try:
            context = _figures(project, by, include_sensitive)
        except ValidationFailed as failed:
            context, status = {"error": _error_text(failed)}, 400
        else:
            status = 200
        return TemplateResponse(
            request, TEMPLATE + "#group-figures", {"project": project, **context}, status=status
        )

    return view


def _error_text(failed: ValidationFailed) -> str:
    named = "; ".join(f"{e['field']}: {e['error']}" for e in failed.errors)
    return f"{failed.detail} ({named})" if named else failed.detail


def _figures(project: Project, by: str, include_sensitive: bool) -> dict[str, Any]:
    group_by = group_by_parse(project=project, by=by, include_sensitive=include_sensitive)
    if project.is_ranking:
        return {"unavailable": "Figures by group are read on pairwise choices or rubric scores."}
    agreement = agreement_by_current(
        project=project, annotator_kind=DEFAULT_KIND, group_by=group_by
    )
    boards: dict[str, Any] = {}
    differences: list[dict[str, Any]] = []
    answers = [agreement]
    if project.is_pairwise:
        leaderboard = leaderboard_current_with_options(
            project=project,
            annotator_kind=DEFAULT_KIND,
            exclude_flagged=True,
            options=LeaderboardOptions(by=group_by),
        )
        answers.append(leaderboard)
        boards = leaderboard["groups"]
        differences = leaderboard.get("differences", [])
    names = list(boards) or list(agreement["groups"])
    every_row = [row for board in boards.values() for row in board["results"]]
    bounds = rating_bounds(every_row) if every_row else None
    groups = []
    for name in names:
        board = boards.get(name)
        report = agreement["groups"].get(name, {})
        groups.append(
            {
                "name": name,
                "n_annotators": (board or report).get("n_annotators"),
                "n_votes": board["n"] if board else report.get("n_judgments"),
                "chart": mark_safe(
                    leaderboard_svg(
                        board["results"], f"Leaderboard of {name} with 95% intervals", bounds
                    )
                )
                if board
                else "",
                "agreement": [
                    (criterion, entry.get("krippendorff_alpha") or {})
                    for criterion, entry in report.get("criteria", {}).items()
                ],
            }
        )
    return {
        "groups": groups,
        "differences": differences,
        "cross_group": agreement.get("cross_group", {}),
        # Either may be an earlier report's while the worker computes it (stale): the
        # page says so, with the older of the two reports.
        "stale": any(answer.get("stale") for answer in answers),
        "computed_at": min(
            (a["computed_at"] for a in answers if a.get("computed_at")), default=None
        ),
        "k": project.min_group_annotators,
    }
