"""Exports as files: encoding rows as JSONL, CSV or Parquet while they are read, and
snapshots, immutable exports written by a worker with their dataset card.

The encoders are generators of bytes: the API streams them, a snapshot build writes them
to storage. Memory stays flat: rows are encoded in small batches (Parquet in row groups).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Count, Max
from django.utils import timezone

from annotation.db import check_client_every_second, database_unreachable
from annotation.exports.fields import ROW, field_table, fields_of
from annotation.licenses import hub_license
from annotation.models import (
    Annotator,
    Criterion,
    Item,
    Judgment,
    Project,
    Snapshot,
    Webhook,
)
from annotation.selectors.exports import (
    ExportPlan,
    ExportQuery,
    chunked,
    export_plan,
    export_query_from_params,
    export_rows,
    json_text,
    judgment_batches,
    judgment_json_lines,
    passing_judgments,
    rubric_score_column,
    with_up_to,
)
from annotation.services.projects import CRITERION_FIELDS
from annotation.services.reports import report_latest
from annotation.services.webhooks import webhook_event_emit
from annotation.storage import save_complete

logger = logging.getLogger(__name__)

TEXT_BATCH = 500
PARQUET_ROW_GROUP = 5_000
COLUMNS_ROW_GROUP = 25_000  # rows decoded as columns are light: bigger groups compress better
INSTRUCTIONS_EXCERPT = 600
_PROTOCOL_SKIP = {"id", "owner", "created_at", "updated_at"}
CARD_DATA_DIR = "data"  # where a folder download keeps the file, as the card's configs say


# ---------------------------------------------------------------- encoders


def conform_rows(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> Iterator[dict[str, Any]]:
    """The rows as every file of the schema holds them, so that a JSON Lines file and a
    Parquet file of one export load with the same types: every column present, in order
    (null when absent), a whole number in a float column a float (`2.0`, which a JSON reader
    does not take for an integer), an object or list in a text column its JSON text."""
    names = schema.names
    floats = [f.name for f in schema if pa.types.is_floating(f.type)]
    texts = [f.name for f in schema if pa.types.is_string(f.type)]
    for row in rows:
        for name in floats:
            if row.get(name).__class__ is int:
                row[name] = float(row[name])
        for name in texts:
            value = row.get(name)
            if value is not None and value.__class__ is not str:
                row[name] = json.dumps(value, ensure_ascii=False)
        yield row if list(row) == names else {name: row.get(name) for name in names}


def encode_jsonl(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> Iterator[bytes]:
    """One JSON object a line, UTF-8, in the schema's types (conform_rows); the line and
    paragraph separators are escaped, so that any line splitter finds one row a line."""
    lines: list[str] = []
    for row in conform_rows(rows, schema):
        lines.append(json_text(row))
        if len(lines) >= TEXT_BATCH:
            yield ("\n".join(lines) + "\n").encode()
            lines.clear()
    if lines:
        yield ("\n".join(lines) + "\n").encode()


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection).
FORMULA_START = frozenset("=+-@\t\r")
_QUOTE = "'"
_RISKY_START = FORMULA_START | {_QUOTE}


def csv_text(value: str) -> str:
    """A text cell no spreadsheet runs: a leading ' before a formula's first character. A text
    that already starts with quotes before one gets one more, so that csv_text_read gives
    every text back as it was."""
    first = value[:1]
    if first in FORMULA_START or (first == _QUOTE and value.lstrip(_QUOTE)[:1] in FORMULA_START):
        return _QUOTE + value
    return value


def csv_text_read(cell: str) -> str:
    """The text a csv_text cell stands for (what an import of our own CSV reads)."""
    if cell[:1] == _QUOTE and cell.lstrip(_QUOTE)[:1] in FORMULA_START:
        return cell[1:]
    return cell


def _is_number(column_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(column_type)
        or pa.types.is_floating(column_type)
        or pa.types.is_boolean(column_type)
    )


def encode_csv(rows: Iterable[dict[str, Any]], schema: pa.Schema) -> Iterator[bytes]:
    """A header from the plan's columns, then one line a row; nested values (message
    lists, objects) are written as JSON text, absent ones as empty cells. Text columns are
    escaped by csv_text, whatever their values look like; number columns stay numbers."""
    names = schema.names
    text_positions = [i for i, column in enumerate(schema) if not _is_number(column.type)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names)
    for count, row in enumerate(rows, start=1):
        cells = [row.get(name) for name in names]
        for i in text_positions:
            value = cells[i]
            if value is None:
                continue
            if value.__class__ is not str:
                if isinstance(value, dict | list):
                    value = json.dumps(value, ensure_ascii=False)
                else:
                    value = str(value)
                cells[i] = value
            if value[:1] in _RISKY_START:
                cells[i] = csv_text(value)
        writer.writerow(cells)
        if count % TEXT_BATCH == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue().encode()


class _Drain(io.RawIOBase):
    """A write-only file that keeps what was written until it is drained, and reports
    its true position, which the Parquet writer records in the footer."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def encode_parquet(
    rows: Iterable[dict[str, Any]], schema: pa.Schema, *, row_group_size: int = PARQUET_ROW_GROUP
) -> Iterator[bytes]:
    """Parquet with a fixed schema, one row group per `row_group_size` rows, each
    yielded as soon as it is written; the rows are conformed as for JSON Lines."""

    def batches() -> Iterator[pa.RecordBatch]:
        for chunk in chunked(conform_rows(rows, schema), row_group_size):
            yield pa.RecordBatch.from_pylist(chunk, schema=schema)

    return encode_parquet_batches(batches(), schema, row_group_size=row_group_size)


