"""Rows of the datasets pipelines pull (README "Exports"), read lazily so an export streams
at any size: one module per format family (judgments, pairs for `dpo`, labels, rubric,
kto, rewrites, items, annotators, spans), and `export_rows` to pick the plan's.

Aggregated formats (`dpo`, `rubric`, `labels`) are computed from the judgments that pass
the filters. Row details (prompt, texts) are read per chunk of rows, so the number of
queries does not grow with the number of rows. On PostgreSQL the `judgments` rows come as
Arrow batches decoded from COPY's CSV.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from annotation.exports.plan import ExportPlan
from annotation.exports.readers.annotators import annotator_export_rows
from annotation.exports.readers.items import item_export_rows
from annotation.exports.readers.judgments import (
    JUDGMENT_COLUMNS,
    judgment_batches,
    judgment_records,
    judgment_rows,
    judgment_wire_columns,
    judgments_for_export,
    passing_judgments,
    plan_batches,
)
from annotation.exports.readers.labels import label_rows, pair_labels
from annotation.exports.readers.pairs import decide_pair, dpo_rows, ranking_pair_rows
from annotation.exports.readers.rewrites import rewrite_pair_rows, rewrite_rows
from annotation.exports.readers.rubric import (
    criterion_agreement,
    criterion_value,
    rubric_rows,
    rubric_summary,
)
from annotation.exports.readers.shared import as_messages, chunked, iso_time
from annotation.exports.readers.spans import merged_span_rows, span_rows
from annotation.exports.readers.verdicts import kto_rows

__all__ = [
    "JUDGMENT_COLUMNS",
    "annotator_export_rows",
    "as_messages",
    "chunked",
    "criterion_agreement",
    "criterion_value",
    "decide_pair",
    "export_rows",
    "iso_time",
    "item_export_rows",
    "judgment_batches",
    "judgment_records",
    "judgment_rows",
    "judgment_wire_columns",
    "judgments_for_export",
    "pair_labels",
    "passing_judgments",
    "plan_batches",
    "rubric_summary",
]


def _with_rewrites(pairs: Iterator[dict[str, Any]], plan: ExportPlan) -> Iterator[dict[str, Any]]:
    """A `dpo` pull's rows, then with `include_rewrites=true` each rewrite's row."""
    if not plan.query.filters.include_rewrites:
        return pairs
    rewrites = rewrite_pair_rows(
        project=plan.project, filters=plan.query.filters, conversational=plan.conversational
    )
    return itertools.chain(pairs, rewrites)


def export_rows(*, plan: ExportPlan) -> Iterator[dict[str, Any]]:
    """The plan's rows, one dict each, read lazily."""
    project, filters = plan.project, plan.query.filters
    if plan.query.format == "judgments":
        return judgment_rows(
            project=project,
            filters=filters,
            answer_keys=plan.answer_keys,
            reason_keys=plan.reason_keys,
            uses=plan.uses,
            profile_questions=plan.survey_questions,
        )
    if plan.query.format == "dpo" and project.is_ranking:
        pairs = ranking_pair_rows(
            project=project, filters=filters, conversational=plan.conversational
        )
        return _with_rewrites(pairs, plan)
    if plan.query.format == "dpo":
        pairs = dpo_rows(project=project, filters=filters, conversational=plan.conversational)
        return _with_rewrites(pairs, plan)
    if plan.query.format == "rewrites":
        return rewrite_rows(plan=plan)
    if plan.query.format == "rubric":
        return rubric_rows(plan=plan)
    if plan.query.format == "kto":
        return kto_rows(plan=plan)
    if plan.query.format == "annotators":
        return annotator_export_rows(
            project=project, filters=filters, questions=plan.survey_questions
        )
    if plan.query.format == "labels":
        return label_rows(project=project, filters=filters)
    if plan.query.format == "spans":
        return span_rows(project=project, filters=filters)
    if plan.query.format == "spans_merged":
        return merged_span_rows(project=project, filters=filters)
    return item_export_rows(project=project, filters=filters, conversational=plan.conversational)
