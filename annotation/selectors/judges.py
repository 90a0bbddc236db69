"""Reading a project's LLM judges and their runs (README, LLM judges)."""

from __future__ import annotations

from django.db.models import Max, QuerySet

from annotation.errors import NotFound
from annotation.models import Judge, JudgeRun, JudgeVerdict, Project


def judges_of(*, project: Project) -> QuerySet[Judge]:
    return Judge.objects.filter(project=project).order_by("name", "id")


def judge_of(*, project: Project, judge_id: int) -> Judge:
    """One judge of this project; 404 for an id of another project, as for one unknown."""
    judge = Judge.objects.filter(project=project, pk=judge_id).select_related("project").first()
    if judge is None:
        raise NotFound(f"No judge {judge_id} in project {project.slug!r}.")
    return judge


def judge_runs_of(*, project: Project) -> QuerySet[JudgeRun]:
    """The project's runs, newest first, with their judges' names (the console's list)."""
    return (
        JudgeRun.objects.filter(project=project)
        .select_related("judge")
        .defer("task_ids")
        .order_by("-created_at", "-id")
    )


def judge_run_of(*, project: Project, run_id: int) -> JudgeRun:
    run = JudgeRun.objects.filter(project=project, pk=run_id).defer("task_ids").first()
    if run is None:
        raise NotFound(f"No judge run {run_id} in project {project.slug!r}.")
    return run


def judge_verdicts_current(*, judge: Judge) -> QuerySet[JudgeVerdict]:
    """The judge's finished verdict on each task it judged, from its latest run that
    finished one there (the one its judgment of the task comes from, when there is one):
    what measures of a judge read. Unparseable and failed verdicts are included (their
    `status` says so); a verdict still claimed is not."""
    latest = (
        JudgeVerdict.objects.filter(judge=judge, status__in=JudgeVerdict.FINISHED)
        .values("task_id")
        .annotate(latest=Max("pk"))
        .values("latest")
    )
    return JudgeVerdict.objects.filter(pk__in=latest).order_by("task_id")
