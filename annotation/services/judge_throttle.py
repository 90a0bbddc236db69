"""How hard judge runs press a model endpoint (README, Judge runs): at most `concurrency`
calls at once and one call every 60/`calls_per_minute` seconds, across every worker process.

The shared state is in Redis, behind the Redis circuit breaker (annotation.breaker): a sorted
set of the calls in flight (each with a lease that its process renews while the call lasts, so
the slot of a worker killed mid-call is freed within JUDGE_SLOT_LEASE_SECONDS) and the moment
the next call may leave. Both are read and
changed by one Lua script each, on Redis's clock, so workers on different machines agree.
Without Redis (not configured, down, or the breaker open) each process keeps the limits alone,
as before, and logs that it does: a run goes on rather than waits for Redis."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings

from annotation.breaker import RedisSkipped, redis_breaker
from annotation.services.judges import DEFAULT_CONCURRENCY

logger = logging.getLogger(__name__)

#: How often a call waiting for a free slot asks again.
SLOT_POLL_SECONDS = 0.05

# KEYS[1] the endpoint's calls in flight; ARGV: the limit, this call's token, the lease.
# 1 when the call may go (its slot taken), 0 when `limit` calls are in flight.
_TAKE_SLOT = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', seconds)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], seconds + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3]) * 1000) + 1000)
return 1
"""

# KEYS[1] the endpoint's calls in flight; ARGV[1] the lease, then the tokens of the calls
# still going: their leases start again now.
_RENEW_SLOTS = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1000000
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', seconds + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
return #ARGV - 1
"""

# KEYS[1] the moment the endpoint's next call may leave; ARGV[1] the seconds between calls.
# The seconds this call waits (a string: Lua numbers come back as integers).
_TAKE_TURN = """
local now = redis.call('TIME')
local seconds = tonumber(now[1]) + tonumber(now[2]) / 1000000
local start = math.max(seconds, tonumber(redis.call('GET', KEYS[1]) or '0'))
local after = start + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.6f', after), 'PX',
  math.ceil((after - seconds) * 1000) + 1000)
return string.format('%.6f', start - seconds)
"""

_shared_client: redis.Redis | None = None
_shared_client_lock = threading.Lock()


def shared_redis() -> redis.Redis | None:
    """This process's Redis client for the shared limits (None without REDIS_URL)."""
    global _shared_client
    if not settings.REDIS_URL:
        return None
    with _shared_client_lock:
        if _shared_client is None:
            _shared_client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=settings.REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=settings.REDIS_TIMEOUT_SECONDS,
            )
        return _shared_client


