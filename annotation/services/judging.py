"""Recording judgments: one way to vote, used by the annotator pages and the annotator API.

Answers arrive in screen terms (left / right) and are stored in canonical terms (response
a / b of the task), with the response that was shown on the left.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core import signing
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.errors import (
    AlreadyAnswered,
    LeaseExpired,
    PermissionDenied,
    ValidationFailed,
    VoteTooSoon,
)
from annotation.models import Annotator, Assignment, Criterion, Judgment, Project, Task
from annotation.numbers import ascii_int
from annotation.pg.rows import db_time, field_from_db
from annotation.rankings import RankingInvalid, ranking_check, ranking_translate, screen_labels
from annotation.selectors.tasks import assignment_span_responses, criteria_of
from annotation.services.assignment import project_check_open_for
from annotation.services.quality import annotator_stats_record, gold_answer_matches
from annotation.services.reports import report_refresh_soon
from annotation.services.rewriting import rewrite_checked
from annotation.spans import SpansInvalid, spans_canonical

SIDE_CHOICES = ("left", "right", "tie", "both_bad")

_CARD_SALT = "annotation.task-card.served"


@dataclass(frozen=True)
class CanonicalAnswer:
    choice: str
    strength: int | None
    rationale: str
    criteria: dict[str, str]
    scores: dict[str, int | bool]
    ranking: list[list[int]] | None = None
    spans: tuple[dict[str, Any], ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)
    rewrite: str = ""
    rewrite_of: int | None = None


def answer_from_sides(
    *,
    project: Project,
    criteria: list[Criterion],
    left_is_a: bool,
    choice: str | None,
    strength: int | None,
    rationale: str | None,
    criteria_answers: dict[str, Any] | None,
    scores: dict[str, Any] | None,
    ranking: Any = None,
    shown_order: list[int] | None = None,
    spans: Any = None,
    span_responses: Mapping[str, tuple[int, str]] | None = None,
    reasons: dict[str, Any] | None = None,
    rewrite: Any = None,
    rewrite_of: Any = None,
    response_names: Mapping[str, str] | None = None,
) -> CanonicalAnswer:
    """Validate an answer against the project's settings and turn sides (or a ranking's
    screen labels, with the order they were shown in) into responses. Every problem is
    collected, so the annotator is told all of them at once. Spans and `rewrite_of` name
    their response as shown; `span_responses` maps those names to (response id, text). A
    judgment import names responses by their ids instead: `span_responses` is keyed by
    them, and `response_names` maps the answer's sides or labels to them."""
    errors: list[dict[str, str]] = []
    canonical_spans = _spans_canonical(criteria, spans, span_responses or {}, errors)
    # A spans criterion is answered by the spans, not by a side or a score.
    criteria = [c for c in criteria if not c.is_spans]
    canonical_choice = ""
    canonical_criteria: dict[str, str] = {}
    clean_scores: dict[str, int | bool] = {}
    clean_reasons: dict[str, str] = {}
    canonical_ranking: list[list[int]] | None = None
    if project.is_ranking:
        canonical_ranking = _ranking_canonical(project, ranking, shown_order or [], errors)
        _refuse_all_but_ranking(choice, strength, scores, criteria_answers, errors)
    elif ranking is not None:
        errors.append({"field": "ranking", "error": "only a ranking task takes a ranking"})
    elif project.is_pairwise:
        canonical_choice = _pairwise_choice(project, choice, strength, left_is_a, errors)
        canonical_criteria = _pairwise_criteria(criteria, criteria_answers, left_is_a, errors)
        if scores:
            errors.append({"field": "scores", "error": _no_scores_on(scores, "pairwise")})
    else:
        clean_scores = _rubric_scores(criteria, choice, strength, scores, errors)
        clean_reasons = _verdict_reasons(criteria, clean_scores, reasons, errors)
    if reasons and project.kind != Project.Kind.RUBRIC:
        errors.append(
            {"field": "reasons", "error": "reasons go with verdicts, which rubric tasks take"}
        )
    rationale = _rationale_checked(project, rationale, errors)
    rewrite_text, rewritten = "", None
    if span_responses is not None:  # read only when a rewrite may be there to check
        rewrite_text, rewritten = rewrite_checked(
            project,
            rewrite=rewrite,
            rewrite_of=rewrite_of,
            choice=choice,
            ranking=ranking,
            responses=span_responses,
            errors=errors,
            names=response_names,
        )
    if errors:
        raise ValidationFailed("The judgment is not valid.", errors=errors)
    return CanonicalAnswer(
        canonical_choice,
        strength if canonical_choice in ("a", "b") else None,
        rationale[:5000],
        canonical_criteria,
        clean_scores,
        canonical_ranking,
        tuple(canonical_spans),
        clean_reasons,
        rewrite_text,
        rewritten,
    )


