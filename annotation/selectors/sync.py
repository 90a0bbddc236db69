"""Incremental sync of judgments: a pipeline that polls gets each judgment exactly once.

Ids are handed out when a row is inserted, but transactions commit in any order, so "every
id above the last one seen" can miss a row whose transaction committed late. On PostgreSQL
the cursor is therefore (inserting transaction, id), and a page only holds rows whose
transaction is older than every transaction still running (the snapshot's xmin): nothing
can later appear before the cursor. SQLite has one writer at a time, so ids suffice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

from annotation.errors import ValidationFailed
from annotation.exports.plan import judgment_fields_used
from annotation.exports.readers import judgment_records
from annotation.models import Judgment, Project
from annotation.numbers import BIGINT_MAX

# ASCII digits: \d would also take other scripts' digits, which int() reads.
CURSOR = re.compile(r"(?:(?P<txid>[0-9]{1,19})-)?(?P<id>[0-9]{1,19})")
SETTLED = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
OWN_TRANSACTION = "pg_current_xact_id_if_assigned()::text::bigint"


def _uses_transaction_order() -> bool:
    return connection.vendor == "postgresql"


def parse_cursor(raw: str | None) -> tuple[int | None, int]:
    """'' and '0' start from the beginning; 'T-I' is a PostgreSQL cursor; a bare id is read
    as 'after this judgment'."""
    match = CURSOR.fullmatch(raw or "0")
    txid = int(match["txid"]) if match and match["txid"] else None
    if match is None or int(match["id"]) > BIGINT_MAX or (txid or 0) > BIGINT_MAX:
        raise ValidationFailed(
            "Bad cursor.", errors=[{"field": "since", "error": "must be a next_since value"}]
        )
    return txid, int(match["id"])


def judgments_since(
    *, project: Project, since: str | None, limit: int
) -> tuple[list[dict[str, Any]], str]:
    """One page of judgments after the cursor, oldest first, and the cursor to poll from."""
    txid, last_id = parse_cursor(since)
    queryset = Judgment.objects.filter(project=project)
    if _uses_transaction_order():
        if txid is None and last_id:
            txid = (
                Judgment.objects.filter(project=project, pk=last_id)
                .values_list("txid", flat=True)
                .first()
            )
            if txid is None:
                raise ValidationFailed(
                    errors=[{"field": "since", "error": "no such judgment in this project"}]
                )
        if txid is not None:
            queryset = queryset.filter(Q(txid__gt=txid) | Q(txid=txid, pk__gt=last_id))
        queryset = queryset.filter(
            Q(txid__lt=RawSQL(SETTLED, [])) | Q(txid=RawSQL(OWN_TRANSACTION, []))
        ).order_by("txid", "pk")
        rows = list(queryset.values_list("txid", "pk")[:limit])
        if not rows:
            return [], since or "0"
        page_ids = [pk for _, pk in rows]
        records = _in_order(project, page_ids)
        last_txid, last_pk = rows[-1]
        return records, f"{last_txid}-{last_pk}"
    queryset = queryset.filter(pk__gt=last_id).order_by("pk")
    records = list(_records(project, queryset[:limit]))
    return records, str(records[-1]["id"]) if records else (since or "0")


def _records(project: Project, queryset: Any) -> Iterator[dict[str, Any]]:
    """The rows of the `judgments` export (answers as stored), spans, reasons and rewrites
    included where the project uses them."""
    uses, reason_keys = judgment_fields_used(project=project)
    return judgment_records(project=project, queryset=queryset, reason_keys=reason_keys, uses=uses)


def _in_order(project: Project, ids: list[int]) -> list[dict[str, Any]]:
    position = {pk: i for i, pk in enumerate(ids)}
    records = _records(project, Judgment.objects.filter(pk__in=ids).order_by("pk"))
    return sorted(records, key=lambda r: position[r["id"]])