class EndpointThrottle:
    """The limits of one endpoint's calls: shared through `redis` when it answers, kept in
    this process otherwise (and always: a process never passes them on its own)."""

    def __init__(self, endpoint_id: int, *, redis: redis.Redis | None = None) -> None:
        self.endpoint_id = endpoint_id
        self.in_flight_key = f"judge:endpoint:{endpoint_id}:in_flight"
        self.next_call_key = f"judge:endpoint:{endpoint_id}:next_call"
        self._redis = redis
        self._take_slot = redis.register_script(_TAKE_SLOT) if redis is not None else None
        self._take_turn = redis.register_script(_TAKE_TURN) if redis is not None else None
        self._renew = redis.register_script(_RENEW_SLOTS) if redis is not None else None
        self._held: set[str] = set()
        self._renewing = False
        self._lock = threading.Lock()
        self._next_at = 0.0
        self._alone_since: float | None = None
        self.concurrency = DEFAULT_CONCURRENCY
        self.calls_per_minute: int | None = None
        self._in_flight = threading.Semaphore(DEFAULT_CONCURRENCY)

    def configure(self, *, concurrency: int, calls_per_minute: int | None) -> None:
        with self._lock:
            if concurrency != self.concurrency:
                self.concurrency = concurrency
                self._in_flight = threading.Semaphore(concurrency)
            self.calls_per_minute = calls_per_minute

    def call(self, make: Callable[[], Any]) -> Any:
        """`make()` once a slot is free and its turn has come."""
        with self._in_flight:
            token = self.slot_take()
            try:
                self._turn_wait()
                return make()
            finally:
                if token is not None:
                    self._slot_give_back(token)

    # -------------------------------------------------------------- shared through Redis

    def slot_take(self) -> str | None:
        """Wait for one of the `concurrency` shared slots; its token, or None when Redis is
        away (the process's own semaphore, already held, is then the limit)."""
        if self._take_slot is None:
            return None
        token = uuid.uuid4().hex
        lease = settings.JUDGE_SLOT_LEASE_SECONDS
        while True:
            try:
                with redis_breaker.guard():
                    taken = self._take_slot(
                        keys=[self.in_flight_key], args=[self.concurrency, token, lease]
                    )
            except RedisSkipped as skipped:
                self._alone(skipped)
                return None
            self._shared_again()
            if taken:
                self._hold(token)
                return token
            time.sleep(SLOT_POLL_SECONDS)

    def _hold(self, token: str) -> None:
        """Keep the slot's lease renewed while the call lasts (one thread per throttle,
        ending when it holds no slot)."""
        with self._lock:
            self._held.add(token)
            if self._renewing:
                return
            self._renewing = True
        name = f"judge-slots-{self.endpoint_id}"
        threading.Thread(target=self._renew_while_held, name=name, daemon=True).start()

    def _renew_while_held(self) -> None:
        lease = float(settings.JUDGE_SLOT_LEASE_SECONDS)
        while True:
            time.sleep(lease / 3)
            with self._lock:
                tokens = sorted(self._held)
                if not tokens:
                    self._renewing = False
                    return
            try:
                with redis_breaker.guard():
                    self._renew(keys=[self.in_flight_key], args=[lease, *tokens])
            except RedisSkipped as skipped:
                self._alone(skipped)

    def _slot_give_back(self, token: str) -> None:
        with self._lock:
            self._held.discard(token)
        try:
            with redis_breaker.guard():
                self._redis.zrem(self.in_flight_key, token)
        except RedisSkipped as skipped:
            self._alone(skipped)  # the slot is freed when its lease ends

    def _turn_wait(self) -> None:
        """Sleep until this call's turn: on the shared schedule, or this process's."""
        if not self.calls_per_minute:
            return
        interval = 60.0 / self.calls_per_minute
        if self._take_turn is not None:
            try:
                with redis_breaker.guard():
                    wait = float(self._take_turn(keys=[self.next_call_key], args=[interval]))
            except RedisSkipped as skipped:
                self._alone(skipped)
            else:
                self._shared_again()
                time.sleep(wait)
                return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_at)
            self._next_at = start + interval
        if start > now:
            time.sleep(start - now)

    # -------------------------------------------------------------- saying so

    def _alone(self, reason: RedisSkipped) -> None:
        with self._lock:
            first = self._alone_since is None
            if first:
                self._alone_since = time.monotonic()
        if first:
            logger.warning(
                "judge calls to endpoint %s limited per process (Redis unavailable: %s)",
                self.endpoint_id,
                reason,
            )

    def _shared_again(self) -> None:
        if self._alone_since is None:
            return
        with self._lock:
            was_alone, self._alone_since = self._alone_since is not None, None
        if was_alone:
            logger.warning(
                "judge calls to endpoint %s limited across workers again", self.endpoint_id
            )


_throttles: dict[int, EndpointThrottle] = {}
_throttles_lock = threading.Lock()


def endpoint_throttle(endpoint_id: int) -> EndpointThrottle:
    """This process's throttle of an endpoint (shared by its runs)."""
    with _throttles_lock:
        if endpoint_id not in _throttles:
            _throttles[endpoint_id] = EndpointThrottle(endpoint_id, redis=shared_redis())
        return _throttles[endpoint_id]
