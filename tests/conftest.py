"""Shared fixtures. The suite runs on whatever DATABASE_URL names: SQLite by default,
PostgreSQL in CI, where tests marked `postgres` must run and never skip."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connection, connections
from rest_framework.test import APIClient

from tests.factories import AnnotatorUserFactory, ResearcherFactory
from tests.llm_stub import llm_stub

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RUN_SLOW = os.environ.get("RUN_SLOW", "").lower() in ("1", "true", "yes")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow (TRL training)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `slow` (training a model) run only when asked for."""
    _allow_the_replica_mirror(items)
    if config.getoption("--run-slow") or RUN_SLOW:
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or RUN_SLOW=1")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


def _replica_is_a_mirror() -> bool:
    replica = connections.settings.get("replica")
    return replica is not None and replica["TEST"].get("MIRROR") == DEFAULT_DB_ALIAS


def _allow_the_replica_mirror(items: list[pytest.Item]) -> None:
    """With DATABASE_REPLICA_URL set, every database test may read the replica (a test
    mirror of default, settings): exports, snapshots and reports read from it, also in the
    threads of a Celery worker or a live server."""
    if not _replica_is_a_mirror():
        return
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None and not {"db", "transactional_db"} & set(
            getattr(item, "fixturenames", ())
        ):
            continue
        kwargs = dict(marker.kwargs) if marker is not None else {}
        databases = kwargs.get("databases") or [DEFAULT_DB_ALIAS]
        if databases != "__all__":
            kwargs["databases"] = [*databases, "replica"]
        closest = pytest.mark.django_db(*(marker.args if marker else ()), **kwargs)
        item.add_marker(closest, append=False)


@pytest.fixture(autouse=True)
def _needs_services(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("redis") is not None and not os.environ.get("REDIS_URL"):
        message = "needs Redis and a Celery worker (set REDIS_URL=redis://...)"
        if IN_CI:
            pytest.fail(f"CI must run this test: {message}")
        pytest.skip(message)
    if request.node.get_closest_marker("postgres") is None:
        return
    if connection.vendor != "postgresql":
        message = "needs PostgreSQL (set DATABASE_URL=postgres://...)"
        if IN_CI:
            pytest.fail(f"CI must run this test: {message}")
        pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def _replica_mirrors_the_test_database(request: pytest.FixtureRequest) -> None:
    """With DATABASE_REPLICA_URL set, the replica is a test mirror of default (settings): in
    this thread its reads go through default's own connection, which sees a test's
    uncommitted rows, as a replica sees what was committed (Django's LiveServerTestCase shares
    connections alike). Other threads open the mirror: they see committed rows."""
    if _replica_is_a_mirror():
        request.getfixturevalue("django_db_setup")  # the mirror then names the test database
        connections["replica"] = connections[DEFAULT_DB_ALIAS]


@pytest.fixture(autouse=True)
def _logging_as_it_was() -> Iterator[None]:
    """A Celery worker built in the test process (start_worker, the queue and snapshot tests)
    sets logging up as a worker's: the root logger's handlers and level, and other loggers'.
    Put it back after every test, so a later test's log capture still sees its warnings."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    loggers = {
        name: (logger.level, logger.disabled, logger.propagate, logger.handlers[:])
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    root.handlers[:], root.level = handlers, level
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and name in loggers:
            logger.level, logger.disabled, logger.propagate, logger.handlers[:] = loggers[name]


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings) -> None:
    """Users are made by the dozen; the real hasher would dominate the run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_celery(request: pytest.FixtureRequest, settings) -> None:
    """Tasks run in-process unless a test is marked `redis` (it then uses a real worker)."""
    from config.celery import app

    eager = request.node.get_closest_marker("redis") is None
    settings.CELERY_TASK_ALWAYS_EAGER = eager
    settings.JUDGE_EAGER_THREAD = False  # a judge run started in a test is done in it
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = eager
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def cache_cleared() -> None:
    """The cache emptied after the test: what it leaves there (the figures by group asked for
    in a project, kept by its id) must not reach a later test's project with the same id."""
    yield
    cache.clear()


@pytest.fixture
def published(monkeypatch) -> list[dict]:
    """Celery work queued through annotation.scheduling, recorded instead of sent or run:
    one {"task": name, "args": [...], **publish options} per call, in order."""
    from annotation import scheduling

    calls: list[dict] = []

    def record(name: str, args: tuple, **options) -> None:
        calls.append({"task": name, "args": list(args), **options})

    monkeypatch.setattr(scheduling, "_publish", record)
    return calls


@pytest.fixture
def researcher(db):
    return ResearcherFactory()


@pytest.fixture
def annotator_user(db):
    return AnnotatorUserFactory()


@pytest.fixture
def researcher_client(researcher) -> APIClient:
    client = APIClient()
    client.force_authenticate(researcher)
    return client


@pytest.fixture
def annotator_client(annotator_user) -> APIClient:
    client = APIClient()
    client.force_authenticate(annotator_user)
    return client


@pytest.fixture
def stub(settings):
    """The local OpenAI-compatible model server (tests/llm_stub.py) on a loopback port, which
    endpoints may use (ARENA_ALLOW_PRIVATE); arena answers are generated within the request,
    so a test sees them at once."""
    settings.ARENA_ALLOW_PRIVATE = True
    settings.ARENA_EAGER_THREAD = False
    with llm_stub() as server:
        yield server
