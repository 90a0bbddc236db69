"""The `spans` and `spans_merged` formats: the marks of spans criteria (README "Span-level
feedback"), one row per span, or per response and label the marked stretches with how many
annotators marked them. One ORM path on PostgreSQL and SQLite alike: spans are JSON in the
judgment, sliced out of the response text here (Python indices are the code points the
offsets count).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from annotation.exports.query import ExportFilters
from annotation.exports.readers.judgments import judgments_for_export, passing_judgments
from annotation.exports.readers.shared import EXPORT_CHUNK, chunked, since_q
from annotation.models import Annotator, Project, Response

_SPAN_COLUMNS = (
    "pk",
    "spans",
    "task__item__external_id",
    "annotator__pseudonym",
    "annotator__external_id",
    "annotator__source",
    "annotator__kind",
)


def _responses(ids: set[int]) -> dict[int, tuple[str, str, str]]:
    """(external id, model, text) of each response id."""
    rows = Response.objects.filter(pk__in=ids).values_list("pk", "external_id", "model", "text")
    return {pk: (external_id, model, text) for pk, external_id, model, text in rows}


def span_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    """One row per span of the judgments passing the filters, in judgment order, then by
    response and offsets; texts read per chunk of judgments."""
    queryset = judgments_for_export(project=project, filters=filters).exclude(spans=[])
    rows = queryset.values_list(*_SPAN_COLUMNS).iterator(chunk_size=EXPORT_CHUNK)
    for chunk in chunked(rows, EXPORT_CHUNK):
        texts = _responses({span["response"] for row in chunk for span in row[1] or []})
        for pk, spans, item_id, pseudonym, external_id, source, kind in chunk:
            annotator = external_id if source in Annotator.NAMED_SOURCES else pseudonym
            for span in spans or []:
                response_id, model, text = texts[span["response"]]
                yield {
                    "item_id": item_id,
                    "response_id": response_id,
                    "model": model,
                    "start": span["start"],
                    "end": span["end"],
                    "text": text[span["start"] : span["end"]],
                    "label": span["label"],
                    "note": span.get("note") or "",
                    "annotator": annotator,
                    "annotator_kind": kind,
                    "judgment": pk,
                }


def _judged_responses(judgments: Any) -> Iterator[tuple[int, int, list[Any]]]:
    """(annotator, response id, spans) for every response each judgment showed."""
    rows = judgments.values_list(
        "annotator_id", "task__response_a_id", "task__response_b_id", "shown_order", "spans"
    )
    for annotator, a, b, shown, spans in rows.iterator(chunk_size=EXPORT_CHUNK):
        for response in shown or [r for r in (a, b) if r is not None]:
            yield annotator, response, spans or []


def merged_pieces(marks: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """(start, end, support) of a response's marks of one label given as (annotator, start,
    end): the marked characters cut wherever the number of annotators marking them changes
    (an annotator's overlapping marks count once)."""
    changes: dict[int, int] = defaultdict(int)
    for annotator in {a for a, _, _ in marks}:
        covered: list[tuple[int, int]] = []
        for _, start, end in sorted(m for m in marks if m[0] == annotator):
            if covered and start <= covered[-1][1]:
                covered[-1] = (covered[-1][0], max(covered[-1][1], end))
            else:
                covered.append((start, end))
        for start, end in covered:
            changes[start] += 1
            changes[end] -= 1
    pieces: list[tuple[int, int, int]] = []
    support = 0
    points = sorted(changes)
    for here, following in itertools.pairwise(points):
        support += changes[here]
        if support > 0 and following > here:
            if pieces and pieces[-1][1] == here and pieces[-1][2] == support:
                pieces[-1] = (pieces[-1][0], following, support)
            else:
                pieces.append((here, following, support))
    return pieces


def merged_span_rows(*, project: Project, filters: ExportFilters) -> Iterator[dict[str, Any]]:
    """Per response and label, the marked stretches with their support, over the judgments
    passing the filters (`min_judgments` counting a task's passing judgments), by item,
    response, label and offset. With `since`, the rows of the responses a passing judgment
    after the cursor showed, each computed from all of the response's passing judgments."""
    judgments: Any = passing_judgments(project=project, filters=filters)
    if filters.min_judgments:
        judgments = judgments_for_export(project=project, filters=replace(filters, since=None))
    touched: set[int] | None = None
    if filters.since is not None:
        later = judgments.filter(since_q(filters.since))
        touched = {response for _, response, _ in _judged_responses(later)}
    coders: dict[int, set[int]] = defaultdict(set)
    marks: dict[tuple[int, str], list[tuple[int, int, int]]] = defaultdict(list)
    for annotator, response, spans in _judged_responses(judgments.order_by("pk")):
        coders[response].add(annotator)
        for span in spans:
            if span["response"] == response:
                marks[(response, span["label"])].append((annotator, span["start"], span["end"]))
    if touched is not None:
        marks = defaultdict(list, {key: v for key, v in marks.items() if key[0] in touched})
    texts = _responses({response for response, _ in marks})
    item_of = dict(Response.objects.filter(pk__in=texts).values_list("pk", "item__external_id"))
    ordered = sorted(marks, key=lambda key: (item_of[key[0]], texts[key[0]][0], key[1]))
    for response, label in ordered:
        response_id, model, text = texts[response]
        n_annotators = len(coders[response])
        for start, end, support in merged_pieces(marks[(response, label)]):
            yield {
                "item_id": item_of[response],
                "response_id": response_id,
                "model": model,
                "start": start,
                "end": end,
                "text": text[start:end],
                "label": label,
                "support": support,
                "n_annotators": n_annotators,
                "agreement": round(support / n_annotators, 6),
            }
