"""`manage.py check_install`: the settings that matter and the services the site needs, on
one screen, so an operator sees what is wrong before users do."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from ops.health import check_database, check_migrations, check_redis, describe_failure

Status = Literal["ok", "warn", "error"]


@dataclass(frozen=True)
class Finding:
    name: str
    status: Status
    detail: str


def media_root_writable(media_root: Path) -> str | None:
    """None when a file can be created in MEDIA_ROOT (made if missing), else the reason."""
    try:
        media_root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=media_root, prefix=".check_install-"):
            pass
    except OSError as error:
        return f"{type(error).__name__}: {error.strerror or error}"
    return None


def _service(name: str, check) -> Finding:
    try:
        check()
    except Exception as error:  # any failure is the finding itself
        return Finding(name, "error", describe_failure(error))
    return Finding(name, "ok", "reachable" if name != "migrations" else "all applied")


def _secret_key_finding() -> Finding:
    """A published key lets anyone forge sessions: tolerated only for a local DEBUG demo."""
    if settings.SECRET_KEY not in settings.PUBLIC_SECRET_KEYS:
        return Finding("SECRET_KEY", "ok", "set, not a published one")
    if settings.DEBUG:
        return Finding("SECRET_KEY", "warn", "the published demo key: local use with DEBUG only")
    return Finding("SECRET_KEY", "error", "a published example key: anyone can forge sessions")


def install_findings() -> list[Finding]:
    """Every check, in screen order. `error` makes the command fail; `warn` is shown only."""
    engine = connections[DEFAULT_DB_ALIAS].settings_dict["ENGINE"].rsplit(".", 1)[-1]
    production = not settings.DEBUG
    findings = [
        Finding(
            "DEBUG",
            "warn" if settings.DEBUG else "ok",
            "on: tracebacks are shown to visitors, development only" if settings.DEBUG else "off",
        ),
        _secret_key_finding(),
        Finding(
            "database engine",
            "warn" if engine == "sqlite3" and production else "ok",
            engine
            + (
                ": one writer at a time, use PostgreSQL in production"
                if engine == "sqlite3"
                else ""
            ),
        ),
        Finding(
            "REDIS_URL",
            "warn" if not settings.REDIS_URL and production else "ok",
            "set" if settings.REDIS_URL else "not set: in-process cache, no shared throttles",
        ),
        Finding(
            "Celery",
            "warn" if settings.CELERY_TASK_ALWAYS_EAGER and production else "ok",
            "eager: tasks run inside the web request"
            if settings.CELERY_TASK_ALWAYS_EAGER
            else "queued to workers",
        ),
    ]
    media_root = Path(settings.MEDIA_ROOT)
    media_problem = media_root_writable(media_root)
    findings.append(
        Finding(
            "MEDIA_ROOT",
            "error" if media_problem else "ok",
            f"{media_root}: {media_problem or 'writable'}",
        )
    )
    database = _service("database", check_database)
    findings.append(database)
    if database.status == "ok":
        findings.append(_service("migrations", check_migrations))
    else:
        findings.append(Finding("migrations", "error", "not checked: database unreachable"))
    if settings.REDIS_URL:
        findings.append(_service("redis", check_redis))
    return findings


def render(findings: list[Finding]) -> str:
    width = max(len(finding.name) for finding in findings)
    marks = {"ok": "ok   ", "warn": "WARN ", "error": "ERROR"}
    lines = [f"{marks[f.status]} {f.name.ljust(width)}  {f.detail}" for f in findings]
    errors = sum(f.status == "error" for f in findings)
    lines.append(f"{errors} problem(s)" if errors else "no problems found")
    return os.linesep.join(lines)
