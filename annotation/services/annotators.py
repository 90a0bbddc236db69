"""Who is annotating: the annotator record of a signed-in user (crowd identities, which
have no user account, are in `annotation.services.crowd`)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from annotation.models import Annotator


def annotator_for_user(*, user: AbstractBaseUser) -> Annotator:
    """The annotator record of a signed-in user, created on first use."""
    try:
        return user.annotator  # type: ignore[attr-defined]
    except Annotator.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Annotator.objects.create(user=user, source=Annotator.Source.LOCAL)
    except IntegrityError:
        return Annotator.objects.get(user=user)


def annotator_shortcuts_set(*, annotator: Annotator, enabled: bool) -> None:
    """Turn the task page's single-key shortcuts on or off for this annotator (WCAG 2.1.4:
    someone using speech input or a switch must be able to turn them off); kept across
    visits and devices."""
    Annotator.objects.filter(pk=annotator.pk).update(shortcuts_enabled=enabled)
    annotator.shortcuts_enabled = enabled
