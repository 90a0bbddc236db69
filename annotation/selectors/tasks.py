"""What an annotator may see of a task: text and sides, never a model name."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from annotation.models import Assignment, Criterion, Project, Response, Task
from annotation.numbers import BIGINT_MAX, ascii_int
from annotation.pg.rows import model_columns, model_from_row, model_select
from annotation.rankings import screen_labels


def project_by_slug(*, slug: str) -> Project | None:
    """The project of an annotator URL (hand-written SQL: it runs on every vote)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_select(Project, 'p')} FROM annotation_project p WHERE p.slug = %s",
            [slug],
        )
        row = cursor.fetchone()
    return None if row is None else model_from_row(Project, row)


def criteria_of(*, project: Project) -> list[Criterion]:
    """The project's current criteria in their order (runs on every vote)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_select(Criterion, 'c')} FROM annotation_criterion c "
            "WHERE c.project_id = %s ORDER BY c.position, c.id",
            [project.pk],
        )
        criteria = [model_from_row(Criterion, row) for row in cursor.fetchall()]
    for criterion in criteria:
        criterion.project = project
    return criteria


def assignment_for_vote(*, assignment_id: int) -> Assignment | None:
    """An assignment with its project and task, as a vote or a skip needs them."""
    if not 0 < assignment_id <= BIGINT_MAX:  # no such id; SQLite cannot even bind it
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {model_select(Assignment, 'a')}, {model_select(Project, 'p')}, "
            f"{model_select(Task, 't')} FROM annotation_assignment a "
            "JOIN annotation_project p ON p.id = a.project_id "
            "JOIN annotation_task t ON t.id = a.task_id WHERE a.id = %s",
            [assignment_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(model_columns(Assignment))
    middle = split + len(model_columns(Project))
    assignment = model_from_row(Assignment, row[:split])
    assignment.project = model_from_row(Project, row[split:middle])
    assignment.task = model_from_row(Task, row[middle:])
    assignment.task.project = assignment.project
    return assignment


def criteria_public(criteria: list[Criterion]) -> list[dict[str, Any]]:
    """The criteria as the annotator API gives them: a scale, or a spans criterion's
    label set (answered by `spans`, not by a score)."""
    return [
        {"key": c.key, "label": c.label, "description": c.description, "type": c.type}
        | (
            {"labels": c.labels}
            if c.is_spans
            else {
                "min": c.min,
                "max": c.max,
                "level_labels": c.level_labels,
                "level": c.level,
            }
        )
        for c in criteria
    ]


def assignment_sides(assignment: Assignment) -> tuple[Response, Response | None]:
    """(left, right) responses as this annotator sees them; right is None for rubric tasks."""
    task = assignment.task
    if task.response_b_id is None:
        return task.response_a, None
    if assignment.left_response_id == task.response_b_id:
        return task.response_b, task.response_a
    return task.response_a, task.response_b


def assignment_shown_responses(assignment: Assignment) -> list[tuple[str, Response]]:
    """A ranking task's responses as this annotator sees them: (label, response) in the
    assignment's shown order, labelled A, B, C..."""
    order = assignment.shown_order or []
    by_id = Response.objects.in_bulk(order)
    return list(zip(screen_labels(len(order)), (by_id[pk] for pk in order), strict=True))


def assignment_span_responses(assignment: Assignment) -> dict[str, tuple[int, str]]:
    """The names a span may give its response on this assignment, as the annotator saw
    them (left / right, A, B..., or response), with the response's id and text."""
    task = assignment.task
    project = assignment.project
    if project.is_ranking:
        order = assignment.shown_order or []
        texts = dict(Response.objects.filter(pk__in=order).values_list("pk", "text"))
        return {
            label: (pk, texts[pk])
            for label, pk in zip(screen_labels(len(order)), order, strict=True)
        }
    ids = [task.response_a_id, task.response_b_id]
    texts = dict(Response.objects.filter(pk__in=[i for i in ids if i]).values_list("pk", "text"))
    if task.response_b_id is None:
        return {"response": (task.response_a_id, texts[task.response_a_id])}
    left = assignment.left_response_id or task.response_a_id
    right = task.response_b_id if left == task.response_a_id else task.response_a_id
    return {"left": (left, texts[left]), "right": (right, texts[right])}


def assignment_public_payload(
    *, assignment: Assignment, criteria: list[Criterion]
) -> dict[str, Any]:
    """The annotator API's view of a leased task (README "REST API" and "Ranking tasks"): texts and
    screen labels, never a model name or a response id."""
    project: Project = assignment.project
    payload: dict[str, Any] = {
        "assignment": assignment.pk,
        "kind": project.task_kind,
        "prompt": assignment.task.item.prompt,
    }
    left, right = assignment_sides(assignment)
    if project.is_ranking:
        payload["responses"] = [
            {"label": label, "text": response.text}
            for label, response in assignment_shown_responses(assignment)
        ]
    elif right is None:
        payload["response"] = {"text": left.text}
    else:
        payload["left"] = {"text": left.text}
        payload["right"] = {"text": right.text}
    payload.update(
        {
            "criteria": criteria_public(criteria),
            "allow_tie": project.allow_tie,
            "allow_both_bad": project.allow_both_bad,
            "strength_scale": project.strength_scale,
            "rationale": project.rationale,
            "expires_at": assignment.expires_at.isoformat(),
        }
    )
    return payload


def task_for_preview(*, project: Project, task_id: str | None) -> Task | None:
    """The task a researcher asked to preview, or a random one of the project (also when
    the id asked for is not a task id at all, such as '²')."""
    tasks = Task.objects.filter(project=project).select_related(
        "item", "response_a", "response_b", "project"
    )
    wanted = ascii_int(task_id) if task_id else None
    if wanted is not None and 0 < wanted <= BIGINT_MAX:
        return tasks.filter(pk=wanted).first()
    return tasks.order_by("?").first()


def assignment_preview(*, task: Task) -> Assignment:
    """An unsaved assignment, so the preview renders exactly like a real lease."""
    left = None
    shown_order = None
    if task.project.is_ranking:
        shown_order = list(
            Response.objects.filter(item_id=task.item_id).values_list("pk", flat=True)
        )
        random.shuffle(shown_order)
    elif task.response_b_id is not None:
        left = random.choice([task.response_a_id, task.response_b_id])
    now = timezone.now()
    return Assignment(
        task=task,
        project=task.project,
        left_response_id=left,
        shown_order=shown_order,
        leased_at=now,
        expires_at=now + timedelta(seconds=task.project.lease_seconds),
    )
