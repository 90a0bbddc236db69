"""Reading a project's model endpoints (README, Model endpoints)."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils import timezone

from annotation.errors import NotFound
from annotation.models import ModelEndpoint, Project


def endpoints_of(*, project: Project) -> QuerySet[ModelEndpoint]:
    return ModelEndpoint.objects.filter(project=project).order_by("name", "id")


def endpoint_of(*, project: Project, endpoint_id: int) -> ModelEndpoint:
    """One endpoint of this project; 404 for an id of another project, as for one unknown."""
    endpoint = ModelEndpoint.objects.filter(project=project, pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(f"No endpoint {endpoint_id} in project {project.slug!r}.")
    return endpoint


def endpoints_available(*, project: Project) -> QuerySet[ModelEndpoint]:
    """Endpoints to draw from now: enabled and not marked unhealthy, or no longer."""
    healthy = Q(unhealthy_until__isnull=True) | Q(unhealthy_until__lte=timezone.now())
    return endpoints_of(project=project).filter(healthy, enabled=True)
