"""Celery tasks: thin, idempotent, take ids, call one service. acks_late means a worker
killed mid-computation leaves the task queued; the last good report stays in place. The
report and snapshot tasks retry a database or Redis that went away, with bounded
exponential backoff (README "When services fail")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from annotation import scheduling
from annotation.breaker import REDIS_ERRORS
from annotation.db import TRANSIENT_DATABASE_ERRORS
from annotation.models import Project, Snapshot
from annotation.selectors.reports import projects_with_stale_reports
from annotation.services import (
    arena,
    arena_safety,
    exporting,
    group_warming,
    import_jobs,
    judge_runs,
    reports,
    webhooks,
)

#: Errors of a service that went away (the database, the broker, the Redis cache), not of
#: the work: the task is tried again after 1, 2, 4 ... up to RETRY_BACKOFF_MAX seconds.
SERVICE_ERRORS = (*TRANSIENT_DATABASE_ERRORS, *REDIS_ERRORS)
#: Retries (busy or a service away) before a task gives up: with the backoff capped at
#: RETRY_BACKOFF_MAX, at most an hour; beat queues stale reports and pending snapshots
#: again after that.
MAX_RETRIES = 60
RETRY_BACKOFF_MAX = 60
RETRYING = {
    "autoretry_for": SERVICE_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": RETRY_BACKOFF_MAX,
    "retry_jitter": True,
    "max_retries": MAX_RETRIES,
}


@contextmanager
def _retried_while_busy(task: Task, *busy: type[Exception]) -> Iterator[None]:
    """Another worker holds the same work (a lock it may hold until its session ends): try
    again after WORKER_BUSY_RETRY_SECONDS rather than give up or wait."""
    try:
        yield
    except busy as exc:
        raise task.retry(exc=exc, countdown=settings.WORKER_BUSY_RETRY_SECONDS) from exc


def _requeue(ids: list[int], schedule: Callable[[int], None]) -> int:
    """Beat: queue the work of each id again (the work is idempotent); how many."""
    for pk in ids:
        schedule(pk)
    return len(ids)


def _pending_before() -> datetime:
    """Work asked for before this and still pending was lost or never queued."""
    return timezone.now() - timedelta(seconds=settings.SNAPSHOT_REQUEUE_AFTER_SECONDS)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, **RETRYING)
def report_refresh(self: Task, project_id: int, force: bool = False) -> None:
    """Recompute a project's report (skipped when nothing changed, unless forced); a
    computation that fails is stored with its error, not retried; a database or Redis that
    went away is retried with backoff. While another worker computes it, try again shortly:
    once that one is done this finds the report fresh, unless votes came in since; a dead
    worker's turn ends within seconds."""
    with _retried_while_busy(self, reports.ReportBusy):
        reports.report_refresh(project_id=project_id, force=force)


@shared_task(acks_late=True, ignore_result=True, **RETRYING)
def group_figures_warm(project_id: int) -> None:
    """After a new report: compute the figures by group asked for lately (cached for that
    report), so the next request finds them. Safe to run twice: the second finds them cached."""
    group_warming.group_figures_warm(project_id=project_id)


@shared_task(acks_late=True, ignore_result=True)
def reports_refresh_active() -> int:
    """Beat: queue a recomputation for every active project whose report is stale."""
    return _requeue(projects_with_stale_reports(), scheduling.schedule_report_refresh)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, **RETRYING)
def snapshot_build(self: Task, snapshot_id: int) -> None:
    """Write a snapshot's file and card. Safe to run twice: the service builds only a
    pending snapshot, under a row lock, and never rewrites a ready one; while another
    worker holds it, try again shortly."""
    snapshot = Snapshot.objects.filter(pk=snapshot_id).first()
    if snapshot is None:
        return
    with _retried_while_busy(self, exporting.SnapshotBusy):
        exporting.snapshot_build(snapshot=snapshot)


@shared_task(acks_late=True, ignore_result=True)
def snapshots_requeue_pending() -> int:
    """Beat: queue again the builds of pending snapshots no worker is building (a worker
    that died mid-build, a lost message)."""
    return _requeue(exporting.snapshots_orphaned_claim(), scheduling.schedule_snapshot_build)


@shared_task(
    bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=60
)
def import_job_run(self: Task, job_id: int) -> None:
    """Run an import job. Safe to run twice: a job that has ended is left alone, and while
    another worker runs it (or a dead worker's session ends), try again shortly."""
    with _retried_while_busy(self, import_jobs.ImportJobBusy):
        import_jobs.import_job_run(job_id=job_id)


@shared_task(acks_late=True, ignore_result=True)
def import_jobs_requeue_pending() -> int:
    """Beat: queue again the runs of import jobs pending for longer than
    SNAPSHOT_REQUEUE_AFTER_SECONDS."""
    pending = import_jobs.import_jobs_pending_since(before=_pending_before())
    return _requeue(pending, scheduling.schedule_import_job_run)


@shared_task(acks_late=True, ignore_result=True, **RETRYING)
def webhook_deliver(delivery_id: int) -> None:
    """Post one webhook attempt; the service records it and queues the next on failure. A
    database or Redis that went away is retried here; an attempt taken before the error
    waits for beat (WEBHOOK_REQUEUE_AFTER_SECONDS), and the receiver may then get the event
    twice, with the same event_id."""
    webhooks.webhook_deliver(delivery_id=delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def webhooks_requeue_pending() -> int:
    """Beat: queue again the webhook attempts whose message was lost (README, Webhooks)."""
    return _requeue(webhooks.webhook_deliveries_orphaned(), scheduling.schedule_webhook_delivery)


@shared_task(acks_late=True, ignore_result=True, **RETRYING)
def webhook_batch(project_id: int) -> None:
    """judgments.batch held back by the once-a-minute limit, sent when the minute is up."""
    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        webhooks.webhook_batch_emit(project=project, hold=False)


@shared_task(acks_late=True, ignore_result=True)
def arena_turn_generate(turn_id: int) -> None:
    """Both answers of an arena turn (README, Arena); a turn already taken is left alone."""
    arena.arena_turn_generate(turn_id=turn_id)


@shared_task(acks_late=True, ignore_result=True)
def arena_prompt_admissions_prune() -> int:
    """Beat: forget the arena prompts counted for the hourly limits once out of the hour."""
    return arena_safety.arena_prompt_admissions_prune()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True, **RETRYING)
def judge_run(run_id: int) -> None:
    """Do a judge run. Safe to run twice: an ended run is left alone, finished verdicts are
    never redone; while another worker runs it this ends at once (beat queues unfinished
    runs again, so a run whose worker died is taken up)."""
    try:
        judge_runs.judge_run_execute(run_id=run_id)
    except judge_runs.JudgeRunBusy:
        return


@shared_task(acks_late=True, ignore_result=True)
def judge_runs_requeue_pending() -> int:
    """Beat: queue again the judge runs not ended that no worker is doing (a lost message,
    a worker that died), each at most once a claim window."""
    return _requeue(judge_runs.judge_runs_orphaned_claim(), scheduling.schedule_judge_run)
