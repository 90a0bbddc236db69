"""Computing a project's statistics report: agreement, annotators, model judges,
transitivity, the leaderboard and the aggregated label of every task.

Everything is read once into numpy columns (see selectors.judgment_table) and handed to
annotation.stats; the result is stored as a new AgreementReport row, so the last good
report stays in place if a computation dies half-way, and a computation that fails is
stored as a failed row with its error. Figures and leaderboards are computed for each
annotator kind (people, imported model judges, both) in the same run: a kind whose judgments
are those of another (no judge in the project: `all` is `human`) is stored as the name of
that one, so a project without judges pays nothing more. The leaderboards that keep flagged
annotators (an audit, rarely read) are stored as their win and tie tables and fitted when
first asked for.
The agreement reports and leaderboards are computed in a second thread while this one
labels the tasks and writes them (annotation.services.task_labels): numpy releases the GIL,
so a report over a million judgments uses two cores.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from annotation import scheduling
from annotation.breaker import RedisSkipped, redis_breaker
from annotation.db import database_unreachable, replica_reads
from annotation.errors import ValidationFailed
from annotation.models import (
    AgreementReport,
    Annotator,
    AnnotatorStats,
    Criterion,
    Judgment,
    Project,
)
from annotation.pg.locks import session_lock
from annotation.selectors.judgment_table import (
    CHOICES,
    JudgmentTable,
    judgment_table,
    task_references,
)
from annotation.selectors.quality import flagged_annotator_ids
from annotation.selectors.ranking_table import RankingTable, ranking_table
from annotation.selectors.reports import (
    ReportState,
    report_is_stale,
    report_last_attempt,
    report_state,
)
from annotation.selectors.span_table import span_tables
from annotation.services.judge_measures import (
    judge_measures,
    ranking_judge_measures,
    rubric_judge_measures,
)
from annotation.services.sampling import sampling_forget
from annotation.services.task_labels import task_labels_from_table, task_labels_store
from annotation.services.webhooks import webhook_events_after_report
from annotation.stats import (
    Ratings,
    aggregate_votes,
    agreement_reports,
    annotator_agreement,
    annotator_inconsistencies,
    choice_criteria_conflicts,
    choice_criteria_conflicts_by_annotator,
    first_shown_first,
    leaderboard_from_counts,
    majority_vote,
    mid_ranks,
    ranking_agreement,
    ranking_leaderboards,
    reference_agreement,
    span_agreement,
    transitivity_global,
    transitivity_items,
)

logger = logging.getLogger(__name__)

N_BOOT = 1000
TIE, BOTH_BAD = CHOICES.index("tie"), CHOICES.index("both_bad")

#: Whose judgments figures count: people (the default), imported model judges, or both.
ANNOTATOR_KINDS = ("human", "model", "all")
DEFAULT_KIND = "human"
#: A stored leaderboard variant that keeps flagged and blocked annotators: "human+flagged".
WITH_FLAGGED = "+flagged"
#: The longest error text a failed report keeps.
MAX_ERROR_LENGTH = 2000


def _overall_ratings(table: JudgmentTable, project: Project) -> tuple[Ratings, str]:
    """The pairwise choice as ratings: nominal a / b / tie (/ both bad), or, when strength
    is collected, ordinal from 'a much better' (-3) through tie (0) to 'b much better' (+3)."""
    if project.strength_scale:
        decided = table.choice <= 1
        signed = np.where(
            table.choice == 0, -np.maximum(table.strength, 1), np.maximum(table.strength, 1)
        )
        value = np.where(decided, signed, np.where(table.choice == TIE, 0, np.nan))
        keep = ~np.isnan(value)
        return (
            Ratings(
                table.task[keep],
                table.annotator[keep],
                value[keep].astype(np.int64) + project.strength_scale,
            ),
            "ordinal",
        )
    keep = table.choice >= 0
    # 'Both bad' counts as a category once any judgment gave it (the setting may have been
    # switched off since).
    both_bad = project.allow_both_bad or bool(np.any(table.choice == BOTH_BAD))
    return Ratings(
        table.task[keep],
        table.annotator[keep],
        table.choice[keep],
        n_categories=len(CHOICES) if both_bad else 3,
    ), "nominal"


def _criterion_ratings(
    table: JudgmentTable, criterion: Criterion, project: Project
) -> tuple[Ratings, str]:
    values = table.criteria[criterion.key]
    keep = values >= (0 if project.is_pairwise else criterion.min)
    if not project.is_pairwise:
        keep &= values <= criterion.max
    level = "nominal" if project.is_pairwise else criterion.level
    n_categories = 3 if project.is_pairwise else criterion.max - criterion.min + 1
    return Ratings(
        table.task[keep], table.annotator[keep], values[keep], n_categories=n_categories
    ), level


def _per_annotator(
    table: JudgmentTable,
    overall: Ratings | None,
    project: Project,
    extra: Mapping[int, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row of figures per annotator, each figure one bincount over all judgments, and
    the `extra` figures of some annotators by id."""
    ids, index = np.unique(table.annotator, return_inverse=True)
    size = len(ids)

    def per_annotator(
        mask: npt.NDArray[np.bool_], weights: npt.NDArray | None = None
    ) -> npt.NDArray:
        return np.bincount(
            index[mask], weights=None if weights is None else weights[mask], minlength=size
        )

    judgments = np.bincount(index, minlength=size)
    timed = ~np.isnan(table.seconds)
    median_seconds = _group_medians(index[timed], table.seconds[timed], size)
    graded = table.gold_correct >= 0
    gold_judgments = per_annotator(graded)
    gold_correct = per_annotator(graded, table.gold_correct)
    # A decided vote chose the left side when the chosen response (0 = a) is not the one
    # flagged as shown left (1 = a was left).
    decided = (table.choice >= 0) & (table.choice <= 1) & (table.left_is_a >= 0)
    decided_votes = per_annotator(decided)
    left_votes = per_annotator(decided & (table.choice != table.left_is_a))

    agreement = {}
    if overall is not None and len(overall):
        agreement = {row["annotator"]: row["agreement"] for row in annotator_agreement(overall)}
    stats = {s.annotator_id: s for s in AnnotatorStats.objects.filter(project=project)}
    annotators = {a.pk: a for a in Annotator.objects.filter(pk__in=ids.tolist())}
    rows = []
    for position, annotator_id in enumerate(ids.tolist()):
        annotator = annotators.get(annotator_id)
        stat = stats.get(annotator_id)
        gold, decided_n = int(gold_judgments[position]), int(decided_votes[position])
        rows.append(
            {
                "annotator": annotator.public_id if annotator else str(annotator_id),
                "kind": annotator.kind if annotator else "human",
                "judgments": int(judgments[position]),
                "agreement_with_others": agreement.get(annotator_id),
                "gold_accuracy": float(gold_correct[position] / gold) if gold else None,
                "left_rate": float(left_votes[position] / decided_n) if decided_n else None,
                "median_seconds": (
                    None if np.isnan(median_seconds[position]) else float(median_seconds[position])
                ),
                "flags": list(stat.flags) if stat else [],
                "blocked": bool(stat.is_blocked) if stat else False,
                **(extra or {}).get(annotator_id, {}),
            }
        )
    rows.sort(key=lambda r: (-r["judgments"], r["annotator"]))
    return rows


