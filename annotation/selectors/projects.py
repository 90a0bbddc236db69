"""Which projects a user may see, as annotator or as researcher."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q, QuerySet

from annotation.models import Annotator, Project


def projects_open_to(*, annotator: Annotator) -> QuerySet[Project]:
    """Active projects this annotator may work on: a researcher's own projects for staff;
    for a crowd identity, the open projects it entered through their start page."""
    if annotator.is_blocked:
        return Project.objects.none()
    active = Project.objects.filter(status=Project.Status.ACTIVE)
    if annotator.user_id and annotator.user.is_staff:
        return active.filter(pk__in=projects_managed_by(user=annotator.user).values("pk"))
    reachable = active.filter(Q(access=Project.Access.OPEN) | Q(members=annotator))
    if annotator.is_crowd:
        reachable = reachable.filter(crowd_sessions__annotator=annotator)
    return reachable.distinct()


def projects_managed_by(*, user: AbstractBaseUser) -> QuerySet[Project]:
    """Projects a researcher may read and change: superusers all, others their own and
    those shared with them."""
    if getattr(user, "is_superuser", False):
        return Project.objects.all()
    return Project.objects.filter(Q(owner=user) | Q(researchers=user)).distinct()
