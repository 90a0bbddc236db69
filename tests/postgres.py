"""Helpers for the PostgreSQL-only tests."""

from __future__ import annotations

import time

from django.db import connection


def wait_until_session_ended(pid: int, *, timeout: float = 5.0) -> None:
    """Wait until the server has ended the session `pid` (and so released its advisory
    locks): a closed client connection ends its session a moment later, not at once."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0 or time.monotonic() > deadline:
                return
            time.sleep(0.02)