def encode_parquet_batches(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    *,
    row_group_size: int = PARQUET_ROW_GROUP,
) -> Iterator[bytes]:
    """Parquet from columns already in the schema, batches gathered into row groups of at
    least `row_group_size` rows, each yielded as soon as it is written."""
    sink = _Drain()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        pending: list[pa.RecordBatch] = []
        pending_rows = 0
        for batch in batches:
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= row_group_size:
                writer.write_table(
                    pa.Table.from_batches(pending, schema), row_group_size=pending_rows
                )
                pending, pending_rows = [], 0
                yield sink.drain()
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema), row_group_size=pending_rows)
    finally:
        writer.close()
    yield sink.drain()


def export_stream(
    *, plan: ExportPlan, rows: Iterable[dict[str, Any]] | None = None
) -> Iterator[bytes]:
    """The plan's file as bytes, produced while its rows are read. On PostgreSQL the raw
    judgments come out of COPY as columns, never as Python objects per row (JSON Lines and
    Parquet); other formats, and rows given by the caller, go through the row encoders."""
    if (
        rows is None
        and plan.query.format == "judgments"
        and plan.query.filetype in ("jsonl", "parquet")
        and connection.vendor == "postgresql"
    ):
        if plan.query.filetype == "jsonl":
            return judgment_json_lines(plan=plan)
        return encode_parquet_batches(
            judgment_batches(plan=plan), plan.schema, row_group_size=COLUMNS_ROW_GROUP
        )
    rows = export_rows(plan=plan) if rows is None else rows
    if plan.query.filetype == "csv":
        return encode_csv(rows, plan.schema)
    if plan.query.filetype == "parquet":
        return encode_parquet(rows, plan.schema)
    return encode_jsonl(rows, plan.schema)


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
    from annotation.tasks import snapshot_build as snapshot_build_task

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
        # stays pending and beat queues it again (snapshots_pending_since).
        transaction.on_commit(lambda: snapshot_build_task.delay(snapshot.pk), robust=True)
    return snapshot


