"""Throttles: anonymous traffic and failed tokens by client address; signed-in users only
when API_USER_RATE is set, so bulk voting and pipelines never meet a 429 by default.

Their counts live in Redis, behind the circuit breaker (annotation.breaker): while Redis
fails, the request throttles fail open (a rate limit is fairness, and failing closed would
refuse every vote), and failed-token sign-ins fail closed (429: guesses that cannot be
counted are refused; a valid token never touches the cache)."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from annotation.breaker import RedisSkipped, redis_breaker
from config.client_ip import client_address


class FailOpenThrottle(SimpleRateThrottle):
    """A throttle that lets requests through while Redis cannot count them."""

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            with redis_breaker.guard():
                return super().allow_request(request, view)
        except RedisSkipped:
            return True


class AnonymousThrottle(FailOpenThrottle):
    """Requests nobody signed in, per address (asked only for those: see
    api.authentication.AnonymousThrottling)."""

    scope = "anonymous"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}


class SignedInThrottle(FailOpenThrottle, UserRateThrottle):
    scope = "signed_in"


class FailedTokenThrottle(SimpleRateThrottle):
    """Counts failed token sign-ins per address; past the rate, further failures answer 429
    instead of 401, so tokens cannot be guessed at speed. Valid tokens never touch the cache
    (the vote path stays as it is)."""

    scope = "failed_token"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_address(request)}

    def record_failure(self, request: Any) -> float | None:
        """Count one failure; the seconds to wait when the address is over its rate (the
        whole duration while Redis cannot count)."""
        if self.rate is None:
            return None
        try:
            with redis_breaker.guard():
                return self._count_failure(request)
        except RedisSkipped:
            return float(self.duration)

    def _count_failure(self, request: Any) -> float | None:
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        if len(self.history) >= self.num_requests:
            return self.wait()
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)
        return None
