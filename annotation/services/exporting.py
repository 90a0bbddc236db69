"""Snapshots: immutable exports written by a worker with their dataset card, and
their folder-shaped zip. The reading, encoding and card are in annotation/exports/; these
services decide when a snapshot is built and store it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import pyarrow.parquet as pq
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import OperationalError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from annotation import scheduling
from annotation.db import (
    check_client_every_second,
    database_unreachable,
    replica_holds,
    replica_reads,
)
from annotation.exports.card import CARD_DATA_DIR, dataset_card
from annotation.exports.encoders import Drain, export_stream
from annotation.exports.plan import ExportPlan, export_plan
from annotation.exports.query import ExportQuery, export_query_from_params, with_up_to
from annotation.exports.readers import export_rows
from annotation.models import Judgment, Project, Snapshot, Webhook
from annotation.pg.locks import lock_not_granted, row_lock_wait_at_most
from annotation.services.projects import CRITERION_FIELDS
from annotation.services.webhooks import webhook_event_emit
from annotation.storage import leftovers_remove, save_complete

logger = logging.getLogger(__name__)
_PROTOCOL_SKIP = {"id", "owner", "created_at", "updated_at"}


# ---------------------------------------------------------------- snapshots


def project_protocol(*, project: Project) -> dict[str, Any]:
    """The project's settings and criteria as they are now, kept with a snapshot."""
    settings = {
        f.name: f.value_from_object(project)
        for f in Project._meta.concrete_fields
        if f.name not in _PROTOCOL_SKIP
    }
    criteria = [
        {name: getattr(c, name) for name in CRITERION_FIELDS} for c in project.criteria.all()
    ]
    return {"project": settings, "criteria": criteria}


def snapshot_create(
    *, project: Project, query: ExportQuery, created_by: AbstractBaseUser | None
) -> Snapshot:
    """Record a snapshot of the export `query` (checked against the project now) and queue
    its build once the row is committed. The snapshot is pinned to the newest judgment
    at this moment, so a later build reads the same judgments."""
    export_plan(project=project, query=query)
    with transaction.atomic():
        last_id = Judgment.objects.filter(project=project).aggregate(last=Max("pk"))["last"]
        protocol = project_protocol(project=project) | {"last_judgment_id": last_id or 0}
        snapshot = Snapshot(
            project=project,
            created_by=created_by,
            query=query.as_dict(),
            protocol=protocol,
        )
        snapshot.full_clean()
        snapshot.save()
        # A broker that is down must not turn the stored request into an error: the snapshot
        # stays pending and beat queues it again (snapshots_orphaned_claim).
        transaction.on_commit(lambda: scheduling.schedule_snapshot_build(snapshot.pk), robust=True)
    return snapshot


