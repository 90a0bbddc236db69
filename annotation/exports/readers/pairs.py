"""The `dpo` format: one row per pair with a passing vote, decided from counts grouped by task
and choice in SQL (or by the Dawid-Skene label with `label=dawid_skene`); row details come
with the counts in one statement, so rows stream out whatever their number.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
from django.db.models import Avg, Count, Q, QuerySet

from annotation.exports.query import ExportFilters
from annotation.exports.rankings import ranking_dpo_rows
from annotation.exports.readers.judgments import passing_judgments
from annotation.exports.readers.labels import LabelWalk, pair_labels
from annotation.exports.readers.shared import (
    DECIDED,
    around,
    completion_value,
    prompt_value,
    scoped,
)
from annotation.models import Annotator, Project
from annotation.pg.copy_out import WireColumn, sql_rows
from annotation.selectors.adjudications import adjudicated_after, adjudicated_labels
from annotation.selectors.judgment_table import CHOICES


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


def _pair_votes(
    *, project: Project, filters: ExportFilters, also: QuerySet | None = None
) -> QuerySet:
    """Per task, the passing votes for each answer (and the mean strength behind a and b);
    with `since`, of the touched tasks and those `also` selects. With `label=hybrid` every
    task with a passing judgment of either kind is there, its counts people's only."""
    passing = scoped(passing_judgments(project=project, filters=filters), filters, also)
    counted = Q(annotator__kind=Annotator.Kind.HUMAN) if filters.label == "hybrid" else Q()
    votes: dict[str, Any] = {}
    for choice in DECIDED:
        votes[f"n_{choice}"] = Count("pk", filter=Q(choice=choice) & counted)
        votes[f"strength_{choice}"] = Avg("strength", filter=Q(choice=choice) & counted)
    for choice in ("tie", "both_bad"):
        votes[f"n_{choice}"] = Count("pk", filter=Q(choice=choice) & counted)
    return passing.exclude(choice="").order_by().values("task_id").annotate(**votes)


def judge_votes(*, project: Project, filters: ExportFilters) -> dict[int, tuple[int, ...]]:
    """Per task, the passing verdicts of the model judges for a, b, tie and both bad (one
    query; `label=hybrid` decides with them the tasks no person judged)."""
    judged = passing_judgments(
        project=project, filters=replace(filters, annotator_kind=Annotator.Kind.MODEL)
    )
    counts = {f"n_{choice}": Count("pk", filter=Q(choice=choice)) for choice in CHOICES}
    rows = judged.exclude(choice="").order_by().values("task_id").annotate(**counts)
    return {
        row["task_id"]: tuple(row[f"n_{choice}"] for choice in CHOICES) for row in rows.iterator()
    }


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


def retraction(
    pair_id: int, item_id: str, n_judgments: int, *, expand: str | None = None
) -> dict[str, Any]:
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
        "source": "pairwise" if expand is None else "ranking",
        "expand": expand,
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
    decider, scope, votes = _pair_decider(project=project, filters=filters)
    sql, params = around(PAIR_ROWS, votes)
    by_strength = bool(project.strength_scale)
    hybrid = filters.label == "hybrid"
    judged = judge_votes(project=project, filters=filters) if hybrid else {}
    for row in sql_rows(sql, params, PAIR_COLUMNS):
        task_id, item_id = row[0], row[1]
        if scope is not None and task_id not in scope:
            continue
        n_a, _, n_b, _, n_tie, n_both_bad = row[9:]
        source = "human"
        if hybrid and not n_a + n_b + n_tie + n_both_bad:
            # No person judged the pair: the judges' calibrated verdicts decide it.
            n_a, n_b, n_tie, n_both_bad = judged.get(task_id, (0, 0, 0, 0))
            row = (*row[:9], n_a, None, n_b, None, n_tie, n_both_bad)
            source = "judge"
        total = n_a + n_b + n_tie + n_both_bad
        winner, agreement = decider.decide(task_id, n_a, n_b, n_tie, n_both_bad)
        if winner is None:
            if filters.since is not None:
                yield _with_source(retraction(task_id, item_id, total), source if hybrid else None)
            continue
        decided = _dpo_row(
            row, winner, agreement, conversational=conversational, by_strength=by_strength
        )
        yield _with_source(decided, source if hybrid else None)


def _with_source(row: dict[str, Any], source: str | None) -> dict[str, Any]:
    """A row of a `label=hybrid` pull says whose label it is, before `retracted`."""
    if source is None:
        return row
    retracted = row.pop("retracted")
    return {**row, "label_source": source, "retracted": retracted}


