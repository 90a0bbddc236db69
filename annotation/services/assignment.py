"""Leasing tasks to annotators: which task comes next, on which side each response goes."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, pgettext

from annotation.errors import AnnotatorBlocked, LeaseExpired, PermissionDenied, ProjectNotOpen
from annotation.models import (
    Annotator,
    AnnotatorStats,
    Assignment,
    CrowdSession,
    Item,
    Project,
    Response,
    Task,
    model_pair_key,
)
from annotation.pg.rows import db_time, field_from_db, model_columns, model_from_row, model_select
from annotation.selectors.projects import projects_managed_by
from annotation.services.quotas import group_quota_admit
from annotation.services.routing import human_need_sql, routes
from annotation.services.sampling import sampling_pair_pick, sampling_record
from ops.metrics import LEASES_HANDED_OUT

MAX_LEASE_ATTEMPTS = 5


def project_not_active(project: Project) -> str:
    """Why a project that is not active gives no work (in the active language)."""
    status = {
        Project.Status.DRAFT: pgettext("project status", "draft"),
        Project.Status.PAUSED: pgettext("project status", "paused"),
        Project.Status.CLOSED: pgettext("project status", "closed"),
    }.get(project.status, project.status)
    return gettext("Project %(slug)s is %(status)s, not active.") % {
        "slug": repr(project.slug),
        "status": status,
    }


def project_check_open_for(
    *, project: Project, annotator: Annotator, check_project_block: bool = True
) -> None:
    """Raise unless this annotator may work on this project now. The vote path passes
    check_project_block=False because it reads the per-project block under its row lock."""
    if annotator.is_blocked:
        raise AnnotatorBlocked()
    if check_project_block:
        reason = (
            AnnotatorStats.objects.filter(project=project, annotator=annotator, is_blocked=True)
            .values_list("blocked_reason", flat=True)
            .first()
        )
        if reason is not None:
            raise AnnotatorBlocked.for_reason(reason)
    if project.status != Project.Status.ACTIVE:
        raise ProjectNotOpen(project_not_active(project))
    if annotator.user_id and annotator.user.is_staff:
        # Researchers work in their own projects only (previewing any they manage).
        if not projects_managed_by(user=annotator.user).filter(pk=project.pk).exists():
            raise ProjectNotOpen(gettext("Researchers annotate only in their own projects."))
        return
    if (
        project.access == Project.Access.MEMBERS
        and not project.members.filter(pk=annotator.pk).exists()
    ):
        raise ProjectNotOpen(gettext("This project is open to its members only."))
    if (
        annotator.is_crowd
        and not CrowdSession.objects.filter(project=project, annotator=annotator).exists()
    ):
        raise ProjectNotOpen(
            gettext("Please open this study from its link on your crowd platform.")
        )


@dataclass(frozen=True)
class _LeaseState:
    """What the next-task call needs to know about this annotator in this project."""

    blocked_reason: str | None  # None: not blocked here
    qualified: bool | None
    gold_judgments: int
    current_assignment_id: int | None


def _lease_state(project: Project, annotator: Annotator, now: datetime) -> _LeaseState:
    """The per-project block, quiz progress and open lease, in one round trip."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.is_blocked, s.blocked_reason, s.qualified, s.gold_judgments, "
            "(SELECT a.id FROM annotation_assignment a WHERE a.annotator_id = %s "
            "AND a.project_id = %s AND a.status = %s AND a.expires_at > %s "
            "ORDER BY a.leased_at DESC LIMIT 1) "
            "FROM (SELECT 1 AS one) AS x LEFT JOIN annotation_annotatorstats s "
            "ON s.project_id = %s AND s.annotator_id = %s",
            [
                annotator.pk,
                project.pk,
                Assignment.Status.LEASED,
                db_time(now),
                project.pk,
                annotator.pk,
            ],
        )
        is_blocked, reason, qualified, gold_judgments, current = cursor.fetchone()
    return _LeaseState(
        blocked_reason=(reason or "") if is_blocked else None,
        qualified=None if qualified is None else bool(qualified),
        gold_judgments=gold_judgments or 0,
        current_assignment_id=current,
    )


