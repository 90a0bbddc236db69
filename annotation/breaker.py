"""A circuit breaker around Redis on the vote path (README "When services fail").

A Redis that refuses connections fails at once, but one that hangs makes every command wait
for its socket timeout; with the breaker, the first command to time out opens it for
REDIS_BREAKER_SECONDS, during which callers skip Redis without waiting; then one caller
alone tries again (the others still skip) and closes it on success. So a hung Redis costs a
process at most one short timeout (REDIS_TIMEOUT_SECONDS) per window. The state is per
process: nothing to share when the thing to share is what failed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import kombu.exceptions
import redis.exceptions
from django.conf import settings

#: What a Redis (cache or broker) that is down, hung or unreachable raises.
REDIS_ERRORS: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)


class RedisSkipped(Exception):
    """Redis was not used: the breaker is open, or the command just failed and opened it."""


class CircuitBreaker:
    """Open for `seconds()` after a failure; then half-open: one trial call at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open_until = 0.0

    @staticmethod
    def seconds() -> float:
        return float(settings.REDIS_BREAKER_SECONDS)

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def _admit(self) -> bool:
        """Whether this call may use Redis; a call after the open window is the trial, and
        keeps the breaker open for the others until it ends."""
        with self._lock:
            now = time.monotonic()
            if now < self._open_until:
                return False
            if self._open_until:
                self._open_until = now + self.seconds()  # the trial, alone
            return True

    def trip(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + self.seconds()

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Run the block's Redis commands, or raise RedisSkipped without running it when
        the breaker is open; a Redis error in the block opens it (and is RedisSkipped)."""
        if not self._admit():
            raise RedisSkipped("the Redis circuit breaker is open")
        try:
            yield
        except REDIS_ERRORS as exc:
            self.trip()
            raise RedisSkipped(f"{type(exc).__name__}: {exc}") from exc
        if self._open_until:
            self.reset()


#: The breaker of this process's Redis (cache and broker: one server in every deployment
#: the README describes).
redis_breaker = CircuitBreaker()
