"""Reads over snapshots that the workers need."""

from __future__ import annotations

from datetime import datetime

from annotation.models import Snapshot


def snapshots_pending_since(*, before: datetime) -> list[int]:
    """Snapshots asked for before `before` and still pending: their build was never queued
    (a broker that was down), was lost, or is taking long; building is idempotent, so beat
    queues them again."""
    return list(
        Snapshot.objects.filter(status=Snapshot.Status.PENDING, created_at__lt=before)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
