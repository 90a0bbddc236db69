"""Each kind of work has its own Celery queue, and a worker started without -Q takes them all."""

from __future__ import annotations

import time

import pytest
from celery.apps.worker import Worker

import annotation.tasks  # noqa: F401  (registers the tasks by name)
from config.celery import app
from tests.processes import run_python

KINDS = {
    "annotation.tasks.report_refresh": "reports",
    "annotation.tasks.reports_refresh_active": "reports",
    "annotation.tasks.snapshot_build": "snapshots",
    "annotation.tasks.snapshots_requeue_pending": "snapshots",
    "annotation.tasks.import_job_run": "imports",
    "annotation.tasks.import_jobs_requeue_pending": "imports",
    "annotation.tasks.webhook_deliver": "webhooks",
    "annotation.tasks.webhook_batch": "webhooks",
    "annotation.tasks.webhooks_requeue_pending": "webhooks",
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
    assert result.stdout.split() == ["celery", "imports", "reports", "snapshots", "webhooks"]


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
