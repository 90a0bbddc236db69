"""Importing judgments made elsewhere: historical labels, or an LLM judge.

Rows are validated with the same rules as a vote (services.judging.answer_from_sides),
spans, verdict reasons and rewrites included, responses named by their ids;
any bad row rejects the whole import with its line number, and so does a key a row should
not have. An imported judgment is one per annotator and task, is not bound by the project's
k and does not count toward progress; importing the same row again updates it. Its
rationale is kept whatever the project asks of its annotators (a judge's reasons are data).
Once stored, the project's report is refreshed as after votes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation.errors import ImportRejected, ValidationFailed
from annotation.models import Annotator, Judgment, Project, Response, Task
from annotation.pg.copy_in import insert_rows
from annotation.rankings import RankingInvalid, ranking_check, ranking_translate, screen_labels
from annotation.services.importing import (
    MAX_REPORTED_ERRORS,
    WRITE_CHUNK,
    ImportProgress,
)
from annotation.services.judging import CanonicalAnswer, answer_from_sides
from annotation.services.reports import report_refresh_soon

CANONICAL_TO_SIDE = {"a": "left", "b": "right", "tie": "tie", "both_bad": "both_bad"}
FLIPPED = {"a": "b", "b": "a"}
_COMMON_KEYS = {
    "annotator",
    "annotator_kind",
    "item",
    "rationale",
    "seconds",
    "spans",
    "reasons",
    "rewrite",
    "rewrite_of",
}
#: The keys a row may have, by project kind (README "REST API" and "Exports").
ROW_KEYS = {
    "pairwise": _COMMON_KEYS | {"a", "b", "choice", "strength", "criteria"},
    "rubric": _COMMON_KEYS | {"response", "scores"},
    "ranking": _COMMON_KEYS | {"ranking"},
}
MAX_RATIONALE = 5000
#: What an imported judgment is written with; the other columns take their defaults.
#: What an imported row sets (and a row imported again may change).
ANSWER_COLUMNS = (
    "choice",
    "strength",
    "rationale",
    "criteria",
    "scores",
    "ranking",
    "spans",
    "reasons",
    "rewrite",
    "rewrite_of_id",
    "seconds",
)
NEW_JUDGMENT_COLUMNS = (
    "project_id",
    "task_id",
    "annotator_id",
    "source",
    "is_gold",
    "rubric_version",
    *ANSWER_COLUMNS,
)


@dataclass
class JudgmentImportResult:
    """What an import did: a row already imported is updated when its answer, rationale or
    seconds changed, else unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    annotators_created: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "judgments_created": self.created,
            "judgments_updated": self.updated,
            "judgments_unchanged": self.unchanged,
            "annotators_created": self.annotators_created,
        }


def _task_index(project: Project) -> dict[tuple[str, str, str | None], Task]:
    """Tasks by (item id, response id, other response id or None), both pair orders; a
    ranking task by (item id, "", None), with its item's responses loaded."""
    index: dict[tuple[str, str, str | None], Task] = {}
    tasks = Task.objects.filter(project=project).select_related("item", "response_a", "response_b")
    if project.is_ranking:
        tasks = tasks.prefetch_related("item__responses")
    for task in tasks.iterator(chunk_size=5000):
        a = task.response_a.external_id
        if project.is_ranking:
            index[(task.item.external_id, "", None)] = task
        elif task.response_b_id is None:
            index[(task.item.external_id, a, None)] = task
        else:
            b = task.response_b.external_id
            index[(task.item.external_id, a, b)] = task
            index[(task.item.external_id, b, a)] = task
    return index


def judgments_import(
    *,
    project: Project,
    rows: Iterable[tuple[int, Any]],
    read_errors: list[dict[str, Any]] | None = None,
    progress: ImportProgress | None = None,
) -> JudgmentImportResult:
    """Validate every row, then write them all in one transaction. `read_errors` are the
    lines of the input that could not even be read; they are reported with the others.
    `progress` is told how many rows are written so far, every WRITE_CHUNK rows, from
    within the transaction."""
    rows = list(rows)
    criteria = list(project.criteria.all())
    tasks = _task_index(project)
    errors: list[dict[str, Any]] = list(read_errors or [])
    prepared: list[tuple[str, str, Task, Any]] = []
    seen: dict[tuple[str, int], int] = {}
    for line, row in rows:
        try:
            prepared.append(_prepare(project, criteria, tasks, row))
        except ValidationFailed as exc:
            detail = "; ".join(f"{e.get('field', '')}: {e['error']}" for e in exc.errors)
            errors.append({"line": line, "error": detail or exc.detail})
            continue
        external_id, _, task, _ = prepared[-1]
        key = (external_id, task.pk)
        if key in seen:
            errors.append(
                {
                    "line": line,
                    "error": f"annotator {external_id!r} judges this "
                    f"task twice (first on line {seen[key]})",
                }
            )
        seen[key] = line
    if errors:
        errors.sort(key=lambda e: e["line"])
        raise ImportRejected(errors=errors[:MAX_REPORTED_ERRORS])
    if not prepared:
        raise ImportRejected("Nothing to import.", errors=[{"line": 0, "error": "no rows"}])
    with transaction.atomic():
        result = _write(project, prepared, progress)
        # Scheduling the refresh must not fail a stored import (Redis down, say): beat
        # finds the report stale later.
        transaction.on_commit(lambda: report_refresh_soon(project_id=project.pk), robust=True)
    return result


