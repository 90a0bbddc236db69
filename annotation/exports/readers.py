"""Rows of the datasets pipelines pull (CONTRACT section 7), read lazily so an export
streams at any size.

Aggregated formats (`dpo`, `rubric`, `labels`) are computed from the judgments that pass
the filters: `dpo` from counts grouped by task and choice in SQL, `rubric` in one pass over
the judgments ordered by task; Dawid-Skene labels (`labels`, `dpo` with
`label=dawid_skene`) from every passing vote of the project, read as arrays and fitted at
export time, so they honour the filters and a snapshot's cut. Row details (prompt, texts)
are read per chunk of rows, so the number of queries does not grow with the number of
rows. `annotators` is one statement: each annotator of the project with their consent,
quality figures and the times of their passing judgments. On PostgreSQL the `judgments`
rows come as Arrow batches decoded from COPY's CSV.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    Count,
    F,
    FilteredRelation,
    Func,
    IntegerField,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform

from annotation import pg
from annotation.exports.fields import ANNOTATORS, LABELS
from annotation.exports.plan import ExportPlan, rubric_score_column
from annotation.exports.query import ExportFilters
from annotation.models import (
    Adjudication,
    Annotator,
    Assignment,
    Consent,
    Criterion,
    CrowdSession,
    Item,
    Judgment,
    Project,
    Response,
    Task,
)
from annotation.pg.arrays import sql_arrays
from annotation.pg.copy_out import WireColumn, select_batches, sql_rows
from annotation.selectors.adjudications import (
    adjudicated_after,
    adjudicated_labels,
    researcher_pseudonym,
)
from annotation.selectors.judgment_table import CHOICES
from annotation.selectors.quality import flagged_annotator_ids
from annotation.stats import TaskLabels, task_labels

EXPORT_CHUNK = 2000
DETAIL_CHUNK = 500
DECIDED = ("a", "b")


def iso_time(moment: datetime) -> str:
    """A time as exported: ISO 8601 in UTC, always with microseconds. A JSON reader
    (`datasets`, pandas) takes a time to the second alone for a timestamp and one with a
    fraction for text, so a column must never mix them, in JSON Lines as in Parquet."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def export_rows(*, plan: ExportPlan) -> Iterator[dict[str, Any]]:
    """The plan's rows, one dict each, read lazily."""
    project, filters = plan.project, plan.query.filters
    if plan.query.format == "judgments":
        return judgment_rows(project=project, filters=filters, answer_keys=plan.answer_keys)
    if plan.query.format == "dpo":
        return dpo_rows(project=project, filters=filters, conversational=plan.conversational)
    if plan.query.format == "rubric":
        return rubric_rows(plan=plan)
    if plan.query.format == "annotators":
        return annotator_export_rows(project=project, filters=filters)
    if plan.query.format == "labels":
        return label_rows(project=project, filters=filters)
    return item_export_rows(project=project, filters=filters, conversational=plan.conversational)


# ---------------------------------------------------------------- judgments


def passing_judgments(*, project: Project, filters: ExportFilters) -> QuerySet[Judgment]:
    """The judgments that count under the filters, whatever their age (`since` selects
    rows, not votes: see judgments_for_export and the aggregated formats)."""
    queryset = Judgment.objects.filter(project=project)
    if filters.up_to_id is not None:
        queryset = queryset.filter(pk__lte=filters.up_to_id)
    if filters.exclude_flagged:
        queryset = queryset.exclude(annotator_id__in=flagged_annotator_ids(project=project))
    if not filters.include_gold:
        queryset = queryset.filter(is_gold=False)
    if filters.annotator_kind in Annotator.Kind.values:
        queryset = queryset.filter(annotator__kind=filters.annotator_kind)
    if filters.rubric_version is not None:
        queryset = queryset.filter(rubric_version=filters.rubric_version)
    return queryset


def _since_q(since: datetime | int | None) -> Q:
    if since is None:
        return Q()
    if isinstance(since, int):
        return Q(pk__gt=since)
    return Q(created_at__gt=since)