def snapshots_orphaned_claim(*, now: datetime | None = None) -> list[int]:
    """Pending snapshots that no worker is building and that should be queued again: a
    build taken more than SNAPSHOT_CLAIM_TIMEOUT_SECONDS ago (its worker died: a live build
    holds the row lock for as long as it runs, however long, and is skipped), or one never
    taken SNAPSHOT_REQUEUE_AFTER_SECONDS after it was asked for (its message was lost, or
    waits behind others). Their claim is renewed, so each is queued again at most once per
    window. SQLite has no row locks: there a build longer than the window is queued twice,
    which the build's own lock check cannot catch either (README, When services fail)."""
    now = now or timezone.now()
    claim_cutoff = now - timedelta(seconds=settings.SNAPSHOT_CLAIM_TIMEOUT_SECONDS)
    asked_cutoff = now - timedelta(seconds=settings.SNAPSHOT_REQUEUE_AFTER_SECONDS)
    with transaction.atomic():
        orphaned = list(
            Snapshot.objects.select_for_update(skip_locked=True)
            .filter(status=Snapshot.Status.PENDING)
            .filter(
                Q(claimed_at__lt=claim_cutoff)
                | Q(claimed_at__isnull=True, created_at__lt=asked_cutoff)
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        Snapshot.objects.filter(pk__in=orphaned).update(claimed_at=now)
    return orphaned


class _Counted:
    """Rows passed through, counted."""

    def __init__(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.rows:
            self.count += 1
            yield row


def snapshot_plan(*, snapshot: Snapshot) -> ExportPlan:
    """The export a snapshot stands for: its query, pinned to its last judgment."""
    query = export_query_from_params(snapshot.query, strict=True)
    query = with_up_to(query, snapshot.protocol.get("last_judgment_id", 0))
    return export_plan(project=snapshot.project, query=query)


#: How long a build waits to record its claim on a snapshot another session has locked.
CLAIM_WAIT_SECONDS = 2


class SnapshotBusy(Exception):
    """Another worker holds the pending snapshot (or a dead worker's session has not ended
    yet): try again in a few seconds."""


def snapshot_build(*, snapshot: Snapshot) -> Snapshot:
    """Write a pending snapshot's file through the default storage, with its row count,
    sha256 and dataset card, then mark it ready. A snapshot that is ready or failed is left
    alone, so the task can run twice; one that another worker holds raises SnapshotBusy (it
    may be a dead worker's, whose session ends within seconds). An error marks it failed
    with the message; nothing half-written stays behind, and files a killed build left are
    removed.

    The claim time is recorded (committed) before the row lock is taken, so beat can tell
    a build that began and died (an old claim, no lock) from one still running (locked)."""
    _snapshot_claim(snapshot)
    try:
        with transaction.atomic():
            check_client_every_second()
            locked = (
                Snapshot.objects.select_for_update(skip_locked=True)
                .select_related("project")
                .filter(pk=snapshot.pk, status=Snapshot.Status.PENDING)
                .first()
            )
            if locked is None:
                snapshot.refresh_from_db()
                if snapshot.status == Snapshot.Status.PENDING:
                    raise SnapshotBusy(f"snapshot {snapshot.pk} is being built")
                return snapshot
            # Read from the replica once it holds the snapshot's row, and so every judgment
            # the snapshot is pinned to; until then from default (README, Running at scale).
            with replica_reads(replica_holds(locked)):
                _write_snapshot(locked)
            _snapshot_announce(locked, Webhook.Event.SNAPSHOT_READY)
    except SnapshotBusy:
        raise
    except Exception as exc:
        if database_unreachable(exc):
            raise  # it stays pending: the task retries once the database is back
        logger.exception("snapshot %s failed", snapshot.pk)
        failed = Snapshot.objects.filter(pk=snapshot.pk, status=Snapshot.Status.PENDING).update(
            status=Snapshot.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        if failed:
            _snapshot_announce(snapshot, Webhook.Event.SNAPSHOT_FAILED)
    snapshot.refresh_from_db()
    return snapshot


def _snapshot_claim(snapshot: Snapshot) -> None:
    """Record the time this build is taken, committed at once. A lock held for a moment
    (beat looking for dead builds, another copy of the task claiming) is waited for, so the
    claim is not lost to it; a build that holds the snapshot is not: after CLAIM_WAIT_SECONDS
    this build goes on to find it busy."""
    try:
        with transaction.atomic():
            row_lock_wait_at_most(CLAIM_WAIT_SECONDS)
            Snapshot.objects.filter(pk=snapshot.pk, status=Snapshot.Status.PENDING).update(
                claimed_at=timezone.now()
            )
    except OperationalError as exc:
        if not lock_not_granted(exc):
            raise


def _snapshot_announce(snapshot: Snapshot, event: str) -> None:
    webhook_event_emit(project=snapshot.project, event=event, payload={"snapshot": snapshot.pk})


def _write_snapshot(snapshot: Snapshot) -> None:
    """The file is written by the same stream as the download (judgments from COPY on
    PostgreSQL). Rows are counted where the file can tell them apart: a JSON Lines file has
    one a line, a Parquet file says how many it holds; CSV rows are counted as encoded."""
    plan = snapshot_plan(snapshot=snapshot)
    filetype = plan.query.filetype
    counted = _Counted(export_rows(plan=plan)) if filetype == "csv" else None
    digest = hashlib.sha256()
    lines = 0
    name = f"{snapshot.project.slug}-{plan.query.format}-{snapshot.pk}.{filetype}"
    # The row is pending and locked by us: anything under its name is a killed build's.
    leftovers_remove(
        storage=snapshot.file.storage, name=snapshot.file.field.generate_filename(snapshot, name)
    )
    with tempfile.TemporaryFile() as spool:
        for chunk in export_stream(plan=plan, rows=counted):
            digest.update(chunk)
            spool.write(chunk)
            lines += chunk.count(b"\n")
        spool.seek(0)
        if counted is not None:
            row_count = counted.count
        elif filetype == "parquet":
            row_count = pq.ParquetFile(spool).metadata.num_rows
            spool.seek(0)
        else:
            row_count = lines
        # Under a temporary name until complete: a full disk leaves no partial file.
        snapshot.file = save_complete(
            storage=snapshot.file.storage,
            name=snapshot.file.field.generate_filename(snapshot, name),
            content=File(spool, name=name),
        )
    try:
        snapshot.row_count = row_count
        snapshot.sha256 = digest.hexdigest()
        snapshot.card = dataset_card(snapshot=snapshot, plan=plan)
        snapshot.status = Snapshot.Status.READY
        snapshot.finished_at = timezone.now()
        snapshot.error = ""
        snapshot.save(
            update_fields=[
                "file",
                "row_count",
                "sha256",
                "card",
                "status",
                "finished_at",
                "error",
            ]
        )
    except Exception:
        snapshot.file.delete(save=False)
        raise


# ---------------------------------------------------------------- the folder download

FOLDER_CHUNK = 1024 * 1024


def snapshot_folder_name(*, snapshot: Snapshot) -> str:
    """The zip's name: the data file's, with .zip."""
    return os.path.splitext(os.path.basename(snapshot.file.name))[0] + ".zip"


def snapshot_folder_zip(*, snapshot: Snapshot, handle: BinaryIO) -> Iterator[bytes]:
    """A ready snapshot as a dataset repository's folder, zipped while it is read: the
    card as `README.md` and the file as `data/<file>`, where the card's `configs` point, so
    `datasets.load_dataset(<unzipped folder>)` and `huggingface-cli upload` take it as it
    is. `handle` is the snapshot's file, opened (and closed here once read). Parquet is
    stored (already compressed), text deflated; memory stays flat."""
    filename = os.path.basename(snapshot.file.name)
    sink = Drain()
    try:
        with zipfile.ZipFile(sink, "w") as archive:
            stamp = timezone.localtime(snapshot.finished_at or snapshot.created_at, UTC)
            moment = stamp.timetuple()[:6]
            card = zipfile.ZipInfo("README.md", date_time=moment)
            card.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(card, (snapshot.card or "").encode())
            yield sink.drain()
            data = zipfile.ZipInfo(f"{CARD_DATA_DIR}/{filename}", date_time=moment)
            data.compress_type = (
                zipfile.ZIP_STORED if filename.endswith(".parquet") else zipfile.ZIP_DEFLATED
            )
            data.file_size = snapshot.file.size  # decides whether the entry needs zip64
            with archive.open(data, "w") as entry:
                while chunk := handle.read(FOLDER_CHUNK):
                    entry.write(chunk)
                    yield sink.drain()
        yield sink.drain()
    finally:
        handle.close()
