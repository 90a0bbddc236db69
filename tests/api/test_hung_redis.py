"""A Redis that accepts connections and never answers (a hang: SIGSTOP, a dead network
path) costs a process one short timeout, then the circuit breaker skips Redis and votes
keep their normal latency (README "When services fail")."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from annotation.breaker import redis_breaker
from annotation.services import reports
from api.throttling import SignedInThrottle
from tests.factories import AnnotatorUserFactory

pytestmark = pytest.mark.django_db

TIMEOUT = 0.5


class HungRedis:
    """A TCP server, started by the test, that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)  # kept open, never read, never answered

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hung_redis(settings) -> Iterator[HungRedis]:
    server = HungRedis()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
            "OPTIONS": {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT},
        }
    }
    settings.CELERY_TASK_ALWAYS_EAGER = False  # votes schedule report refreshes via Redis
    settings.REDIS_BREAKER_SECONDS = 30
    redis_breaker.reset()
    reports._refresh_due.clear()
    yield server
    redis_breaker.reset()
    reports._refresh_due.clear()
    server.close()


def _vote(client: APIClient, capture) -> float:
    assignment = client.get("/api/v1/projects/pairs/tasks/next/").json()["assignment"]
    started = time.monotonic()
    with capture(execute=True):  # the report refresh is scheduled once the vote commits
        response = client.post(
            f"/api/v1/assignments/{assignment}/judgment/", {"choice": "left"}, format="json"
        )
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.content
    return elapsed


def test_votes_pay_one_short_timeout_then_skip_a_hung_redis(
    hung_redis, pairwise, api_client_for, django_capture_on_commit_callbacks
):
    clients = [api_client_for(AnnotatorUserFactory()) for _ in range(3)]

    first = _vote(clients[0], django_capture_on_commit_callbacks)
    later = [_vote(client, django_capture_on_commit_callbacks) for client in clients[1:]]

    assert redis_breaker.is_open
    assert TIMEOUT <= first < 1.0  # the one timeout, short
    assert all(seconds < 1.0 for seconds in later)
    assert max(later) < first  # the breaker skipped Redis: no wait at all
    assert len(hung_redis.accepted) == 1  # nobody else went to Redis


def test_a_throttle_lets_requests_through_while_redis_hangs(hung_redis, rf, annotator_user):
    SignedInThrottle.THROTTLE_RATES = {**SignedInThrottle.THROTTLE_RATES, "signed_in": "5/min"}
    request = rf.get("/")
    request.user = annotator_user
    try:
        started = time.monotonic()
        allowed = [SignedInThrottle().allow_request(request, None) for _ in range(10)]
        elapsed = time.monotonic() - started
    finally:
        SignedInThrottle.THROTTLE_RATES = {**SignedInThrottle.THROTTLE_RATES, "signed_in": None}

    assert all(allowed)
    assert elapsed < 1.0
    assert len(hung_redis.accepted) == 1


def test_a_failed_token_is_refused_with_429_while_redis_hangs(hung_redis, pairwise):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")

    started = time.monotonic()
    answers = [client.get("/api/v1/projects/pairs/tasks/next/") for _ in range(3)]
    elapsed = time.monotonic() - started

    assert [answer.status_code for answer in answers] == [429, 429, 429]
    assert elapsed < 1.0 + TIMEOUT


def test_the_breaker_tries_redis_again_once_after_its_window(hung_redis, settings):
    settings.REDIS_BREAKER_SECONDS = 0.2
    assert not reports.report_refresh_soon(project_id=1)
    assert not reports.report_refresh_soon(project_id=1)  # open: skipped
    time.sleep(0.3)
    assert not reports.report_refresh_soon(project_id=1)  # the trial, which times out

    assert len(hung_redis.accepted) == 2
    assert redis_breaker.is_open
