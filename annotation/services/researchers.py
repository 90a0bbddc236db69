"""Researchers: staff accounts in the `researcher` group, which grants exactly what the
console needs. Which rows they see is decided by the console (their own and shared
projects), not by these permissions."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AbstractUser, Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from annotation.errors import ValidationFailed
from annotation.models import (
    Annotator,
    AnnotatorStats,
    Assignment,
    CrowdSession,
    Judgment,
    Project,
)
from annotation.selectors.projects import projects_managed_by

RESEARCHER_GROUP = "researcher"

#: What a researcher may do to each model of the console, within their projects. Set-up
#: (projects, criteria, items, responses) is theirs to write; what the engine writes
#: (assignments, judgments, crowd sessions) is theirs to read. Tasks may be changed (to mark
#: gold) and deleted with their items; quality rows changed (to block per project; the
#: reason is a researcher's note). Annotators are shared across projects: read only,
#: and site-wide blocks are a superuser's. Collected data (judgments, assignments,
#: quality rows, crowd sessions) can only be deleted by a superuser, so a project or item
#: with votes is too. The migration 0010_researcher_group keeps its own copy of this table.
RESEARCHER_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "project": ("view", "add", "change", "delete"),
    "criterion": ("view", "add", "change", "delete"),
    "item": ("view", "add", "change", "delete"),
    "response": ("view", "add", "change", "delete"),
    "task": ("view", "change", "delete"),
    "assignment": ("view",),
    "judgment": ("view",),
    "annotatorstats": ("view", "change"),
    "annotator": ("view",),
    "crowdsession": ("view",),
    "modelendpoint": ("view", "add", "change", "delete"),
    "judge": ("view", "add", "change", "delete"),
    "judgerun": ("view",),
    "judgeverdict": ("view",),
}


def researcher_codenames() -> list[str]:
    """The permission codenames of the group, e.g. `view_project`."""
    return sorted(
        f"{action}_{model}"
        for model, actions in RESEARCHER_PERMISSIONS.items()
        for action in actions
    )


@transaction.atomic
def researcher_group_sync() -> Group:
    """Create the `researcher` group, or bring its permissions back to exactly the list."""
    group, _ = Group.objects.get_or_create(name=RESEARCHER_GROUP)
    codenames = researcher_codenames()
    permissions = list(
        Permission.objects.filter(content_type__app_label="annotation", codename__in=codenames)
    )
    missing = set(codenames) - {p.codename for p in permissions}
    if missing:  # permissions are made after migrate; a flushed database has lost them
        from django.apps import apps
        from django.contrib.auth.management import create_permissions

        create_permissions(apps.get_app_config("annotation"), verbosity=0)
        permissions = list(
            Permission.objects.filter(content_type__app_label="annotation", codename__in=codenames)
        )
    group.permissions.set(permissions)
    return group


def _errors(exc: ValidationError, field: str | None = None) -> list[dict[str, str]]:
    if field is not None or not hasattr(exc, "error_dict"):
        return [{"field": field or "", "error": message} for message in exc.messages]
    return [
        {"field": name, "error": message}
        for name, errors in exc.error_dict.items()
        for message in ValidationError(errors).messages
    ]


@transaction.atomic
def researcher_create(
    *, username: str, password: str | None = None, email: str = ""
) -> AbstractUser:
    """Make (or update) a researcher: a staff member of the `researcher` group, not a
    superuser. A given password must pass the password validators; without one a new
    account gets an unusable password and an existing one keeps its own."""
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username)
        user.set_unusable_password()
    if email:
        user.email = email
    user.is_staff = True
    user.is_superuser = False
    try:
        user.full_clean(exclude=["password", "last_login", "date_joined"], validate_unique=False)
    except ValidationError as exc:
        raise ValidationFailed(
            "The researcher's details are not valid.", errors=_errors(exc)
        ) from exc
    if password is not None:
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            raise ValidationFailed(
                "The password is not accepted.", errors=_errors(exc, "password")
            ) from exc
        user.set_password(password)
    user.save()
    user.groups.add(researcher_group_sync())
    return user


def annotators_seen_by(*, user: AbstractBaseUser) -> QuerySet[Annotator]:
    """Annotators a researcher may see in the console: those who worked in, entered or
    belong to one of the projects they manage (superusers: everyone). Another project's
    crowd workers stay hidden."""
    annotators = Annotator.objects.all()
    if getattr(user, "is_superuser", False):
        return annotators
    managed = projects_managed_by(user=user).values("pk")
    return annotators.filter(
        Q(pk__in=Assignment.objects.filter(project__in=managed).values("annotator_id"))
        | Q(pk__in=Judgment.objects.filter(project__in=managed).values("annotator_id"))
        | Q(pk__in=AnnotatorStats.objects.filter(project__in=managed).values("annotator_id"))
        | Q(pk__in=CrowdSession.objects.filter(project__in=managed).values("annotator_id"))
        | Q(
            pk__in=Project.members.through.objects.filter(project__in=managed).values(
                "annotator_id"
            )
        )
    )


def member_candidates(*, user: AbstractBaseUser) -> QuerySet[Annotator]:
    """Annotators a researcher may add to a project's members: those they see, and any
    annotator with a local account (the console finds them by username); never another
    project's crowd workers."""
    if getattr(user, "is_superuser", False):
        return Annotator.objects.all()
    return Annotator.objects.filter(
        Q(pk__in=annotators_seen_by(user=user).values("pk"))
        | Q(source=Annotator.Source.LOCAL, user__isnull=False)
    )
