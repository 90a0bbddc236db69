"""How far a project has come."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from annotation.models import Annotator, Assignment, Judgment, Project, Task
from annotation.services.routing import human_need

ACTIVE_WINDOW = timedelta(hours=1)


def project_progress(*, project: Project) -> dict[str, int]:
    """Counts for the progress endpoint and the admin. Gold tasks do not count as work."""
    tasks = Task.objects.filter(project=project, is_gold=False).aggregate(
        total=Count("pk"),
        complete=Count("pk", filter=Q(judgment_count__gte=human_need(project))),
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


#: Without a quota, an annotator's progress bar counts the tasks still open to them up to
#: this many; beyond it the page says how many are done, with no total. Every task page
#: shows the bar, and counting a large project's open tasks took longer than the rest of
#: the page (120 ms for 200k open tasks).
OPEN_TASKS_COUNTED = 500


def annotator_progress(*, project: Project, annotator: Annotator) -> dict[str, int | None]:
    """Done and target for an annotator's progress bar: the study's quota when there are
    enough tasks left to reach it, else everything still open to them (target None when
    that is more than OPEN_TASKS_COUNTED). At most as many open tasks are counted as could
    change the answer."""
    done = annotator_judgment_count(project=project, annotator=annotator, include_gold=False)
    quota = project.max_tasks_per_annotator
    enough = max(quota - done, 0) if quota else OPEN_TASKS_COUNTED
    finished_by_them = Assignment.objects.filter(
        task=OuterRef("pk"), annotator=annotator, status__in=Assignment.FINISHED
    )
    open_to_them = (
        Task.objects.filter(project=project, is_gold=False)
        .alias(need=human_need(project))
        .filter(judgment_count__lt=F("need"))
        .exclude(Exists(finished_by_them))
    )
    open_tasks = open_to_them[:enough].count() if enough else 0
    if quota and open_tasks >= enough:
        target: int | None = quota
    elif open_tasks >= OPEN_TASKS_COUNTED:
        target = None
    else:
        target = done + open_tasks
    return {"done": done, "target": None if target is None else max(target, done, 1)}