_TASK_JOINS = (
    "FROM annotation_task t "
    "JOIN annotation_item i ON i.id = t.item_id "
    "JOIN annotation_response ra ON ra.id = t.response_a_id "
    "LEFT JOIN annotation_response rb ON rb.id = t.response_b_id "
)


def _task_select() -> str:
    return ", ".join(
        [
            model_select(Task, "t"),
            model_select(Item, "i"),
            model_select(Response, "ra"),
            model_select(Response, "rb"),
        ]
    )


def _task_from_row(row: Sequence[Any]) -> Task:
    """A task with its item and responses loaded, as `select_related` would give it."""
    widths = [len(model_columns(m)) for m in (Task, Item, Response)]
    at = 0
    parts = []
    for width in [*widths, widths[2]]:
        parts.append(row[at : at + width])
        at += width
    task = model_from_row(Task, parts[0])
    task.item = model_from_row(Item, parts[1])
    task.response_a = model_from_row(Response, parts[2])
    task.response_b = model_from_row(Response, parts[3]) if task.response_b_id else None
    return task


def _assignment_loaded(assignment_id: int, project: Project) -> Assignment | None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_select(Assignment, 'a')}, {_task_select()} "
            f"{_TASK_JOINS} JOIN annotation_assignment a ON a.task_id = t.id WHERE a.id = %s",
            [assignment_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    width = len(model_columns(Assignment))
    assignment = model_from_row(Assignment, row[:width])
    assignment.task = _task_from_row(row[width:])
    assignment.task.project = assignment.project = project
    return assignment


def assignment_lease(
    *, project: Project, annotator: Annotator, now: datetime | None = None
) -> Assignment | None:
    """Lease the next task to this annotator, or None when nothing is left for them.

    A task is eligible when it still wants judgments (judgments plus unexpired leases below
    the project's k), and the annotator never judged or skipped it. Tasks closest to done
    come first, then the oldest, so tasks complete rather than all starting. Gold tasks are
    mixed in at the project's gold rate while the annotator has gold left to meet. An open
    lease is handed out again, so a reload or a second tab resumes the same task. An arena
    project's tasks are each leased to the author of its prompt when its answers are ready
    (services.arena), never from the queue: only that open lease is handed out again.
    With group quotas, a newcomer whose group is full gets GroupQuotaFull
    (services/quotas.py).
    """
    now = now or timezone.now()
    state = _lease_state(project, annotator, now)
    if state.blocked_reason is not None:
        raise AnnotatorBlocked.for_reason(state.blocked_reason)
    project_check_open_for(project=project, annotator=annotator, check_project_block=False)
    if state.current_assignment_id is not None:
        current = _assignment_loaded(state.current_assignment_id, project)
        if current is not None:
            return current
    if project.is_arena:
        return None
    if project.group_quotas:
        group_quota_admit(project=project, annotator=annotator, now=now)
    if project.max_tasks_per_annotator is not None:
        done = Assignment.objects.filter(
            project=project,
            annotator=annotator,
            status=Assignment.Status.SUBMITTED,
            task__is_gold=False,
        ).count()
        if done >= project.max_tasks_per_annotator:
            return None

    with transaction.atomic():
        assignment = None
        if project.qualification_tasks and _in_qualification(project, state):
            assignment = _lease_gold(project, annotator, now)
        if assignment is None and project.gold_rate > 0 and random.random() < project.gold_rate:
            assignment = _lease_gold(project, annotator, now)
        if assignment is None:
            # Gold alone is not work: when no regular task is left, the annotator is done.
            assignment = _lease_regular(project, annotator, now)
    if assignment is not None and project.sampling == Project.Sampling.ACTIVE:
        task = assignment.task
        if task.response_b is not None and not task.is_gold:
            sampling_record(project=project, models=(task.response_a.model, task.response_b.model))
    if assignment is not None:
        LEASES_HANDED_OUT.labels(project=project.slug).inc()
    return assignment


def _in_qualification(project: Project, state: _LeaseState) -> bool:
    """Still taking the quiz: fewer gold answers than the quiz has, and not yet judged."""
    return state.qualified is None and state.gold_judgments < project.qualification_tasks


_NOT_MINE = (
    "NOT EXISTS (SELECT 1 FROM annotation_assignment mine WHERE mine.task_id = t.id "
    "AND mine.annotator_id = %s AND (mine.status IN (%s, %s) OR mine.expires_at > %s)) "
)
_LIVE_LEASES = (
    "(SELECT count(*) FROM annotation_assignment live WHERE live.task_id = {task} "
    "AND live.status = %s AND live.expires_at > %s)"
)


def _lease_regular(project: Project, annotator: Annotator, now: datetime) -> Assignment | None:
    """Pick the queue's first open task that is not row-locked by another annotator's
    pick, then insert the lease only if the task still wants it, re-counted in that
    statement's own snapshot: a lease committed after the pick began is seen there.

    In an active project the queue is first narrowed to the tasks of the model pair that
    `sampling_pair_pick` chose (the same rules, one more condition); when none of those is
    open to this annotator, the next attempt takes the whole queue.

    When the project routes (services.routing), the tasks an LLM judge left uncertain come
    first and a task it settled wants only route_human_k judgments."""
    need, need_params = human_need_sql(project, "t")
    guard_need, _ = human_need_sql(project, "g")
    first = "t.route, " if routes(project) else ""
    at = db_time(now)
    lock = " FOR UPDATE OF t SKIP LOCKED" if _skip_locked() else ""
    passed_over: list[int] = []
    pair = (
        sampling_pair_pick(project=project) if project.sampling == Project.Sampling.ACTIVE else None
    )
    for _ in range(MAX_LEASE_ATTEMPTS):
        skip = f"AND t.id NOT IN ({', '.join(['%s'] * len(passed_over))}) " if passed_over else ""
        only_pair = "AND t.model_pair = %s " if pair is not None else ""
        pair_params = [model_pair_key(*pair)] if pair is not None else []
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {_task_select()} {_TASK_JOINS}"
                f"WHERE t.project_id = %s AND t.is_gold = %s AND t.judgment_count < {need} AND "
                f"{_NOT_MINE} AND t.judgment_count + {_LIVE_LEASES.format(task='t.id')} < {need} "
                f"{skip}{only_pair}ORDER BY {first}t.judgment_count DESC, t.id LIMIT 1{lock}",
                [
                    project.pk,
                    False,
                    *need_params,
                    annotator.pk,
                    *Assignment.FINISHED,
                    at,
                    Assignment.Status.LEASED,
                    at,
                    *need_params,
                    *passed_over,
                    *pair_params,
                ],
            )
            row = cursor.fetchone()
        if row is None and pair is not None:
            sampling_record(project=project, models=None, exhausted=pair)
            pair = None
            continue
        if row is None:
            return None
        task = _task_from_row(row)
        guard = (
            f"(SELECT judgment_count - {guard_need} FROM annotation_task g WHERE g.id = %s) + "
            f"{_LIVE_LEASES.format(task='%s')} < 0",
            [*need_params, task.pk, task.pk, Assignment.Status.LEASED, at],
        )
        assignment = _lease(task, project, annotator, now, guard)
        if assignment is not None:
            return assignment
        passed_over.append(task.pk)
    return None


