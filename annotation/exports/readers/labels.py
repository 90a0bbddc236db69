"""The `labels` format and the Dawid-Skene labels `dpo` may use: fitted at export time on
every passing vote of the project, read as arrays (annotation/pg/arrays.py), so they honour
the filters and a snapshot's cut.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
from django.db.models import Case, IntegerField, Value, When

from annotation import pg
from annotation.exports.fields import LABELS
from annotation.exports.query import ExportFilters
from annotation.exports.readers.judgments import passing_judgments
from annotation.exports.readers.shared import DECIDED, since_q
from annotation.models import Adjudication, Item, Project, Response, Task
from annotation.pg.arrays import sql_arrays
from annotation.pg.copy_out import WireColumn, sql_rows
from annotation.selectors.adjudications import researcher_pseudonym
from annotation.selectors.judgment_table import CHOICES
from annotation.stats import TaskLabels, task_labels

#: One row per pairwise task with a passing vote (README "Exports", `labels`): its majority and
#: Dawid-Skene label, computed at export time from the judgments that pass the filters.
LABEL_COLUMNS: tuple[pa.Field, ...] = tuple(f.field() for f in LABELS)

_CHOICE_CODE = Case(
    *(When(choice=choice, then=Value(code)) for code, choice in enumerate(CHOICES)),
    output_field=IntegerField(),
)


def _vote_arrays(*, project: Project, filters: ExportFilters) -> dict[str, np.ndarray]:
    """Every passing vote of the project (whatever `since`) as arrays: task id, annotator
    id, choice code (into CHOICES) and, with `since`, 1 for a vote after the cursor."""
    columns = [
        WireColumn("task", "task_id", pa.int64()),
        WireColumn("annotator", "annotator_id", pa.int64()),
        WireColumn("code", _CHOICE_CODE, pa.int64()),
    ]
    if filters.since is not None:
        after = Case(When(since_q(filters.since), then=Value(1)), default=Value(0))
        columns.append(WireColumn("after", after, pa.int64()))
    votes = passing_judgments(project=project, filters=filters).filter(choice__in=CHOICES)
    selected = votes.order_by().values_list(*(column.expression for column in columns))
    sql, params = selected.query.sql_with_params()
    return sql_arrays(sql, params, [column.name for column in columns])


class LabelWalk:
    """The labels of tasks asked for in ascending order (the rows' order), found by walking
    the sorted task ids once instead of a search per row."""

    def __init__(self, labels: TaskLabels | None) -> None:
        columns = labels._asdict() if labels is not None else {}
        self.columns: dict[str, list[Any]] = {
            name: np.asarray(columns[name]).tolist() if columns else []
            for name in TaskLabels._fields
        }
        self.tasks = self.columns["task"]
        self.position = 0

    def pair_label(self, task_id: int) -> tuple[str | None, float]:
        """The task's Dawid-Skene label if it is a or b (else None), and its posterior
        as exported."""
        index = self.index(task_id)
        if index is None:
            return None, 0.0
        code = self.columns["weighted"][index]
        posterior = round(self.columns["weighted_confidence"][index], 6)
        return (DECIDED[code] if code in (0, 1) else None), posterior

    def index(self, task_id: int) -> int | None:
        tasks, position = self.tasks, self.position
        while position < len(tasks) and tasks[position] < task_id:
            position += 1
        self.position = position
        return position if position < len(tasks) and tasks[position] == task_id else None


def pair_labels(
    *, project: Project, filters: ExportFilters
) -> tuple[TaskLabels | None, set[int] | None]:
    """The majority and Dawid-Skene label of every pairwise task with a passing vote, and,
    with `since`, the tasks whose row may differ from the same query at the cursor: those
    with a vote after it, and those whose Dawid-Skene label or posterior (as exported)
    moved, since a new vote on one task changes the annotators' estimated reliability
    everywhere. (Without `since` every task is in scope: None.)"""
    votes = _vote_arrays(project=project, filters=filters)
    labels = task_labels(votes["task"], votes["annotator"], votes["code"], len(CHOICES))
    if filters.since is None or labels is None:
        return labels, None if filters.since is None else set()
    after = votes["after"] == 1
    before = ~after
    earlier = task_labels(
        votes["task"][before], votes["annotator"][before], votes["code"][before], len(CHOICES)
    )
    moved = np.ones(len(labels.task), dtype=bool)
    if earlier is not None:
        position = np.minimum(np.searchsorted(earlier.task, labels.task), len(earlier.task) - 1)
        known = earlier.task[position] == labels.task
        moved = ~known | (earlier.weighted[position] != labels.weighted)
        # A posterior moved when its exported value did: rounded as the rows round it
        # (Python's round, which numpy's does not always match), where the raw value changed.
        before_value = earlier.weighted_confidence[position]
        for index in np.flatnonzero(before_value != labels.weighted_confidence).tolist():
            now = float(labels.weighted_confidence[index])
            moved[index] |= round(float(before_value[index]), 6) != round(now, 6)
    scope = set(labels.task[moved].tolist()) | set(np.unique(votes["task"][after]).tolist())
    return labels, scope


def _choice_name(code: int) -> str | None:
    return CHOICES[code] if code >= 0 else None


# Every pairwise task of the project with its adjudication, and whether that was decided
# after a `since` cursor ({after}: a condition on `adjudication`, or FALSE).
_LABEL_TASK_NUMBERS = ("task", "researcher", "adjudicated_after")
LABEL_TASKS = """
SELECT task.id, item.external_id, a.external_id, b.external_id,
       adjudication.label, adjudication.researcher_id,
       CASE WHEN {after} THEN 1 ELSE 0 END
FROM {task} task
JOIN {item} item ON item.id = task.item_id
JOIN {response} a ON a.id = task.response_a_id
JOIN {response} b ON b.id = task.response_b_id
LEFT JOIN {adjudication} adjudication ON adjudication.task_id = task.id
WHERE task.project_id = %s
ORDER BY task.id
"""
LABEL_TASK_COLUMNS = tuple(
    WireColumn(name, None, pa.int64() if name in _LABEL_TASK_NUMBERS else pa.string())
    for name in (
        "task",
        "item_id",
        "a_id",
        "b_id",
        "adjudicated",
        "researcher",
        "adjudicated_after",
    )
)


def _adjudicated_after_sql(since: datetime | int | None) -> tuple[str, list[Any]]:
    """LABEL_TASKS' {after}: the adjudication was made after the cursor (as
    adjudicated_after decides it)."""
    if since is None:
        return "1 = 0", []
    if isinstance(since, int):
        return "adjudication.last_judgment_id >= %s", [since]
    return "adjudication.decided_at > %s", [since]


def label_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    """One row per pairwise task with a passing vote (format `labels`), in task order:
    majority (null when two answers tie for the most votes) with the share of the votes
    behind the most frequent answer, the Dawid-Skene label with its posterior, and a
    researcher's adjudication (label and pseudonym) where there is one. With `since`, the
    tasks whose row may have changed since the cursor (see pair_labels) and those
    adjudicated after it."""
    labels, scope = pair_labels(project=project, filters=filters)
    if labels is None:
        return
    walk = LabelWalk(labels)
    columns = walk.columns
    after, params = _adjudicated_after_sql(filters.since)
    sql = LABEL_TASKS.format(
        task=pg.text(pg.table(Task)),
        item=pg.text(pg.table(Item)),
        response=pg.text(pg.table(Response)),
        adjudication=pg.text(pg.table(Adjudication)),
        after=after,
    )
    rows = sql_rows(sql, [*params, project.pk], LABEL_TASK_COLUMNS)
    for task_id, item_id, a_id, b_id, adjudicated, researcher, later in rows:
        if scope is not None and task_id not in scope and not later:
            continue
        index = walk.index(task_id)
        if index is None:
            continue
        n = columns["n_judgments"][index]
        if filters.min_judgments and n < filters.min_judgments:
            continue
        yield {
            "pair_id": task_id,
            "item_id": item_id,
            "a": a_id,
            "b": b_id,
            "majority": _choice_name(columns["majority"][index]),
            "majority_share": round(columns["majority_share"][index], 6),
            "ds_label": _choice_name(columns["weighted"][index]),
            "ds_posterior": round(columns["weighted_confidence"][index], 6),
            "n_judgments": n,
            "adjudicated_label": adjudicated,
            "adjudicated_by": researcher_pseudonym(researcher),
        }
