"""PostgreSQL advisory locks, keyed by two int4: a namespace (a number, or a name the server
hashes with hashtext) and an id. A session lock, not a cache key with a timeout: PostgreSQL
releases it when the session of a worker killed mid-work ends. Without PostgreSQL there are
no concurrent workers to keep apart (SQLite allows one writer), so the locks are no-ops."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from annotation.db import check_client_every_second
from annotation.pg import is_postgresql

Namespace = int | str


def int4_key(pk: int) -> int:
    """An id as the second key (an int4; two ids sharing one only wait for each other)."""
    return pk % 2**31


def _call(function: str, namespace: Namespace) -> str:
    first = "hashtext(%s)" if isinstance(namespace, str) else "%s::int4"
    return f"SELECT {function}({first}, %s::int4)"


@contextmanager
def session_lock(namespace: Namespace, pk: int) -> Iterator[bool]:
    """Hold the session lock (namespace, pk) for the block if no other session holds it;
    yields whether it was taken. The backend checks every second that its client is alive
    (a killed worker's lock ends within a second of its queries)."""
    if not is_postgresql():
        yield True
        return
    key = [namespace, int4_key(pk)]
    check_client_every_second()
    with connection.cursor() as cursor:
        cursor.execute(_call("pg_try_advisory_lock", namespace), key)
        (acquired,) = cursor.fetchone()
    if not acquired:
        yield False
        return
    try:
        yield True
    finally:
        with connection.cursor() as cursor:
            cursor.execute(_call("pg_advisory_unlock", namespace), key)


def transaction_lock(namespace: Namespace, pk: int) -> None:
    """Wait for the lock (namespace, pk) and hold it until the transaction ends."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(_call("pg_advisory_xact_lock", namespace), [namespace, int4_key(pk)])


#: PostgreSQL's SQLSTATE for a lock not granted within lock_timeout.
LOCK_NOT_AVAILABLE = "55P03"


def row_lock_wait_at_most(seconds: float) -> None:
    """For the rest of the transaction, a row lock not granted within `seconds` raises
    OperationalError (`lock_not_granted` tells it apart) rather than waiting for its holder
    for as long as the holder keeps it."""
    if is_postgresql():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)", [f"{round(seconds * 1000)}ms"]
            )


def lock_not_granted(exc: BaseException) -> bool:
    """Whether a database error is a lock that `row_lock_wait_at_most` gave up on."""
    return getattr(exc.__cause__, "sqlstate", None) == LOCK_NOT_AVAILABLE
