"""How far a project has come."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from annotation.models import Assignment, Judgment, Project, Task

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