def _lease_gold(project: Project, annotator: Annotator, now: datetime) -> Assignment | None:
    """The least-met gold task this annotator has not answered: a backward scan of the
    queue index, where a random order would sort every gold task on each call."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_task_select()} {_TASK_JOINS}"
            "WHERE t.project_id = %s AND t.is_gold = %s AND NOT EXISTS (SELECT 1 FROM "
            "annotation_assignment mine WHERE mine.task_id = t.id AND mine.annotator_id = %s "
            "AND mine.status IN (%s, %s)) ORDER BY t.judgment_count, t.id DESC LIMIT 1",
            [project.pk, True, annotator.pk, *Assignment.FINISHED],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return _lease(_task_from_row(row), project, annotator, now, ("1 = 1", []))


def _skip_locked() -> bool:
    return connection.features.has_select_for_update_skip_locked


def _lease(
    task: Task,
    project: Project,
    annotator: Annotator,
    now: datetime,
    guard: tuple[str, list[Any]],
) -> Assignment | None:
    """Insert the lease, or renew this annotator's expired lease on the task, in one
    statement that inserts nothing when `guard` fails.

    The side each response is shown on (the order, in a ranking) is drawn per (task,
    annotator), so a renewed lease shows the same sides as before and a page left open
    still posts the right answer.
    """
    draw = random.Random(f"{task.pk}:{annotator.pk}")
    left = None
    shown_order = None
    if project.is_ranking:
        shown_order = shown_order_draw(task=task, draw=draw)
    elif task.response_b_id is not None:
        left = task.response_a_id if draw.random() < 0.5 else task.response_b_id
    expires_at = now + timedelta(seconds=project.lease_seconds)
    condition, condition_params = guard
    order_field = Assignment._meta.get_field("shown_order")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO annotation_assignment (task_id, annotator_id, project_id, status, "
            "left_response_id, shown_order, leased_at, expires_at, finished_at, skip_reason) "
            f"SELECT %s, %s, %s, %s, %s, %s, %s, %s, NULL, '' WHERE {condition} "
            "ON CONFLICT (task_id, annotator_id) DO UPDATE SET status = excluded.status, "
            "leased_at = excluded.leased_at, expires_at = excluded.expires_at "
            "RETURNING id, left_response_id, shown_order",
            [
                task.pk,
                annotator.pk,
                project.pk,
                Assignment.Status.LEASED,
                left,
                order_field.get_db_prep_save(shown_order, connection),
                db_time(now),
                db_time(expires_at),
                *condition_params,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    task.project = project
    return Assignment(
        id=row[0],
        task=task,
        annotator=annotator,
        project=project,
        status=Assignment.Status.LEASED,
        left_response_id=row[1],
        shown_order=field_from_db(Assignment, "shown_order", row[2]),
        leased_at=now,
        expires_at=expires_at,
    )


def shown_order_draw(*, task: Task, draw: random.Random) -> list[int]:
    """A ranking task's responses (their ids) in the order one annotator sees them, labelled
    A, B, C... in that order: the item's responses shuffled by `draw`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM annotation_response WHERE item_id = %s ORDER BY position, id",
            [task.item_id],
        )
        order = [row[0] for row in cursor.fetchall()]
    draw.shuffle(order)
    return order