@dataclass(frozen=True)
class _PairDecider:
    """How a pair is decided: a researcher's adjudication where there is one (with
    `label=adjudicated`), else its Dawid-Skene label (`walk`, with `label=dawid_skene`) or
    the plurality of its votes, held to the filters' minimums."""

    adjudicated: Mapping[int, tuple[str, str | None]]
    walk: LabelWalk | None
    min_judgments: int | None
    min_agreement: float | None

    def decide(
        self, task_id: int, n_a: int, n_b: int, n_tie: int, n_both_bad: int
    ) -> tuple[str | None, float]:
        """The winner, a or b (None: the pair gives no row), and the agreement behind it."""
        total = n_a + n_b + n_tie + n_both_bad
        decided = self.adjudicated.get(task_id)
        if decided is not None:
            # A researcher's a or b is a row whatever the filters; tie or both bad is none.
            winner = decided[0] if decided[0] in DECIDED else None
            return winner, _vote_share(winner, n_a, n_b, total)
        if self.walk is None:
            winner = plurality(n_a, n_b, n_tie, n_both_bad)
            agreement = _vote_share(winner, n_a, n_b, total)
        else:
            winner, agreement = self.walk.pair_label(task_id)
        if (
            winner is None
            or (self.min_judgments and total < self.min_judgments)
            or (self.min_agreement is not None and agreement < self.min_agreement)
        ):
            return None, agreement
        return winner, agreement


def _vote_share(winner: str | None, n_a: int, n_b: int, total: int) -> float:
    return round((n_a if winner == "a" else n_b) / total, 6) if winner else 0.0


def _pair_decider(
    *, project: Project, filters: ExportFilters
) -> tuple[_PairDecider, set[int] | None, QuerySet]:
    """The decider of the query's label, the pairs to give when the labels decide that
    (else None: every pair the votes select), and the per-task votes to read."""
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
        walk = LabelWalk(labels)
        # Dawid-Skene labels move with every vote of the project: which pairs to give is
        # known from the labels (`scope`), not from the tasks judged after the cursor.
        votes_filters = replace(filters, since=None)
    decider = _PairDecider(adjudicated, walk, filters.min_judgments, filters.min_agreement)
    return decider, scope, _pair_votes(project=project, filters=votes_filters, also=also)


def _dpo_row(
    row: tuple, winner: str, agreement: float, *, conversational: bool, by_strength: bool
) -> dict[str, Any]:
    """A PAIR_ROWS row as a dpo row, the winner's response chosen."""
    task_id, item_id, prompt, a_id, a_model, a_text, b_id, b_model, b_text = row[:9]
    n_a, strength_a, n_b, strength_b, n_tie, n_both_bad = row[9:]
    total = n_a + n_b + n_tie + n_both_bad
    a, b = (a_id, a_model, a_text), (b_id, b_model, b_text)
    chosen, rejected, strength = (a, b, strength_a) if winner == "a" else (b, a, strength_b)
    margin = _margin(winner, n_a, n_b, total, strength, by_strength)
    return pair_row(
        task_id,
        item_id,
        json.loads(prompt),
        chosen,
        rejected,
        total,
        agreement,
        margin,
        conversational=conversational,
    )


def pair_row(
    pair_id: int,
    item_id: str,
    prompt: Any,
    chosen: tuple[str, str, str],
    rejected: tuple[str, str, str],
    n_judgments: int,
    agreement: float,
    margin: float | None,
    *,
    conversational: bool,
    expand: str | None = None,
) -> dict[str, Any]:
    """A decided pair's `dpo` row; `chosen` and `rejected` are (response id, model, text),
    `expand` says how rankings gave the pair (None: a pairwise task)."""
    return {
        "pair_id": pair_id,
        "prompt": prompt_value(prompt, conversational),
        "chosen": completion_value(chosen[2], conversational),
        "rejected": completion_value(rejected[2], conversational),
        "chosen_model": chosen[1],
        "rejected_model": rejected[1],
        "item_id": item_id,
        "chosen_id": chosen[0],
        "rejected_id": rejected[0],
        "n_judgments": n_judgments,
        "agreement": agreement,
        "margin": margin,
        "source": "pairwise" if expand is None else "ranking",
        "expand": expand,
        "retracted": False,
    }


def ranking_pair_rows(
    *, project: Project, filters: ExportFilters, conversational: bool
) -> Iterator[dict[str, Any]]:
    """The `dpo` rows of a ranking project: the pairs its rankings imply, counted and
    decided as a pairwise task's votes are (annotation/exports/rankings.py)."""
    expand = filters.expand or "adjacent"
    passing = passing_judgments(project=project, filters=filters)
    return ranking_dpo_rows(
        filters=filters,
        passing=passing,
        scoped=scoped(passing, filters),
        plurality=plurality,
        row=functools.partial(pair_row, conversational=conversational, expand=expand),
        retraction=functools.partial(retraction, expand=expand),
    )
