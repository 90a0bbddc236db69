"""API tokens for researchers, pipelines and custom annotator front ends.

Two kinds are accepted (api.authentication): the one token per user that
`create_api_token` prints (DRF's authtoken), and named tokens (ApiToken) a researcher makes
and revokes in the console, several per user, stored as a SHA-256 of the key."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework.authtoken.models import Token

from annotation.errors import NotFound, ValidationFailed
from annotation.models import ApiToken

#: Named keys start with this, so a leaked one is recognisable (secret scanners, logs).
NAMED_KEY_PREFIX = "pp_"
#: last_used_at is written when it is older than this: a pipeline polling every second
#: costs one write a minute, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_token_create(*, username: str) -> str:
    """Issue a fresh token for the user, replacing any earlier one."""
    User = get_user_model()
    try:
        user = User.objects.get(username=username)
    except User.DoesNotExist as exc:
        raise NotFound(f"No user named {username!r}.") from exc
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key


def api_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_token_issue(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Make a named token for the user; returns it with its key, which is not stored and
    cannot be shown again."""
    key = NAMED_KEY_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken(user=user, name=name.strip(), key_hash=api_key_hash(key), prefix=key[:10])
    try:
        token.full_clean(exclude=["user", "key_hash", "prefix"], validate_constraints=False)
    except ValidationError as exc:
        raise ValidationFailed(
            "The token's name is not valid.",
            errors=[{"field": "name", "error": message} for message in exc.messages],
        ) from exc
    try:
        with transaction.atomic():
            token.save()
    except IntegrityError as exc:
        raise ValidationFailed(
            f"You already have a token named {token.name!r}.",
            errors=[{"field": "name", "error": "already used by another of your tokens"}],
        ) from exc
    return token, key


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> None:
    """Delete one of the user's named tokens: its key is refused from now on (401)."""
    deleted, _ = ApiToken.objects.filter(user=user, pk=token_id).delete()
    if not deleted:
        raise NotFound(f"No API token {token_id} of yours.")


def api_token_used(*, token_id: int, last_used_at: datetime | None) -> None:
    """Note that a named token was used now, unless that was noted under a minute ago
    (`last_used_at` as read with the token); one UPDATE at most, none most of the time."""
    now = timezone.now()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return
    ApiToken.objects.filter(pk=token_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ).update(last_used_at=now)


def api_tokens_of(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """The user's named tokens, newest first."""
    return ApiToken.objects.filter(user=user).order_by("-created_at", "-id")


def command_line_token_of(*, user: AbstractBaseUser) -> Token | None:
    """The user's `create_api_token` token, if they have one (its key is stored as it is,
    so it is never shown again here either)."""
    return Token.objects.filter(user=user).only("created").first()


def command_line_token_revoke(*, user: AbstractBaseUser) -> None:
    """Delete the user's `create_api_token` token: its key is refused from now on (401)."""
    if not Token.objects.filter(user=user).delete()[0]:
        raise NotFound("You have no command-line token.")