def assignment_skip(*, assignment: Assignment, annotator: Annotator, reason: str = "") -> None:
    """The annotator passes on this task; it goes back to the pool and never returns to them."""
    if assignment.annotator_id != annotator.pk:
        raise PermissionDenied(gettext("This assignment is not yours."))
    with transaction.atomic():
        updated = Assignment.objects.filter(
            pk=assignment.pk, status=Assignment.Status.LEASED
        ).update(
            status=Assignment.Status.SKIPPED, finished_at=timezone.now(), skip_reason=reason[:300]
        )
    if updated:
        assignment.status = Assignment.Status.SKIPPED


def assignment_renew(
    *, assignment: Assignment, annotator: Annotator, now: datetime | None = None
) -> datetime:
    """Extend a live lease by the project's `lease_seconds` from now, and answer the new
    expiry. The task page renews while it is on screen (reading is work), so a lease lapses
    only once the page has been closed or hidden that long. A lapsed or finished lease is
    not revived: its task may already be someone else's."""
    if assignment.annotator_id != annotator.pk:
        raise PermissionDenied(gettext("This assignment is not yours."))
    project = assignment.project
    if annotator.is_blocked:
        raise AnnotatorBlocked()
    if project.status != Project.Status.ACTIVE:
        raise ProjectNotOpen(project_not_active(project))
    now = now or timezone.now()
    expires_at = now + timedelta(seconds=project.lease_seconds)
    renewed = Assignment.objects.filter(
        pk=assignment.pk, status=Assignment.Status.LEASED, expires_at__gt=now
    ).update(expires_at=expires_at)
    if not renewed:
        if Assignment.objects.filter(pk=assignment.pk, status__in=Assignment.FINISHED).exists():
            raise LeaseExpired(gettext("This task is already answered or skipped."))
        raise LeaseExpired()
    assignment.expires_at = expires_at
    return expires_at
