"""Liveness and readiness probes (README, Observability).

A small module rather than django-health-check: its current releases need Python 3.14 (this
project runs on 3.11), and its database check writes a row into a table of its own on every
probe, where a readiness probe should only read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# A probe answers within a load balancer's usual 1-2 s timeout even when Redis hangs.
REDIS_PROBE_TIMEOUT_SECONDS = 0.5
PENDING_NAMED = 5


class CheckFailed(Exception):
    """A readiness check's reason, as the probe's JSON shows it."""


def check_database() -> None:
    """The default database answers a query."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_migrations() -> None:
    """Every migration on disk is applied: a web process that runs ahead of `migrate` would
    write through models whose columns are not there yet."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        names = [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
        shown = ", ".join(names[:PENDING_NAMED]) + (", ..." if len(names) > PENDING_NAMED else "")
        raise CheckFailed(f"{len(names)} pending: {shown}")


def check_redis() -> None:
    """Redis (cache, throttles and Celery broker) answers a PING."""
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=REDIS_PROBE_TIMEOUT_SECONDS,
        socket_timeout=REDIS_PROBE_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


def readiness_checks() -> dict[str, Callable[[], None]]:
    """The checks /readyz runs, in order; Redis only when REDIS_URL is configured."""
    checks: dict[str, Callable[[], None]] = {
        "database": check_database,
        "migrations": check_migrations,
    }
    if settings.REDIS_URL:
        checks["redis"] = check_redis
    return checks


def describe_failure(error: Exception) -> str:
    """A check's own reason as it is; any other error as its type and message."""
    if isinstance(error, CheckFailed):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def run_checks() -> dict[str, dict[str, str]]:
    """Each check's status ("ok" or "error" with the reason); migrations are not looked at
    when the database is unreachable."""
    results: dict[str, dict[str, str]] = {}
    for name, check in readiness_checks().items():
        if name == "migrations" and results["database"]["status"] != "ok":
            results[name] = {"status": "error", "error": "database unreachable"}
            continue
        try:
            check()
        except Exception as error:  # any failure means "not ready"
            reason = describe_failure(error)
            logger.warning("readiness check %s failed: %s", name, reason)
            results[name] = {"status": "error", "error": reason}
        else:
            results[name] = {"status": "ok"}
    return results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers; no database, so a database outage does not get healthy
    web processes restarted."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every check passes, else 503 naming the failed checks."""
    checks = run_checks()
    ready = all(result["status"] == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
