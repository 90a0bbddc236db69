"""The profile import page of a project (README "Surveys", Importing profiles): a researcher
uploads Prolific's demographic export with the mapping of its columns onto survey keys, and
reads what was stored, kept, unmatched and refused; through the service the API calls."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_http_methods

from annotation.console.pages import ConsolePage, console_context, console_project
from annotation.errors import ValidationFailed
from annotation.models import Project
from annotation.services.profile_import import (
    PARTICIPANT_COLUMN,
    csv_header_and_rows,
    profiles_import,
)

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

PAGE = ConsolePage(title="Import profiles", url_name="annotation_project_profiles")
TEMPLATE = "admin/annotation/project_profiles.html"
#: The mapping the form starts with: Prolific's columns onto the PRISM preset's keys.
EXAMPLE_COLUMNS = {
    "Age": "age_band",
    "Sex": {"key": "gender", "values": {"Female": "Woman", "Male": "Man"}},
    "Country of residence": "country",
    "Language": "first_language",
}


def _render(
    project_admin: ModelAdmin,
    request: HttpRequest,
    project: Project,
    *,
    status: int = 200,
    **extra: Any,
) -> TemplateResponse:
    title = f"Import profiles into {project.name}"
    context = {
        **console_context(project_admin, request, project, title=title),
        "participant_column": PARTICIPANT_COLUMN,
        "survey_keys": [q["key"] for q in project.survey],
        "columns_text": json.dumps(EXAMPLE_COLUMNS, indent=2),
        "overwrite": False,
        "errors": [],
        **extra,
    }
    return TemplateResponse(request, TEMPLATE, context, status=status)


def profiles_view(project_admin: ModelAdmin) -> Callable[..., HttpResponse]:
    @require_http_methods(["GET", "POST"])
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = console_project(project_admin, request, project_id)
        if request.method == "GET":
            return _render(project_admin, request, project)
        columns_text = request.POST.get("columns", "")
        overwrite = request.POST.get("overwrite") == "on"
        kept = {"columns_text": columns_text, "overwrite": overwrite}
        try:
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationFailed(errors=[{"field": "file", "error": "choose the CSV file"}])
            try:
                columns = json.loads(columns_text)
            except ValueError:
                raise ValidationFailed(
                    errors=[{"field": "columns", "error": "must be a JSON object"}]
                ) from None
            header, rows = csv_header_and_rows(upload)
            report = profiles_import(
                project=project, header=header, rows=rows, columns=columns, overwrite=overwrite
            )
        except ValidationFailed as exc:
            return _render(project_admin, request, project, status=400, errors=exc.errors, **kept)
        return _render(project_admin, request, project, report=report.as_json(), **kept)

    return view


def urlpatterns(project_admin: ModelAdmin) -> list[Any]:
    return [
        path(
            "<int:project_id>/profiles/",
            project_admin.admin_site.admin_view(profiles_view(project_admin)),
            name=PAGE.url_name,
        )
    ]
