"""Adjudication: a researcher decides the label of a pairwise task whose votes split or
contradict gold (README "Researchers"). The decision is data: exports carry it (`labels`) and may
decide pairs by it (`dpo` with `label=adjudicated`)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotation.errors import PermissionDenied, ValidationFailed
from annotation.models import Adjudication, Judgment, Project, Task
from annotation.selectors.projects import projects_managed_by

NOTE_MAX_CHARS = 5000


def adjudication_labels(project: Project) -> tuple[str, ...]:
    """The labels a decision may take: what the project lets its annotators answer."""
    labels = ["a", "b"]
    if project.allow_tie:
        labels.append("tie")
    if project.allow_both_bad:
        labels.append("both_bad")
    return tuple(labels)


def adjudication_record(
    *, task: Task, researcher: AbstractBaseUser, label: str, note: str = ""
) -> Adjudication:
    """Store a researcher's decision on a pairwise task of a project they manage, replacing
    any earlier one (the task's adjudication then names the new researcher and time). The
    label must be one the project allows (a tie only with `allow_tie`, both bad only with
    `allow_both_bad`)."""
    project = task.project
    if not projects_managed_by(user=researcher).filter(pk=project.pk).exists():
        raise PermissionDenied("Only researchers managing the project may adjudicate its tasks.")
    errors = []
    if not project.is_pairwise or task.response_b_id is None:
        errors.append({"field": "task", "error": "only pairwise tasks are adjudicated"})
    allowed = adjudication_labels(project)
    if label not in allowed:
        errors.append({"field": "label", "error": f"must be one of {', '.join(allowed)}"})
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        errors.append({"field": "note", "error": f"at most {NOTE_MAX_CHARS} characters"})
    if errors:
        raise ValidationFailed("The adjudication is not valid.", errors=errors)
    with transaction.atomic():
        newest = Judgment.objects.filter(project=project).aggregate(newest=Max("pk"))["newest"]
        adjudication, _ = Adjudication.objects.update_or_create(
            task=task,
            defaults={
                "project": project,
                "label": label,
                "note": note,
                "researcher": researcher,
                "decided_at": timezone.now(),
                "last_judgment_id": newest or 0,
            },
        )
    return adjudication
