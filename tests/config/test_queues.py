"""Each kind of work has its own Celery queue, and a worker started without -Q takes them all."""

from __future__ import annotations

import re
import time

import pytest
from celery.apps.worker import Worker

import annotation.tasks  # noqa: F401  (registers the tasks by name)
from config.celery import app
from tests.processes import run_python

KINDS = {
    "annotation.tasks.report_refresh": "reports",
    "annotation.tasks.reports_refresh_active": "reports",
    "annotation.tasks.group_figures_warm": "reports",
    "annotation.tasks.snapshot_build": "snapshots",
    "annotation.tasks.snapshots_requeue_pending": "snapshots",
    "annotation.tasks.import_job_run": "imports",
    "annotation.tasks.import_jobs_requeue_pending": "imports",
    "annotation.tasks.webhook_deliver": "webhooks",
    "annotation.tasks.webhook_batch": "webhooks",
    "annotation.tasks.webhooks_requeue_pending": "webhooks",
    "annotation.tasks.arena_turn_generate": "arena",
    "annotation.tasks.arena_prompt_admissions_prune": "arena",
    "annotation.tasks.judge_run": "judges",
    "annotation.tasks.judge_runs_requeue_pending": "judges",
}


@pytest.mark.parametrize(("task", "queue"), KINDS.items())
def test_each_task_is_routed_to_the_queue_of_its_kind(task, queue):
    assert task in app.tasks
    assert app.amqp.router.route({}, task)["queue"].name == queue


@pytest.fixture(autouse=True)
def _all_queues_again():
    """A worker given -Q narrows the app's queue selection for the whole process: put every
    queue back for the tests that follow."""
    yield
    app.amqp.queues.select(list(app.amqp.queues))


def test_a_worker_started_without_queues_consumes_every_queue():
    # A fresh process, as `celery -A config worker` is: nothing selected before it.
    probe = (
        "from celery.apps.worker import Worker; from config.celery import app; "
        "Worker(app=app, hostname='all@test', without_mingle=True, without_gossip=True); "
        "print(' '.join(sorted(app.amqp.queues.consume_from)))"
    )
    result = run_python("-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "arena",
        "celery",
        "imports",
        "judges",
        "reports",
        "snapshots",
        "webhooks",
    ]


def test_a_worker_given_one_queue_consumes_only_it():
    Worker(app=app, hostname="snap@test", queues=["snapshots"], without_mingle=True)
    assert set(app.amqp.queues.consume_from) == {"snapshots"}


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_snapshots_worker_leaves_statistics_to_a_worker_that_takes_every_queue(researcher):
    import redis
    from celery.contrib.testing.worker import start_worker
    from django.conf import settings

    from annotation.models import AgreementReport
    from annotation.scheduling import schedule_report_refresh
    from tests.annotation.console.test_statistics import vote_on
    from tests.factories import ProjectFactory

    project = ProjectFactory(owner=researcher, slug="queued-stats")
    vote_on(project, 4, 2)
    broker = redis.Redis.from_url(settings.REDIS_URL)
    with start_worker(
        app, pool="solo", perform_ping_check=False, shutdown_timeout=30, queues=["snapshots"]
    ):
        schedule_report_refresh(project.id, force=True)
        time.sleep(2)
        assert broker.llen("reports") >= 1
        assert not AgreementReport.objects.filter(project=project).exists()
    app.amqp.queues.select(list(app.amqp.queues))
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if AgreementReport.objects.filter(project=project).exists():
                break
            time.sleep(0.2)
    assert AgreementReport.objects.filter(project=project).exists()
    broker.close()


def _test_database_url() -> str:
    """The test database as a DATABASE_URL, for processes started by a test."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    credentials = f"{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}"
    return f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def _wait_for(condition, *, timeout: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_each_consume_only_the_queue_they_were_given(
    researcher, tmp_path, settings
):
    """`celery -A config worker -Q reports` and `-Q snapshots`, as on two machines (README,
    The real stack): a report refresh and a snapshot build queued together are each run by
    the worker of their queue, and only by it."""
    import redis

    from annotation.exports.query import export_query_from_params
    from annotation.models import AgreementReport, Snapshot
    from annotation.services.exporting import snapshot_create
    from annotation.services.reports import report_refresh_request
    from tests.annotation.console.test_statistics import vote_on
    from tests.factories import ProjectFactory
    from tests.processes import python_process

    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete("reports", "snapshots")  # nothing left over from an earlier run
    project = ProjectFactory(owner=researcher, slug="two-workers")
    vote_on(project, 4, 2)
    environment = {
        "DATABASE_URL": _test_database_url(),
        "DATABASE_REPLICA_URL": "",
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    logs = {queue: tmp_path / f"{queue}.log" for queue in ("reports", "snapshots")}

    def worker(queue: str):
        return python_process(
            "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool", "solo",
            "--hostname", f"{queue}@test", "-l", "info", "--without-mingle",
            "--without-gossip", "--without-heartbeat",
            log=logs[queue], **environment,
        )  # fmt: skip

    with worker("reports"), worker("snapshots"):
        report_refresh_request(project=project)
        snapshot = snapshot_create(
            project=project,
            query=export_query_from_params({"format": "judgments"}),
            created_by=researcher,
        )
        built = _wait_for(
            lambda: (
                Snapshot.objects.get(pk=snapshot.pk).status != Snapshot.Status.PENDING
                and AgreementReport.objects.filter(project=project).exists()
            )
        )
    logs_text = {queue: log.read_text() for queue, log in logs.items()}
    received = {
        queue: set(re.findall(r"Task annotation\.tasks\.(\w+)\[\S+\] received", text))
        for queue, text in logs_text.items()
    }
    assert built, logs_text
    assert Snapshot.objects.get(pk=snapshot.pk).status == Snapshot.Status.READY
    assert not AgreementReport.objects.filter(project=project, failed=True).exists()
    assert received == {"reports": {"report_refresh"}, "snapshots": {"snapshot_build"}}
    broker.close()
