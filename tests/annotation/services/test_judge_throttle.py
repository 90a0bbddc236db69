"""The limits a judge puts on its endpoint hold across worker processes (README, Judge runs):
two throttles of one endpoint sharing Redis, as two workers do, never make more than
`concurrency` calls at once between them nor call faster than `calls_per_minute`; with
Redis away each keeps the limits alone and says so in the log."""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from annotation.breaker import redis_breaker
from annotation.services.judge_throttle import EndpointThrottle
from tests.conftest import IN_CI


@pytest.fixture
def shared_redis(settings) -> Iterator[redis.Redis]:
    url = os.environ.get("REDIS_URL")
    if not url:
        if IN_CI:
            pytest.fail("CI must run this test: set REDIS_URL=redis://...")
        pytest.skip("needs Redis (set REDIS_URL=redis://...)")
    settings.REDIS_BREAKER_SECONDS = 0.2
    redis_breaker.reset()
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    yield client
    redis_breaker.reset()
    client.close()


@pytest.fixture
def endpoint_id() -> int:
    """An endpoint id no other test shares keys with."""
    return random.randrange(10**9, 2 * 10**9)


class Counted:
    """A call that lasts `seconds`, counting how many run at once and when each began."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.started: list[float] = []

    def __call__(self) -> str:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.started.append(time.monotonic())
        time.sleep(self.seconds)
        with self.lock:
            self.in_flight -= 1
        return "answer"


def calls_through(throttles: list[EndpointThrottle], call: Counted, each: int) -> list[str]:
    """`each` calls at once through every throttle (a worker's thread pool each)."""
    answers: list[str] = []
    threads = [
        threading.Thread(target=lambda t=throttle: answers.append(t.call(call)))
        for throttle in throttles
        for _ in range(each)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def test_two_workers_make_at_most_concurrency_calls_at_once_between_them(shared_redis, endpoint_id):
    workers = [EndpointThrottle(endpoint_id, redis=shared_redis) for _ in range(2)]
    for worker in workers:
        worker.configure(concurrency=2, calls_per_minute=None)
    call = Counted(0.2)

    answers = calls_through(workers, call, each=4)

    assert answers == ["answer"] * 8
    assert call.max_in_flight == 2  # two at once between both workers, never four
    assert not shared_redis.zcard(workers[0].in_flight_key)  # every slot given back


def test_two_workers_share_calls_per_minute(shared_redis, endpoint_id):
    workers = [EndpointThrottle(endpoint_id, redis=shared_redis) for _ in range(2)]
    for worker in workers:
        worker.configure(concurrency=4, calls_per_minute=600)  # one call every 0.1 s
    call = Counted(0.0)

    calls_through(workers, call, each=3)

    started = sorted(call.started)
    gaps = [later - earlier for earlier, later in itertools.pairwise(started)]
    assert len(started) == 6
    assert min(gaps) >= 0.08  # one schedule for both workers (a little clock slack)


def test_with_redis_down_each_worker_keeps_the_limits_alone_and_logs_it(
    shared_redis, endpoint_id, caplog
):
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    worker = EndpointThrottle(endpoint_id, redis=down)
    worker.configure(concurrency=2, calls_per_minute=None)
    call = Counted(0.2)

    with caplog.at_level(logging.WARNING, logger="annotation.services.judge_throttle"):
        answers = calls_through([worker], call, each=4)

    assert answers == ["answer"] * 4
    assert call.max_in_flight == 2
    assert "per process" in caplog.text and str(endpoint_id) in caplog.text


def test_a_slot_a_killed_worker_held_is_freed_after_its_lease(shared_redis, endpoint_id):
    seconds, micros = shared_redis.time()
    # The one slot, taken by a worker killed since: leased, never renewed nor given back.
    shared_redis.zadd(
        f"judge:endpoint:{endpoint_id}:in_flight", {"killed": seconds + micros / 1e6 + 1.0}
    )
    alive = EndpointThrottle(endpoint_id, redis=shared_redis)
    alive.configure(concurrency=1, calls_per_minute=None)
    started = time.monotonic()

    assert alive.call(lambda: "answer") == "answer"

    assert 0.5 <= time.monotonic() - started < 5


def test_a_call_longer_than_the_lease_keeps_its_slot(shared_redis, endpoint_id, settings):
    settings.JUDGE_SLOT_LEASE_SECONDS = 0.3
    workers = [EndpointThrottle(endpoint_id, redis=shared_redis) for _ in range(2)]
    for worker in workers:
        worker.configure(concurrency=1, calls_per_minute=None)
    call = Counted(1.0)  # more than three leases

    calls_through(workers, call, each=1)

    assert call.max_in_flight == 1
