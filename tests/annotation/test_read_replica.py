"""The read replica (README, Running at scale): exports, snapshot builds and report
computations read from it; writes, the vote path and sync stay on default.

The replica here is a second PostgreSQL database, migrated and then loaded with a copy of
default's rows, after which the two are made to differ: what a read returns shows which
database it went to."""

from __future__ import annotations

import copy
import csv
import io
import json
import socket
from collections.abc import Iterator

import psycopg
import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections
from django.test import override_settings

from annotation.db import (
    REPLICA,
    database_unreachable,
    read_alias,
    replica_reads,
    stream_from_replica,
)
from annotation.exports.query import export_query_from_params
from annotation.models import AgreementReport, Judgment, Project, Snapshot
from annotation.services.assignment import assignment_lease
from annotation.services.exporting import snapshot_build, snapshot_create
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute_or_record, report_is_stale
from tests.factories import ProjectFactory, import_items, make_annotator

# Each test's rows on both databases are rolled back at its end.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases=[DEFAULT_DB_ALIAS, REPLICA])]

EXPORT = "/api/v1/projects/mirrored/export/"


@pytest.fixture(scope="module")
def replica_database(django_db_setup, django_db_blocker) -> Iterator[str]:
    """A second database with default's schema, configured as the `replica` alias."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")
        name = f"{connection.settings_dict['NAME']}_replica"
        server = {**connection.get_connection_params(), "dbname": "postgres"}
        with psycopg.connect(**server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        before = connections.settings.get(REPLICA)
        entry = copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS])
        entry["NAME"] = name
        entry["TEST"] = {**entry["TEST"], "MIRROR": None, "NAME": name}
        connections.settings[REPLICA] = entry
        own = getattr(connections._connections, REPLICA, None)
        connections[REPLICA] = connections.create_connection(REPLICA)
        with override_settings(DATABASE_ROUTERS=[]):
            call_command("migrate", database=REPLICA, verbosity=0, interactive=False)
        yield name
        connections[REPLICA].close()
        del connections[REPLICA]
        if own is not None:
            connections[REPLICA] = own
        if before is None:
            del connections.settings[REPLICA]
        else:
            connections.settings[REPLICA] = before
        with psycopg.connect(**server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Replica:
    """The second database, as a test loads and changes it."""

    def __init__(self) -> None:
        self.connection = connections[REPLICA]

    def tables(self) -> list[str]:
        return [
            table
            for table in connection.introspection.table_names()
            if table != "django_migrations"
        ]

    def clear(self) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {', '.join(self.tables())} CASCADE")

    def copy_default(self) -> None:
        """Every row default holds now (the test's own, uncommitted ones too), as a replica
        would have replayed them."""
        self.clear()
        with connection.cursor() as source, self.connection.cursor() as target:
            target.execute("SET session_replication_role = replica")  # rows in any order
            for table in self.tables():
                with (
                    source.cursor.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as out,
                    target.cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as into,
                ):
                    for block in out:
                        into.write(block)
            target.execute("SET session_replication_role = DEFAULT")

    def execute(self, sql: str, params: list | None = None) -> list[tuple]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []


@pytest.fixture
def replica(replica_database, settings) -> Replica:
    settings.DATABASE_ROUTERS = ["annotation.db.ReplicaRouter"]
    return Replica()


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(owner=researcher, slug="mirrored", annotations_per_task=3)
    import_items(project, 3)
    rows = [
        {"annotator": f"h{n}", "item": f"q{i}", "a": "r1", "b": "r2", "choice": "a"}
        for i in range(3)
        for n in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _diverge(replica: Replica) -> None:
    """The replica's copy of the data says so in every prompt and rationale."""
    replica.execute("""UPDATE annotation_item SET prompt = '"Asked on the replica"'""")
    replica.execute("UPDATE annotation_judgment SET rationale = 'read on the replica'")


def _vote_on_default(project: Project, choice: str = "right") -> Judgment:
    annotator = make_annotator()
    assignment = assignment_lease(project=project, annotator=annotator)
    return judgment_submit(assignment=assignment, annotator=annotator, choice=choice)


def _jsonl(response) -> list[dict]:
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_reads_go_to_the_replica_only_inside_replica_reads(replica):
    assert read_alias() == DEFAULT_DB_ALIAS
    with replica_reads():
        assert read_alias() == REPLICA
    assert read_alias() == DEFAULT_DB_ALIAS


def test_a_judgments_export_read_through_copy_comes_from_the_replica(
    replica, project, researcher_client
):
    replica.copy_default()
    _diverge(replica)
    _vote_on_default(project)  # stored on default after the replica's copy

    rows = _jsonl(researcher_client.get(EXPORT, {"format": "judgments"}))

    assert len(rows) == 6 == Judgment.objects.filter(project=project).count() - 1
    assert {row["rationale"] for row in rows} == {"read on the replica"}


@pytest.mark.parametrize(
    ("export_format", "filetype"), [("dpo", "jsonl"), ("items", "csv"), ("judgments", "csv")]
)
def test_every_export_reader_reads_the_replica(
    replica, project, researcher_client, export_format, filetype
):
    replica.copy_default()
    _diverge(replica)

    response = researcher_client.get(EXPORT, {"format": export_format, "filetype": filetype})

    text = b"".join(response.streaming_content).decode()
    assert response.status_code == 200
    rows = (
        list(csv.DictReader(io.StringIO(text)))
        if filetype == "csv"
        else [json.loads(line) for line in text.splitlines()]
    )
    assert len(rows) == 3 if export_format != "judgments" else 6
    field = "rationale" if export_format == "judgments" else "prompt"
    assert {row[field] for row in rows} == (
        {"read on the replica"} if field == "rationale" else {"Asked on the replica"}
    )


def test_the_stream_reads_the_replica_only_while_it_makes_its_chunks(replica):
    def chunks() -> Iterator[str]:
        yield read_alias()
        yield read_alias()

    seen = []
    for chunk in stream_from_replica(chunks):
        seen.append((chunk, read_alias()))

    assert seen == [(REPLICA, DEFAULT_DB_ALIAS), (REPLICA, DEFAULT_DB_ALIAS)]


def test_a_snapshot_is_built_from_the_replica_and_marked_ready_on_default(replica, project):
    snapshot = snapshot_create(
        project=project, query=export_query_from_params({"format": "judgments"}), created_by=None
    )
    replica.copy_default()
    _diverge(replica)

    built = snapshot_build(snapshot=snapshot)

    assert built.status == Snapshot.Status.READY
    with built.file.open("rb") as handle:
        rows = [json.loads(line) for line in handle]
    assert {row["rationale"] for row in rows} == {"read on the replica"}
    assert replica.execute("SELECT status FROM annotation_snapshot") == [("pending",)]


def test_a_snapshot_the_replica_has_not_caught_up_with_is_built_from_default(replica, project):
    replica.copy_default()
    _diverge(replica)
    snapshot = snapshot_create(  # committed after the replica's copy: not replayed there yet
        project=project, query=export_query_from_params({"format": "judgments"}), created_by=None
    )

    built = snapshot_build(snapshot=snapshot)

    with built.file.open("rb") as handle:
        rows = [json.loads(line) for line in handle]
    assert len(rows) == 6
    assert {row["rationale"] for row in rows} == {""}


def test_a_report_is_computed_from_the_replica_and_stored_on_default(replica, project):
    replica.copy_default()
    newest_on_replica = Judgment.objects.filter(project=project).order_by("-pk").first().pk
    _vote_on_default(project)

    report = report_compute_or_record(project=project, n_boot=20)

    assert not report.failed
    assert (report.n_judgments, report.last_judgment_id) == (6, newest_on_replica)
    assert AgreementReport.objects.filter(pk=report.pk).exists()
    assert replica.execute("SELECT count(*) FROM annotation_agreementreport") == [(0,)]
    # The vote the replica had not replayed makes the report stale: the next refresh has it.
    assert report_is_stale(project=project, report=report)


def test_votes_leases_and_sync_read_default_while_the_replica_is_empty(
    replica, project, researcher_client
):
    judgment = _vote_on_default(project, choice="left")

    synced = researcher_client.get("/api/v1/projects/mirrored/judgments/").json()["results"]
    exported = _jsonl(researcher_client.get(EXPORT, {"format": "judgments"}))

    assert judgment.pk in [row["id"] for row in synced]
    assert len(synced) == 7
    assert exported == []  # the export did read the (empty) replica


@pytest.fixture
def replica_down(replica) -> Iterator[None]:
    """The replica alias pointed at a port where nothing listens, as when the replica is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    entry = copy.deepcopy(connections.settings[REPLICA])
    entry.update(HOST="127.0.0.1", PORT=closed_port)
    own = connections[REPLICA]
    connections[REPLICA] = type(own)(entry, REPLICA)
    yield
    connections[REPLICA] = own


def test_a_snapshot_build_that_cannot_reach_the_replica_stays_pending_for_a_retry(
    replica_down, project
):
    snapshot = snapshot_create(
        project=project, query=export_query_from_params({"format": "judgments"}), created_by=None
    )

    with pytest.raises(OperationalError):
        snapshot_build(snapshot=snapshot)  # the task retries it with backoff

    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.PENDING
    assert database_unreachable(OperationalError("connection refused"))