def _spans_canonical(
    criteria: list[Criterion],
    spans: Any,
    responses: Mapping[str, tuple[int, str]],
    errors: list[dict[str, str]],
) -> list[dict[str, Any]]:
    """The spans as stored (response ids), or none with the problem added to `errors`."""
    if spans in (None, []):
        return []
    labels = {label["key"] for c in criteria if c.is_spans for label in c.labels}
    try:
        return spans_canonical(spans, labels=labels, responses=responses)
    except SpansInvalid as exc:
        errors.append({"field": exc.field, "error": str(exc)})
        return []


def _no_scores_on(scores: Any, kind: str) -> str:
    """Why a pairwise or ranking task refuses scores, naming a verdict when one was sent."""
    if isinstance(scores, dict) and any(isinstance(v, bool) for v in scores.values()):
        return f"a verdict judges one response: rubric tasks only, not a {kind} task"
    return f"a {kind} task takes no scores"


def _side_to_canonical(side: str, left_is_a: bool) -> str:
    """A side of the screen as the task's response (a or b); tie and both_bad stay."""
    if side == "left":
        return "a" if left_is_a else "b"
    if side == "right":
        return "b" if left_is_a else "a"
    return side


def _refuse_all_but_ranking(
    choice: str | None,
    strength: int | None,
    scores: dict[str, Any] | None,
    criteria_answers: dict[str, Any] | None,
    errors: list[dict[str, str]],
) -> None:
    """A ranking task's answer is its ranking: any other part given is refused by name."""
    for name, given in (("choice", choice), ("strength", strength)):
        if given not in (None, ""):
            errors.append({"field": name, "error": "a ranking task takes a ranking only"})
    if scores:
        errors.append({"field": "scores", "error": _no_scores_on(scores, "ranking")})
    if criteria_answers:
        errors.append({"field": "criteria", "error": "a ranking task takes a ranking only"})


def _pairwise_choice(
    project: Project,
    choice: str | None,
    strength: int | None,
    left_is_a: bool,
    errors: list[dict[str, str]],
) -> str:
    """The overall choice as a response (empty when refused), with its strength checked
    against the project's scale."""
    allowed = ["left", "right"]
    if project.allow_tie:
        allowed.append("tie")
    if project.allow_both_bad:
        allowed.append("both_bad")
    canonical = ""
    if choice not in allowed:
        errors.append({"field": "choice", "error": f"must be one of {', '.join(allowed)}"})
    else:
        canonical = _side_to_canonical(choice, left_is_a)
    if project.strength_scale:
        # A tie or both-bad has no strength: one picked before the annotator changed
        # their mind is dropped (the answer keeps it for a preference only), not refused.
        if choice in ("left", "right") and (
            not isinstance(strength, int)
            or isinstance(strength, bool)
            or not (1 <= strength <= project.strength_scale)
        ):
            errors.append(
                {
                    "field": "strength",
                    "error": f"must be an integer from 1 to {project.strength_scale}",
                }
            )
    elif strength is not None:
        errors.append({"field": "strength", "error": "this project collects no strength"})
    return canonical


def _per_criterion(
    given: Any, criteria: list[Criterion], field: str, errors: list[dict[str, str]]
) -> dict[str, Any]:
    """An answer's object keyed by criterion (empty when it is not one), each key that
    names no criterion of the project refused."""
    answers = given or {}
    if not isinstance(answers, dict):
        errors.append({"field": field, "error": "must be an object"})
        return {}
    keys = {c.key for c in criteria}
    for key in sorted(set(answers) - keys):
        errors.append({"field": f"{field}.{key}", "error": "unknown criterion"})
    return answers