def _tasks_with_enough(passing: QuerySet[Judgment], minimum: int) -> QuerySet:
    return (
        passing.order_by()
        .values("task_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=minimum)
        .values("task_id")
    )


def judgments_for_export(*, project: Project, filters: ExportFilters) -> QuerySet[Judgment]:
    """Judgments passing the filters, oldest first; `min_judgments` counts the passing
    judgments of each judgment's task."""
    passing = passing_judgments(project=project, filters=filters)
    queryset = passing.filter(_since_q(filters.since))
    if filters.min_judgments:
        queryset = queryset.filter(task_id__in=_tasks_with_enough(passing, filters.min_judgments))
    return queryset.order_by("pk")


JUDGMENT_COLUMNS = (
    "pk",
    "created_at",
    "choice",
    "strength",
    "rationale",
    "criteria",
    "scores",
    "seconds",
    "is_gold",
    "task_id",
    "task__item__external_id",
    "task__response_a__external_id",
    "task__response_a__model",
    "task__response_b__external_id",
    "task__response_b__model",
    "shown_left__external_id",
    "annotator__pseudonym",
    "annotator__external_id",
    "annotator__source",
    "annotator__kind",
    "rubric_version",
)


def judgment_rows(
    *,
    project: Project,
    filters: ExportFilters,
    limit: int | None = None,
    answer_keys: Sequence[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """One dict per judgment (CONTRACT section 7, format `judgments`), oldest first, read in
    chunks through a server-side cursor on Postgres."""
    queryset = judgments_for_export(project=project, filters=filters)
    if limit is not None:
        queryset = queryset[:limit]
    return judgment_records(project=project, queryset=queryset, answer_keys=answer_keys)


def _answers(stored: Any, keys: Sequence[str] | None) -> Any:
    """A judgment's answers as the export's struct: every key, null when unanswered (null
    when the project has none); as stored when no keys are given (the sync API)."""
    if keys is None:
        return stored
    if not keys:
        return None
    stored = stored if isinstance(stored, dict) else {}
    return {key: stored.get(key) for key in keys}


def judgment_records(
    *, project: Project, queryset: QuerySet[Judgment], answer_keys: Sequence[str] | None = None
) -> Iterator[dict[str, Any]]:
    """The export's dict for each judgment of an (ordered) queryset, read in chunks. With
    `answer_keys` the answers have exactly those keys (the export's struct)."""
    is_pairwise = project.is_pairwise
    rows = queryset.values_list(*JUDGMENT_COLUMNS)
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        (
            pk,
            created_at,
            choice,
            strength,
            rationale,
            criteria,
            scores,
            seconds,
            is_gold,
            task_id,
            item_id,
            a_id,
            a_model,
            b_id,
            b_model,
            left_id,
            pseudonym,
            external_id,
            source,
            kind,
            rubric_version,
        ) = row
        record: dict[str, Any] = {
            "id": pk,
            "project": project.slug,
            "item_id": item_id,
            "task": task_id,
            "annotator": external_id if source == Annotator.Source.IMPORT else pseudonym,
            "annotator_kind": kind,
        }
        if is_pairwise:
            record.update(
                {
                    "a": a_id,
                    "b": b_id,
                    "a_model": a_model,
                    "b_model": b_model,
                    "choice": choice,
                    "strength": strength,
                    "criteria": _answers(criteria, answer_keys),
                }
            )
        else:
            record.update(
                {"response": a_id, "model": a_model, "scores": _answers(scores, answer_keys)}
            )
        record.update(
            {
                "rationale": rationale,
                "shown_left": left_id,
                "seconds": seconds,
                "created_at": iso_time(created_at),
                "is_gold": is_gold,
                "rubric_version": rubric_version,
            }
        )
        yield record


# ---------------------------------------------------------------- shared by dpo and rubric


def _scoped(
    passing: QuerySet[Judgment], filters: ExportFilters, also: QuerySet | None = None
) -> QuerySet[Judgment]:
    """With `since`, the rows of tasks that got a passing judgment after the cursor (or are
    among the task ids `also` selects), each computed from all of its passing judgments (so
    a re-pulled row carries its current value)."""
    if filters.since is None:
        return passing
    touched = passing.filter(_since_q(filters.since)).order_by().values("task_id")
    if also is None:
        return passing.filter(task_id__in=touched)
    return passing.filter(Q(task_id__in=touched) | Q(task_id__in=also))


def as_messages(prompt: Any) -> list[dict[str, str]]:
    """A prompt as chat messages: a plain prompt becomes one user message."""
    if isinstance(prompt, list):
        return prompt
    return [{"role": "user", "content": "" if prompt is None else str(prompt)}]


def _prompt_value(prompt: Any, conversational: bool) -> Any:
    if conversational:
        return as_messages(prompt)
    if isinstance(prompt, list):  # became a conversation after the plan was made
        return json.dumps(prompt, ensure_ascii=False)
    return prompt


def chunked(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to `size` values, read lazily."""
    iterator = iter(values)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# ---------------------------------------------------------------- dpo


@dataclass(frozen=True)
class PairDecision:
    task_id: int
    winner: str  # "a" or "b"
    n_judgments: int
    agreement: float
    margin: float | None


def plurality(n_a: int, n_b: int, n_tie: int, n_both_bad: int) -> str | None:
    """The answer with more votes than every other one, if it is a or b (a pair's
    majority); None for a tie, both bad or no single leader."""
    if n_a > n_b and n_a > n_tie and n_a > n_both_bad:
        return "a"
    if n_b > n_a and n_b > n_tie and n_b > n_both_bad:
        return "b"
    return None


def _margin(
    winner: str, n_a: int, n_b: int, total: int, strength: float | None, by_strength: bool
) -> float | None:
    """The mean strength of the votes for the winner when strength is collected, else
    (winner votes - loser votes) / votes (below 0 when a label other than the majority
    picked the winner)."""
    if by_strength:
        return round(float(strength), 6) if strength is not None else None
    return round((n_a - n_b if winner == "a" else n_b - n_a) / total, 6)


def decide_pair(
    task_id: int, counts: Mapping[str, tuple[int, float | None]], *, by_strength: bool
) -> PairDecision | None:
    """The label of one pair from its vote counts {choice: (votes, mean strength)}: the
    plurality among a / b / tie / both_bad, when no other label has as many votes. Only
    a win for a or b is a pair. `agreement` is the winner's share of the votes."""
    n_a, n_b, n_tie, n_both_bad = (counts.get(c, (0, None))[0] for c in CHOICES)
    total = n_a + n_b + n_tie + n_both_bad
    winner = plurality(n_a, n_b, n_tie, n_both_bad)
    if winner is None:
        return None
    agreement = round((n_a if winner == "a" else n_b) / total, 6)
    strength = counts[winner][1]
    margin = _margin(winner, n_a, n_b, total, strength, by_strength)
    return PairDecision(task_id, winner, total, agreement, margin)


def _around(template: str, subquery: QuerySet) -> tuple[str, tuple[Any, ...]]:
    """A hand-written statement around a queryset's SQL ({subquery}; {task}, {item} and
    {response} name those tables), with the queryset's parameters."""
    sql, params = subquery.query.sql_with_params()
    statement = template.format(
        subquery=sql,
        task=pg.text(pg.table(Task)),
        item=pg.text(pg.table(Item)),
        response=pg.text(pg.table(Response)),
    )
    return statement, tuple(params)


def _pair_votes(
    *, project: Project, filters: ExportFilters, also: QuerySet | None = None
) -> QuerySet:
    """Per task, the passing votes for each answer (and the mean strength behind a and b);
    with `since`, of the touched tasks and those `also` selects."""
    passing = _scoped(passing_judgments(project=project, filters=filters), filters, also)
    votes: dict[str, Any] = {}
    for choice in DECIDED:
        votes[f"n_{choice}"] = Count("pk", filter=Q(choice=choice))
        votes[f"strength_{choice}"] = Avg("strength", filter=Q(choice=choice))
    for choice in ("tie", "both_bad"):
        votes[f"n_{choice}"] = Count("pk", filter=Q(choice=choice))
    return passing.exclude(choice="").order_by().values("task_id").annotate(**votes)


# Every pair with a passing vote, its votes and what a row shows of it, in task order: one
# statement, so the rows stream out whatever their number.
PAIR_ROWS = """
SELECT votes.task_id, item.external_id, item.prompt,
       a.external_id, a.model, a.text, b.external_id, b.model, b.text,
       votes.n_a, votes.strength_a, votes.n_b, votes.strength_b, votes.n_tie, votes.n_both_bad
FROM ({subquery}) votes
JOIN {task} task ON task.id = votes.task_id
JOIN {item} item ON item.id = task.item_id
JOIN {response} a ON a.id = task.response_a_id
JOIN {response} b ON b.id = task.response_b_id
ORDER BY votes.task_id
"""
PAIR_COLUMNS = tuple(
    WireColumn(name, None, column_type)
    for name, column_type in (
        ("task", pa.int64()),
        ("item_id", pa.string()),
        ("prompt", pa.string()),
        ("a_id", pa.string()),
        ("a_model", pa.string()),
        ("a_text", pa.string()),
        ("b_id", pa.string()),
        ("b_model", pa.string()),
        ("b_text", pa.string()),
        ("n_a", pa.int64()),
        ("strength_a", pa.float64()),
        ("n_b", pa.int64()),
        ("strength_b", pa.float64()),
        ("n_tie", pa.int64()),
        ("n_both_bad", pa.int64()),
    )
)


def retraction(pair_id: int, item_id: str, n_judgments: int) -> dict[str, Any]:
    """The row of an incremental `dpo` pull for a touched pair that is not (or no longer) a
    pair under the query: its key and `retracted`, texts null (the schema of every row)."""
    return {
        "pair_id": pair_id,
        "prompt": None,
        "chosen": None,
        "rejected": None,
        "chosen_model": None,
        "rejected_model": None,
        "item_id": item_id,
        "chosen_id": None,
        "rejected_id": None,
        "n_judgments": n_judgments,
        "agreement": None,
        "margin": None,
        "retracted": True,
    }


def dpo_rows(
    *, project: Project, filters: ExportFilters, conversational: bool
) -> Iterator[dict[str, Any]]:
    """One row per decided pair (format `dpo`), in task order, keyed by `pair_id` (the
    task's id). The pair is decided by the majority of its votes, or with
    `label=dawid_skene` by its Dawid-Skene label (a or b), `agreement` then being the
    label's posterior. With `label=adjudicated` a researcher's adjudication decides the
    pair where there is one (a or b: a row whatever `min_agreement` and `min_judgments`;
    tie or both bad: none), the majority elsewhere; `since` then also gives the pairs
    adjudicated after the cursor. With `since`, the touched pairs that are not pairs under
    the query come as retractions. With conversational prompts, chosen and rejected are one
    assistant message each (TRL's conversational preference format)."""
    by_strength = bool(project.strength_scale)
    walk = scope = None
    votes_filters = filters
    adjudicated: dict[int, tuple[str, str | None]] = {}
    also = None
    if filters.label == "adjudicated":
        adjudicated = adjudicated_labels(project=project)
        if filters.since is not None:
            also = adjudicated_after(project=project, since=filters.since)
    if filters.label == "dawid_skene":
        labels, scope = pair_labels(project=project, filters=filters)
        walk = _LabelWalk(labels)
        # Dawid-Skene labels move with every vote of the project: which pairs to give is
        # known from the labels (`scope`), not from the tasks judged after the cursor.
        votes_filters = replace(filters, since=None)
    sql, params = _around(PAIR_ROWS, _pair_votes(project=project, filters=votes_filters, also=also))
    min_judgments, min_agreement = filters.min_judgments, filters.min_agreement
    for row in sql_rows(sql, params, PAIR_COLUMNS):
        (task_id, item_id, prompt, a_id, a_model, a_text, b_id, b_model, b_text) = row[:9]
        if scope is not None and task_id not in scope:
            continue
        n_a, strength_a, n_b, strength_b, n_tie, n_both_bad = row[9:]
        total = n_a + n_b + n_tie + n_both_bad
        decided = adjudicated.get(task_id)
        if decided is not None:
            # A researcher's a or b is a row whatever the filters; tie or both bad is none.
            winner = decided[0] if decided[0] in DECIDED else None
            agreement = round((n_a if winner == "a" else n_b) / total, 6) if winner else 0.0
            passes = winner is not None
        else:
            if walk is None:
                winner = plurality(n_a, n_b, n_tie, n_both_bad)
                agreement = round((n_a if winner == "a" else n_b) / total, 6) if winner else 0.0
            else:
                winner, agreement = walk.pair_label(task_id)
            passes = not (
                winner is None
                or (min_judgments and total < min_judgments)
                or (min_agreement is not None and agreement < min_agreement)
            )
        if not passes:
            if filters.since is not None:
                yield retraction(task_id, item_id, total)
            continue
        if winner == "a":
            chosen, rejected, strength = (
                (a_id, a_model, a_text),
                (b_id, b_model, b_text),
                strength_a,
            )
        else:
            chosen, rejected, strength = (
                (b_id, b_model, b_text),
                (a_id, a_model, a_text),
                strength_b,
            )
        yield {
            "pair_id": task_id,
            "prompt": _prompt_value(json.loads(prompt), conversational),
            "chosen": _completion(chosen[2], conversational),
            "rejected": _completion(rejected[2], conversational),
            "chosen_model": chosen[1],
            "rejected_model": rejected[1],
            "item_id": item_id,
            "chosen_id": chosen[0],
            "rejected_id": rejected[0],
            "n_judgments": total,
            "agreement": agreement,
            "margin": _margin(winner, n_a, n_b, total, strength, by_strength),
            "retracted": False,
        }


def _completion(text: str, conversational: bool) -> Any:
    return [{"role": "assistant", "content": text}] if conversational else text


# ---------------------------------------------------------------- labels

#: One row per pairwise task with a passing vote (CONTRACT 11): its majority and
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
        after = Case(When(_since_q(filters.since), then=Value(1)), default=Value(0))
        columns.append(WireColumn("after", after, pa.int64()))
    votes = passing_judgments(project=project, filters=filters).filter(choice__in=CHOICES)
    selected = votes.order_by().values_list(*(column.expression for column in columns))
    sql, params = selected.query.sql_with_params()
    return sql_arrays(sql, params, [column.name for column in columns])


class _LabelWalk:
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
    walk = _LabelWalk(labels)
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


# ---------------------------------------------------------------- rubric


def criterion_agreement(values: list[float], criterion: Criterion) -> float:
    """Agreement of one response's scores on one criterion, from every pair of its
    judgments: on an ordinal or interval criterion 1 - mean |difference| / (max - min),
    on a nominal one the share of pairs that agree. 1 when all scores are equal (or there
    is only one), 0 when two judgments sit at opposite ends of the scale."""
    n = len(values)
    if n < 2:
        return 1.0
    pairs = n * (n - 1) / 2
    if criterion.level == Criterion.Level.NOMINAL:
        same = sum(c * (c - 1) / 2 for c in Counter(values).values())
        return same / pairs
    ordered = sorted(values)
    total = sum(value * (2 * k - n + 1) for k, value in enumerate(ordered))
    return max(0.0, 1.0 - total / pairs / (criterion.max - criterion.min))


def criterion_value(
    values: Sequence[float], criterion: Criterion
) -> tuple[int | float | None, float | None]:
    """What one response's scores on one criterion come to, by the criterion's level of
    measurement, and for a nominal one the share of the scores that gave it:

    - nominal: the most frequent value; when two or more values are equally frequent there
      is none, and value and share are both None (a category is never averaged or drawn);
    - ordinal: the median; of an even number of scores the lower of the two middle ones
      (a score of the scale, never a point between two labels);
    - interval: the mean."""
    if criterion.level == Criterion.Level.NOMINAL:
        (top_value, top), *rest = Counter(values).most_common()
        if rest and rest[0][1] == top:
            return None, None
        return int(top_value), round(top / len(values), 6)
    if criterion.level == Criterion.Level.ORDINAL:
        return int(statistics.median_low(values)), None
    return round(statistics.fmean(values), 6), None


def rubric_summary(scores: list[dict[str, Any]], criteria: tuple[Criterion, ...]) -> dict[str, Any]:
    """Value (criterion_value), nominal share and agreement per criterion of one response's
    judgments, and the mean of the agreements (what `min_agreement` filters on)."""
    summary: dict[str, Any] = {}
    agreements: list[float] = []
    for criterion in criteria:
        values = [
            s[criterion.key]
            for s in scores
            if isinstance(s.get(criterion.key), int | float)
            and not isinstance(s.get(criterion.key), bool)
        ]
        value = share = agreement = None
        if values:
            value, share = criterion_value(values, criterion)
            agreement = round(criterion_agreement(values, criterion), 6)
            agreements.append(agreement)
        summary[rubric_score_column(criterion.key)] = value
        if criterion.level == Criterion.Level.NOMINAL:
            summary[f"share_{criterion.key}"] = share
        summary[f"agreement_{criterion.key}"] = agreement
    summary["agreement"] = round(sum(agreements) / len(agreements), 6) if agreements else None
    return summary


class JSONArrayAgg(Aggregate):
    """A JSON column's values gathered into one JSON array (JSON_AGG on PostgreSQL,
    JSON_GROUP_ARRAY on SQLite), in no particular order."""

    function = "JSON_AGG"
    output_field = TextField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            function="JSON_GROUP_ARRAY",
            template="%(function)s(JSON(%(expressions)s))",
            **extra,
        )


# Every rated response with a passing judgment, all its scores and what a row shows of it,
# in task order: one statement, so the rows stream out whatever their number.
RESPONSE_ROWS = """
SELECT scored.task_id, scored.rubric_version, item.external_id, item.prompt,
       response.external_id, response.model, response.text, scored.scores
FROM ({subquery}) scored
JOIN {task} task ON task.id = scored.task_id
JOIN {item} item ON item.id = task.item_id
JOIN {response} response ON response.id = task.response_a_id
ORDER BY scored.task_id, scored.rubric_version
"""
RESPONSE_COLUMNS = tuple(
    WireColumn(name, None, pa.int64() if name in ("task", "rubric_version") else pa.string())
    for name in (
        "task",
        "rubric_version",
        "item_id",
        "prompt",
        "response_id",
        "model",
        "text",
        "scores",
    )
)


def rubric_rows(*, plan: ExportPlan) -> Iterator[dict[str, Any]]:
    """One row per rated response and rubric version (format `rubric`), in task order:
    judgments made under different criteria are never pooled. Each row is summarised with
    its own version's criteria; a column of a criterion its version did not have is null."""
    project, filters = plan.project, plan.query.filters
    criteria_of = dict(plan.rubric_versions)
    current = criteria_of.get(project.rubric_version, plan.criteria)
    types = {column.name: column.type for column in plan.columns}
    value_columns = [
        (name, pa.types.is_floating(types[name]))
        for c in plan.criteria
        for name in (rubric_score_column(c.key), f"share_{c.key}")
        if name in types
    ]
    passing = _scoped(passing_judgments(project=project, filters=filters), filters)
    scored = (
        passing.order_by()
        .values("task_id", "rubric_version")
        .annotate(scores=JSONArrayAgg("scores"))
    )
    sql, params = _around(RESPONSE_ROWS, scored)
    for _, version, item_id, prompt, response_id, model, text, scores in sql_rows(
        sql, params, RESPONSE_COLUMNS
    ):
        given = [s for s in json.loads(scores) if isinstance(s, dict)]
        n = len(given)
        if filters.min_judgments and n < filters.min_judgments:
            continue
        criteria = criteria_of.get(version, current)
        summary = rubric_summary(given, criteria)
        if filters.min_agreement is not None and (
            summary["agreement"] is None or summary["agreement"] < filters.min_agreement
        ):
            continue
        row: dict[str, Any] = {
            "prompt": _prompt_value(json.loads(prompt), plan.conversational),
            "response": text,
            "model": model,
            "item_id": item_id,
            "response_id": response_id,
            "rubric_version": version,
        }
        for name, is_float in value_columns:
            value = summary.get(name)
            row[name] = float(value) if is_float and value is not None else value
        row["n_judgments"] = n
        row.update({f"agreement_{c.key}": summary.get(f"agreement_{c.key}") for c in plan.criteria})
        row["agreement"] = summary["agreement"]
        yield row


# ---------------------------------------------------------------- items


def item_export_rows(
    *, project: Project, filters: ExportFilters, conversational: bool = False
) -> Iterator[dict[str, Any]]:
    """One row per item in the import format (CONTRACT section 4), so that an export
    re-imports unchanged. Items with gold are left out unless `include_gold`; `since` (a
    datetime) picks items created or changed after it. `conversational` (one type per
    column) turns every prompt into messages."""
    items = Item.objects.filter(project=project).order_by("pk")
    if not filters.include_gold:
        items = items.filter(gold__isnull=True)
    if isinstance(filters.since, datetime):
        items = items.filter(updated_at__gt=filters.since)
    rows = items.values_list("pk", "external_id", "prompt", "metadata", "reference", "gold")
    is_pairwise = project.is_pairwise
    for chunk in chunked(rows.iterator(chunk_size=EXPORT_CHUNK), DETAIL_CHUNK):
        ids = [row[0] for row in chunk]
        responses: dict[int, list[dict[str, str]]] = defaultdict(list)
        for item_id, external_id, model, text in (
            Response.objects.filter(item_id__in=ids)
            .order_by("item_id", "position", "pk")
            .values_list("item_id", "external_id", "model", "text")
        ):
            responses[item_id].append({"id": external_id, "model": model, "text": text})
        pairs: dict[int, list[list[str]]] = defaultdict(list)
        if is_pairwise:
            for item_id, a_id, b_id in (
                Task.objects.filter(item_id__in=ids, response_b__isnull=False)
                .order_by("pk")
                .values_list("item_id", "response_a__external_id", "response_b__external_id")
            ):
                pairs[item_id].append([a_id, b_id])
        for pk, external_id, prompt, metadata, reference, gold in chunk:
            row: dict[str, Any] = {
                "id": external_id,
                "prompt": as_messages(prompt) if conversational else prompt,
                "responses": responses[pk],
            }
            if is_pairwise:
                row["pairs"] = pairs[pk]
            row["metadata"] = metadata or {}
            row["gold"] = gold
            row["reference"] = reference
            yield row


# ---------------------------------------------------------------- annotators

#: One row per annotator of the project (CONTRACT 10.3): the pseudonymous id of the
#: `judgments` export (never a crowd platform's worker id), their consent, and quality.
ANNOTATOR_COLUMNS: tuple[pa.Field, ...] = tuple(f.field() for f in ANNOTATORS)


class NumberArrayAgg(Aggregate):
    """A number column's values as one JSON array, nulls kept (JSONB_AGG on PostgreSQL,
    JSON_GROUP_ARRAY on SQLite), in no particular order."""

    function = "JSONB_AGG"
    output_field = JSONField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra)


def annotators_of(*, project: Project) -> QuerySet[Annotator]:
    """Everyone who took part in the project: agreed to its consent, entered it from a crowd
    platform, was given a task or has a judgment in it (imported ones too)."""
    taking_part = (
        Q(pk__in=Judgment.objects.filter(project=project).values("annotator_id"))
        | Q(pk__in=Consent.objects.filter(project=project).values("annotator_id"))
        | Q(pk__in=Assignment.objects.filter(project=project).values("annotator_id"))
        | Q(pk__in=CrowdSession.objects.filter(project=project).values("annotator_id"))
    )
    return Annotator.objects.filter(taking_part)


_ANNOTATOR_VALUES = (
    "pseudonym",
    "external_id",
    "source",
    "kind",
    "is_blocked",
    "consent_version",
    "consented_at",
    "seconds",
    "quality__judgments",
    "quality__decided",
    "quality__left_choices",
    "quality__fast_judgments",
    "quality__gold_judgments",
    "quality__gold_correct",
    "quality__qualified",
    "quality__flags",
    "quality__is_blocked",
)


def _share(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 6) if part is not None and whole else None


def annotator_export_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    """One row per annotator of the project (format `annotators`), oldest first, in one
    statement. `n_judgments` and the seconds count the judgments passing the filters (gold
    with `include_gold`, up to a snapshot's last judgment); consent and the quality figures
    (the project's running AnnotatorStats) are as they are now. `exclude_flagged` leaves
    out flagged and blocked annotators, as the other formats leave out their judgments."""
    annotators = annotators_of(project=project)
    if filters.exclude_flagged:
        annotators = annotators.exclude(pk__in=flagged_annotator_ids(project=project))
    if filters.annotator_kind in Annotator.Kind.values:
        annotators = annotators.filter(kind=filters.annotator_kind)
    consents = Consent.objects.filter(project=project, annotator=OuterRef("pk")).order_by(
        "-version"
    )
    judged = replace(filters, exclude_flagged=False, annotator_kind=None)
    seconds = (
        passing_judgments(project=project, filters=judged)
        .filter(annotator=OuterRef("pk"))
        .order_by()
        .values("annotator")
        .annotate(seconds=NumberArrayAgg("seconds"))
        .values("seconds")
    )
    rows = (
        annotators.annotate(
            quality=FilteredRelation("stats", condition=Q(stats__project=project)),
            consent_version=Subquery(consents.values("version")[:1]),
            consented_at=Subquery(consents.values("consented_at")[:1]),
            seconds=Subquery(seconds[:1], output_field=JSONField()),
        )
        .order_by("pk")
        .values_list(*_ANNOTATOR_VALUES)
    )
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        values = dict(zip(_ANNOTATOR_VALUES, row, strict=True))
        seconds_each = values["seconds"] or []
        timed = [s for s in seconds_each if s is not None]
        consented_at = values["consented_at"]
        yield {
            "annotator": (
                values["external_id"]
                if values["source"] == Annotator.Source.IMPORT
                else values["pseudonym"]
            ),
            "annotator_kind": values["kind"],
            "platform": values["source"],
            "consented_at": iso_time(consented_at) if consented_at else None,
            "consent_version": values["consent_version"],
            "n_judgments": len(seconds_each),
            "gold_judgments": values["quality__gold_judgments"] or 0,
            "gold_accuracy": _share(
                values["quality__gold_correct"], values["quality__gold_judgments"]
            ),
            "left_rate": _share(values["quality__left_choices"], values["quality__decided"]),
            "fast_share": _share(values["quality__fast_judgments"], values["quality__judgments"]),
            "mean_seconds": round(statistics.fmean(timed), 3) if timed else None,
            "median_seconds": round(statistics.median(timed), 3) if timed else None,
            "qualified": values["quality__qualified"],
            "flags": values["quality__flags"] or [],
            "blocked": bool(values["is_blocked"] or values["quality__is_blocked"]),
        }


# ---------------------------------------------------------------- judgments through COPY


class UTCTime(Func):
    """A timestamp as iso_time writes it (UTC, always with microseconds), in PostgreSQL."""

    template = (
        "TO_CHAR(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    )
    output_field = TextField()


def _public_annotator() -> Case:
    return Case(
        When(annotator__source=Annotator.Source.IMPORT, then=F("annotator__external_id")),
        default=F("annotator__pseudonym"),
    )


def judgment_wire_columns(
    project: Project, *, answer_keys: Sequence[str] | None = None
) -> tuple[WireColumn, ...]:
    """The columns a judgments export reads, in the order of judgment_records. The answers
    (`criteria` of a pairwise project, `scores` of a rubric one) come one column per key
    (`criteria.<key>`) for the export's struct, or, with no keys given, as the stored JSON
    text."""
    text, integer = pa.string(), pa.int64()
    head = [
        WireColumn("id", "pk", integer),
        WireColumn("item_id", "task__item__external_id", text),
        WireColumn("task", "task_id", integer),
        WireColumn("annotator", _public_annotator(), text),
        WireColumn("annotator_kind", "annotator__kind", text),
    ]
    field_name = "criteria" if project.is_pairwise else "scores"
    if answer_keys is None:
        answer_columns = [WireColumn(field_name, field_name, text)]
    else:
        value_type = text if project.is_pairwise else integer
        answer_columns = [
            WireColumn(f"{field_name}.{key}", KeyTextTransform(key, field_name), value_type)
            for key in answer_keys
        ]
    if project.is_pairwise:
        body = [
            WireColumn("a", "task__response_a__external_id", text),
            WireColumn("b", "task__response_b__external_id", text),
            WireColumn("a_model", "task__response_a__model", text),
            WireColumn("b_model", "task__response_b__model", text),
            WireColumn("choice", "choice", text),
            WireColumn("strength", "strength", integer),
            *answer_columns,
        ]
    else:
        body = [
            WireColumn("response", "task__response_a__external_id", text),
            WireColumn("model", "task__response_a__model", text),
            *answer_columns,
        ]
    tail = [
        WireColumn("rationale", "rationale", text),
        WireColumn("shown_left", "shown_left__external_id", text),
        WireColumn("seconds", "seconds", pa.float64()),
        WireColumn("created_at", UTCTime("created_at"), text),
        WireColumn("is_gold", "is_gold", pa.bool_()),
        WireColumn("rubric_version", "rubric_version", integer),
    ]
    return tuple(head + body + tail)


def _plan_batches(plan: ExportPlan) -> Iterator[pa.RecordBatch]:
    """The judgments of a plan as read through COPY: its wire columns, answers per key."""
    wire = judgment_wire_columns(plan.project, answer_keys=plan.answer_keys)
    queryset = judgments_for_export(project=plan.project, filters=plan.query.filters)
    return select_batches(queryset, wire)


def judgment_batches(*, plan: ExportPlan) -> Iterator[pa.RecordBatch]:
    """The `judgments` export as record batches in the plan's schema (PostgreSQL)."""
    slug = pa.scalar(plan.project.slug, pa.string())
    for batch in _plan_batches(plan):
        arrays = []
        for field_ in plan.columns:
            if field_.name == "project":
                arrays.append(pa.repeat(slug, batch.num_rows))
            elif pa.types.is_null(field_.type):
                arrays.append(pa.nulls(batch.num_rows))
            elif pa.types.is_struct(field_.type):
                children = [batch.column(f"{field_.name}.{child.name}") for child in field_.type]
                arrays.append(pa.StructArray.from_arrays(children, fields=list(field_.type)))
            else:
                arrays.append(batch.column(field_.name))
        yield pa.RecordBatch.from_arrays(arrays, schema=plan.schema)
