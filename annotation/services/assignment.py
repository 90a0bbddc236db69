"""Leasing tasks to annotators: which task comes next, on which side each response goes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.errors import AnnotatorBlocked, PermissionDenied, ProjectNotOpen
from annotation.models import Annotator, AnnotatorStats, Assignment, Project, Task

MAX_LEASE_ATTEMPTS = 5


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
            raise AnnotatorBlocked(reason or None)
    if project.status != Project.Status.ACTIVE:
        raise ProjectNotOpen(f"Project {project.slug!r} is {project.status}, not active.")
    if (
        project.access == Project.Access.MEMBERS
        and not (annotator.user_id and annotator.user.is_staff)
        and not project.members.filter(pk=annotator.pk).exists()
    ):
        raise ProjectNotOpen("This project is open to its members only.")


def _active_leases(now: datetime) -> Subquery:
    return Coalesce(
        Subquery(
            Assignment.objects.filter(
                task=OuterRef("pk"), status=Assignment.Status.LEASED, expires_at__gt=now
            )
            .order_by()
            .values("task")
            .annotate(n=Count("pk"))
            .values("n")[:1]
        ),
        Value(0),
    )


def _lock(queryset):
    """Row-lock the chosen task so two annotators never take its last slot at once."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def assignment_current(*, project: Project, annotator: Annotator) -> Assignment | None:
    """The annotator's open, unexpired lease in this project, so a reload or a second tab
    resumes the same task rather than taking another."""
    return (
        Assignment.objects.select_related("task__item", "task__response_a", "task__response_b")
        .filter(
            project=project,
            annotator=annotator,
            status=Assignment.Status.LEASED,
            expires_at__gt=timezone.now(),
        )
        .order_by("-leased_at")
        .first()
    )


def assignment_lease(
    *, project: Project, annotator: Annotator, now: datetime | None = None
) -> Assignment | None:
    """Lease the next task to this annotator, or None when nothing is left for them.

    A task is eligible when it still wants judgments (judgments plus unexpired leases below
    the project's k), and the annotator never judged or skipped it. Tasks closest to done
    come first, then the oldest, so tasks complete rather than all starting. Gold tasks are
    mixed in at the project's gold rate while the annotator has gold left to meet.
    """
    project_check_open_for(project=project, annotator=annotator)
    current = assignment_current(project=project, annotator=annotator)
    if current is not None:
        return current
    now = now or timezone.now()
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
        task = None
        if project.qualification_tasks and _in_qualification(project, annotator):
            task = _next_gold_task(project, annotator)
        if task is None and project.gold_rate > 0 and random.random() < project.gold_rate:
            task = _next_gold_task(project, annotator)
        if task is None:
            task = _next_regular_task(project, annotator, now)
        if task is None:
            # Gold alone is not work: when no regular task is left, the annotator is done.
            return None
        task.project = project
        return _lease(task, annotator, now)


def _in_qualification(project: Project, annotator: Annotator) -> bool:
    """Still taking the quiz: fewer gold answers than the quiz has, and not yet judged."""
    stats = (
        AnnotatorStats.objects.filter(project=project, annotator=annotator)
        .values_list("qualified", "gold_judgments")
        .first()
    )
    if stats is None:
        return True
    qualified, gold_judgments = stats
    return qualified is None and gold_judgments < project.qualification_tasks


def _finished_task_ids(project: Project, annotator: Annotator):
    return Assignment.objects.filter(
        project=project, annotator=annotator, status__in=Assignment.FINISHED
    ).values("task_id")


def _next_regular_task(project: Project, annotator: Annotator, now: datetime) -> Task | None:
    k = project.annotations_per_task
    candidates = (
        Task.objects.filter(project=project, is_gold=False, judgment_count__lt=k)
        .exclude(pk__in=_finished_task_ids(project, annotator))
        .exclude(
            pk__in=Assignment.objects.filter(
                project=project,
                annotator=annotator,
                status=Assignment.Status.LEASED,
                expires_at__gt=now,
            ).values("task_id")
        )
        .alias(active=_active_leases(now))
        .filter(judgment_count__lt=k - F("active"))
        .select_related("item", "response_a", "response_b")
        .order_by("-judgment_count", "id")
    )
    if not connection.features.has_select_for_update_skip_locked:
        return candidates.first()
    passed_over: list[int] = []
    for _ in range(MAX_LEASE_ATTEMPTS):
        task = _lock(candidates.exclude(pk__in=passed_over)).first()
        if task is None or _still_wants_judgments(task, k, now):
            return task
        passed_over.append(task.pk)
    return None


def _still_wants_judgments(task: Task, k: int, now: datetime) -> bool:
    """Re-count under the row lock, in a fresh snapshot: a lease committed by another
    annotator after our query began is invisible to it, but not to this statement."""
    return (
        Task.objects.filter(pk=task.pk)
        .alias(active=_active_leases(now))
        .filter(judgment_count__lt=k - F("active"))
        .exists()
    )


def _next_gold_task(project: Project, annotator: Annotator) -> Task | None:
    candidates = (
        Task.objects.filter(project=project, is_gold=True)
        .exclude(pk__in=_finished_task_ids(project, annotator))
        .select_related("item", "response_a", "response_b")
        # The least-met gold first: a backward scan of the queue index, where a random
        # order would sort every gold task on each call.
        .order_by("judgment_count", "-id")
    )
    return candidates.first()


def _lease(task: Task, annotator: Annotator, now: datetime) -> Assignment:
    """Insert the lease, or renew this annotator's expired lease on the task, in one query.

    The side each response is shown on is drawn per (task, annotator), so a renewed lease
    shows the same sides as before and a page left open still posts the right answer.
    """
    left = None
    if task.response_b_id is not None:
        coin = random.Random(f"{task.pk}:{annotator.pk}").random()
        left = task.response_a_id if coin < 0.5 else task.response_b_id
    assignment = Assignment(
        task=task,
        annotator=annotator,
        project=task.project,
        status=Assignment.Status.LEASED,
        left_response_id=left,
        leased_at=now,
        expires_at=now + timedelta(seconds=task.project.lease_seconds),
    )
    Assignment.objects.bulk_create(
        [assignment],
        update_conflicts=True,
        unique_fields=["task", "annotator"],
        update_fields=["status", "leased_at", "expires_at"],
    )
    return assignment


def assignment_skip(*, assignment: Assignment, annotator: Annotator, reason: str = "") -> None:
    """The annotator passes on this task; it goes back to the pool and never returns to them."""
    if assignment.annotator_id != annotator.pk:
        raise PermissionDenied("This assignment is not yours.")
    with transaction.atomic():
        updated = Assignment.objects.filter(
            pk=assignment.pk, status=Assignment.Status.LEASED
        ).update(
            status=Assignment.Status.SKIPPED, finished_at=timezone.now(), skip_reason=reason[:300]
        )
    if updated:
        assignment.status = Assignment.Status.SKIPPED