def _pairwise_criteria(
    criteria: list[Criterion],
    criteria_answers: dict[str, Any] | None,
    left_is_a: bool,
    errors: list[dict[str, str]],
) -> dict[str, str]:
    """Each criterion's side as a response: every criterion answered, no unknown one."""
    answers = _per_criterion(criteria_answers, criteria, "criteria", errors)
    canonical: dict[str, str] = {}
    for criterion in criteria:
        value = answers.get(criterion.key)
        if value not in ("left", "right", "tie"):
            errors.append(
                {"field": f"criteria.{criterion.key}", "error": "must be left, right or tie"}
            )
        else:
            canonical[criterion.key] = _side_to_canonical(value, left_is_a)
    return canonical


def _rubric_scores(
    criteria: list[Criterion],
    choice: str | None,
    strength: int | None,
    scores: dict[str, Any] | None,
    errors: list[dict[str, str]],
) -> dict[str, int | bool]:
    """A rubric answer's scores, each an integer within its criterion's range, or for a
    verdict criterion true (good) or false (bad); a rubric task takes no choice or
    strength."""
    if choice:
        errors.append({"field": "choice", "error": "a rubric task takes scores, not a choice"})
    if strength is not None:
        errors.append({"field": "strength", "error": "a rubric task takes no strength"})
    given = _per_criterion(scores, criteria, "scores", errors)
    clean: dict[str, int | bool] = {}
    for criterion in criteria:
        value = given.get(criterion.key)
        if criterion.is_verdict:
            verdict = _verdict_value(value)
            if verdict is None:
                errors.append(
                    {
                        "field": f"scores.{criterion.key}",
                        "error": "a verdict: true (good) or false (bad)",
                    }
                )
            else:
                clean[criterion.key] = verdict
            continue
        if isinstance(value, str):  # a form's field: ASCII digits only ('²' is no score)
            value = ascii_int(value)
        if (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not (criterion.min <= value <= criterion.max)
        ):
            errors.append(
                {
                    "field": f"scores.{criterion.key}",
                    "error": f"must be an integer from {criterion.min} to {criterion.max}",
                }
            )
        else:
            clean[criterion.key] = value
    return clean


def _verdict_value(value: Any) -> bool | None:
    """A verdict as stored: true or false (a form's field sends the text)."""
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(value) if isinstance(value, str) else None


def _verdict_reasons(
    criteria: list[Criterion],
    scores: dict[str, int | bool],
    reasons: Any,
    errors: list[dict[str, str]],
) -> dict[str, str]:
    """The optional reason per verdict criterion, trimmed, empty and null ones dropped (the
    `judgments` export writes null for none); a reason for a criterion that is not a verdict
    is refused by name."""
    given = _per_criterion(reasons, criteria, "reasons", errors)
    verdicts = {c.key for c in criteria if c.is_verdict}
    clean: dict[str, str] = {}
    for key, reason in given.items():
        if key not in verdicts:
            if any(c.key == key for c in criteria):
                errors.append({"field": f"reasons.{key}", "error": "only a verdict takes a reason"})
            continue
        if reason is None:
            continue
        if not isinstance(reason, str):
            errors.append({"field": f"reasons.{key}", "error": "must be a text"})
        elif reason.strip() and key in scores:
            clean[key] = reason.strip()[:2000]
    return clean


def _rationale_checked(
    project: Project, rationale: str | None, errors: list[dict[str, str]]
) -> str:
    """The rationale as stored: required when the project asks for one, dropped when off."""
    rationale = (rationale or "").strip()
    if project.rationale == Project.Rationale.REQUIRED and not rationale:
        errors.append({"field": "rationale", "error": "this project asks for a rationale"})
    if project.rationale == Project.Rationale.OFF:
        rationale = ""
    return rationale


def _ranking_canonical(
    project: Project, ranking: Any, shown_order: list[int], errors: list[dict[str, str]]
) -> list[list[int]] | None:
    """A ranking in screen labels as response ids, or None with the problem added to
    `errors`."""
    labels = screen_labels(len(shown_order))
    if ranking is None:
        errors.append(
            {
                "field": "ranking",
                "error": f"required: the labels {', '.join(labels)} in groups, best first",
            }
        )
        return None
    try:
        groups = ranking_check(ranking, names=labels, allow_tie=project.allow_tie)
    except RankingInvalid as exc:
        errors.append({"field": "ranking", "error": str(exc)})
        return None
    return ranking_translate(groups, dict(zip(labels, shown_order, strict=True)))


