"""Database session settings for work that runs in Celery workers, telling an unreachable
database from a failed query, and the read replica's router (README, Running at scale)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

T = TypeVar("T")

#: The alias of the read replica (DATABASE_REPLICA_URL).
REPLICA = "replica"
_reading_replica: ContextVar[bool] = ContextVar("reading_replica", default=False)

#: PostgreSQL 14+: while it runs this session's queries, check every second that the client
#: is still connected (the setting stays for the session).
CLIENT_CHECK = "SELECT set_config('client_connection_check_interval', '1s', false)"

#: What a database that went away raises (a worker retries these; api/handlers answers 503).
TRANSIENT_DATABASE_ERRORS = (OperationalError, InterfaceError)


def check_client_every_second() -> None:
    """A worker killed while PostgreSQL runs one of its queries would keep its locks until
    the query ended (seconds to minutes), and the task delivered again (acks_late) would find
    its work locked; with this check the backend gives up within a second. Elsewhere a
    no-op."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(CLIENT_CHECK)


def database_unreachable(exception: BaseException | None) -> bool:
    """Whether `exception` means the database cannot be reached (down, restarting, the
    connection lost), not that a query was wrong: an OperationalError or InterfaceError
    raised while the connection could not be opened (so no connection is held), or after
    which the connection cannot be opened or does not answer `SELECT 1`. A lock timeout or
    a missing table on a live database stays an ordinary error: a 500, a failed report or
    snapshot. Costs a connection attempt, so only on an error path.

    A refused connection is not probed: a PostgreSQL restart refuses connections while
    "starting up" for a fraction of a second, and the probe, a moment later, found it back
    (bench/faults.py saw those requests answered 500)."""
    if not isinstance(exception, TRANSIENT_DATABASE_ERRORS):
        return False
    default = connections[DEFAULT_DB_ALIAS]
    if default.connection is None or not _answers(default):
        return True
    # A read replica that is down fails the reads sent to it: a snapshot build or a report
    # then waits for it (the task retries) rather than failing (README, Running at scale).
    return REPLICA in connections.settings and not _answers(connections[REPLICA])


def _answers(database: BaseDatabaseWrapper) -> bool:
    """Whether the database can be reached and answers on this connection."""
    try:
        database.ensure_connection()
    except DatabaseError:
        return False
    return database.is_usable()


# ---------------------------------------------------------------- the read replica


def read_alias() -> str:
    """Where this moment's reads go: the replica inside `replica_reads` when one is
    configured, otherwise default."""
    if _reading_replica.get() and REPLICA in connections.settings:
        return REPLICA
    return DEFAULT_DB_ALIAS


def read_connection() -> BaseDatabaseWrapper:
    """The connection of read_alias(), for the SQL and COPY that bypass the ORM."""
    return connections[read_alias()]


@contextmanager
def replica_reads(enabled: bool = True) -> Iterator[None]:
    """Within the block, every read (ORM and read_connection()) goes to the replica, every
    write still to default. Only for reads that may lag the primary by the replica's delay:
    exports, snapshot builds, report computations; never the vote path, leases or sync."""
    token = _reading_replica.set(enabled)
    try:
        yield
    finally:
        _reading_replica.reset(token)


def stream_from_replica(make: Callable[[], Iterator[T]]) -> Iterator[T]:
    """The stream `make` returns, each of its steps reading from the replica: a streamed
    response's generator runs in between the server's own code, which must keep reading
    from default."""
    with replica_reads():
        stream = iter(make())
    try:
        while True:
            with replica_reads():
                try:
                    chunk = next(stream)
                except StopIteration:
                    return
            yield chunk
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            with replica_reads():
                close()


def replica_holds(instance: Model) -> bool:
    """Whether the replica has replayed the commit that stored `instance` (so every commit
    before it too): a build pinned to the database as it was then may read from it. True
    without a replica."""
    if REPLICA not in connections.settings:
        return True
    return type(instance)._base_manager.using(REPLICA).filter(pk=instance.pk).exists()


class ReplicaRouter:
    """DATABASE_ROUTERS when DATABASE_REPLICA_URL is set: reads inside `replica_reads` go
    to the replica, everything else (every write, every other read) to default, so a vote,
    a lease or a sync cursor always sees what was just written."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return read_alias()

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return True  # the replica holds the same rows as default

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS  # the replica follows default's schema
