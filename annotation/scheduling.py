"""Where Celery work is queued: every task by its registered name, so the services and the
API never import `annotation.tasks` (which imports the services: that was an import cycle).

Each function publishes at once; a caller inside a transaction wraps it in
`transaction.on_commit` so a worker never sees uncommitted rows. The queue of each task comes
from the app's routes (settings.CELERY_TASK_ROUTES), which go by name. Without a broker (the
embedded default, CELERY_TASK_ALWAYS_EAGER) the task runs here and now, as `.delay()` would
run it, so the task modules are loaded first; with a broker nothing of the tasks is loaded.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connections

#: The module the tasks are registered from; a task's name is this plus its function name.
TASK_MODULE = "annotation.tasks"

REPORT_REFRESH = f"{TASK_MODULE}.report_refresh"
SNAPSHOT_BUILD = f"{TASK_MODULE}.snapshot_build"
IMPORT_JOB_RUN = f"{TASK_MODULE}.import_job_run"
WEBHOOK_DELIVER = f"{TASK_MODULE}.webhook_deliver"
WEBHOOK_BATCH = f"{TASK_MODULE}.webhook_batch"
ARENA_TURN_GENERATE = f"{TASK_MODULE}.arena_turn_generate"
GROUP_FIGURES_WARM = f"{TASK_MODULE}.group_figures_warm"
JUDGE_RUN = f"{TASK_MODULE}.judge_run"

#: Every task queued from here (tests check that the Celery app registers each).
TASK_NAMES = (
    REPORT_REFRESH,
    SNAPSHOT_BUILD,
    IMPORT_JOB_RUN,
    WEBHOOK_DELIVER,
    WEBHOOK_BATCH,
    ARENA_TURN_GENERATE,
    GROUP_FIGURES_WARM,
    JUDGE_RUN,
)


def _publish(name: str, args: tuple[Any, ...], **options: Any) -> None:
    """Queue task `name` with `args` and Celery publish options (countdown, retry). A signature
    by name resolves to the task when this process has it registered (so eager mode runs it),
    and is sent by name to the broker otherwise."""
    app = current_app
    if app.conf.task_always_eager and name not in app.tasks:
        # No worker: the task runs in this process. Import the tasks' module only: the
        # loader's import_default_modules would run django.setup() again through Celery's
        # Django fixup, replacing the process's logging handlers mid-request.
        importlib.import_module(TASK_MODULE)
    app.signature(name, args=args, **options).apply_async()


def schedule_report_refresh(
    project_id: int, *, force: bool = False, countdown: float | None = None, retry: bool = True
) -> None:
    """Recompute a project's report (`force`: even when nothing changed) after `countdown`
    seconds; `retry=False` publishes once, without the broker's connection retries (the vote
    path, where the Redis circuit breaker decides instead)."""
    args = (project_id, True) if force else (project_id,)
    options: dict[str, Any] = {} if retry else {"retry": False}
    if countdown is not None:
        options["countdown"] = countdown
    _publish(REPORT_REFRESH, args, **options)


def schedule_group_figures_warm(project_id: int, *, retry: bool = True) -> None:
    """Compute the figures by group asked for lately from a project's new report
    (`retry=False`: publish once, a request's path where the Redis breaker decides)."""
    _publish(GROUP_FIGURES_WARM, (project_id,), **({} if retry else {"retry": False}))


def schedule_snapshot_build(snapshot_id: int) -> None:
    """Write a pending snapshot's file and card."""
    _publish(SNAPSHOT_BUILD, (snapshot_id,))


def schedule_import_job_run(job_id: int) -> None:
    """Run a stored import job."""
    _publish(IMPORT_JOB_RUN, (job_id,))


def schedule_webhook_delivery(delivery_id: int, *, countdown: float = 0) -> None:
    """Post one recorded webhook attempt, `countdown` seconds from now."""
    _publish(WEBHOOK_DELIVER, (delivery_id,), countdown=countdown)


def schedule_webhook_batch(project_id: int, *, countdown: float) -> None:
    """Send a project's held-back judgments.batch once its minute is up."""
    _publish(WEBHOOK_BATCH, (project_id,), countdown=countdown)


def schedule_arena_turn_generate(turn_id: int) -> None:
    """Generate an arena turn's two answers. Without a broker (eager Celery) the task runs
    in a background thread of this process (ARENA_EAGER_THREAD, on by default), so the
    request that took the prompt answers at once and the page can watch the answers
    stream in; with it off, here and now."""
    if current_app.conf.task_always_eager and settings.ARENA_EAGER_THREAD:
        threading.Thread(
            target=_publish_in_thread,
            args=(ARENA_TURN_GENERATE, (turn_id,)),
            name=f"arena-turn-{turn_id}",
            daemon=True,
        ).start()
        return
    _publish(ARENA_TURN_GENERATE, (turn_id,))


def _publish_in_thread(name: str, args: tuple[Any, ...]) -> None:
    try:
        _publish(name, args)
    finally:
        connections.close_all()  # the thread's own connections


def schedule_judge_run(run_id: int) -> None:
    """Do a judge run (or what is left of it). Without a broker (eager Celery) it runs in a
    background thread of this process (JUDGE_EAGER_THREAD, on by default), so the request
    that started it answers 202 at once; with it off, here and now."""
    if current_app.conf.task_always_eager and settings.JUDGE_EAGER_THREAD:
        threading.Thread(
            target=_publish_in_thread,
            args=(JUDGE_RUN, (run_id,)),
            name=f"judge-run-{run_id}",
            daemon=True,
        ).start()
        return
    _publish(JUDGE_RUN, (run_id,))
