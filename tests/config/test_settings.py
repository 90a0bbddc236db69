"""Settings come from the environment; production settings pass `check --deploy`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DATABASE_URL",
            "DATABASE_REPLICA_URL",
            "DISABLE_SERVER_SIDE_CURSORS",
            "REDIS_URL",
            "DEBUG",
            "HTTPS",
            "SECRET_KEY",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        )
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_KEY = "x" * 20 + "a-long-random-production-key-0123456789"


def test_production_settings_pass_the_deploy_check():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        HTTPS="true",
        SECRET_KEY="x" * 20 + "a-long-random-production-key-0123456789",
        ALLOWED_HOSTS="prefs.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_embedded_default_uses_sqlite_and_eager_celery():
    code = (
        "from django.conf import settings;"
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER)"
    )
    result = _manage("shell", "-c", code, DEBUG="true")
    assert result.stdout.split()[-2:] == ["django_prometheus.db.backends.sqlite3", "True"], (
        result.stderr
    )


def test_database_and_redis_urls_select_the_real_stack():
    code = (
        "from django.conf import settings;"
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_TASK_ALWAYS_EAGER,"
        " settings.CELERY_BROKER_URL)"
    )
    result = _manage(
        "shell",
        "-c",
        code,
        DATABASE_URL="postgres://u:p@db.example:5432/x",
        REDIS_URL="redis://cache.example:6379/0",
        SECRET_KEY=PRODUCTION_KEY,
    )
    assert result.stdout.split()[-3:] == [
        "django_prometheus.db.backends.postgresql",
        "False",
        "redis://cache.example:6379/0",
    ], result.stderr


def test_debug_is_off_unless_asked_for():
    result = _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        SECRET_KEY=PRODUCTION_KEY,
    )
    assert result.stdout.split()[-1] == "False", result.stderr


def test_without_a_secret_key_and_debug_off_the_site_does_not_start():
    environment = {"SECRET_KEY": ""}
    result = _manage("check", **environment)
    assert result.returncode != 0
    assert "SECRET_KEY is missing or is a published example key" in result.stderr


def test_a_published_secret_key_is_refused_with_debug_off():
    for key in (
        "django-insecure-embedded-default-only-never-use-in-production-8d1f0c2a",
        "change-me-in-production-please-0123456789",
    ):
        result = _manage("check", SECRET_KEY=key, DEBUG="false")
        assert result.returncode != 0, key
        assert "published example key" in result.stderr


def test_debug_on_runs_with_the_development_key():
    result = _manage("check", DEBUG="true", SECRET_KEY="")
    assert result.returncode == 0, result.stderr


def test_the_scripts_set_debug_for_their_own_process_only():
    for script in ("scripts/demo", "scripts/test"):
        text = (ROOT / script).read_text()
        assert 'export DEBUG="${DEBUG:-true}"' in text
        assert ".env" not in text


def test_postgresql_connections_give_up_after_a_connect_timeout():
    """A database that hangs (not refusing) must not hold a request for the OS's TCP timeout:
    libpq's connect_timeout, DATABASE_CONNECT_TIMEOUT seconds (a URL's own value wins)."""
    code = (
        "from django.conf import settings;"
        "print(settings.DATABASES['default']['OPTIONS'].get('connect_timeout'))"
    )
    default = _manage(
        "shell", "-c", code, DATABASE_URL="postgres://u:p@db.example:5432/x", DEBUG="true"
    )
    chosen = _manage(
        "shell",
        "-c",
        code,
        DATABASE_URL="postgres://u:p@db.example:5432/x",
        DATABASE_CONNECT_TIMEOUT="2",
        DEBUG="true",
    )
    in_url = _manage(
        "shell",
        "-c",
        code,
        DATABASE_URL="postgres://u:p@db.example:5432/x?connect_timeout=9",
        DEBUG="true",
    )
    assert default.stdout.split()[-1:] == ["5"], default.stderr
    assert chosen.stdout.split()[-1:] == ["2"], chosen.stderr
    assert in_url.stdout.split()[-1:] == ["9"], in_url.stderr


def _databases(**env: str) -> dict:
    """settings.DATABASES and DATABASE_ROUTERS as a process started with `env` sees them."""
    code = (
        "import json; from django.conf import settings;"
        "print(json.dumps({'databases': settings.DATABASES,"
        " 'routers': settings.DATABASE_ROUTERS}, default=str))"
    )
    result = _manage("shell", "-c", code, DEBUG="true", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_without_a_replica_url_there_is_one_database_and_no_router():
    seen = _databases(DATABASE_URL="postgres://u:p@db.example:5432/x")
    assert list(seen["databases"]) == ["default"]
    assert seen["routers"] == []


def test_a_replica_url_adds_the_replica_database_and_its_router():
    seen = _databases(
        DATABASE_URL="postgres://u:p@primary.example:5432/x",
        DATABASE_REPLICA_URL="postgres://reader:p@replica.example:5433/x",
    )
    replica = seen["databases"]["replica"]
    assert (replica["HOST"], replica["PORT"], replica["USER"]) == (
        "replica.example",
        5433,
        "reader",
    )
    assert replica["ENGINE"] == seen["databases"]["default"]["ENGINE"]
    assert replica["OPTIONS"]["connect_timeout"] == 5
    # Tests read the replica through the test database's own connection.
    assert replica["TEST"]["MIRROR"] == "default"
    assert seen["routers"] == ["annotation.db.ReplicaRouter"]


def test_pgbouncer_transaction_mode_turns_server_side_cursors_off_on_every_database():
    urls = {
        "DATABASE_URL": "postgres://u:p@primary.example:6432/x",
        "DATABASE_REPLICA_URL": "postgres://u:p@replica.example:6432/x",
    }
    plain = _databases(**urls)["databases"]
    pooled = _databases(DISABLE_SERVER_SIDE_CURSORS="true", **urls)["databases"]
    assert [plain[a]["DISABLE_SERVER_SIDE_CURSORS"] for a in ("default", "replica")] == [
        False,
        False,
    ]
    assert [pooled[a]["DISABLE_SERVER_SIDE_CURSORS"] for a in ("default", "replica")] == [
        True,
        True,
    ]