def _group_medians(
    group: npt.NDArray[np.int64], values: npt.NDArray[np.float64], n_groups: int
) -> npt.NDArray[np.float64]:
    """The median of each group's values as np.median gives it (nan for an empty group):
    one sort of (group, rank of the value) keys, then the middle one or two of each group."""
    distinct, rank = np.unique(values, return_inverse=True)
    ordered = distinct[np.sort(group * len(distinct) + rank.reshape(-1)) % max(len(distinct), 1)]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    medians = np.full(n_groups, np.nan)
    has = counts > 0
    low = starts[has] + (counts[has] - 1) // 2
    high = starts[has] + counts[has] // 2
    medians[has] = (ordered[low] + ordered[high]) / 2
    return medians


def _outcomes(
    table: JudgmentTable,
) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray, npt.NDArray]:
    """Votes between two different models as (usable rows, model a, model b, outcome): a win
    1, a loss 0; a tie or 'both bad' is half a win each (the Bradley-Terry convention for
    ties, as in Chatbot Arena's notebook)."""
    usable = (table.choice >= 0) & (table.model_a >= 0) & (table.model_b >= 0)
    usable &= table.model_a != table.model_b
    outcome = np.select([table.choice == 0, table.choice == 1], [1.0, 0.0], default=0.5)
    return usable, table.model_a[usable], table.model_b[usable], outcome[usable]


def _distinct(masks: Mapping[str, npt.NDArray[np.bool_]]) -> dict[str, Any]:
    """The masks by name, each one equal to an earlier one replaced by that one's name."""
    distinct: dict[str, Any] = {}
    for name, mask in masks.items():
        same = next(
            (
                known
                for known, earlier in distinct.items()
                if not isinstance(earlier, str) and np.array_equal(earlier, mask)
            ),
            None,
        )
        distinct[name] = mask if same is None else same
    return distinct


def _kind_masks(table: JudgmentTable) -> dict[str, npt.NDArray[np.bool_]]:
    return {"human": ~table.is_model, "model": table.is_model, "all": np.ones(len(table), bool)}


def _vote_counts(
    table: JudgmentTable, regular: npt.NDArray[np.bool_], flagged: npt.NDArray[np.bool_]
) -> dict[str, Any]:
    """The win and tie tables of each leaderboard variant (annotator kind, with or without
    flagged annotators) over the `regular` rows (not gold), None without votes, or the name
    of a variant with the same votes. Only the few columns a vote needs are copied."""
    usable = regular & (table.choice >= 0) & (table.model_a >= 0) & (table.model_b >= 0)
    usable &= table.model_a != table.model_b
    model_a, model_b, choice = table.model_a[usable], table.model_b[usable], table.choice[usable]
    outcome = np.where(choice == 0, 1.0, np.where(choice == 1, 0.0, 0.5))
    is_model, counted = table.is_model[usable], ~flagged[usable]
    kinds = {"human": ~is_model, "model": is_model, "all": np.ones(len(choice), dtype=bool)}
    masks = {kind: mask & counted for kind, mask in kinds.items()}
    masks |= {kind + WITH_FLAGGED: mask for kind, mask in kinds.items()}

    def counts(mask: npt.NDArray[np.bool_]) -> Any:
        if not mask.any():
            return None
        if mask.all():  # the usual case: every vote counts, no copy
            return aggregate_votes(model_a, model_b, outcome, len(table.models))
        return aggregate_votes(model_a[mask], model_b[mask], outcome[mask], len(table.models))

    return {
        name: mask if isinstance(mask, str) else counts(mask)
        for name, mask in _distinct(masks).items()
    }


def _counts_for_later(
    tables: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]], names: list[str], n_boot: int
) -> dict[str, Any]:
    """A leaderboard variant kept as its win and tie tables, fitted when first asked for
    (those that keep flagged annotators: an audit, rarely read, and a bootstrap fit each)."""
    wins, ties = tables
    return {
        "counts": {"wins": wins.tolist(), "ties": ties.tolist(), "models": names},
        "n_boot": n_boot,
    }


#: How long a leaderboard fitted on demand from stored counts is kept in the cache.
LATER_BOARD_SECONDS = 24 * 3600