def _prepare(project: Project, criteria, tasks, row: Any) -> tuple[str, str, Task, Any]:
    def fail(field: str, error: str) -> ValidationFailed:
        return ValidationFailed(errors=[{"field": field, "error": error}])

    if not isinstance(row, dict):
        raise fail("", "each row must be a JSON object")
    unknown = sorted(set(row) - ROW_KEYS[project.task_kind])
    if unknown:
        raise ValidationFailed(errors=[{"field": key, "error": "unknown key"} for key in unknown])
    rationale = row.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        raise fail("rationale", "must be a string")
    external_id = row.get("annotator")
    if not isinstance(external_id, str | int) or str(external_id).strip() == "":
        raise fail("annotator", "required: the judge's id")
    kind = row.get("annotator_kind", Annotator.Kind.HUMAN)
    if kind not in Annotator.Kind.values:
        raise fail("annotator_kind", "must be human or model")
    item = row.get("item")
    if item is None:
        raise fail("item", "required")
    if project.is_ranking:
        task = tasks.get((str(item), "", None))
        if task is None:
            raise fail("item", f"no item {item!r}")
        answer = _ranking_answer(project, criteria, task, row, fail)
    elif project.is_pairwise:
        a, b = row.get("a"), row.get("b")
        if a is None or b is None:
            raise fail("a", 'a pairwise judgment names its two responses in "a" and "b"')
        task = tasks.get((str(item), str(a), str(b)))
        if task is None:
            raise fail("item", f"no task compares {a!r} and {b!r} in item {item!r}")
        flip = task.response_a.external_id != str(a)
        choice = row.get("choice")
        if choice not in CANONICAL_TO_SIDE:
            raise fail("choice", "must be a, b, tie or both_bad")
        if flip:
            choice = FLIPPED.get(choice, choice)
        given = row.get("criteria") or {}
        if not isinstance(given, dict):
            raise fail("criteria", "must be an object")
        sides = {
            k: CANONICAL_TO_SIDE.get(FLIPPED.get(v, v) if flip else v, v) for k, v in given.items()
        }
        answer = answer_from_sides(
            project=project,
            criteria=criteria,
            left_is_a=True,
            choice=CANONICAL_TO_SIDE[choice],
            strength=row.get("strength"),
            rationale=row.get("rationale"),
            criteria_answers=sides,
            scores=None,
            **_marks(row, {"left": task.response_a, "right": task.response_b}),
        )
    else:
        response = row.get("response")
        task = tasks.get((str(item), str(response), None))
        if task is None:
            raise fail("response", f"no response {response!r} in item {item!r}")
        answer = _unsided_answer(
            project,
            criteria,
            row,
            scores=row.get("scores"),
            **_marks(row, {"response": task.response_a}),
        )
    # The project's rationale setting is about its own annotators' pages: an imported
    # rationale is kept even where they are asked for none.
    answer = replace(answer, rationale=(rationale or "").strip()[:MAX_RATIONALE])
    return str(external_id), kind, task, (answer, _seconds(row.get("seconds"), fail))


def _ranking_answer(
    project: Project,
    criteria: list[Any],
    task: Task,
    row: dict[str, Any],
    fail: Callable[[str, str], ValidationFailed],
) -> CanonicalAnswer:
    """A ranking given by response ids, checked in those terms (so an error names them),
    then validated as a vote whose screen labels follow the item's own order."""
    responses = list(task.item.responses.all())
    names = [r.external_id for r in responses]
    try:
        groups = ranking_check(row.get("ranking"), names=names, allow_tie=project.allow_tie)
    except RankingInvalid as exc:
        raise fail("ranking", str(exc)) from None
    labels = screen_labels(len(names))
    return _unsided_answer(
        project,
        criteria,
        row,
        ranking=ranking_translate(groups, dict(zip(names, labels, strict=True))),
        shown_order=[r.pk for r in responses],
        **_marks(row, dict(zip(labels, responses, strict=True))),
    )