def judgment_submit(
    *,
    assignment: Assignment,
    annotator: Annotator,
    choice: str | None = None,
    strength: int | None = None,
    rationale: str | None = None,
    criteria: dict[str, Any] | None = None,
    scores: dict[str, Any] | None = None,
    ranking: Any = None,
    spans: Any = None,
    reasons: dict[str, Any] | None = None,
    rewrite: str | None = None,
    rewrite_of: str | None = None,
    seconds: float | None = None,
    source: str = Judgment.Source.PAGE,
) -> Judgment:
    """Store one annotator's answer to their leased task, exactly once.

    The same answer posted again (a retry, a double click) returns the stored judgment; a
    different one is refused. A post after the lease ran out is refused: the task went back
    to the pool. Time on task is measured here, from lease to judgment; the client's figure
    is only checked.
    """
    if assignment.annotator_id != annotator.pk:
        raise PermissionDenied(_("This assignment is not yours."))
    if seconds is not None and (not isinstance(seconds, int | float) or seconds < 0):
        raise ValidationFailed(errors=[{"field": "seconds", "error": "must not be negative"}])
    project = assignment.project
    task = assignment.task
    # A pause, a close or a block takes effect at once, also on leases already handed out.
    project_check_open_for(project=project, annotator=annotator, check_project_block=False)
    criteria_list = criteria_of(project=project)
    answer = answer_from_sides(
        project=project,
        criteria=criteria_list,
        left_is_a=assignment.left_response_id in (None, task.response_a_id),
        choice=choice,
        strength=strength,
        rationale=rationale,
        criteria_answers=criteria,
        scores=scores,
        ranking=ranking,
        shown_order=assignment.shown_order,
        spans=spans,
        # The texts are read only when there are spans or a rewrite to check against them.
        span_responses=assignment_span_responses(assignment)
        if spans or rewrite or rewrite_of or project.rewrite == Project.Rewrite.REQUIRED
        else None,
        rewrite=rewrite,
        rewrite_of=rewrite_of,
        reasons=reasons,
    )
    now = timezone.now()
    with transaction.atomic():
        claimed = _claim(assignment, now)
        if claimed is None:
            return _repeated_answer(assignment, answer)
        leased_at, left_response_id = claimed
        # Counting the vote is a conditional update: atomic, and it never passes k.
        if not _count_vote(task, project):
            raise AlreadyAnswered(_("This task already has all the judgments it wants."))
        judgment = _judgment_new(
            assignment=assignment,
            annotator=annotator,
            answer=answer,
            left_response_id=left_response_id,
            seconds=round((now - leased_at).total_seconds(), 3),
            source=source,
        )
        judgment.save()
        annotator_stats_record(project=project, task=task, judgment=judgment)
        # Scheduling the report refresh must not fail a stored vote (Redis down, say): an
        # error is logged, and beat finds the report stale later.
        transaction.on_commit(lambda: report_refresh_soon(project_id=project.pk), robust=True)
    assignment.status = Assignment.Status.SUBMITTED
    return judgment


def _judgment_new(
    *,
    assignment: Assignment,
    annotator: Annotator,
    answer: CanonicalAnswer,
    left_response_id: int | None,
    seconds: float,
    source: str,
) -> Judgment:
    """The judgment of a claimed lease, unsaved: the answer with what the annotator saw,
    their crowd visit, the project's rubric version and, on a gold task, whether it is
    right."""
    task = assignment.task
    judgment = Judgment(
        project=assignment.project,
        task=task,
        annotator=annotator,
        assignment_id=assignment.pk,
        choice=answer.choice,
        strength=answer.strength,
        rationale=answer.rationale,
        criteria=answer.criteria,
        scores=answer.scores,
        reasons=answer.reasons,
        rewrite=answer.rewrite,
        rewrite_of_id=answer.rewrite_of,
        ranking=answer.ranking,
        shown_order=assignment.shown_order if answer.ranking is not None else None,
        spans=list(answer.spans),
        shown_left_id=left_response_id,
        seconds=seconds,
        is_gold=task.is_gold,
        study_id=annotator.study_id,
        session_id=annotator.session_id,
        rubric_version=assignment.project.rubric_version,
        source=source,
    )
    if task.is_gold and task.gold_answer:
        judgment.gold_correct = gold_answer_matches(gold_answer=task.gold_answer, judgment=judgment)
    return judgment


