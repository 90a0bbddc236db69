"""The review queue (README "Researchers"): pairwise tasks whose votes split or whose majority
contradicts gold, waiting for a researcher's adjudication, and what the review page shows
of one of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import (
    Case,
    CharField,
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Q,
    QuerySet,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Greatest

from annotation.exports.query import ExportFilters
from annotation.exports.readers import pair_labels, passing_judgments
from annotation.models import Judgment, Project, Task
from annotation.selectors.judgment_table import CHOICES
from annotation.selectors.quality import flagged_annotator_ids
from annotation.stats.aggregation import TaskLabels

#: The votes the queue weighs: people's (not model judges'), flagged and blocked annotators
#: left out, as the exports count them by default; gold tasks' votes too, to check them
#: against gold.
REVIEW_FILTERS = ExportFilters(include_gold=True, annotator_kind="human")


def review_queue(*, project: Project) -> QuerySet:
    """One row per task to review, oldest first: `task_id`, `n` (passing votes), `n_a`,
    `n_b`, `n_tie`, `n_both_bad`, `gold` (the gold answer's choice, or None), `split` (no
    answer has `review_min_share` of the votes) and `contradicts_gold` (another answer has
    more votes than gold's). Tasks already adjudicated are left out. One statement; count
    it and slice it to paginate."""
    votes = passing_judgments(project=project, filters=REVIEW_FILTERS).filter(
        choice__in=CHOICES, task__response_b__isnull=False, task__adjudication__isnull=True
    )
    counts = {f"n_{choice}": Count("pk", filter=Q(choice=choice)) for choice in CHOICES}
    gold_votes = Case(
        *(When(gold=choice, then=F(f"n_{choice}")) for choice in CHOICES), default=None
    )
    return (
        votes.order_by()
        .values("task_id")
        .annotate(
            n=Count("pk"),
            **counts,
            gold=Cast(KeyTextTransform("choice", "task__gold_answer"), CharField()),
        )
        .annotate(
            top=Greatest(*(F(f"n_{choice}") for choice in CHOICES)),
            needed=ExpressionWrapper(F("n") * project.review_min_share, output_field=FloatField()),
            gold_votes=gold_votes,
        )
        .annotate(
            split=Case(When(top__lt=F("needed"), then=True), default=False),
            contradicts_gold=Case(When(gold_votes__lt=F("top"), then=True), default=False),
        )
        .filter(Q(top__lt=F("needed")) | Q(gold_votes__lt=F("top")))
        .order_by("task_id")
    )


def review_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page of the queue with each task's item and responses (one query)."""
    tasks = Task.objects.select_related("item", "response_a", "response_b").in_bulk(
        [row["task_id"] for row in rows]
    )
    return [{**row, "task": tasks[row["task_id"]]} for row in rows]


def review_next(*, project: Project, after: int) -> int | None:
    """The id of the first task of the queue after task `after` (None at its end)."""
    return (
        review_queue(project=project)
        .filter(task_id__gt=after)
        .values_list("task_id", flat=True)
        .first()
    )


@dataclass(frozen=True)
class TaskLabelsShown:
    majority: str | None
    majority_share: float
    ds_label: str | None
    ds_posterior: float
    n_judgments: int


def review_task_labels(*, project: Project, task: Task) -> TaskLabelsShown | None:
    """The task's majority and Dawid-Skene label from the queue's votes, as the `labels`
    export computes them (Dawid-Skene fitted on every such vote of the project; one
    query). None when the task has no such vote."""
    labels, _ = pair_labels(project=project, filters=REVIEW_FILTERS)
    return task_labels_shown(labels, task.pk)


def task_labels_shown(labels: TaskLabels | None, task_id: int) -> TaskLabelsShown | None:
    """One task's labels out of pair_labels' arrays (None when it has no passing vote)."""
    if labels is None:
        return None
    index = int(np.searchsorted(labels.task, task_id))
    if index >= len(labels.task) or labels.task[index] != task_id:
        return None

    def name(code: Any) -> str | None:
        return CHOICES[int(code)] if int(code) >= 0 else None

    return TaskLabelsShown(
        majority=name(labels.majority[index]),
        majority_share=float(labels.majority_share[index]),
        ds_label=name(labels.weighted[index]),
        ds_posterior=float(labels.weighted_confidence[index]),
        n_judgments=int(labels.n_judgments[index]),
    )


def review_judgments(*, project: Project, task: Task) -> list[Judgment]:
    """Every judgment of the task, oldest first, with its annotator; each carries
    `counted` (False for a flagged or blocked annotator's vote, or a model judge's, which
    the queue and the default exports leave out). Two queries."""
    judgments = list(
        Judgment.objects.filter(task=task)
        .select_related("annotator", "shown_left")
        .order_by("created_at", "pk")
    )
    flagged = set(
        flagged_annotator_ids(project=project)
        .filter(pk__in=[j.annotator_id for j in judgments])
        .values_list("pk", flat=True)
    )
    for judgment in judgments:
        judgment.counted = (  # type: ignore[attr-defined]
            judgment.annotator_id not in flagged and judgment.annotator.kind == "human"
        )
    return judgments