def _fitted_later(report: AgreementReport, name: str, stored: dict[str, Any]) -> dict[str, Any]:
    """The leaderboard of a variant stored as counts, fitted once per report and variant
    (the cache keeps it; the fit is deterministic, so two requests at once agree)."""

    def fit() -> dict[str, Any]:
        counts = stored["counts"]
        result = leaderboard_from_counts(
            np.array(counts["wins"], dtype=np.int64),
            np.array(counts["ties"], dtype=np.int64),
            n_boot=stored["n_boot"],
        )
        return board_as_api(result, counts["models"])

    key = f"leaderboard:{report.project_id}:{report.pk}:{report.computed_at.isoformat()}:{name}"
    return cache.get_or_set(key, fit, LATER_BOARD_SECONDS)


def board_as_api(result: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """A leaderboard as the API gives it: model names, best first, and the win rates."""
    rows = [
        {
            "model": names[r["model_index"]],
            "rating": r["rating"],
            "ci": r["ci"],
            "wins": r["wins"],
            "losses": r["losses"],
            "ties": r["ties"],
            "n": r["n"],
        }
        for r in result["leaderboard"]
    ]
    matrix = result["win_rate"]
    present = [r["model_index"] for r in result["leaderboard"]]
    win_rate = {
        names[i]: {
            names[j]: round(float(matrix[i, j]), 4)
            for j in present
            if i != j and not np.isnan(matrix[i, j])
        }
        for i in present
    }
    return {
        "results": rows,
        "win_rate": win_rate,
        "n_votes": int(result["n_votes"]),
        "n_boot": int(result["n_boot"]),
        "ties": "half a win each",
    }


#: At most this many cyclic items and inconsistent annotators are listed in a report (the
#: most cycles or inconsistencies first); the totals always count them all.
CONSISTENCY_LISTED = 500


def _annotator_consistency(
    table: JudgmentTable,
    usable: npt.NDArray[np.bool_],
    model_a: npt.NDArray[np.int64],
    model_b: npt.NDArray[np.int64],
    outcome: npt.NDArray[Any],
    items: dict[str, Any],
) -> tuple[npt.NDArray[np.int64], dict[str, npt.NDArray[np.int64]]]:
    """The annotators checked and, per annotator, their intransitive triads and tie
    contradictions within items, and their choices against their own criterion answers."""
    # An annotator's triad lies within an item where three models were compared: only
    # those items' votes are looked at (none, in the usual one-pair-per-item project).
    ranked = (table.choice[usable] != BOTH_BAD) & np.isin(table.item[usable], items["item"])
    people = annotator_inconsistencies(
        table.annotator[usable][ranked],
        table.item[usable][ranked],
        model_a[ranked],
        model_b[ranked],
        outcome[ranked],
    )
    # TrustJudge's score-comparison inconsistencies: a choice against one's own criteria.
    scored = (
        choice_criteria_conflicts_by_annotator(
            table.annotator, table.choice, np.column_stack(list(table.criteria.values()))
        )
        if table.criteria
        else {
            "annotator": np.zeros(0, np.int64),
            "conflicts": np.zeros(0, np.int64),
            "checked": np.zeros(0, np.int64),
        }
    )
    ids = np.union1d(people["annotator"], scored["annotator"])

    def spread(source: npt.NDArray[np.int64], values: npt.NDArray[np.int64]) -> Any:
        out = np.zeros(len(ids), dtype=np.int64)
        out[np.searchsorted(ids, source)] = values
        return out

    per_annotator = {
        "triads_checked": spread(people["annotator"], people["triads_checked"]),
        "intransitive": spread(people["annotator"], people["intransitive"]),
        "tie_contradictions": spread(people["annotator"], people["tie_contradictions"]),
        "score_conflicts": spread(scored["annotator"], scored["conflicts"]),
        "score_checked": spread(scored["annotator"], scored["checked"]),
    }
    return ids, per_annotator


def _consistency_details(
    items: dict[str, Any], ids: npt.NDArray[np.int64], per_annotator: dict[str, Any]
) -> dict[str, Any]:
    """The cyclic items and the inconsistent annotators a report lists, the most cycles or
    inconsistencies first, at most CONSISTENCY_LISTED of each."""
    wrong = (
        per_annotator["intransitive"]
        + per_annotator["tie_contradictions"]
        + per_annotator["score_conflicts"]
    )
    inconsistent = np.flatnonzero(wrong > 0)
    inconsistent = inconsistent[np.argsort(-wrong[inconsistent], kind="stable")]
    cyclic = np.flatnonzero(items["cycles"] > 0)
    cyclic = cyclic[np.argsort(-items["cycles"][cyclic], kind="stable")][:CONSISTENCY_LISTED]
    return {
        "n_cyclic_items": int((items["cycles"] > 0).sum()),
        "cyclic_items": [
            {
                "item_id": int(items["item"][i]),
                "cycles": int(items["cycles"][i]),
                "triads_checked": int(items["triads_checked"][i]),
            }
            for i in cyclic
        ],
        "annotators_checked": len(ids),
        "n_inconsistent_annotators": len(inconsistent),
        "annotators": [
            {
                "annotator_id": int(ids[i]),
                **{name: int(values[i]) for name, values in per_annotator.items()},
            }
            for i in inconsistent[:CONSISTENCY_LISTED]
        ],
    }


def _transitivity(table: JudgmentTable) -> tuple[dict[str, int], dict[str, Any]]:
    """The transitivity counts, and the details behind them: which items' majorities go
    round in a cycle, and which annotators' own votes on an item form intransitive triads or
    tie contradictions (ties and strict votes only: "both bad" ranks nothing) or choose
    against their own criterion answers."""
    usable, model_a, model_b, outcome = _outcomes(table)
    global_ = transitivity_global(model_a, model_b, outcome, n_models=len(table.models))
    items = transitivity_items(table.item[usable], model_a, model_b, outcome)
    ids, per_annotator = _annotator_consistency(table, usable, model_a, model_b, outcome, items)
    details = _consistency_details(items, ids, per_annotator)
    counts = {
        "cycles": int(global_["cycles"]),
        "triads_checked": int(global_["triads_checked"]),
        "item_cycles": int(items["cycles"].sum()),
        "item_triads_checked": int(items["triads_checked"].sum()),
        "items_checked": len(items["item"]),
    }
    return counts, details


def kind_ratings(
    regular: JudgmentTable, project: Project, criteria: list[Criterion]
) -> tuple[dict[str, tuple[Ratings, str]], Ratings | None, Ratings | None]:
    """The ratings of each criterion (and of the pairwise choice), the overall ratings that
    per-annotator agreement is read on, and, with strength, the bare choice."""
    ratings: dict[str, tuple[Ratings, str]] = {}
    overall: Ratings | None = None
    choice: Ratings | None = None
    if project.is_ranking:
        return ratings, overall, choice  # the rankings' own agreement: _ranking_overall
    if project.is_pairwise:
        ratings["overall"] = _overall_ratings(regular, project)
        overall = ratings["overall"][0]
        if project.strength_scale:
            # The signed strength is ordinal; the bare choice (which side, or a tie) is
            # reported beside it, since chance-corrected kappas are read on it.
            decided = regular.choice >= 0
            choice = Ratings(
                regular.task[decided], regular.annotator[decided], regular.choice[decided]
            )
            ratings["choice"] = (choice, "nominal")
    for criterion in criteria:
        ratings[criterion.key] = _criterion_ratings(regular, criterion, project)
        if overall is None and not project.is_pairwise:
            overall = ratings[criterion.key][0]
    return ratings, overall, choice


def _reference_agreement(
    regular: JudgmentTable,
    references: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    n_boot: int,
) -> dict[str, Any]:
    """How often the decided majority (a or b) of the judged tasks equals the original
    dataset's label of their item, with a bootstrap interval over items."""
    reference_task, reference_code = references
    keep = regular.choice >= 0
    task_ids, first, task_index = np.unique(
        regular.task[keep], return_index=True, return_inverse=True
    )
    _, annotator_index = np.unique(regular.annotator[keep], return_inverse=True)
    majority, _ = majority_vote(
        task_index.reshape(-1),
        annotator_index.reshape(-1),
        regular.choice[keep],
        len(CHOICES),
        n_tasks=len(task_ids),
    )
    position = np.minimum(np.searchsorted(reference_task, task_ids), len(reference_task) - 1)
    found = reference_task[position] == task_ids
    return reference_agreement(
        np.where(majority <= 1, majority, -1),
        np.where(found, reference_code[position], -1),
        regular.item[keep][first],
        n_boot=n_boot,
    )


def _kind_figures(
    rows: JudgmentTable,
    regular: JudgmentTable,
    overall: Ratings | None,
    project: Project,
    references: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None,
    n_boot: int,
    ranks: RankingTable | None = None,
) -> dict[str, Any]:
    """Everything of one kind's report but the agreement reports (computed beside it):
    `rows` are the kind's judgments, `regular` those of them not on gold tasks, `ranks`
    the kind's rankings in a ranking project."""
    extra: dict[int, dict[str, Any]] = {}
    figures: dict[str, Any] = {"n_judgments": len(rows)}
    if ranks is not None:
        figures["position_bias"], extra = _position_bias(ranks)
    figures["annotators"] = _per_annotator(rows, overall, project, extra) if len(rows) else []
    if project.is_pairwise:
        # Counted here, left out of the leaderboard (README, Arena safety).
        figures["identity_leak_votes"] = int(np.count_nonzero(regular.identity_leak))
        figures["transitivity"], figures["consistency_details"] = _transitivity(regular)
        if regular.criteria:
            figures["consistency"] = choice_criteria_conflicts(
                regular.choice, np.column_stack(list(regular.criteria.values()))
            )
        if references is not None and len(references[0]):
            figures["reference_agreement"] = _reference_agreement(regular, references, n_boot)
    return figures


# ------------------------------------------------------------------ ranking projects

#: What a ranking leaderboard says about ties (stats.listwise explains Breslow's rule).
RANKING_TIES = "each member of a tied group chosen from the same set (Breslow)"


def _ranking_kind_masks(ranks: RankingTable) -> dict[str, npt.NDArray[np.bool_]]:
    return {"human": ~ranks.is_model, "model": ranks.is_model, "all": np.ones(len(ranks), bool)}


def _rank_ratings(ranks: RankingTable) -> Ratings:
    """Each ranked response is a unit and an annotator's mid-rank of it a value (doubled,
    so ties' half places stay integers): per-annotator agreement is read on these."""
    value = np.rint(2 * mid_ranks(ranks.judgment, ranks.group)).astype(np.int64)
    return Ratings(ranks.response, ranks.annotator, value)


def _ranking_overall(ranks: RankingTable, n_boot: int) -> dict[str, Any]:
    """The report's `overall` of a ranking project: Kendall's W and ordinal alpha over ranks
    with their intervals, over the rankings of non-gold tasks."""
    return ranking_agreement(
        ranks.judgment, ranks.item, ranks.annotator, ranks.response, ranks.group, n_boot=n_boot
    )


def _position_bias(ranks: RankingTable) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
    """How often the response shown first (label A) was ranked first, against the chance
    of that for an annotator blind to the order (the top group's share of the responses),
    over rankings with a stored shown order: the whole project and each annotator. The
    running flag is `first_shown_first` (services.quality)."""
    rankings, first, chance = first_shown_first(ranks.judgment, ranks.group, ranks.shown)
    annotator = (
        ranks.annotator[np.searchsorted(ranks.judgment, rankings)] if len(rankings) else rankings
    )
    ids, index = np.unique(annotator, return_inverse=True)
    n = np.bincount(index, minlength=len(ids))
    rate = np.bincount(index, weights=first, minlength=len(ids)) / np.maximum(n, 1)
    expected = np.bincount(index, weights=chance, minlength=len(ids)) / np.maximum(n, 1)
    project = {
        "first_shown_ranked_first": float(first.mean()) if len(first) else None,
        "expected": float(chance.mean()) if len(chance) else None,
        "n_rankings": len(first),
    }
    per_annotator = {
        int(a): {
            "first_shown_first_rate": float(rate[i]),
            "first_shown_first_expected": float(expected[i]),
        }
        for i, a in enumerate(ids.tolist())
    }
    return project, per_annotator


def _ranking_board_counts(ranks: RankingTable, flagged: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """The rankings each leaderboard variant is fitted on (annotator kind, with or without
    flagged annotators; gold tasks never count), or the name of a variant with the same."""
    usable = ~ranks.is_gold & (ranks.model >= 0)
    kinds = _ranking_kind_masks(ranks)
    masks = {kind: mask & usable & ~flagged for kind, mask in kinds.items()}
    masks |= {kind + WITH_FLAGGED: mask & usable for kind, mask in kinds.items()}
    return {
        name: mask if isinstance(mask, str) else (ranks.subset(mask) if mask.any() else None)
        for name, mask in _distinct(masks).items()
    }


def _ranking_leaderboards(ranks: RankingTable, n_boot: int) -> dict[str, Any]:
    """Plackett-Luce and Bradley-Terry over the implied pairs, as stats.listwise fits them."""
    return ranking_leaderboards(
        ranks.judgment, ranks.item, ranks.model, ranks.group, len(ranks.models), n_boot=n_boot
    )


def _ranking_board(result: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """A ranking project's leaderboard as the API gives it: Plackett-Luce in the usual
    shape (`method: plackett_luce`), each row also counting the rankings the model is in,
    and Bradley-Terry over the implied pairs as a second block of the same shape."""
    board = board_as_api(result["plackett_luce"], names)
    rankings = {
        names[r["model_index"]]: r["rankings"] for r in result["plackett_luce"]["leaderboard"]
    }
    for row in board["results"]:
        row["rankings"] = rankings[row["model"]]
    pairs = board_as_api(result["bradley_terry"], names)
    return {
        "method": "plackett_luce",
        **board,
        "ties": RANKING_TIES,
        "bradley_terry": {
            "method": "bradley_terry",
            "pairs": "every pair each ranking implies",
            **pairs,
        },
    }


def _criteria(agreement: _Job, listwise: _Job | None) -> dict[str, Any]:
    """The report's criteria: the rankings' agreement as `overall` in a ranking project."""
    return {**({"overall": listwise.value} if listwise is not None else {}), **agreement.value}


def _span_parts(
    second: _SecondThread,
    project: Project,
    span_criteria: list[Criterion],
    kinds: dict[str, Any],
    last_id: int,
    n_boot: int,
) -> dict[str, dict[str, _Job]]:
    """Each spans criterion's agreement per annotator kind, over non-gold judgments,
    computed on the second thread (README "Span-level feedback")."""
    if not span_criteria:
        return {}
    labels = [label["key"] for c in span_criteria for label in c.labels]
    coders, marks = span_tables(project=project, labels=labels, up_to_id=last_id)
    parts: dict[str, dict[str, _Job]] = {}
    for kind, mask in kinds.items():
        if isinstance(mask, str):
            continue
        coder_rows = _span_kind_mask(kind, coders.is_model) & ~coders.is_gold
        mark_rows = _span_kind_mask(kind, marks.is_model) & ~marks.is_gold
        parts[kind] = {}
        first = 0
        for criterion in span_criteria:
            keys = [label["key"] for label in criterion.labels]
            own = mark_rows & (marks.label >= first) & (marks.label < first + len(keys))
            parts[kind][criterion.key] = second.submit(
                _span_entry,
                keys,
                (coders.judgment[coder_rows], coders.response[coder_rows]),
                (coders.annotator[coder_rows], coders.length[coder_rows]),
                (marks.response[own], marks.annotator[own], marks.label[own] - first),
                (marks.start[own], marks.end[own]),
                n_boot,
            )
            first += len(keys)
    return parts


def _span_kind_mask(kind: str, is_model: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    return {"human": ~is_model, "model": is_model}.get(kind, np.ones(len(is_model), bool))


def _span_entry(
    keys: list[str],
    judged: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    coders: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    marks: tuple[npt.NDArray[np.int64], ...],
    bounds: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    n_boot: int,
) -> dict[str, Any]:
    """A spans criterion's report entry: unitizing alpha as its `krippendorff_alpha`
    (level `unitizing`), character F1, the same per label, and the counts."""
    judgment, response = judged
    result = span_agreement(response, *coders, *marks, *bounds, n_labels=len(keys), n_boot=n_boot)
    return {
        "krippendorff_alpha": {**result["unitizing_alpha"], "level": "unitizing"},
        "char_f1": result["char_f1"],
        "labels": {key: figures for key, figures in zip(keys, result["labels"], strict=True)},
        "n_items": result["n_items"],
        "n_annotators": result["n_annotators"],
        "n_judgments": len(np.unique(judgment)),
        "n_spans": result["n_spans"],
    }


@dataclass
class _Job:
    future: Future
    run: Callable[[], Any]
    value: Any = None


@dataclass
class _SecondThread:
    """Numpy work for a second thread (its loops release the GIL). Whatever the thread has
    not started by the time this one is free is done here, the last queued first."""

    pool: ThreadPoolExecutor
    jobs: list[_Job] = field(default_factory=list)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> _Job:
        def run() -> Any:
            return fn(*args, **kwargs)

        job = _Job(self.pool.submit(run), run)
        self.jobs.append(job)
        return job

    def finish(self) -> None:
        for job in reversed(self.jobs):
            job.value = job.run() if job.future.cancel() else job.future.result()

    def drop(self) -> None:
        for job in self.jobs:
            job.future.cancel()


def _last_judgment_id(project: Project) -> int:
    return (
        Judgment.objects.filter(project=project)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    ) or 0


def _kind_parts(
    second: _SecondThread,
    project: Project,
    table: JudgmentTable,
    ranks: RankingTable | None,
    kinds: dict[str, Any],
    criteria: list[Criterion],
    n_boot: int,
) -> dict[str, tuple]:
    """For each annotator kind with judgments of its own: its rows, their regular (not
    gold) part, the overall and bare-choice ratings, and its agreement reports (and, in a
    ranking project, its rankings and their agreement) handed to the second thread."""
    parts: dict[str, tuple] = {}
    for kind, mask in kinds.items():
        if isinstance(mask, str):
            continue
        rows = table.subset(mask)
        regular = rows.subset(~rows.is_gold)
        ratings, overall, choice = kind_ratings(regular, project, criteria)
        agreement = second.submit(agreement_reports, ratings, n_boot=n_boot)
        kind_ranks, listwise = None, None
        if ranks is not None:
            kind_ranks = ranks.subset(_ranking_kind_masks(ranks)[kind])
            regular_ranks = kind_ranks.subset(~kind_ranks.is_gold)
            overall = _rank_ratings(regular_ranks)
            listwise = second.submit(_ranking_overall, regular_ranks, n_boot)
        parts[kind] = (rows, regular, overall, choice, agreement, kind_ranks, listwise)
    return parts


def _boards(
    second: _SecondThread,
    project: Project,
    table: JudgmentTable,
    ranks: RankingTable | None,
    regular_rows: npt.NDArray[np.bool_],
    n_boot: int,
) -> dict[str, Any]:
    """Every leaderboard variant: fitted on the second thread, kept as counts to fit when
    first asked for (those with flagged annotators), or the name of the variant it equals."""
    flagged_ids = [row["pk"] for row in flagged_annotator_ids(project=project)]
    flagged = np.isin(table.annotator, np.array(flagged_ids, dtype=np.int64))
    boards: dict[str, Any] = {}
    if project.is_pairwise:
        counts = _vote_counts(table, regular_rows, flagged)
        for name, tables in counts.items():
            if not isinstance(tables, tuple):
                boards[name] = tables
            elif name.endswith(WITH_FLAGGED):
                boards[name] = _counts_for_later(tables, table.models, n_boot)
            else:
                boards[name] = second.submit(leaderboard_from_counts, *tables, n_boot=n_boot)
    if ranks is not None:
        ranked_by_flagged = np.isin(ranks.annotator, np.array(flagged_ids, dtype=np.int64))
        for name, rows in _ranking_board_counts(ranks, ranked_by_flagged).items():
            boards[name] = (
                rows
                if rows is None or isinstance(rows, str)
                else second.submit(_ranking_leaderboards, rows, n_boot)
            )
    return boards


def _leaderboards(
    boards: dict[str, Any], table: JudgmentTable, ranks: RankingTable | None
) -> dict[str, Any]:
    """The leaderboards as stored, once the second thread has fitted them."""
    present = _ranking_board if ranks is not None else board_as_api
    names = ranks.models if ranks is not None else table.models
    return {
        name: present(board.value, names) if isinstance(board, _Job) else board
        for name, board in boards.items()
    }


def report_compute(
    *, project: Project, n_boot: int = N_BOOT, up_to_id: int | None = None
) -> AgreementReport:
    """Compute and store a new report from every judgment up to now (or up to a judgment
    id): the figures of each annotator kind, the leaderboards and the task labels."""
    started = time.perf_counter()
    last_id = _last_judgment_id(project) if up_to_id is None else up_to_id
    table = judgment_table(project=project, up_to_id=last_id)
    ranks = ranking_table(project=project, up_to_id=last_id) if project.is_ranking else None
    criteria = list(project.criteria.all())
    span_criteria = [c for c in criteria if c.is_spans]
    criteria = [c for c in criteria if not c.is_spans]
    kinds = _distinct(_kind_masks(table))
    regular_rows = ~table.is_gold
    # The agreement reports and the leaderboards are numpy through and through: a second
    # thread computes them beside the rest, which needs this thread's database connection.
    # Each is handed over as soon as its input is ready; the labels are stored first, in the
    # report's transaction, so the database works on them while both threads compute.
    with ThreadPoolExecutor(max_workers=1) as pool:
        second = _SecondThread(pool)
        try:
            parts = _kind_parts(second, project, table, ranks, kinds, criteria, n_boot)
            # A vote on an answer that named its model was not blind: not in the leaderboard.
            boards = _boards(
                second, project, table, ranks, regular_rows & ~table.identity_leak, n_boot
            )
            spans = _span_parts(second, project, span_criteria, kinds, last_id, n_boot)
            references = task_references(project=project) if project.is_pairwise else None
            with transaction.atomic():
                _, humans, human_overall, human_choice, *_ = parts["human"]
                if project.is_pairwise:
                    task_labels_store(labels=task_labels_from_table(humans), project_id=project.pk)
                figures = {
                    kind: _kind_figures(
                        rows, regular, overall, project, references, n_boot, kind_ranks
                    )
                    for kind, (rows, regular, overall, _, _, kind_ranks, _) in parts.items()
                }
                judges: list[dict[str, Any]] = []
                if project.is_pairwise:
                    judges = judge_measures(
                        project=project,
                        humans=human_choice if project.strength_scale else human_overall,
                        human_rows=table.subset(~table.is_model & regular_rows),
                        model_rows=table.subset(table.is_model & regular_rows),
                        n_boot=n_boot,
                    )
                elif ranks is not None:
                    judges = ranking_judge_measures(project=project, ranks=ranks, n_boot=n_boot)
                else:
                    judges = rubric_judge_measures(
                        project=project,
                        criteria=criteria,
                        human_rows=table.subset(~table.is_model & regular_rows),
                        model_rows=table.subset(table.is_model & regular_rows),
                        n_boot=n_boot,
                    )
                second.finish()
                reports: dict[str, Any] = {
                    kind: kinds[kind]
                    if isinstance(kinds[kind], str)
                    else {
                        "annotator_kind": kind,
                        "criteria": {
                            **_criteria(parts[kind][4], parts[kind][6]),
                            **{key: job.value for key, job in spans.get(kind, {}).items()},
                        },
                        "model_judges": judges,
                        **figures[kind],
                    }
                    for kind in ANNOTATOR_KINDS
                }
                leaderboards = _leaderboards(boards, table, ranks)
                stored = AgreementReport.objects.create(
                    project=project,
                    computed_at=timezone.now(),
                    last_judgment_id=last_id,
                    n_judgments=len(table),
                    report=reports.pop(DEFAULT_KIND),
                    leaderboard=leaderboards.pop(DEFAULT_KIND, None),
                    variants={"report": reports, "leaderboard": leaderboards},
                    duration_seconds=round(time.perf_counter() - started, 3),
                )
        except BaseException:
            second.drop()  # nobody waits for the queued work any more
            raise
    return stored


def report_compute_or_record(*, project: Project, n_boot: int = N_BOOT) -> AgreementReport:
    """report_compute; when it fails, the failure is stored (with its error, covering the
    same judgments, so it is not retried before new judgments arrive or a forced refresh)
    and returned: the last good figures stay where they were. The judgments are read from
    the read replica when there is one, up to the newest it holds: a report that the
    replica's delay left behind is stale and refreshed again (README, Running at scale)."""
    with replica_reads():
        last_id = _last_judgment_id(project)
    try:
        if not connection.in_atomic_block:
            with replica_reads():
                stored = report_compute(project=project, n_boot=n_boot, up_to_id=last_id)
        else:
            # A savepoint, so the failure can still be written.
            with transaction.atomic(), replica_reads():
                stored = report_compute(project=project, n_boot=n_boot, up_to_id=last_id)
    except Exception as exc:
        if database_unreachable(exc):
            raise  # not the computation's failure: the task retries once the database is back
        logger.exception("The report of project %s failed", project.pk)
        stored = AgreementReport.objects.create(
            project=project,
            computed_at=timezone.now(),
            last_judgment_id=last_id,
            n_judgments=0,
            failed=True,
            error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH],
        )
    webhook_events_after_report(project=project, report_id=stored.pk, failed=stored.failed)
    return stored


#: The session lock a worker holds while it computes a project's report (with its id).
COMPUTING_LOCK = "report_compute"


class ReportBusy(Exception):
    """Another worker is computing this project's report right now (or a dead worker's
    session has not ended yet): try again in a few seconds."""


@contextmanager
def _computing_alone(project_id: int) -> Iterator[None]:
    """Keep other workers from computing this project's report until the block ends (raises
    ReportBusy if one is)."""
    with session_lock(COMPUTING_LOCK, project_id) as held:
        if not held:
            raise ReportBusy(f"the report of project {project_id} is being computed")
        yield


def report_refresh(*, project_id: int, force: bool = False) -> AgreementReport | None:
    """The worker's refresh: compute a new report unless nothing changed since the last
    computation, good or failed (or forced). Returns the new report (a failed one when the
    computation failed), or None when there was nothing to do; raises ReportBusy while
    another worker computes this project's report."""
    cache.delete(_pending_key(project_id))  # votes from now on schedule the next one
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    if not force and not report_is_stale(
        project=project, report=report_last_attempt(project=project)
    ):
        return None
    with _computing_alone(project_id):
        report = report_compute_or_record(project=project)
    sampling_forget(project_id=project_id)  # active sampling refits on the same votes
    if not report.failed and group_figures_asked(project_id=project_id):
        scheduling.schedule_group_figures_warm(project_id)
    return report


#: Figures by group (services.groups) asked for lately, at most this many per project.
GROUP_FIGURES_REMEMBERED = 20


def _asked_key(project_id: int) -> str:
    return f"group-figures-asked:{project_id}"


def group_figures_asked(*, project_id: int) -> list[dict[str, Any]]:
    """The figures by group asked for lately in the project (newest first): each a query
    (`figure`: agreement or leaderboard, `by` and the other parameters), no figures."""
    return cache.get(_asked_key(project_id)) or []


def group_figures_remember(*, project_id: int, query: dict[str, Any]) -> None:
    """Remember that these figures by group were asked for, so the worker computes them
    again after each new report (README "Figures by group"); a query asked before costs one
    cache read."""
    asked = group_figures_asked(project_id=project_id)
    if query in asked:
        return
    remembered = [query, *asked][:GROUP_FIGURES_REMEMBERED]
    cache.set(_asked_key(project_id), remembered, LATER_BOARD_SECONDS)


#: How long a queued computation of the figures by group of one report keeps requests from
#: queueing another (the worker's run computes every figure asked for).
GROUP_FIGURES_WARMING_SECONDS = 600


def group_figures_warm_soon(*, project_id: int, report_id: int) -> bool:
    """Queue the worker's computation of the figures by group asked for lately, once per
    report however many requests find them missing; returns whether it was queued. Like a
    vote's refresh, it is skipped while Redis fails (the circuit breaker): the request has
    served the previous figures and the next one tries again."""
    try:
        with redis_breaker.guard():
            key = f"group-figures-warming:{project_id}:{report_id}"
            if not cache.add(key, 1, timeout=GROUP_FIGURES_WARMING_SECONDS):
                return False
            scheduling.schedule_group_figures_warm(project_id, retry=False)
    except RedisSkipped as skipped:
        if skipped.__cause__ is not None:
            logger.warning("figures by group of project %s not queued: %s", project_id, skipped)
        return False
    return True


def report_current(*, project: Project) -> ReportState:
    """report_state. Without a worker (the embedded default, tasks run eagerly) a report
    older than the newest judgment is recomputed here, on demand."""
    if (
        settings.CELERY_TASK_ALWAYS_EAGER
        and report_is_stale(project=project, report=report_last_attempt(project=project))
        and project.judgments.exists()
    ):
        report_compute_or_record(project=project)
    return report_state(project=project)


def report_refresh_request(*, project: Project) -> AgreementReport | None:
    """A researcher's "Refresh statistics": queue a forced recomputation for a worker (None:
    it runs once this transaction commits), or without a worker compute it here and return
    it (a failed report when the computation failed). Raises ReportBusy while another
    process computes this project's report."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return report_refresh(project_id=project.pk, force=True)
    project_id = project.pk
    transaction.on_commit(lambda: scheduling.schedule_report_refresh(project_id, force=True))
    return None


def _variant(report: AgreementReport, part: str, name: str) -> Any:
    """A stored variant ("report" or "leaderboard" of a kind), following names of identical
    ones; None when the report holds no such variant (computed before there were any)."""
    default = report.report if part == "report" else report.leaderboard
    stored = (report.variants or {}).get(part) or {}
    value: Any = name
    for _ in range(len(stored) + 1):
        if not isinstance(value, str):
            return value
        if value == DEFAULT_KIND:
            return default
        if value not in stored:
            return None
        value = stored[value]
    return None


def report_params(params: Mapping[str, Any]) -> tuple[str, bool]:
    """The annotator kind (and for a leaderboard whether flagged annotators are left out) a
    GET asks for; a bad value is a 400 naming it (the API refuses unknown parameters before,
    api.strict)."""
    errors: list[dict[str, str]] = []
    kind = params.get("annotator_kind") or DEFAULT_KIND
    if kind not in ANNOTATOR_KINDS:
        errors.append(
            {"field": "annotator_kind", "error": f"must be one of {', '.join(ANNOTATOR_KINDS)}"}
        )
    exclude = str(params.get("exclude_flagged", "true")).strip().lower()
    if exclude not in ("true", "false", "1", "0", "yes", "no", "on", "off", ""):
        errors.append({"field": "exclude_flagged", "error": "must be true or false"})
    if errors:
        raise ValidationFailed("The query is not valid.", errors=errors)
    return kind, exclude not in ("false", "0", "no", "off")


def report_state_fields(state: ReportState) -> dict[str, Any]:
    report, failure = state.report, state.failure
    return {
        "computed_at": report.computed_at.isoformat() if report else None,
        "stale": state.stale,
        "error": failure.error if failure else None,
        "failed_at": failure.computed_at.isoformat() if failure else None,
    }


def agreement_current(*, project: Project, annotator_kind: str = DEFAULT_KIND) -> dict[str, Any]:
    """The agreement report of one annotator kind as the API gives it: the newest good
    figures, whether they are stale, and the error of a newer computation that failed."""
    state = report_current(project=project)
    figures = _variant(state.report, "report", annotator_kind) if state.report else None
    body = {**report_state_fields(state), "annotator_kind": annotator_kind}
    if figures is None:
        # No report yet, or one from before kinds were kept apart: what is there is stale.
        body.update({"criteria": {}, "annotators": [], "model_judges": []})
        body["stale"] = body["stale"] or state.report is not None
        return body
    return {**body, **figures, "annotator_kind": annotator_kind}


def leaderboard_current(
    *, project: Project, annotator_kind: str = DEFAULT_KIND, exclude_flagged: bool = True
) -> dict[str, Any]:
    """The leaderboard of one annotator kind, flagged and blocked annotators left out or
    not, as the API gives it. Pairwise projects rank models by Bradley-Terry, ranking
    projects by Plackett-Luce (with Bradley-Terry over the implied pairs beside it)."""
    if not (project.is_pairwise or project.is_ranking):
        raise ValidationFailed(
            "A leaderboard ranks models from pairwise or ranking judgments; "
            f"project {project.slug!r} is a rubric project."
        )
    state = report_current(project=project)
    name = annotator_kind if exclude_flagged else annotator_kind + WITH_FLAGGED
    board = None
    stale = state.stale
    if state.report is not None:
        board = _variant(state.report, "leaderboard", name)
        if board is not None and "counts" in board:
            board = _fitted_later(state.report, name, board)
        known = name == DEFAULT_KIND or name in (state.report.variants or {}).get("leaderboard", {})
        stale = stale or not known
    return {
        **report_state_fields(state),
        "stale": stale,
        "annotator_kind": annotator_kind,
        "exclude_flagged": exclude_flagged,
        **(board or {"results": [], "win_rate": {}, "n_votes": 0}),
    }


def _pending_key(project_id: int) -> str:
    """The shared cache key saying when a project's scheduled refresh runs."""
    return f"report-pending:{project_id}"


# When the refresh scheduled for a project will run, as this process last learnt it: votes
# committed before then are covered by it, so they need not ask Redis again.
_refresh_due: dict[int, float] = {}
CLOCK_MARGIN_SECONDS = 1.0


def report_refresh_soon(*, project_id: int) -> bool:
    """Schedule a recomputation at most once per debounce window while votes arrive, so a
    busy project is recomputed every few seconds, not on every vote. Returns whether one
    was scheduled. Without a worker nothing is scheduled: reports are computed on demand.

    The shared key holds when the scheduled refresh runs; each process remembers it, so a
    vote costs a Redis round trip only once per window and process. While Redis fails
    (down or hung) the circuit breaker skips it: nothing is scheduled, and beat finds the
    report stale (REPORT_BEAT_SECONDS); the refresh itself is idempotent."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return False
    now = time.time()
    if _refresh_due.get(project_id, 0.0) > now:
        return False
    window = settings.REPORT_DEBOUNCE_SECONDS
    key = _pending_key(project_id)
    due = now + window
    try:
        with redis_breaker.guard():
            if not cache.add(key, due, timeout=window):
                _refresh_due[project_id] = float(cache.get(key) or 0.0) - CLOCK_MARGIN_SECONDS
                return False
            # No publish retries: one short timeout at most, the breaker does the rest.
            scheduling.schedule_report_refresh(project_id, countdown=window, retry=False)
    except RedisSkipped as skipped:
        if skipped.__cause__ is not None:
            logger.warning("report refresh of project %s not scheduled: %s", project_id, skipped)
        return False
    _refresh_due[project_id] = due - CLOCK_MARGIN_SECONDS
    return True
