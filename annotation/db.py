"""Database session settings for work that runs in Celery workers, and telling an
unreachable database from a failed query."""

from __future__ import annotations

from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
)

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
    if default.connection is None:
        return True
    try:
        default.ensure_connection()
    except DatabaseError:
        return True
    return not default.is_usable()
