"""What an annotator may see of a task: text and sides, never a model name."""

from __future__ import annotations

from typing import Any

from annotation.models import Assignment, Criterion, Project, Response


def criteria_public(criteria: list[Criterion]) -> list[dict[str, Any]]:
    return [
        {
            "key": c.key,
            "label": c.label,
            "description": c.description,
            "min": c.min,
            "max": c.max,
            "level_labels": c.level_labels,
            "level": c.level,
        }
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


def assignment_public_payload(
    *, assignment: Assignment, criteria: list[Criterion]
) -> dict[str, Any]:
    """The annotator API's view of a leased task (CONTRACT section 5)."""
    project: Project = assignment.project
    left, right = assignment_sides(assignment)
    payload: dict[str, Any] = {
        "assignment": assignment.pk,
        "kind": project.kind,
        "prompt": assignment.task.item.prompt,
    }
    if right is None:
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