def snapshots_pending_since(*, before: datetime) -> list[int]:
    """Snapshots asked for before `before` and still pending: their build was never queued
    (a broker that was down), was lost, or is taking long; building is idempotent, so beat
    queues them again."""
    return list(
        Snapshot.objects.filter(status=Snapshot.Status.PENDING, created_at__lt=before)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


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


class SnapshotBusy(Exception):
    """Another worker holds the pending snapshot (or a dead worker's session has not ended
    yet): try again in a few seconds."""


def snapshot_build(*, snapshot: Snapshot) -> Snapshot:
    """Write a pending snapshot's file through the default storage, with its row count,
    sha256 and dataset card, then mark it ready. A snapshot that is ready or failed is left
    alone, so the task can run twice; one that another worker holds raises SnapshotBusy (it
    may be a dead worker's, whose session ends within seconds). An error marks it failed
    with the message; nothing half-written stays behind."""
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
    sink = _Drain()
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


# ---------------------------------------------------------------- the dataset card

_KIND_TEXT = {
    Project.Kind.PAIRWISE: (
        "Pairwise comparison: annotators saw a prompt and two responses side by side "
        "(model names hidden, sides drawn at random) and chose the better one"
    ),
    Project.Kind.RUBRIC: (
        "Rubric rating: annotators saw a prompt and one response (model name hidden) "
        "and scored it on every criterion below"
    ),
}

#: What the card says of a format beyond its fields (declared in annotation/exports/fields.py).
_FIELDS_NOTE = {
    "labels": (
        "Both computed labels were computed when this file was written, from the judgments "
        "passing the filters below; adjudications are as they were then."
    ),
    "rubric": "Judgments made under different criteria are never pooled.",
    "items": "It re-imports into a new project unchanged.",
    "annotators": (
        "Crowd platforms' worker ids are never exported. Consent and quality figures are as "
        "they were when the file was written."
    ),
}


def _fields_lines(plan: ExportPlan) -> list[str]:
    """The card's field list: the format's declared fields for this project's kind."""
    export_format = plan.query.format
    fields = fields_of(export_format, pairwise=plan.project.is_pairwise)
    note = _FIELDS_NOTE.get(export_format)
    return [
        ROW[export_format] + (f" {note}" if note else ""),
        "",
        field_table(fields, kinds=False),
    ]


def _margin_text(project: Project) -> str:
    if project.strength_scale:
        return (
            "`margin` is the mean preference strength (1 = slightly better ... 3 = much "
            "better) of the judgments behind the winner."
        )
    return "`margin` is (votes for the winner - votes for the loser) / all votes of the pair."


def _label_text(plan: ExportPlan) -> str:
    if plan.query.filters.label == "adjudicated":
        return (
            "Pairs are decided by a researcher's adjudication where there is one (a row when "
            "the researcher chose a or b, whatever the agreement and judgment filters; none "
            "for a tie or both bad), and by majority elsewhere: a row when a or b has more "
            "votes than any other answer. `agreement` is the share of the pair's judgments "
            "that agree with the winner."
        )
    if plan.query.filters.label == "dawid_skene":
        return (
            "Pairs are decided by their Dawid-Skene label (fitted when this file was written "
            "on every judgment passing the filters, each annotator weighed by their estimated "
            "reliability): a pair is a row when that label is a or b, and `agreement` is its "
            "posterior probability."
        )
    return (
        "Pairs are decided by majority: a row when a or b has more votes than any other "
        "answer (ties, 'both bad' and pairs without a single leader are left out); "
        "`agreement` is the winner's share of the pair's judgments."
    )


def _criteria_lines(criteria: Sequence[Criterion]) -> list[str]:
    lines = []
    for criterion in criteria:
        line = f"- **{criterion.label}** (`{criterion.key}`, {criterion.level}, "
        line += f"{criterion.min} to {criterion.max})"
        if criterion.description:
            line += f": {criterion.description.strip().rstrip('.')}"
        levels = [f"{score} = {label}" for score, label in criterion.levels() if label]
        if levels:
            line += f". Levels: {'; '.join(levels)}"
        lines.append(line + ".")
    return lines


def _agreement_lines(project: Project) -> list[str]:
    report = report_latest(project=project)
    if report is None:
        return ["No agreement report has been computed for this project yet."]
    lines = [
        f"From the project's latest report ({report.computed_at:%Y-%m-%d %H:%M} UTC, over "
        f"{report.n_judgments} judgments; human, non-gold judgments, whatever the export's "
        "filters):",
        "",
        "| criterion | Krippendorff's alpha | 95% interval | percent agreement | judgments |",
        "| --- | --- | --- | --- | --- |",
    ]

    def number(value: Any) -> str:
        return f"{value:.3f}" if isinstance(value, int | float) else "n/a"

    for key, figures in (report.report.get("criteria") or {}).items():
        alpha = figures.get("krippendorff_alpha") or {}
        percent = figures.get("percent_agreement") or {}
        interval = alpha.get("ci") or [None, None]
        lines.append(
            f"| {key} | {number(alpha.get('value'))} | "
            f"[{number(interval[0])}, {number(interval[1])}] | "
            f"{number(percent.get('value'))} | {figures.get('n_judgments', 'n/a')} |"
        )
    return lines


def _loading_lines(plan: ExportPlan, filename: str) -> list[str]:
    builder = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}[plan.query.filetype]
    lines = [
        "Downloaded as a folder (`GET .../snapshots/{id}/download/?as=folder`, a zip of this "
        f"card as `README.md` and the file as `data/{filename}`), the unzipped folder loads as "
        "it is, and uploads to the Hugging Face Hub as a dataset repository as it is:",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        'dataset = load_dataset("path/to/unzipped/folder", split="train")',
        "```",
        "",
        "```sh",
        "hf upload --repo-type dataset <you>/<dataset> path/to/unzipped/folder",
        "# huggingface_hub before 1.0: huggingface-cli upload --repo-type dataset "
        "<you>/<dataset> path/to/unzipped/folder .",
        "```",
        "",
        "The file alone:",
        "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'dataset = load_dataset("{builder}", data_files="{filename}", split="train")',
        "```",
    ]
    if plan.query.filetype == "csv":
        lines.append("")
        lines.append(
            "In CSV, message lists and objects are JSON text, and a text that starts with `=`, "
            "`+`, `-`, `@`, a tab or a carriage return has a leading `'` (so that spreadsheets "
            "do not run it as a formula; a text that starts with `'` before one of those has "
            "one more): drop one leading `'` from such a cell to get the text. Number columns "
            "are plain numbers."
        )
    return lines


