"""Annotator quality: running figures per project, the flags they raise, and blocking.

Flags follow the researcher's thresholds on the project. A flagged annotator keeps working
until a researcher blocks them; their judgments are never deleted, only left out of
exports by default.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q

from annotation.errors import AnnotatorBlocked
from annotation.models import Annotator, AnnotatorStats, Judgment, Project, Task

FLAG_TOO_FAST = "too_fast"
FLAG_ONE_SIDE = "one_side"
FLAG_LOW_GOLD = "low_gold_accuracy"
RUBRIC_GOLD_TOLERANCE = 1


def gold_answer_matches(*, gold_answer: dict[str, Any], judgment: Judgment) -> bool:
    """A pairwise gold answer must be matched exactly; a rubric one within one point on
    every criterion it names (rubric scores are ordinal judgments, not exact facts)."""
    if "choice" in gold_answer:
        return judgment.choice == gold_answer["choice"]
    expected = gold_answer.get("scores") or {}
    return all(
        key in judgment.scores and abs(judgment.scores[key] - value) <= RUBRIC_GOLD_TOLERANCE
        for key, value in expected.items()
    )


def quality_flags(*, stats: AnnotatorStats, project: Project) -> list[str]:
    """The flags an annotator's running figures raise under the project's thresholds."""
    if stats.judgments < project.flag_min_judgments:
        return []
    flags = []
    if stats.fast_share is not None and stats.fast_share > project.flag_fast_share:
        flags.append(FLAG_TOO_FAST)
    side_rate = stats.left_rate
    if (
        stats.decided >= project.flag_min_judgments
        and side_rate is not None
        and max(side_rate, 1 - side_rate) >= project.flag_side_rate
    ):
        flags.append(FLAG_ONE_SIDE)
    if stats.gold_accuracy is not None and stats.gold_accuracy < project.flag_min_gold_accuracy:
        flags.append(FLAG_LOW_GOLD)
    return flags


def annotator_stats_record(*, project: Project, task: Task, judgment: Judgment) -> AnnotatorStats:
    """Fold one new judgment into the annotator's figures; runs inside the vote's
    transaction, with the stats row locked so concurrent votes add up."""
    stats, _ = AnnotatorStats.objects.select_for_update().get_or_create(
        project=project, annotator_id=judgment.annotator_id
    )
    if stats.is_blocked:
        raise AnnotatorBlocked()  # rolls the vote back: a block takes effect at once
    stats.judgments += 1
    seconds = judgment.seconds or 0.0
    stats.seconds_total += seconds
    if judgment.seconds is not None and seconds < project.min_seconds_per_task:
        stats.fast_judgments += 1
    if judgment.choice in ("a", "b") and judgment.shown_left_id is not None:
        stats.decided += 1
        chosen = task.response_a_id if judgment.choice == "a" else task.response_b_id
        if chosen == judgment.shown_left_id:
            stats.left_choices += 1
    if judgment.gold_correct is not None:
        stats.gold_judgments += 1
        stats.gold_correct += int(judgment.gold_correct)
    if (
        project.qualification_tasks
        and stats.qualified is None
        and stats.gold_judgments >= project.qualification_tasks
    ):
        stats.qualified = (stats.gold_accuracy or 0.0) >= project.qualification_min_accuracy
        if not stats.qualified:
            stats.is_blocked = True
            stats.blocked_reason = (
                "Thank you for taking the qualification quiz. Your answers did not reach the "
                "accuracy this study needs, so there are no more tasks for you here."
            )
    stats.flags = quality_flags(stats=stats, project=project)
    stats.save()
    return stats


@transaction.atomic
def annotator_block(
    *, project: Project, annotator: Annotator, reason: str = "", blocked: bool = True
) -> AnnotatorStats:
    """Stop (or let back) an annotator in one project. Their judgments stay stored."""
    stats, _ = AnnotatorStats.objects.select_for_update().get_or_create(
        project=project, annotator=annotator
    )
    stats.is_blocked = blocked
    stats.blocked_reason = reason[:300] if blocked else ""
    stats.save(update_fields=["is_blocked", "blocked_reason", "updated_at"])
    return stats


def flagged_annotator_ids(*, project: Project):
    """Ids of annotators whose judgments exports leave out by default: blocked site-wide,
    or blocked or flagged in this project."""
    in_project = AnnotatorStats.objects.filter(project=project).filter(
        Q(is_blocked=True) | ~Q(flags=[])
    )
    return Annotator.objects.filter(
        Q(is_blocked=True) | Q(pk__in=in_project.values("annotator_id"))
    ).values("pk")
