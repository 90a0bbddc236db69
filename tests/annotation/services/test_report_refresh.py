"""The worker's refresh: computed only when stale (or forced), never by two workers at once,
at once again after a worker died mid-computation, and never half-stored."""

from __future__ import annotations

import subprocess
import sys
import time

import psycopg
import psycopg.conninfo
import pytest
from django.db import connection

from annotation.db import CLIENT_CHECK
from annotation.models import AgreementReport, Project, TaskLabel
from annotation.selectors.reports import report_latest
from annotation.services import reports
from annotation.services.reports import ReportBusy, report_refresh
from tests.annotation.selectors.test_reports import projects_some_behind
from tests.annotation.services.test_reports import _simulate_pairwise
from tests.factories import ProjectFactory, import_items
from tests.postgres import wait_until_session_ended

pytestmark = pytest.mark.django_db


#: The lock a worker computing a project's report holds, as any session takes it.
COMPUTING_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtext('report_compute'), %s::int4)"


@pytest.fixture
def voted() -> Project:
    project = ProjectFactory()
    import_items(project, 4)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.7, "h3": 0.6})
    return project


def _lock_held_elsewhere(project: Project) -> psycopg.Connection:
    """Another worker's session holding the project's computing lock."""
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    (acquired,) = other.execute(COMPUTING_LOCK_SQL, [project.pk]).fetchone()
    assert acquired
    return other


def test_a_fresh_report_is_recomputed_only_when_forced(voted):
    first = report_refresh(project_id=voted.pk)
    assert first is not None
    assert report_refresh(project_id=voted.pk) is None
    forced = report_refresh(project_id=voted.pk, force=True)
    assert forced is not None and forced.pk != first.pk
    assert AgreementReport.objects.filter(project=voted).count() == 2


def test_a_deleted_project_is_skipped():
    assert report_refresh(project_id=987654) is None


@pytest.mark.postgres
def test_a_report_another_worker_is_computing_is_not_computed_twice(voted):
    other = _lock_held_elsewhere(voted)
    try:
        with pytest.raises(ReportBusy):
            report_refresh(project_id=voted.pk)
        assert report_latest(project=voted) is None
    finally:
        other.close()


def test_the_task_tries_again_shortly_while_another_worker_computes(voted, monkeypatch, settings):
    from annotation.tasks import report_refresh as report_refresh_task

    def busy(**kwargs):
        raise ReportBusy("computing")

    retried = []

    def retry(**kwargs):
        retried.append(kwargs)
        return RuntimeError("retry")

    monkeypatch.setattr(reports, "report_refresh", busy)
    monkeypatch.setattr(report_refresh_task, "retry", retry)
    with pytest.raises(RuntimeError, match="retry"):
        report_refresh_task(voted.pk)
    assert retried[0]["countdown"] == settings.WORKER_BUSY_RETRY_SECONDS


@pytest.mark.postgres
def test_a_worker_killed_mid_computation_does_not_hold_up_the_redelivered_task(voted):
    # The dying worker's connection closes and takes its lock with it: the task, delivered
    # again (acks_late), computes as soon as that session has ended (PostgreSQL ends it
    # a moment after the client goes away).
    other = _lock_held_elsewhere(voted)
    pid = other.info.backend_pid
    other.close()
    wait_until_session_ended(pid)
    assert report_refresh(project_id=voted.pk) is not None
    # And the lock is free again for the next refresh.
    assert report_refresh(project_id=voted.pk, force=True) is not None


DYING_WORKER = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(sys.argv[2])
    assert conn.execute(sys.argv[3], [int(sys.argv[4])]).fetchone()[0]
    print("locked", flush=True)
    conn.execute("SELECT pg_sleep(60)")  # a long query, killed half-way
"""


@pytest.mark.postgres
def test_a_worker_killed_during_a_long_query_frees_the_project_within_seconds(voted):
    """Killed while PostgreSQL runs its query, a worker's backend would keep the lock until
    the query ended; it checks for its client every second instead."""
    params = connection.get_connection_params()
    dsn = psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in ("host", "port", "dbname", "user", "password")}
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DYING_WORKER,
            dsn,
            CLIENT_CHECK,
            COMPUTING_LOCK_SQL,
            str(voted.pk),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline().strip() == "locked"
        with pytest.raises(ReportBusy):
            report_refresh(project_id=voted.pk)
    finally:
        worker.kill()
        worker.wait()
    deadline = time.monotonic() + 10
    while True:
        try:
            assert report_refresh(project_id=voted.pk) is not None
            break
        except ReportBusy:
            assert time.monotonic() < deadline, "the dead worker's lock outlived it"
            time.sleep(0.2)


def test_a_computation_that_fails_half_way_leaves_the_last_good_report(voted, monkeypatch):
    good = report_refresh(project_id=voted.pk)
    labels = sorted(TaskLabel.objects.values_list("task_id", "majority", "n_judgments"))
    _simulate_pairwise(voted, annotators={"h4": 0.0})  # a new annotator who is always wrong

    def dies(*args, **kwargs):
        raise MemoryError("worker ran out of memory")

    monkeypatch.setattr(reports, "_per_annotator", dies)  # after the labels are written
    failed = report_refresh(project_id=voted.pk)
    assert failed.failed and failed.error == "MemoryError: worker ran out of memory"
    assert report_latest(project=voted).pk == good.pk
    assert sorted(TaskLabel.objects.values_list("task_id", "majority", "n_judgments")) == labels
    monkeypatch.undo()
    # The failure covers those judgments: tried again when forced (or when votes arrive).
    assert report_refresh(project_id=voted.pk) is None
    assert report_refresh(project_id=voted.pk, force=True).n_judgments == good.n_judgments + 4


def test_beat_queues_each_active_project_whose_report_is_behind(voted, published):
    from annotation.scheduling import REPORT_REFRESH
    from annotation.tasks import reports_refresh_active

    behind = projects_some_behind()
    assert reports_refresh_active() == 2
    assert sorted(call["args"] for call in published) == sorted([[voted.pk], [behind.pk]])
    assert {call["task"] for call in published} == {REPORT_REFRESH}
