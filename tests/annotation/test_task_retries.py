"""The report and snapshot tasks retry a database that went away, with bounded exponential
backoff, instead of dropping the work (README "When services fail"). Celery runs them here
with `apply()`, which runs a retry at once, in-process, as a worker would after the wait."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from celery.signals import task_retry
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

from annotation import tasks
from annotation.exports.query import export_query_from_params
from annotation.models import AgreementReport, Project, Snapshot
from annotation.services import exporting, reports
from annotation.services.exporting import snapshot_create
from config.celery import app as celery_app
from tests.factories import voted_project


class Outage:
    """The database refusing connections while `down`; it comes back when a task is put
    off for a retry (Celery's task_retry signal), and `retries` keeps each wait asked for."""

    def __init__(self) -> None:
        self.down = False
        self.retries: list[float] = []
        self.comes_back = True

    def on_retry(self, sender=None, reason=None, **kwargs) -> None:
        self.retries.append(reason.when)
        if self.comes_back:
            self.down = False
            # After a real outage the old session is gone and the retry connects afresh. The
            # mocked one is still open, and Django left it with autocommit off (it could not
            # turn it back on while "down"), so each later transaction would join one that is
            # never committed: end it as the outage would have.
            default = connections[DEFAULT_DB_ALIAS]
            if not default.in_atomic_block and not default.get_autocommit():
                default.close()

    def strikes_during(self, work: Callable[..., Any]) -> Callable[..., Any]:
        """`work` that, the first time, loses the database halfway and raises."""

        def interrupted(**kwargs: Any) -> Any:
            if not self.retries:
                self.down = True
                raise OperationalError("server closed the connection unexpectedly")
            return work(**kwargs)

        return interrupted


@pytest.fixture(autouse=True)
def _retries_run_in_process(monkeypatch) -> None:
    """As in a worker, a retry is a result, not an error raised at the caller."""
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", False)


@pytest.fixture
def outage() -> Iterator[Outage]:
    state = Outage()
    default = connections[DEFAULT_DB_ALIAS]
    really_connect = default.ensure_connection

    def ensure_connection() -> None:
        if state.down:
            raise OperationalError("connection failed: server closed the connection")
        really_connect()

    task_retry.connect(state.on_retry, weak=False)
    with mock.patch.object(default, "ensure_connection", side_effect=ensure_connection):
        yield state
    task_retry.disconnect(state.on_retry)


@pytest.fixture
def voted(db) -> Project:
    return voted_project()


@pytest.mark.django_db
def test_a_report_refresh_that_meets_the_database_down_is_retried_and_succeeds(voted, outage):
    outage.down = True

    tasks.report_refresh.apply(args=[voted.pk]).get()

    assert len(outage.retries) == 1
    assert AgreementReport.objects.filter(project=voted, failed=False).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_database_lost_mid_computation_is_retried_not_stored_as_a_failed_report(
    voted, outage, monkeypatch
):
    monkeypatch.setattr(reports, "report_compute", outage.strikes_during(reports.report_compute))

    tasks.report_refresh.apply(args=[voted.pk]).get()

    assert len(outage.retries) == 1
    assert list(AgreementReport.objects.filter(project=voted).values_list("failed", flat=True)) == [
        False
    ]


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_build_that_loses_the_database_stays_pending_and_is_retried(
    settings, tmp_path, voted, outage, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setattr(exporting, "dataset_card", outage.strikes_during(exporting.dataset_card))
    snapshot = snapshot_create(
        project=voted,
        query=export_query_from_params({"format": "judgments"}, strict=True),
        created_by=None,
    )

    tasks.snapshot_build.apply(args=[snapshot.pk]).get()

    snapshot.refresh_from_db()
    assert len(outage.retries) == 1
    assert snapshot.status == Snapshot.Status.READY
    files = [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
    assert [p.name for p in files] == [Path(snapshot.file.name).name]


@pytest.mark.django_db
def test_a_database_that_stays_down_is_retried_a_bounded_number_of_times(voted, outage):
    outage.down = True
    outage.comes_back = False

    with pytest.raises(OperationalError):
        tasks.report_refresh.apply(args=[voted.pk]).get()

    outage.down = False
    assert len(outage.retries) == tasks.MAX_RETRIES
    assert all(0 <= wait <= tasks.RETRY_BACKOFF_MAX for wait in outage.retries)
