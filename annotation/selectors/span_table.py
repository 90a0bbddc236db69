"""A project's span annotations as numpy columns: the input of annotation.stats.spans.

Every judgment makes its annotator a coder of each response it showed (both of a pair, all
of a ranking, the one of a rubric task), marks or not; each stored span is a row with its
label's code. Responses are measured in characters (code points), as span offsets are.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt
from django.db.models.functions import Length

from annotation.models import Annotator, Judgment, Project, Response

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class CoderTable:
    """One row per (judgment, response shown in it)."""

    judgment: IntArray
    response: IntArray
    annotator: IntArray
    length: IntArray
    is_model: BoolArray
    is_gold: BoolArray


@dataclass
class SpanTable:
    """One row per stored span; `label` indexes the label keys given to span_tables."""

    response: IntArray
    annotator: IntArray
    label: IntArray
    start: IntArray
    end: IntArray
    is_model: BoolArray
    is_gold: BoolArray


def _arrays(cls: type, columns: dict[str, list]) -> object:
    return cls(
        **{
            f.name: np.array(columns[f.name], dtype=bool if f.name.startswith("is_") else np.int64)
            for f in fields(cls)
        }
    )


def span_tables(
    *, project: Project, labels: list[str], up_to_id: int | None = None
) -> tuple[CoderTable, SpanTable]:
    """Every judgment of the project (up to a judgment id) as coder rows, and its spans of
    the given labels as span rows."""
    code = {key: i for i, key in enumerate(labels)}
    lengths = dict(
        Response.objects.filter(item__project=project)
        .annotate(characters=Length("text"))
        .values_list("pk", "characters")
    )
    judgments = Judgment.objects.filter(project=project)
    if up_to_id is not None:
        judgments = judgments.filter(pk__lte=up_to_id)
    rows = judgments.order_by("pk").values_list(
        "pk",
        "annotator_id",
        "annotator__kind",
        "is_gold",
        "task__response_a_id",
        "task__response_b_id",
        "shown_order",
        "spans",
    )
    coders: dict[str, list] = {f.name: [] for f in fields(CoderTable)}
    spans: dict[str, list] = {f.name: [] for f in fields(SpanTable)}
    for pk, annotator, kind, is_gold, a, b, shown, marks in rows.iterator(chunk_size=5000):
        is_model = kind == Annotator.Kind.MODEL
        for response in shown or [r for r in (a, b) if r is not None]:
            for name, value in zip(
                fields(CoderTable),
                (pk, response, annotator, lengths.get(response, 0), is_model, is_gold),
                strict=True,
            ):
                coders[name.name].append(value)
        for mark in marks or []:
            if mark.get("label") not in code:
                continue
            values = (
                mark["response"],
                annotator,
                code[mark["label"]],
                mark["start"],
                mark["end"],
                is_model,
                is_gold,
            )
            for name, value in zip(fields(SpanTable), values, strict=True):
                spans[name.name].append(value)
    return _arrays(CoderTable, coders), _arrays(SpanTable, spans)  # type: ignore[return-value]
