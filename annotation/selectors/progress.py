"""How far a project has come."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from annotation.models import Annotator, Assignment, Judgment, Project, Task

ACTIVE_WINDOW = timedelta(hours=1)


def project_progress(*, project: Project) -> dict[str, int]:
    """Counts for the progress endpoint and the admin. Gold tasks do not count as work."""
    tasks = Task.objects.filter(project=project, is_gold=False).aggregate(
        total=Count("pk"),
        complete=Count("pk", filter=Q(judgment_count__gte=project.annotations_per_task)),
    )
    now = timezone.now()
    recent_judges = Judgment.objects.filter(
        project=project, created_at__gte=now - ACTIVE_WINDOW
    ).values_list("annotator_id", flat=True)
    leasing = Assignment.objects.filter(
        project=project, status=Assignment.Status.LEASED, expires_at__gt=now
    ).values_list("annotator_id", flat=True)
    active = set(recent_judges.distinct()) | set(leasing.distinct())
    return {
        "items": project.items.count(),
        "tasks_total": tasks["total"],
        "tasks_complete": tasks["complete"],
        "judgments": Judgment.objects.filter(project=project, is_gold=False).count(),
        "judgments_last_hour": Judgment.objects.filter(
            project=project, is_gold=False, created_at__gte=now - ACTIVE_WINDOW
        ).count(),
        "active_annotators": len(active),
    }


def progress_context(project: Project) -> dict[str, object]:
    """The figures as (label, value) pairs, for the console's live progress line."""
    figures = project_progress(project=project)
    return {
        "project": project,
        "figures": [(name.replace("_", " "), value) for name, value in figures.items()],
    }


def annotator_judgment_count(*, project: Project, annotator: Annotator, include_gold: bool) -> int:
    judgments = Judgment.objects.filter(project=project, annotator=annotator)
    return judgments.count() if include_gold else judgments.filter(is_gold=False).count()


def annotator_progress(*, project: Project, annotator: Annotator) -> dict[str, int]:
    """Done and target for an annotator's progress bar: the study's quota when set, else
    everything still open to them."""
    done = annotator_judgment_count(project=project, annotator=annotator, include_gold=False)
    open_tasks = (
        Task.objects.filter(
            project=project, is_gold=False, judgment_count__lt=project.annotations_per_task
        )
        .exclude(assignments__annotator=annotator, assignments__status__in=Assignment.FINISHED)
        .count()
    )
    target = done + open_tasks
    if project.max_tasks_per_annotator:
        target = min(target, project.max_tasks_per_annotator)
    return {"done": done, "target": max(target, done, 1)}
