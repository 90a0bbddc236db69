"""The task-label store: the aggregated label of every judged pairwise task (majority and
Dawid-Skene), computed with each report and upserted into TaskLabel, which exports and the
review queue read. annotation.services.reports computes the report around it."""

from __future__ import annotations

import numpy as np
from django.db import connection
from psycopg import sql

from annotation.models import Task, TaskLabel
from annotation.pg import table, text
from annotation.pg.copy_in import binary_records, copy_records
from annotation.pg.locks import transaction_lock
from annotation.selectors.judgment_table import CHOICES, JudgmentTable
from annotation.stats import TaskLabels, task_labels


def task_labels_from_table(humans: JudgmentTable) -> TaskLabels | None:
    """Majority and Dawid-Skene label of every judged pairwise task of the table (the
    judgments that count: people's, flagged annotators left out)."""
    keep = humans.choice >= 0
    return task_labels(humans.task[keep], humans.annotator[keep], humans.choice[keep], len(CHOICES))


# Changed labels are updated and new ones inserted by one statement (both parts see the
# labels as they were before it). A plain INSERT costs half of an INSERT ... ON CONFLICT (no
# speculative insertion), which matters for a project's first report, one label per task;
# reports of one project store their labels one after another (LABEL_LOCK), so no other
# report can insert the same task's label in between.
#: The temporary table a report's labels are copied into.
LABELS_STAGED = "report_labels"
#: The transaction lock under which a project's labels are stored (with the project's id).
LABEL_LOCK = "annotation_tasklabel"
LABEL_UPSERT = sql.SQL("""
WITH incoming AS (
    SELECT task_id, n_judgments, COALESCE((%(names)s::text[])[majority + 1], '') AS majority,
           majority_share, COALESCE((%(names)s::text[])[weighted + 1], '') AS weighted,
           weighted_confidence
    FROM {staged}
    WHERE EXISTS (SELECT FROM {task} t WHERE t.id = {staged}.task_id)
), changed AS (
    UPDATE {label} stored SET
        n_judgments = incoming.n_judgments, majority = incoming.majority,
        majority_share = incoming.majority_share, weighted = incoming.weighted,
        weighted_confidence = incoming.weighted_confidence, updated_at = now()
    FROM incoming
    WHERE stored.task_id = incoming.task_id
      AND ((stored.n_judgments, stored.majority, stored.weighted)
           IS DISTINCT FROM (incoming.n_judgments, incoming.majority, incoming.weighted)
           OR abs(stored.majority_share - incoming.majority_share) > 1e-9
           OR abs(stored.weighted_confidence - incoming.weighted_confidence) > 1e-6)
)
INSERT INTO {label}
    (task_id, n_judgments, majority, majority_share, weighted, weighted_confidence, updated_at)
SELECT incoming.*, now()
FROM incoming
WHERE NOT EXISTS (SELECT FROM {label} stored WHERE stored.task_id = incoming.task_id)
""").format(task=table(Task), label=table(TaskLabel), staged=sql.Identifier(LABELS_STAGED))

#: The labels as binary COPY fields: name and wire type.
_LABEL_FIELDS = (
    ("task", ">i8"),
    ("n_judgments", ">i4"),
    ("majority", ">i2"),
    ("majority_share", ">f8"),
    ("weighted", ">i2"),
    ("weighted_confidence", ">f8"),
)


def task_labels_store(*, labels: TaskLabels | None, project_id: int) -> None:
    """Upsert the labels: on PostgreSQL through one binary COPY into a temporary table and
    one statement that updates the changed labels and inserts the new ones, of tasks that
    still exist (TaskLabel says why the database does not check that); elsewhere with the
    ORM."""
    if labels is None:
        return
    if connection.vendor != "postgresql":
        names = np.array([*CHOICES, ""], dtype=object)
        TaskLabel.objects.bulk_create(
            [
                TaskLabel(
                    task_id=task,
                    n_judgments=n,
                    majority=majority,
                    majority_share=share,
                    weighted=weighted,
                    weighted_confidence=confidence,
                )
                for task, n, majority, share, weighted, confidence in zip(
                    labels.task.tolist(),
                    labels.n_judgments.tolist(),
                    names[labels.majority].tolist(),
                    labels.majority_share.tolist(),
                    names[labels.weighted].tolist(),
                    labels.weighted_confidence.tolist(),
                    strict=True,
                )
            ],
            batch_size=5000,
            update_conflicts=True,
            unique_fields=["task"],
            update_fields=[
                "n_judgments",
                "majority",
                "majority_share",
                "weighted",
                "weighted_confidence",
                "updated_at",
            ],
        )
        return
    records = binary_records(_LABEL_FIELDS, len(labels.task))
    for name, values in labels._asdict().items():
        records[name] = values
    staged = sql.Identifier(LABELS_STAGED)
    with connection.cursor() as cursor:
        cursor.execute(
            text(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {staged} (task_id bigint, "
                    "n_judgments integer, majority smallint, majority_share double precision, "
                    "weighted smallint, weighted_confidence double precision) ON COMMIT DROP"
                ).format(staged=staged)
            )
        )
        cursor.execute(text(sql.SQL("TRUNCATE {staged}").format(staged=staged)))
        copy_records(cursor, staged, records)
        transaction_lock(LABEL_LOCK, project_id)
        cursor.execute(text(LABEL_UPSERT), {"names": list(CHOICES)})
