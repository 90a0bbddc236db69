"""Survey answers as export cells: the `survey.<key>` columns of `annotators` and the
`profile.<key>` columns `with_profile` joins to `judgments` (README "Surveys"). An
annotator's profile is their latest answers in the project, typed by the question as it
stands now."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from annotation.models import Project
from annotation.selectors.profiles import profile_latest_answers


def survey_cell(question: dict[str, Any], value: Any) -> Any:
    """An answer as its column's type; an answer given to an earlier version of the question
    that no longer fits it is null (one type per column, whatever the versions)."""
    kind = question["type"]
    if kind in ("single", "text"):
        return value if isinstance(value, str) else None
    if kind == "multiple":
        fits = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value if fits else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind == "scale":
        return value if isinstance(value, int) else None
    return float(value) if math.isfinite(value) else None


def profile_cells(
    *, project: Project, questions: Sequence[dict[str, Any]]
) -> dict[int, tuple[Any, ...]]:
    """Each annotator's profile cells for `questions` (annotator id to one cell per
    question), from their latest answers in the project, in one query."""
    return {
        annotator_id: tuple(survey_cell(q, answers.get(q["key"])) for q in questions)
        for annotator_id, answers in profile_latest_answers(project=project)
    }


def profile_record(
    questions: Sequence[dict[str, Any]], cells: dict[int, tuple[Any, ...]], annotator_id: int
) -> dict[str, Any]:
    """One row's `profile.<key>` values."""
    values = cells.get(annotator_id) or (None,) * len(questions)
    return {f"profile.{q['key']}": v for q, v in zip(questions, values, strict=True)}


def with_profile_batch(
    batch: pa.RecordBatch,
    schema: pa.Schema,
    questions: Sequence[dict[str, Any]],
    cells: dict[int, tuple[Any, ...]],
) -> pa.RecordBatch:
    """A judgments batch (with its `annotator_id` column) with the `profile.<key>` columns
    added, typed as the plan's."""
    empty = (None,) * len(questions)
    rows = [cells.get(i, empty) for i in batch.column("annotator_id").to_pylist()]
    for position, question in enumerate(questions):
        name = f"profile.{question['key']}"
        values = pa.array([row[position] for row in rows], type=schema.field(name).type)
        batch = batch.append_column(schema.field(name), values)
    return batch
