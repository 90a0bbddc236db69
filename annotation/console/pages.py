"""The registry of console pages: annotation.admin.ProjectAdmin adds their routes under
/admin/annotation/project/<id>/ and links to them from the project page."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from annotation.models import Project

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

# Module names in annotation/console/, in the order their links appear on the project page.
PAGE_MODULES: tuple[str, ...] = (
    "review",
    "datasets",
    "statistics",
    "surveys",
    "groups",
    "profiles",
    "instructions",
    "explorer",
    "webhooks",
    "judges",
)


@dataclass(frozen=True)
class ConsolePage:
    title: str
    url_name: str  # reversed as admin:<url_name> with the project's id


def console_modules() -> list[Any]:
    return [import_module(f"annotation.console.{name}") for name in PAGE_MODULES]


def console_urlpatterns(project_admin: ModelAdmin) -> list[Any]:
    return [route for module in console_modules() for route in module.urlpatterns(project_admin)]


def console_pages() -> list[ConsolePage]:
    """The pages linked from the project page (a module without PAGE only adds routes)."""
    return [module.PAGE for module in console_modules() if hasattr(module, "PAGE")]


def console_project(project_admin: ModelAdmin, request: HttpRequest, project_id: int) -> Project:
    """The project if this researcher manages it (the console's own scoping), else 404."""
    return get_object_or_404(project_admin.get_queryset(request), pk=project_id)


def console_context(
    project_admin: ModelAdmin, request: HttpRequest, project: Project, *, title: str
) -> dict[str, Any]:
    """What a project's console page renders with: the admin's context, its title, the
    project."""
    return {
        **project_admin.admin_site.each_context(request),
        "title": title,
        "project": project,
        "opts": Project._meta,
    }