def _marks(row: dict[str, Any], shown: dict[str, Response]) -> dict[str, Any]:
    """A row's spans, reasons and rewrite as answer_from_sides takes them, the responses
    named by their ids: `shown` gives the response behind each name the answer uses (left /
    right, A, B..., response)."""
    return {
        "spans": row.get("spans"),
        "reasons": row.get("reasons"),
        "rewrite": row.get("rewrite"),
        "rewrite_of": row.get("rewrite_of"),
        "span_responses": {r.external_id: (r.pk, r.text) for r in shown.values()},
        "response_names": {name: r.external_id for name, r in shown.items()},
    }


def _unsided_answer(
    project: Project, criteria: list[Any], row: dict[str, Any], **given: Any
) -> CanonicalAnswer:
    """A rubric or ranking row's answer: no sides to turn, no choice or strength."""
    return answer_from_sides(
        project=project,
        criteria=criteria,
        left_is_a=True,
        choice=None,
        strength=None,
        rationale=row.get("rationale"),
        criteria_answers=None,
        **{"scores": None, **given},
    )


def _seconds(value: Any, fail: Callable[[str, str], ValidationFailed]) -> float | None:
    """Time on task as a float column holds it: a finite number, not negative (an integer of
    400 digits overflows a float; JSON Lines can say NaN)."""
    if value is None:
        return None
    number = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            number = None
    if number is None or not math.isfinite(number) or number < 0:
        raise fail("seconds", "must be a non-negative number")
    return number


def _write(
    project: Project,
    prepared: list[tuple[str, str, Task, Any]],
    progress: ImportProgress | None,
) -> JudgmentImportResult:
    result = JudgmentImportResult()
    wanted = {(external_id, kind) for external_id, kind, _, _ in prepared}
    annotators = {
        a.external_id: a
        for a in Annotator.objects.filter(
            source=Annotator.Source.IMPORT, external_id__in=[w[0] for w in wanted]
        )
    }
    new_annotators = []
    for external_id, kind in sorted(wanted):
        annotator = annotators.get(external_id)
        if annotator is None:
            annotator = Annotator(
                source=Annotator.Source.IMPORT, external_id=external_id, kind=kind
            )
            annotators[external_id] = annotator
            new_annotators.append(annotator)
        elif annotator.kind != kind:
            raise ImportRejected(
                errors=[
                    {
                        "line": 0,
                        "error": f"annotator {external_id!r} is a {annotator.kind}, not a {kind}",
                    }
                ]
            )
    Annotator.objects.bulk_create(new_annotators)
    result.annotators_created = len(new_annotators)
    existing = {
        (j.annotator_id, j.task_id): j
        for j in Judgment.objects.filter(project=project, annotator__in=list(annotators.values()))
    }
    for start in range(0, len(prepared), WRITE_CHUNK):
        chunk = prepared[start : start + WRITE_CHUNK]
        _write_judgments(project, chunk, annotators, existing, result)
        if progress is not None:
            progress(start + len(chunk))
    return result


def _write_judgments(
    project: Project,
    prepared: list[tuple[str, str, Task, Any]],
    annotators: dict[str, Annotator],
    existing: dict[tuple[int, int], Judgment],
    result: JudgmentImportResult,
) -> None:
    """Create or change the judgments of some rows, counted into `result`."""
    new, changed = [], []
    fields = ANSWER_COLUMNS
    for external_id, _, task, (answer, seconds) in prepared:
        annotator = annotators[external_id]
        judgment = existing.get((annotator.pk, task.pk))
        if judgment is None:
            judgment = Judgment(
                project=project,
                task=task,
                annotator=annotator,
                source=Judgment.Source.IMPORT,
                is_gold=task.is_gold,
                rubric_version=project.rubric_version,
            )
            new.append(judgment)
        before = [getattr(judgment, name) for name in fields]
        judgment.choice, judgment.strength = answer.choice, answer.strength
        judgment.rationale, judgment.criteria = answer.rationale, answer.criteria
        judgment.scores, judgment.seconds = answer.scores, seconds
        judgment.ranking = answer.ranking
        judgment.spans, judgment.reasons = list(answer.spans), answer.reasons
        judgment.rewrite, judgment.rewrite_of_id = answer.rewrite, answer.rewrite_of
        if judgment.pk is not None and before != [getattr(judgment, name) for name in fields]:
            changed.append(judgment)
    # One COPY on PostgreSQL: bulk_create bound 19 columns of 2,000 rows into one statement
    # text (a 20,000-row file took 25 s).
    insert_rows(
        Judgment,
        NEW_JUDGMENT_COLUMNS,
        [tuple(getattr(j, name) for name in NEW_JUDGMENT_COLUMNS) for j in new],
        now=timezone.now(),
    )
    if changed:
        Judgment.objects.bulk_update(changed, list(fields), batch_size=2000)
    result.created += len(new)
    result.updated += len(changed)
    result.unchanged += len(prepared) - len(new) - len(changed)
