"""Rewrites in exports (README "Rewrites"): `format=rewrites`, one row per judgment with a
rewrite, with a character diff; and the extra `dpo` rows of `include_rewrites=true`, the
rewrite chosen over the response it replaces. Both read the passing judgments with a
rewrite through one ORM query (the same statement on PostgreSQL and SQLite), in judgment
order, in chunks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from annotation.exports.plan import ExportPlan
from annotation.exports.query import ExportFilters
from annotation.exports.readers.judgments import passing_judgments, public_annotator
from annotation.exports.readers.shared import (
    EXPORT_CHUNK,
    completion_value,
    prompt_value,
    since_q,
)
from annotation.models import Project

#: `chosen_model` of a rewrite's dpo row.
HUMAN_REWRITE = "human_rewrite"


def character_diff(original: str, rewrite: str) -> list[dict[str, Any]]:
    """The edits that turn the original into the rewrite, by character: difflib's opcodes
    without the equal runs, as {op: replace | delete | insert, original_start, original_end,
    rewrite_start, rewrite_end} (half-open code point offsets into each text)."""
    matcher = difflib.SequenceMatcher(a=original, b=rewrite, autojunk=False)
    return [
        {
            "op": op,
            "original_start": i1,
            "original_end": i2,
            "rewrite_start": j1,
            "rewrite_end": j2,
        }
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
        if op != "equal"
    ]


def diff_pieces(original: str, rewrite: str) -> list[tuple[str, str]]:
    """The character diff as (op, text) pieces to show: `equal` runs, `delete` (the original's
    characters dropped) and `insert` (the rewrite's added); a replacement is a delete then an
    insert."""
    matcher = difflib.SequenceMatcher(a=original, b=rewrite, autojunk=False)
    pieces = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("equal", "delete", "replace") and i2 > i1:
            pieces.append(("equal" if op == "equal" else "delete", original[i1:i2]))
        if op in ("insert", "replace") and j2 > j1:
            pieces.append(("insert", rewrite[j1:j2]))
    return pieces


def _rewritten(project: Project, filters: ExportFilters) -> QuerySet:
    """The passing judgments with a rewrite (after the `since` cursor when given), oldest
    first, with what a row shows."""
    return (
        passing_judgments(project=project, filters=filters)
        .filter(since_q(filters.since))
        .exclude(rewrite="")
        .filter(rewrite_of__isnull=False)
        .annotate(public_annotator=public_annotator())
        .order_by("pk")
        .values_list(
            "pk",
            "task__item__external_id",
            "task__item__prompt",
            "rewrite_of__external_id",
            "rewrite_of__model",
            "rewrite_of__text",
            "rewrite",
            "public_annotator",
        )
    )


def rewrite_rows(*, plan: ExportPlan) -> Iterator[dict[str, Any]]:
    """One row per passing judgment with a rewrite (format `rewrites`)."""
    rows = _rewritten(plan.project, plan.query.filters)
    for pk, item_id, prompt, response_id, model, original, rewrite, annotator in rows.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        yield {
            "judgment": pk,
            "item_id": item_id,
            "prompt": prompt_value(prompt, plan.conversational),
            "response_id": response_id,
            "model": model,
            "original": original,
            "rewrite": rewrite,
            "diff": character_diff(original, rewrite),
            "annotator": annotator,
        }


def rewrite_pair_rows(
    *, project: Project, filters: ExportFilters, conversational: bool
) -> Iterator[dict[str, Any]]:
    """The `dpo` rows of `include_rewrites=true`: each rewrite chosen over the response it
    replaces, keyed by the judgment (`pair_id` is minus its id, so never a task's)."""
    rows = _rewritten(project, filters)
    for pk, item_id, prompt, response_id, model, original, rewrite, _ in rows.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        yield {
            "pair_id": -pk,
            "prompt": prompt_value(prompt, conversational),
            "chosen": completion_value(rewrite, conversational),
            "rejected": completion_value(original, conversational),
            "chosen_model": HUMAN_REWRITE,
            "rejected_model": model,
            "item_id": item_id,
            "chosen_id": f"rewrite-{pk}",
            "rejected_id": response_id,
            "n_judgments": 1,
            "agreement": 1.0,
            "margin": None,
            "source": "rewrite",
            "expand": None,
            "retracted": False,
        }
