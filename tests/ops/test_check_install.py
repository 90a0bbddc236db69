"""`manage.py check_install` shows what matters on one screen and fails when something is wrong."""

from __future__ import annotations

import subprocess
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.processes import run_python

pytestmark = pytest.mark.django_db

A_REAL_KEY = "x7Jq-long-random-key-used-only-by-these-tests-4d2f9a0b8c7e6d5f4a3b"


def _run(**overrides) -> tuple[str, bool]:
    """The screen and whether the command failed."""
    out = StringIO()
    with override_settings(**overrides):
        try:
            call_command("check_install", stdout=out)
        except CommandError:
            return out.getvalue(), True
    return out.getvalue(), False


def _line(screen: str, name: str) -> str:
    """The line of one check: its status mark, then the name padded to the widest."""
    return next(line for line in screen.splitlines() if line[6:].startswith(name + "  "))


def test_a_sound_installation_passes_and_shows_every_setting(tmp_path):
    screen, failed = _run(SECRET_KEY=A_REAL_KEY, MEDIA_ROOT=str(tmp_path / "media"), REDIS_URL="")
    assert not failed, screen
    for name in ("DEBUG", "SECRET_KEY", "database", "REDIS_URL", "Celery", "MEDIA_ROOT"):
        assert _line(screen, name)
    assert _line(screen, "migrations").startswith("ok")
    assert _line(screen, "database").startswith("ok")
    assert (tmp_path / "media").is_dir()
    assert screen.rstrip().endswith("no problems found")


def test_a_published_secret_key_fails_when_debug_is_off(tmp_path):
    screen, failed = _run(
        DEBUG=False,
        SECRET_KEY="change-me-in-production-please-0123456789",
        MEDIA_ROOT=str(tmp_path),
    )
    assert failed
    assert _line(screen, "SECRET_KEY").startswith("ERROR")


def test_a_media_root_that_cannot_be_written_fails(tmp_path):
    blocker = tmp_path / "media"
    blocker.write_text("a file where the folder should be")
    screen, failed = _run(SECRET_KEY=A_REAL_KEY, MEDIA_ROOT=str(blocker / "snapshots"))
    assert failed
    assert _line(screen, "MEDIA_ROOT").startswith("ERROR")


def test_an_unreachable_redis_fails(tmp_path):
    screen, failed = _run(
        SECRET_KEY=A_REAL_KEY, MEDIA_ROOT=str(tmp_path), REDIS_URL="redis://127.0.0.1:1/13"
    )
    assert failed
    assert _line(screen, "redis").startswith("ERROR")
    assert "1 problem(s)" in screen


def test_without_redis_in_production_tasks_run_eagerly_and_it_is_flagged(tmp_path):
    screen, failed = _run(
        DEBUG=False,
        SECRET_KEY=A_REAL_KEY,
        MEDIA_ROOT=str(tmp_path),
        REDIS_URL="",
        CELERY_TASK_ALWAYS_EAGER=True,
    )
    assert not failed, screen
    assert _line(screen, "Celery").startswith("WARN")
    assert "eager" in _line(screen, "Celery")
    assert _line(screen, "REDIS_URL").startswith("WARN")


def _command(tmp_path, database_url: str) -> subprocess.CompletedProcess:
    """check_install in its own process, as an operator runs it, against another database."""
    return run_python(
        "manage.py",
        "check_install",
        DATABASE_URL=database_url,
        REDIS_URL="",
        MEDIA_ROOT=str(tmp_path / "media"),
    )


def test_a_database_not_yet_migrated_fails_and_names_the_pending_migrations(tmp_path):
    result = _command(tmp_path, f"sqlite:///{tmp_path / 'new.sqlite3'}")
    assert result.returncode == 1, result.stdout + result.stderr
    assert _line(result.stdout, "database").startswith("ok")
    migrations = _line(result.stdout, "migrations")
    assert migrations.startswith("ERROR") and "pending: contenttypes.0001_initial" in migrations


def test_an_unreachable_database_fails(tmp_path):
    result = _command(tmp_path, "postgres://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 1, result.stdout + result.stderr
    assert _line(result.stdout, "database").startswith("ERROR")
    assert "not checked: database unreachable" in _line(result.stdout, "migrations")
