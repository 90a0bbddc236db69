"""Token authentication that loads the user's annotator with the token, in one query:
every annotator request needs both, and it runs on every vote (hand-written SQL). The key is
looked up among both kinds of token (annotation.services.tokens): the user's
`create_api_token` token and their named console tokens (by the key's SHA-256)."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from psycopg import sql
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token

from annotation.models import Annotator, ApiToken
from annotation.pg import table, text
from annotation.pg.rows import field_from_db, model_columns, model_from_row, model_select
from annotation.services.tokens import api_key_hash, api_token_used
from api.throttling import AnonymousThrottle, FailedTokenThrottle


@cache
def _credentials_sql() -> str:
    """The token's user and annotator by key (a plain token) or key hash (a named one),
    composed once per process."""
    user_model = get_user_model()
    return text(
        sql.SQL(
            "SELECT k.named_id, k.last_used_at, {user_columns}, {annotator_columns} FROM ("
            "SELECT CAST(NULL AS bigint) AS named_id, NULL AS last_used_at, user_id "
            "FROM {token} WHERE key = %s UNION ALL "
            "SELECT id, last_used_at, user_id FROM {api_token} WHERE key_hash = %s) k "
            "JOIN {user} u ON u.id = k.user_id "
            "LEFT JOIN {annotator} a ON a.user_id = u.id"
        ).format(
            user_columns=sql.SQL(model_select(user_model, "u")),
            annotator_columns=sql.SQL(model_select(Annotator, "a")),
            token=table(Token),
            api_token=table(ApiToken),
            user=table(user_model),
            annotator=table(Annotator),
        )
    )


class AnnotatorTokenAuthentication(TokenAuthentication):
    def authenticate(self, request: Any) -> tuple[Any, Token] | None:
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            wait = FailedTokenThrottle().record_failure(request)
            if wait is not None:
                raise exceptions.Throttled(wait) from None
            raise

    def authenticate_credentials(self, key: str) -> tuple[Any, Token | ApiToken]:
        with connection.cursor() as cursor:
            cursor.execute(_credentials_sql(), [key, api_key_hash(key)])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        named_id, last_used_at = row[:2]
        user_model = get_user_model()
        middle = 2 + len(model_columns(user_model))
        user = model_from_row(user_model, row[2:middle])
        annotator_row = row[middle:]
        annotator = model_from_row(Annotator, annotator_row) if annotator_row[0] else None
        # Cache the reverse one-to-one, also when there is none, so `user.annotator` costs
        # no further query.
        Annotator._meta.get_field("user").remote_field.set_cached_value(user, annotator)
        if annotator is not None:
            annotator.user = user
        if not user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if named_id is None:
            token: Token | ApiToken = Token(key=key, user=user)
        else:
            last_used_at = field_from_db(ApiToken, "last_used_at", last_used_at)
            token = ApiToken(pk=named_id, user=user, last_used_at=last_used_at)
            api_token_used(token_id=named_id, last_used_at=last_used_at)
        return user, token


class AnonymousThrottling(BaseAuthentication):
    """Last in the chain, reached only by requests no other class signed in: counts them per
    address and answers 429 past the `anonymous` rate. DRF checks throttles after
    permissions, which refuse anonymous requests first, so a throttle class never sees them."""

    def authenticate(self, request: Any) -> None:
        throttle = AnonymousThrottle()
        if not throttle.allow_request(request, None):
            raise exceptions.Throttled(throttle.wait())
        return None