# ---------------------------------------------------------------- the card's front matter

#: The Hub's task categories each format serves.
_TASK_CATEGORIES = {
    "judgments": ["text-classification", "reinforcement-learning"],
    "dpo": ["text-generation", "reinforcement-learning"],
    "kto": ["text-generation", "reinforcement-learning"],
    "rubric": ["text-classification", "reinforcement-learning"],
    "labels": ["text-classification", "reinforcement-learning"],
    "items": ["text-generation"],
    "annotators": ["tabular-classification"],
}
_SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)
_CROWD_SOURCES = {Annotator.Source.PROLIFIC, Annotator.Source.MTURK}


def size_category(rows: int) -> str:
    """The Hub's `size_categories` value for a number of rows."""
    for bound, name in _SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>1B" if rows < 10_000_000_000 else "other"


def annotations_creators(sources: set[tuple[str, str]]) -> list[str]:
    """The Hub's `annotations_creators` for the (annotator source, kind) pairs behind a
    dataset: model judges are machine-generated, crowd platforms' workers crowdsourced,
    the site's own accounts expert-generated (in-house annotators), and people's judgments
    imported from elsewhere found; no judgment at all is no-annotation."""
    creators = set()
    for source, kind in sources:
        if kind == Annotator.Kind.MODEL:
            creators.add("machine-generated")
        elif source in _CROWD_SOURCES:
            creators.add("crowdsourced")
        elif source == Annotator.Source.IMPORT:
            creators.add("found")
        else:
            creators.add("expert-generated")
    return sorted(creators) or ["no-annotation"]


def _creators(plan: ExportPlan, behind: set[tuple[str, str]]) -> list[str]:
    """An `items` file holds no judgments: its only labels are the references imported with
    the items (found elsewhere)."""
    if plan.query.format != "items":
        return annotations_creators(behind)
    labelled = Item.objects.filter(project=plan.project, reference__isnull=False).exists()
    return ["found"] if labelled else ["no-annotation"]


def card_language(content_language: str) -> list[str]:
    """The Hub's `language` (ISO 639 codes) from a BCP 47 tag: its language subtag."""
    primary = content_language.split("-")[0].strip().lower()
    return [primary] if primary.isascii() and primary.isalpha() and 2 <= len(primary) <= 3 else []


def card_metadata(
    *,
    plan: ExportPlan,
    settings: dict[str, Any],
    filename: str,
    row_count: int,
    creators: list[str],
) -> dict[str, Any]:
    """The card's YAML front matter, as the Hugging Face Hub reads it. `settings` are the
    project's settings the snapshot recorded (its license as it was then)."""
    project = plan.project
    metadata: dict[str, Any] = hub_license(
        settings.get("license", project.license) or "",
        settings.get("license_name", project.license_name) or "",
    )
    language = card_language(settings.get("content_language", project.content_language) or "")
    if language:
        metadata["language"] = language
    kind_tag = "preference" if project.is_pairwise else "rating"
    metadata |= {
        "pretty_name": project.name,
        "task_categories": _TASK_CATEGORIES.get(plan.query.format, ["text-classification"]),
        "size_categories": [size_category(row_count)],
        "annotations_creators": creators,
        "tags": ["human-feedback", kind_tag, plan.query.format],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": f"{CARD_DATA_DIR}/{filename}"}],
            }
        ],
    }
    return metadata


def _front_matter(metadata: dict[str, Any]) -> list[str]:
    text = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True, width=1000)
    return ["---", *text.rstrip("\n").splitlines(), "---"]


def _rubric_version_lines(plan: ExportPlan, versions: list[int]) -> list[str]:
    """The rubric version(s) of the judgments behind the file, beside the current one."""
    current = plan.project.rubric_version
    if not versions:
        return [f"- rubric version: none in the data (the project's current one is {current})"]
    named = ", ".join(str(v) for v in versions)
    plural = "s" if len(versions) > 1 else ""
    return [f"- rubric version{plural} of the judgments: {named} (current: {current})"]


