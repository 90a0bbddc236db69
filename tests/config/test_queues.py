"""Each kind of work has its own Celery queue, and a worker started without -Q takes them all."""

from __future__ import annotations

import pytest
from celery.apps.worker import Worker

import annotation.tasks  # noqa: F401  (registers the tasks by name)
from config.celery import app

KINDS = {
    "annotation.tasks.report_refresh": "reports",
    "annotation.tasks.reports_refresh_active": "reports",
    "annotation.tasks.snapshot_build": "snapshots",
    "annotation.tasks.snapshots_requeue_pending": "snapshots",
    "annotation.tasks.import_job_run": "imports",
    "annotation.tasks.import_jobs_requeue_pending": "imports",
    "annotation.tasks.webhook_deliver": "webhooks",
    "annotation.tasks.webhook_batch": "webhooks",
}


@pytest.mark.parametrize(("task", "queue"), KINDS.items())
def test_each_task_is_routed_to_the_queue_of_its_kind(task, queue):
    assert task in app.tasks
    assert app.amqp.router.route({}, task)["queue"].name == queue


def test_a_worker_started_without_queues_consumes_every_queue():
    worker = Worker(app=app, hostname="all@test", without_mingle=True, without_gossip=True)
    try:
        consumed = set(app.amqp.queues.consume_from or app.amqp.queues)
    finally:
        app.amqp.queues.select(None)
    assert consumed == {"celery", "reports", "snapshots", "imports", "webhooks"}
    assert worker.hostname == "all@test"


def test_a_worker_given_one_queue_consumes_only_it():
    Worker(app=app, hostname="snap@test", queues=["snapshots"], without_mingle=True)
    try:
        consumed = set(app.amqp.queues.consume_from)
    finally:
        app.amqp.queues.select(None)
    assert consumed == {"snapshots"}
