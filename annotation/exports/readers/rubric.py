"""The `rubric` format: per response, each criterion's scores summarised (mean, median,
agreement), in one pass over the judgments ordered by task.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pyarrow as pa
from django.db.models import Aggregate, TextField

from annotation.exports.plan import ExportPlan, rubric_score_column
from annotation.exports.readers.judgments import passing_judgments
from annotation.exports.readers.shared import around, prompt_value, scoped
from annotation.models import Criterion
from annotation.pg.copy_out import WireColumn, sql_rows


def criterion_agreement(values: list[float], criterion: Criterion) -> float:
    """Agreement of one response's scores on one criterion, from every pair of its
    judgments: on an ordinal or interval criterion 1 - mean |difference| / (max - min),
    on a nominal one the share of pairs that agree. 1 when all scores are equal (or there
    is only one), 0 when two judgments sit at opposite ends of the scale."""
    n = len(values)
    if n < 2:
        return 1.0
    pairs = n * (n - 1) / 2
    if criterion.level == Criterion.Level.NOMINAL:
        same = sum(c * (c - 1) / 2 for c in Counter(values).values())
        return same / pairs
    ordered = sorted(values)
    total = sum(value * (2 * k - n + 1) for k, value in enumerate(ordered))
    return max(0.0, 1.0 - total / pairs / (criterion.max - criterion.min))


def criterion_value(
    values: Sequence[float], criterion: Criterion
) -> tuple[int | float | None, float | None]:
    """What one response's scores on one criterion come to, by the criterion's level of
    measurement, and for a nominal one the share of the scores that gave it:

    - nominal: the most frequent value; when two or more values are equally frequent there
      is none, and value and share are both None (a category is never averaged or drawn);
    - ordinal: the median; of an even number of scores the lower of the two middle ones
      (a score of the scale, never a point between two labels);
    - interval: the mean."""
    if criterion.level == Criterion.Level.NOMINAL:
        (top_value, top), *rest = Counter(values).most_common()
        if rest and rest[0][1] == top:
            return None, None
        return int(top_value), round(top / len(values), 6)
    if criterion.level == Criterion.Level.ORDINAL:
        return int(statistics.median_low(values)), None
    return round(statistics.fmean(values), 6), None


def rubric_summary(scores: list[dict[str, Any]], criteria: tuple[Criterion, ...]) -> dict[str, Any]:
    """Value (criterion_value), nominal share and agreement per criterion of one response's
    judgments, and the mean of the agreements (what `min_agreement` filters on)."""
    summary: dict[str, Any] = {}
    agreements: list[float] = []
    for criterion in criteria:
        values = [_score_value(s.get(criterion.key), criterion) for s in scores]
        values = [v for v in values if v is not None]
        value = share = agreement = None
        if values:
            value, share = criterion_value(values, criterion)
            agreement = round(criterion_agreement(values, criterion), 6)
            agreements.append(agreement)
        summary[rubric_score_column(criterion.key)] = value
        if criterion.level == Criterion.Level.NOMINAL:
            summary[f"share_{criterion.key}"] = share
        summary[f"agreement_{criterion.key}"] = agreement
    summary["agreement"] = round(sum(agreements) / len(agreements), 6) if agreements else None
    return summary


def _score_value(value: Any, criterion: Criterion) -> int | float | None:
    """A judgment's answer on a criterion as a number: a verdict is bad 0, good 1 (so its
    summary is the majority verdict and its share); a score is itself."""
    if criterion.is_verdict:
        return int(value) if isinstance(value, bool) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


class JSONArrayAgg(Aggregate):
    """A JSON column's values gathered into one JSON array (JSON_AGG on PostgreSQL,
    JSON_GROUP_ARRAY on SQLite), in no particular order."""

    function = "JSON_AGG"
    output_field = TextField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            function="JSON_GROUP_ARRAY",
            template="%(function)s(JSON(%(expressions)s))",
            **extra,
        )


# Every rated response with a passing judgment, all its scores and what a row shows of it,
# in task order: one statement, so the rows stream out whatever their number.
RESPONSE_ROWS = """
SELECT scored.task_id, scored.rubric_version, item.external_id, item.prompt,
       response.external_id, response.model, response.text, scored.scores
FROM ({subquery}) scored
JOIN {task} task ON task.id = scored.task_id
JOIN {item} item ON item.id = task.item_id
JOIN {response} response ON response.id = task.response_a_id
ORDER BY scored.task_id, scored.rubric_version
"""
RESPONSE_COLUMNS = tuple(
    WireColumn(name, None, pa.int64() if name in ("task", "rubric_version") else pa.string())
    for name in (
        "task",
        "rubric_version",
        "item_id",
        "prompt",
        "response_id",
        "model",
        "text",
        "scores",
    )
)


def rubric_rows(*, plan: ExportPlan) -> Iterator[dict[str, Any]]:
    """One row per rated response and rubric version (format `rubric`), in task order:
    judgments made under different criteria are never pooled. Each row is summarised with
    its own version's criteria; a column of a criterion its version did not have is null."""
    project, filters = plan.project, plan.query.filters
    criteria_of = dict(plan.rubric_versions)
    current = criteria_of.get(project.rubric_version, plan.criteria)
    types = {column.name: column.type for column in plan.columns}
    value_columns = [
        (name, pa.types.is_floating(types[name]))
        for c in plan.criteria
        for name in (rubric_score_column(c.key), f"share_{c.key}")
        if name in types
    ]
    passing = scoped(passing_judgments(project=project, filters=filters), filters)
    scored = (
        passing.order_by()
        .values("task_id", "rubric_version")
        .annotate(scores=JSONArrayAgg("scores"))
    )
    sql, params = around(RESPONSE_ROWS, scored)
    for _, version, item_id, prompt, response_id, model, text, scores in sql_rows(
        sql, params, RESPONSE_COLUMNS
    ):
        given = [s for s in json.loads(scores) if isinstance(s, dict)]
        n = len(given)
        if filters.min_judgments and n < filters.min_judgments:
            continue
        criteria = criteria_of.get(version, current)
        summary = rubric_summary(given, criteria)
        if filters.min_agreement is not None and (
            summary["agreement"] is None or summary["agreement"] < filters.min_agreement
        ):
            continue
        row: dict[str, Any] = {
            "prompt": prompt_value(json.loads(prompt), plan.conversational),
            "response": text,
            "model": model,
            "item_id": item_id,
            "response_id": response_id,
            "rubric_version": version,
        }
        for name, is_float in value_columns:
            value = summary.get(name)
            row[name] = float(value) if is_float and value is not None else value
        row["n_judgments"] = n
        row.update({f"agreement_{c.key}": summary.get(f"agreement_{c.key}") for c in plan.criteria})
        row["agreement"] = summary["agreement"]
        yield row