def _claim(assignment: Assignment, now: datetime) -> tuple[datetime, int | None] | None:
    """Mark the lease submitted if it is still open, in one statement that also row-locks
    it: a second post of the same vote waits here, then finds it submitted."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE annotation_assignment SET status = %s, finished_at = %s "
            "WHERE id = %s AND status = %s AND expires_at > %s "
            "RETURNING leased_at, left_response_id",
            [
                Assignment.Status.SUBMITTED,
                db_time(now),
                assignment.pk,
                Assignment.Status.LEASED,
                db_time(now),
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return field_from_db(Assignment, "leased_at", row[0]), row[1]


def _count_vote(task: Task, project: Project) -> bool:
    """Add the vote to the task's count unless that would pass k (gold has no k)."""
    limit = "" if task.is_gold else " AND judgment_count < %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE annotation_task SET judgment_count = judgment_count + 1 WHERE id = %s{limit}",
            [task.pk] if task.is_gold else [task.pk, project.annotations_per_task],
        )
        return cursor.rowcount == 1


def _repeated_answer(assignment: Assignment, answer: CanonicalAnswer) -> Judgment:
    """The lease is no longer open: the same vote again gets the stored judgment back,
    anything else a clear refusal."""
    locked = (
        Assignment.objects.select_for_update(of=("self",))
        .select_related("judgment")
        .get(pk=assignment.pk)
    )
    existing = getattr(locked, "judgment", None)
    if existing is not None:
        if _same_answer(existing, answer):
            assignment.status = locked.status
            return existing
        raise AlreadyAnswered()
    if locked.status == Assignment.Status.SKIPPED:
        raise AlreadyAnswered(_("This task was skipped; it takes no judgment now."))
    raise LeaseExpired()


def _same_answer(judgment: Judgment, answer: CanonicalAnswer) -> bool:
    return (
        judgment.choice == answer.choice
        and judgment.strength == answer.strength
        and judgment.rationale == answer.rationale
        and judgment.criteria == answer.criteria
        and judgment.scores == answer.scores
        and judgment.ranking == answer.ranking
        and (judgment.spans or []) == list(answer.spans)
        and judgment.reasons == answer.reasons
        and judgment.rewrite == answer.rewrite
        and judgment.rewrite_of_id == answer.rewrite_of
    )


def card_token(*, assignment_id: int, now: datetime | None = None) -> str:
    """What a task card's form sends back with its vote: which assignment it showed and
    when it was served, signed, so a page cannot claim to have shown a card earlier."""
    served = now or timezone.now()
    return signing.dumps([assignment_id, round(served.timestamp() * 1000)], salt=_CARD_SALT)


def card_check_armed(
    *, project: Project, assignment_id: int, token: str | None, now: datetime | None = None
) -> None:
    """Refuse a vote from the task page that came sooner than the project's `arming_ms`
    after its card was served: a second key press landing on the next card is not a
    choice about it. The JSON API is not armed (custom front ends arm themselves)."""
    if not project.arming_ms:
        return
    try:
        served_id, served_ms = signing.loads(token or "", salt=_CARD_SALT)
        served_ms = int(served_ms)
    except (signing.BadSignature, TypeError, ValueError):
        raise VoteTooSoon(
            _(
                "This vote did not say which task it answers; nothing was stored. "
                "Please reload the page."
            )
        ) from None
    if served_id != assignment_id:
        raise VoteTooSoon(_("This vote was meant for another task; nothing was stored."))
    elapsed = round((now or timezone.now()).timestamp() * 1000) - served_ms
    if elapsed < project.arming_ms:
        raise VoteTooSoon(
            _(
                "This vote came %(elapsed)s ms after the task appeared, before the "
                "%(arming)s ms a task must be on screen, so it was not stored. "
                "Read the task, then vote again."
            )
            % {"elapsed": max(elapsed, 0), "arming": project.arming_ms}
        )
