"""Database session settings for work that runs in Celery workers."""

from __future__ import annotations

from django.db import connection

#: PostgreSQL 14+: while it runs this session's queries, check every second that the client
#: is still connected (the setting stays for the session).
CLIENT_CHECK = "SELECT set_config('client_connection_check_interval', '1s', false)"


def check_client_every_second() -> None:
    """A worker killed while PostgreSQL runs one of its queries would keep its locks until
    the query ended (seconds to minutes), and the task delivered again (acks_late) would find
    its work locked; with this check the backend gives up within a second. Elsewhere a
    no-op."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(CLIENT_CHECK)
