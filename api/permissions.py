"""Who may call what: researchers (staff) manage projects; annotators only vote."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from annotation.errors import NotFound
from annotation.models import Project
from annotation.selectors.projects import projects_managed_by


class IsResearcher(BasePermission):
    message = "Only researchers may do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_staff)


def managed_project(user: Any, slug: str) -> Project:
    """The project with this slug if this researcher may see it; 404 otherwise."""
    project = projects_managed_by(user=user).filter(slug=slug).first()
    if project is None:
        raise NotFound(f"No project {slug!r}.")
    return project