def dataset_card(*, snapshot: Snapshot, plan: ExportPlan) -> str:
    """The snapshot's dataset card: Markdown with the YAML front matter the Hugging Face
    Hub reads (license, language, task and size categories, annotations creators, configs
    pointing at the folder download's data file)."""
    project = plan.project
    filters = plan.query.filters
    passing = passing_judgments(project=project, filters=filters)
    counts = passing.aggregate(judgments=Count("pk"), annotators=Count("annotator", distinct=True))
    behind = passing.order_by().values_list("annotator__source", "annotator__kind").distinct()
    versions = sorted(set(passing.order_by().values_list("rubric_version", flat=True).distinct()))
    filename = os.path.basename(snapshot.file.name)
    settings = (snapshot.protocol or {}).get("project") or {}
    metadata = card_metadata(
        plan=plan,
        settings=settings,
        filename=filename,
        row_count=snapshot.row_count or 0,
        creators=_creators(plan, set(behind)),
    )
    if metadata["license"] == "unknown":
        license_line = "unknown: the project sets none (set its license before sharing)"
    else:
        license_line = metadata.get("license_name", metadata["license"])
    instructions = project.instructions.strip()
    if len(instructions) > INSTRUCTIONS_EXCERPT:
        instructions = instructions[:INSTRUCTIONS_EXCERPT].rsplit(" ", 1)[0] + " ..."
    asked = _KIND_TEXT[project.kind]
    if project.is_pairwise:
        extras = [
            text
            for allowed, text in (
                (project.allow_tie, "a tie was allowed"),
                (project.allow_both_bad, "'both bad' was allowed"),
                (project.strength_scale, "with a strength from 1 (slightly) to 3 (much better)"),
            )
            if allowed
        ]
        if extras:
            asked += "; " + "; ".join(extras)
    lines = [
        *_front_matter(metadata),
        "",
        f"# {project.name}: `{plan.query.format}` snapshot {snapshot.pk}",
        "",
        f"- file: `{filename}` ({plan.query.filetype}), {snapshot.row_count} rows",
        f"- sha256: `{snapshot.sha256}`",
        f"- created: {snapshot.created_at:%Y-%m-%d %H:%M} UTC from project `{project.slug}`, "
        f"judgments up to id {filters.up_to_id}",
        f"- license: {license_line}",
        *(_rubric_version_lines(plan, versions) if plan.criteria else []),
        "",
        "## What annotators were asked",
        "",
        asked + ".",
        "",
    ]
    if instructions:
        lines += ["Instructions (excerpt):", ""]
        lines += [f"> {line}" if line else ">" for line in instructions.splitlines()]
        lines.append("")
    by_version = dict(plan.rubric_versions)
    shown = [v for v in versions if v in by_version] if len(by_version) > 1 else []
    if len(shown) > 1:
        for version in shown:
            criteria = _criteria_lines(by_version[version])
            lines += [f"Criteria of rubric version {version}:", "", *criteria, ""]
    elif plan.criteria:
        lines += ["Criteria:", "", *_criteria_lines(plan.criteria), ""]
    lines += [
        "## Annotation",
        "",
        f"- judgments passing the filters below: {counts['judgments']}, from "
        f"{counts['annotators']} annotators ({', '.join(metadata['annotations_creators'])})",
        f"- {project.annotations_per_task} judgments wanted per task; gold rate "
        f"{project.gold_rate:g}",
        "",
        "## Agreement",
        "",
        *_agreement_lines(project),
        "",
        "## Filters",
        "",
        "| filter | value |",
        "| --- | --- |",
        *(
            f"| {key} | {json.dumps(value)} |"
            for key, value in plan.query.as_dict().items()
            if key not in ("format", "filetype")
        ),
        "",
        "## Fields",
        "",
        *_fields_lines(plan),
    ]
    if plan.query.format == "dpo":
        lines += ["", _label_text(plan), "", _margin_text(project)]
    if plan.query.format == "rubric":
        renamed = [c.key for c in plan.criteria if rubric_score_column(c.key) != c.key]
        if renamed:
            lines += ["", f"Criteria named like a fixed column get a `score_` prefix: {renamed}."]
    if plan.conversational and plan.query.format in ("dpo", "rubric", "items"):
        lines += [
            "",
            "Some prompts are conversations, so every `prompt` is a list of "
            '`{"role", "content"}` messages (a plain prompt is one user message)'
            + (
                "; `chosen` and `rejected` are one assistant message each (TRL's "
                "conversational preference format)."
                if plan.query.format == "dpo"
                else "."
            ),
        ]
    lines += ["", "## Loading", "", *_loading_lines(plan, filename), ""]
    return "\n".join(lines)
