"""The `items` format: the project's items as imported, read per chunk of rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from annotation.exports.query import ExportFilters
from annotation.exports.readers.shared import DETAIL_CHUNK, EXPORT_CHUNK, as_messages, chunked
from annotation.models import Item, Project, Response, Task


def item_export_rows(
    *, project: Project, filters: ExportFilters, conversational: bool = False
) -> Iterator[dict[str, Any]]:
    """One row per item in the import format (README "Import format"), so that an export
    re-imports unchanged. Items with gold are left out unless `include_gold`; `since` (a
    datetime) picks items created or changed after it. `conversational` (one type per
    column) turns every prompt into messages."""
    items = Item.objects.filter(project=project).order_by("pk")
    if not filters.include_gold:
        items = items.filter(gold__isnull=True)
    if isinstance(filters.since, datetime):
        items = items.filter(updated_at__gt=filters.since)
    rows = items.values_list("pk", "external_id", "prompt", "metadata", "reference", "gold")
    is_pairwise = project.is_pairwise
    for chunk in chunked(rows.iterator(chunk_size=EXPORT_CHUNK), DETAIL_CHUNK):
        ids = [row[0] for row in chunk]
        responses: dict[int, list[dict[str, str]]] = defaultdict(list)
        for item_id, external_id, model, text in (
            Response.objects.filter(item_id__in=ids)
            .order_by("item_id", "position", "pk")
            .values_list("item_id", "external_id", "model", "text")
        ):
            responses[item_id].append({"id": external_id, "model": model, "text": text})
        pairs: dict[int, list[list[str]]] = defaultdict(list)
        if is_pairwise:
            for item_id, a_id, b_id in (
                Task.objects.filter(item_id__in=ids, response_b__isnull=False)
                .order_by("pk")
                .values_list("item_id", "response_a__external_id", "response_b__external_id")
            ):
                pairs[item_id].append([a_id, b_id])
        for pk, external_id, prompt, metadata, reference, gold in chunk:
            row: dict[str, Any] = {
                "id": external_id,
                "prompt": as_messages(prompt) if conversational else prompt,
                "responses": responses[pk],
            }
            if is_pairwise:
                row["pairs"] = pairs[pk]
            row["metadata"] = metadata or {}
            row["gold"] = gold
            row["reference"] = reference
            yield row
