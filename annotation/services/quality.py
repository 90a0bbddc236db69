"""Annotator quality: running figures per project, the flags they raise, and blocking.

Flags follow the researcher's thresholds on the project. A flagged annotator keeps working
until a researcher blocks them; their judgments are never deleted, only left out of
exports by default.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from annotation import pg
from annotation.errors import QUIZ_FAILED_REASON, AnnotatorBlocked
from annotation.models import Annotator, AnnotatorStats, Judgment, Project, Task
from annotation.pg.rows import db_time, model_from_row, model_select
from annotation.stats.spans import gold_span_f1

FLAG_TOO_FAST = "too_fast"
FLAG_ONE_SIDE = "one_side"
FLAG_FIRST_SHOWN = "first_shown_first"
FLAG_LOW_GOLD = "low_gold_accuracy"
RUBRIC_GOLD_TOLERANCE = 1
#: A span answer to a gold task is right when its character-level F1 against the gold spans
#: reaches this on every label (README "Span-level feedback").
SPAN_GOLD_F1 = 0.5


def gold_answer_matches(*, gold_answer: dict[str, Any], judgment: Judgment) -> bool:
    """A judgment is right when it matches every part of the known answer: a pairwise choice
    exactly, a ranking in full (every place and tie), rubric scores within one point on
    every criterion named (rubric scores are ordinal judgments, not exact facts) and
    verdicts exactly, and gold spans by character-level F1 of at least SPAN_GOLD_F1 on each
    label either side marks (marking nothing where gold has nothing is right)."""
    matches = []
    if "choice" in gold_answer:
        matches.append(judgment.choice == gold_answer["choice"])
    if "ranking" in gold_answer:
        matches.append(judgment.ranking == gold_answer["ranking"])
    if "choice" not in gold_answer and "ranking" not in gold_answer:
        expected = gold_answer.get("scores") or {}
        matches.append(
            all(
                _gold_score_matches(judgment.scores.get(key), value)
                for key, value in expected.items()
            )
        )
    if "spans" in gold_answer:
        matches.append(gold_spans_match(gold_spans=gold_answer["spans"], spans=judgment.spans))
    return all(matches)


def gold_spans_match(*, gold_spans: list[dict[str, Any]], spans: list[dict[str, Any]]) -> bool:
    """Whether marks agree with the gold spans: character-level F1 of at least SPAN_GOLD_F1
    on every label either marks (stored spans: response ids)."""

    def units(marks: list[dict[str, Any]]) -> list[tuple[int, int, int, str]]:
        return [(m["response"], m["start"], m["end"], m["label"]) for m in marks or []]

    scores = gold_span_f1(units(gold_spans), units(spans))
    return all(score >= SPAN_GOLD_F1 for score in scores.values())


def _gold_score_matches(given: Any, expected: Any) -> bool:
    """A verdict (true / false) must be matched exactly, a score within the tolerance."""
    if isinstance(expected, bool) or isinstance(given, bool):
        return given is expected
    return given is not None and abs(given - expected) <= RUBRIC_GOLD_TOLERANCE


def quality_flags(*, stats: AnnotatorStats, project: Project) -> list[str]:
    """The flags an annotator's running figures raise under the project's thresholds."""
    if stats.judgments < project.flag_min_judgments:
        return []
    flags = []
    if stats.fast_share is not None and stats.fast_share > project.flag_fast_share:
        flags.append(FLAG_TOO_FAST)
    side_rate = stats.left_rate
    if stats.decided >= project.flag_min_judgments and side_rate is not None:
        if project.is_ranking:
            # Chance is the top group's share of the responses (a quarter of four): only a
            # first-shown response ranked first this often is a bias, not its opposite.
            if side_rate >= project.flag_side_rate:
                flags.append(FLAG_FIRST_SHOWN)
        elif max(side_rate, 1 - side_rate) >= project.flag_side_rate:
            flags.append(FLAG_ONE_SIDE)
    if stats.gold_accuracy is not None and stats.gold_accuracy < project.flag_min_gold_accuracy:
        flags.append(FLAG_LOW_GOLD)
    return flags


_COUNTERS = (
    "judgments",
    "decided",
    "left_choices",
    "fast_judgments",
    "gold_judgments",
    "gold_correct",
    "seconds_total",
)
#: Stored as the block reason (in English), and known by it in errors.py.
QUIZ_FAILED = QUIZ_FAILED_REASON


def _side_counts(task: Task, judgment: Judgment) -> tuple[int, int]:
    """(counted, shown first) of one judgment for position bias: a decided pairwise vote
    counts, and whether it chose the left side; in a ranking project a ranking with its
    shown order counts, and whether the response shown first (label A) was ranked first,
    alone or tied. AnnotatorStats keeps them as `decided` and `left_choices`."""
    if judgment.ranking and judgment.shown_order:
        return 1, int(judgment.shown_order[0] in judgment.ranking[0])
    if judgment.choice not in ("a", "b") or judgment.shown_left_id is None:
        return 0, 0
    chosen = task.response_a_id if judgment.choice == "a" else task.response_b_id
    return 1, int(chosen == judgment.shown_left_id)


@cache
def _stats_add_sql() -> str:
    """Add one judgment's counts to the annotator's row (made if missing), returning the
    row; composed once per process."""
    table = pg.table(AnnotatorStats)
    counters = [sql.Identifier(name) for name in _COUNTERS]
    return pg.text(
        sql.SQL(
            "INSERT INTO {table} (project_id, annotator_id, {counters}, "
            "qualified, flags, is_blocked, blocked_reason, updated_at) "
            "VALUES (%s, %s, {placeholders}, NULL, '[]', %s, '', %s) "
            "ON CONFLICT (project_id, annotator_id) DO UPDATE SET {sums}, "
            "updated_at = excluded.updated_at RETURNING {columns}"
        ).format(
            table=table,
            counters=sql.SQL(", ").join(counters),
            placeholders=sql.SQL(", ").join([sql.SQL("%s")] * len(counters)),
            sums=sql.SQL(", ").join(
                sql.SQL("{name} = {table}.{name} + excluded.{name}").format(name=name, table=table)
                for name in counters
            ),
            columns=sql.SQL(model_select(AnnotatorStats)),
        )
    )


def annotator_stats_record(*, project: Project, task: Task, judgment: Judgment) -> AnnotatorStats:
    """Fold one new judgment into the annotator's figures; runs inside the vote's
    transaction. One upsert adds the counts, so concurrent votes add up (the row stays
    locked until the vote commits) and the vote costs one statement here, not four."""
    seconds = judgment.seconds or 0.0
    decided, left = _side_counts(task, judgment)
    added = {
        "judgments": 1,
        "decided": decided,
        "left_choices": left,
        "fast_judgments": int(
            judgment.seconds is not None and seconds < project.min_seconds_per_task
        ),
        "gold_judgments": int(judgment.gold_correct is not None),
        "gold_correct": int(bool(judgment.gold_correct)),
        "seconds_total": seconds,
    }
    with connection.cursor() as cursor:
        cursor.execute(
            _stats_add_sql(),
            [
                project.pk,
                judgment.annotator_id,
                *(added[name] for name in _COUNTERS),
                False,
                db_time(timezone.now()),
            ],
        )
        stats = model_from_row(AnnotatorStats, cursor.fetchone())
    if stats.is_blocked:
        raise AnnotatorBlocked()  # rolls the vote back: a block takes effect at once
    changed = []
    if (
        project.qualification_tasks
        and stats.qualified is None
        and stats.gold_judgments >= project.qualification_tasks
    ):
        stats.qualified = (stats.gold_accuracy or 0.0) >= project.qualification_min_accuracy
        changed.append("qualified")
        if not stats.qualified:
            stats.is_blocked, stats.blocked_reason = True, QUIZ_FAILED
            changed += ["is_blocked", "blocked_reason"]
    flags = quality_flags(stats=stats, project=project)
    if flags != stats.flags:
        stats.flags = flags
        changed.append("flags")
    if changed:
        stats.save(update_fields=[*changed, "updated_at"])
    return stats


@transaction.atomic
def annotator_block(
    *,
    project: Project,
    annotator: Annotator,
    reason: str = "",
    blocked: bool = True,
    by: AbstractBaseUser | None = None,
) -> AnnotatorStats:
    """Stop (or let back) an annotator in one project. Their judgments stay stored. Who
    blocked (`by`) and the reason are kept for researchers; the annotator is only told
    that they can no longer work there."""
    stats, _ = AnnotatorStats.objects.select_for_update().get_or_create(
        project=project, annotator=annotator
    )
    stats.is_blocked = blocked
    stats.blocked_reason = reason[:300] if blocked else ""
    stats.blocked_by = by if blocked else None
    stats.save(update_fields=["is_blocked", "blocked_reason", "blocked_by", "updated_at"])
    return stats
