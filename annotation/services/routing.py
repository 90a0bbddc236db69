"""Routing to people (README, LLM judges; Human-in-the-Loop Calibration, Hybrid Preferences):
each LLM judge verdict marks its task uncertain (served to people first, with the project's
annotations_per_task human judgments) or settled (route_human_k judgments, spot checks).
The mark is kept whether or not the project routes; the queue reads it only when
`route` is `uncertain`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Case, Expression, Value, When

from annotation.models import JudgeVerdict, Project, Task


def verdict_route(
    *, status: str, consistent: bool | None, confidence: float | None, agreement: float | None
) -> int:
    """Task.Route of a task after a verdict: uncertain when the judge's answer was not read
    (failed, unparseable), its two orders disagreed, its samples agreed less than
    JUDGE_ROUTE_MIN_AGREEMENT or its stated confidence was below JUDGE_ROUTE_MIN_CONFIDENCE."""
    if status != JudgeVerdict.Status.DONE or consistent is False:
        return Task.Route.TO_PEOPLE
    if agreement is not None and agreement < settings.JUDGE_ROUTE_MIN_AGREEMENT:
        return Task.Route.TO_PEOPLE
    if confidence is not None and confidence < settings.JUDGE_ROUTE_MIN_CONFIDENCE:
        return Task.Route.TO_PEOPLE
    return Task.Route.SPOT_CHECK


def routes(project: Project) -> bool:
    return project.route == Project.Route.UNCERTAIN


def human_need_sql(project: Project, alias: str = "t") -> tuple[str, list[Any]]:
    """SQL for the human judgments a task (`alias`) needs, and its parameters."""
    if not routes(project):
        return "%s", [project.annotations_per_task]
    return (
        f"(CASE WHEN {alias}.route = %s THEN %s ELSE %s END)",
        [Task.Route.SPOT_CHECK, project.route_human_k, project.annotations_per_task],
    )


def human_need(project: Project) -> Expression | Value:
    """The same as a Django expression over Task."""
    if not routes(project):
        return Value(project.annotations_per_task)
    return Case(
        When(route=Task.Route.SPOT_CHECK, then=Value(project.route_human_k)),
        default=Value(project.annotations_per_task),
    )
