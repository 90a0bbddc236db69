"""API tokens for researchers, pipelines and custom annotator front ends."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from annotation.errors import NotFound


def api_token_create(*, username: str) -> str:
    """Issue a fresh token for the user, replacing any earlier one."""
    User = get_user_model()
    try:
        user = User.objects.get(username=username)
    except User.DoesNotExist as exc:
        raise NotFound(f"No user named {username!r}.") from exc
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key
