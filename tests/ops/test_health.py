"""/healthz answers while the process runs; /readyz names each check and is 503 when one fails."""

from __future__ import annotations

import os
from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_the_database(client: Client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_while_the_database_is_down(client: Client):
    with mock.patch.object(CursorWrapper, "execute", side_effect=OperationalError("down")):
        response = client.get("/healthz")
    assert response.status_code == 200


def test_readyz_is_ready_on_a_migrated_database(client: Client, settings):
    settings.REDIS_URL = ""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": {"status": "ok"}, "migrations": {"status": "ok"}},
    }


def test_readyz_is_503_naming_a_pending_migration(client: Client, settings):
    settings.REDIS_URL = ""
    real_plan = MigrationExecutor.migration_plan

    def plan_with_one_pending(self, targets, clean_start=False):
        assert real_plan(self, targets, clean_start) == []
        migration = self.loader.graph.nodes[("annotation", "0001_initial")]
        return [(migration, False)]

    with mock.patch.object(MigrationExecutor, "migration_plan", plan_with_one_pending):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["migrations"] == {
        "status": "error",
        "error": "1 pending: annotation.0001_initial",
    }


def test_readyz_is_503_naming_the_database_when_it_is_unreachable(client: Client, settings):
    settings.REDIS_URL = ""
    refused = OperationalError("connection refused")
    with mock.patch.object(CursorWrapper, "execute", side_effect=refused):
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {
        "status": "error",
        "error": "OperationalError: connection refused",
    }
    assert checks["migrations"]["status"] == "error"


def test_readyz_leaves_redis_out_when_it_is_not_configured(client: Client, settings):
    settings.REDIS_URL = ""
    assert "redis" not in client.get("/readyz").json()["checks"]


def test_readyz_is_503_naming_redis_when_the_configured_redis_refuses(client: Client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"]["status"] == "error"
    assert "ConnectionError" in checks["redis"]["error"]
    assert checks["database"] == {"status": "ok"}


@pytest.mark.redis
def test_readyz_checks_the_configured_redis(client: Client, settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == {"status": "ok"}


def test_probes_are_not_redirected_to_https(client: Client, settings):
    """A load balancer probes the process over plain HTTP even when the site is HTTPS-only."""
    settings.SECURE_SSL_REDIRECT = True
    settings.REDIS_URL = ""
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/annotate/").status_code == 301
