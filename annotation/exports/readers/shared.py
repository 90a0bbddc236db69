"""What the export readers share: chunk sizes, times as exported, prompts as messages, the
judgments an aggregated format reads when `since` narrows it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q, QuerySet

from annotation import pg
from annotation.exports.query import ExportFilters
from annotation.models import Item, Judgment, Response, Task

EXPORT_CHUNK = 2000
DETAIL_CHUNK = 500
DECIDED = ("a", "b")


def iso_time(moment: datetime) -> str:
    """A time as exported: ISO 8601 in UTC, always with microseconds. A JSON reader
    (`datasets`, pandas) takes a time to the second alone for a timestamp and one with a
    fraction for text, so a column must never mix them, in JSON Lines as in Parquet."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def since_q(since: datetime | int | None) -> Q:
    """The judgments after a `since` cursor: a judgment id, or a time."""
    if since is None:
        return Q()
    if isinstance(since, int):
        return Q(pk__gt=since)
    return Q(created_at__gt=since)


def scoped(
    passing: QuerySet[Judgment], filters: ExportFilters, also: QuerySet | None = None
) -> QuerySet[Judgment]:
    """With `since`, the rows of tasks that got a passing judgment after the cursor (or are
    among the task ids `also` selects), each computed from all of its passing judgments (so
    a re-pulled row carries its current value)."""
    if filters.since is None:
        return passing
    touched = passing.filter(since_q(filters.since)).order_by().values("task_id")
    if also is None:
        return passing.filter(task_id__in=touched)
    return passing.filter(Q(task_id__in=touched) | Q(task_id__in=also))


def as_messages(prompt: Any) -> list[dict[str, str]]:
    """A prompt as chat messages: a plain prompt becomes one user message."""
    if isinstance(prompt, list):
        return prompt
    return [{"role": "user", "content": "" if prompt is None else str(prompt)}]


def prompt_value(prompt: Any, conversational: bool) -> Any:
    if conversational:
        return as_messages(prompt)
    if isinstance(prompt, list):  # became a conversation after the plan was made
        return json.dumps(prompt, ensure_ascii=False)
    return prompt


def completion_value(text: str, conversational: bool) -> Any:
    """A response as exported: its text, or with conversational prompts one assistant
    message (TRL's conversational formats)."""
    return [{"role": "assistant", "content": text}] if conversational else text


def chunked(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to `size` values, read lazily."""
    iterator = iter(values)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def around(template: str, subquery: QuerySet) -> tuple[str, tuple[Any, ...]]:
    """A hand-written statement around a queryset's SQL ({subquery}; {task}, {item} and
    {response} name those tables), with the queryset's parameters."""
    sql, params = subquery.query.sql_with_params()
    statement = template.format(
        subquery=sql,
        task=pg.text(pg.table(Task)),
        item=pg.text(pg.table(Item)),
        response=pg.text(pg.table(Response)),
    )
    return statement, tuple(params)
