"""Helpers for the PostgreSQL-only tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection, connections


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


def race(work: Callable[[Any], None], arguments: Sequence[Any], *, timeout: float = 120) -> list:
    """Run `work(argument)` for every argument at the same moment, each in a thread with its
    own database connection (released at its end); the exceptions they raised."""
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(arguments))

    def run(argument: Any) -> None:
        try:
            barrier.wait()
            work(argument)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(argument,)) for argument in arguments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return failures
