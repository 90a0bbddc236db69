"""The `kto` format: one row per response with an agreed verdict, in TRL's unpaired
preference (KTO) format: `prompt`, `completion`, `label`. The passing judgments of each
response come with the row's details in one statement, so rows stream out whatever their
number.

A judgment's verdict on a response is good when it found the response good on every
verdict criterion it answered, bad otherwise; the response's label is the plurality of its
judgments' verdicts (no row on a tie), held to `min_judgments` and `min_agreement` (the
label's share of the votes) as `dpo` pairs are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from annotation.exports.plan import ExportPlan
from annotation.exports.readers.judgments import passing_judgments
from annotation.exports.readers.rubric import JSONArrayAgg
from annotation.exports.readers.shared import around, completion_value, prompt_value
from annotation.pg.copy_out import WireColumn, sql_rows

VERDICT_ROWS = """
SELECT judged.task_id, item.external_id, item.prompt,
       response.external_id, response.model, response.text, judged.scores
FROM ({subquery}) judged
JOIN {task} task ON task.id = judged.task_id
JOIN {item} item ON item.id = task.item_id
JOIN {response} response ON response.id = task.response_a_id
ORDER BY judged.task_id
"""
VERDICT_COLUMNS = tuple(
    WireColumn(name, None, pa.int64() if name == "task" else pa.string())
    for name in ("task", "item_id", "prompt", "response_id", "model", "text", "scores")
)


def judgment_verdict(scores: Any, keys: tuple[str, ...]) -> bool | None:
    """One judgment's verdict: good (True) when every verdict it gave is good, bad when
    any is bad, None when it gave none (a judgment of a rubric without verdicts)."""
    if not isinstance(scores, dict):
        return None
    given = [scores[key] for key in keys if isinstance(scores.get(key), bool)]
    return all(given) if given else None


def agreed_verdict(verdicts: list[bool]) -> tuple[bool | None, float]:
    """The plurality of the verdicts (None on a tie) and its share of them."""
    good = sum(verdicts)
    bad = len(verdicts) - good
    if good == bad:
        return None, 0.5 if verdicts else 0.0
    return good > bad, round(max(good, bad) / len(verdicts), 6)


def kto_rows(*, plan: ExportPlan) -> Iterator[dict[str, Any]]:
    """One row per response with an agreed verdict (format `kto`), in task order."""
    project, filters = plan.project, plan.query.filters
    keys = tuple(c.key for c in plan.criteria if c.is_verdict)
    judged = (
        passing_judgments(project=project, filters=filters)
        .order_by()
        .values("task_id")
        .annotate(scores=JSONArrayAgg("scores"))
    )
    sql, params = around(VERDICT_ROWS, judged)
    for _, item_id, prompt, response_id, model, text, scores in sql_rows(
        sql, params, VERDICT_COLUMNS
    ):
        verdicts = [v for s in json.loads(scores) if (v := judgment_verdict(s, keys)) is not None]
        if not verdicts or (filters.min_judgments and len(verdicts) < filters.min_judgments):
            continue
        label, agreement = agreed_verdict(verdicts)
        if label is None or (
            filters.min_agreement is not None and agreement < filters.min_agreement
        ):
            continue
        yield {
            "prompt": prompt_value(json.loads(prompt), plan.conversational),
            "completion": completion_value(text, plan.conversational),
            "label": label,
            "item_id": item_id,
            "response_id": response_id,
            "model": model,
            "n_judgments": len(verdicts),
            "agreement": agreement,
        }
