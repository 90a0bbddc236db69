"""Imports too large for a request: an import job holds the upload until a worker runs it
through the same services as a small import (items_import, judgments_import).

The worker tells the job how many rows it has written as it goes. Those writes happen
inside the import's one transaction, so on PostgreSQL the progress goes through a
connection of its own (committed at once, readable while the import runs); the data is
kept only if the whole import commits. A failed import leaves nothing and the job says
which lines were bad.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from annotation import scheduling
from annotation.errors import ImportRejected, NotFound
from annotation.models import ImportJob, Project
from annotation.pg import table
from annotation.pg.locks import session_lock
from annotation.services.importing import (
    ImportProgress,
    ImportResult,
    items_import,
    read_rows_lenient,
    rows_from_body,
)
from annotation.services.judgment_import import JudgmentImportResult, judgments_import

logger = logging.getLogger(__name__)

#: The first key of the PostgreSQL advisory lock a worker holds while it runs a job (the
#: second is the job's id).
LOCK_NAMESPACE = 15_0005


class ImportJobBusy(Exception):
    """Another worker runs this job (or its session, if the worker died, is still ending)."""


def import_rows_count(body: Any, *, filetype: str = "jsonl") -> int:
    """How many rows an import body holds, counted without checking them: a JSON list's
    length, the non-blank lines of JSON Lines, the records of a CSV file."""
    if isinstance(body, list):
        return len(body)
    if isinstance(body, dict):
        return 1
    if not isinstance(body, bytes | str):
        return 0
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    if filetype == "json":
        rows, errors = read_rows_lenient(raw, filetype="json")
        return len(rows) or len(errors)
    if filetype == "csv":
        text = raw.decode("utf-8-sig", errors="replace")
        try:
            records = csv.reader(io.StringIO(text, newline=""))
            return max(sum(1 for record in records if record) - 1, 0)  # blank rows skipped
        except csv.Error:
            return raw.count(b"\n")
    return sum(1 for line in raw.split(b"\n") if line.strip())


def import_start(
    *,
    project: Project,
    kind: str,
    body: Any,
    filetype: str = "jsonl",
    file_name: str = "",
    created_by: AbstractBaseUser | None,
) -> ImportResult | JudgmentImportResult | ImportJob:
    """Import items or judgments: at most IMPORT_ASYNC_ROWS rows at once, as before (the
    result), more as an import job queued for a worker (the job; on the embedded default,
    with eager Celery, it has run by the time this returns). `body` is a file's bytes in
    `filetype`, or a request body (JSON Lines bytes, a parsed JSON list or object)."""
    rows_total = import_rows_count(body, filetype=filetype)
    if rows_total > settings.IMPORT_ASYNC_ROWS:
        if isinstance(body, list | dict):
            body, filetype = json.dumps(body, ensure_ascii=False).encode(), "json"
        job = import_job_create(
            project=project,
            kind=kind,
            content=body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass"),
            filetype=filetype,
            rows_total=rows_total,
            file_name=file_name,
            created_by=created_by,
        )
        # Read back without the upload: on the embedded default the job has run by now.
        return ImportJob.objects.defer("content").get(pk=job.pk)
    if isinstance(body, bytes | str):
        rows, read_errors = read_rows_lenient(body, filetype=filetype)
    else:
        rows, read_errors = rows_from_body(body)
    return _run(project=project, kind=kind, rows=rows, read_errors=read_errors, progress=None)


def import_job_create(
    *,
    project: Project,
    kind: str,
    content: bytes,
    filetype: str,
    rows_total: int | None = None,
    file_name: str = "",
    created_by: AbstractBaseUser | None,
) -> ImportJob:
    """Store an upload as a pending import job and queue its run once committed (its rows
    counted here unless the caller has counted them)."""
    with transaction.atomic():
        job = ImportJob(
            project=project,
            kind=kind,
            filetype=filetype,
            file_name=file_name[:255],
            rows_total=(
                import_rows_count(content, filetype=filetype) if rows_total is None else rows_total
            ),
            created_by=created_by,
        )
        job.full_clean()
        job.save()
        _content_store(job, content)
        # A broker that is down must not lose the upload: the job stays pending and beat
        # queues it again (import_jobs_pending_since).
        transaction.on_commit(lambda: scheduling.schedule_import_job_run(job.pk), robust=True)
    return job


def import_jobs_pending_since(*, before: Any) -> list[int]:
    """Jobs created before `before` and still pending: their run was never queued or was
    lost; running a job is idempotent, so beat queues them again."""
    return list(
        ImportJob.objects.filter(status=ImportJob.Status.PENDING, created_at__lt=before)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def import_job_for(*, user: AbstractBaseUser, job_id: int) -> ImportJob:
    """The job if it imports into a project this researcher manages; NotFound otherwise."""
    from annotation.selectors.projects import projects_managed_by

    job = (
        ImportJob.objects.defer("content")
        .select_related("project")
        .filter(pk=job_id, project__in=projects_managed_by(user=user))
        .first()
    )
    if job is None:
        raise NotFound(f"No import {job_id}.")
    return job


def import_job_summary(job: ImportJob) -> str:
    """What a finished job imported, in a sentence ("" before it is done)."""
    if job.status != ImportJob.Status.DONE:
        return ""
    if job.kind == ImportJob.Kind.ITEMS:
        return ImportResult(**job.result).summary()
    result = job.result
    return (
        f"{result['judgments_created'] + result['judgments_updated']} judgments imported "
        f"({result['judgments_created']} new, {result['judgments_updated']} updated, "
        f"{result['judgments_unchanged']} unchanged), {result['annotators_created']} new annotators"
    )


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a pending job (or one whose worker died while it ran) to done or failed. A job
    that has ended is left alone, so the task can run twice; one another worker holds
    raises ImportJobBusy."""
    with _job_held(job_id):
        job = ImportJob.objects.defer("content").select_related("project").filter(pk=job_id).first()
        if job is None or job.finished:
            return job
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.RUNNING, started_at=timezone.now(), rows_done=0
        )
        try:
            with _progress_writer(job) as progress:
                content = _content_read(job)
                rows, read_errors = read_rows_lenient(content, filetype=job.filetype)
                del content
                result = _run(
                    project=job.project,
                    kind=job.kind,
                    rows=rows,
                    read_errors=read_errors,
                    progress=progress,
                )
        except ImportRejected as exc:
            _finish(job, status=ImportJob.Status.FAILED, errors=exc.errors or [_error(exc)])
        except Exception as exc:
            logger.exception("import job %s failed", job.pk)
            _finish(job, status=ImportJob.Status.FAILED, errors=[_error(exc)])
        else:
            _finish(job, status=ImportJob.Status.DONE, result=result.as_dict())
        job.refresh_from_db()
        return job


def _run(
    *,
    project: Project,
    kind: str,
    rows: list[tuple[int, Any]],
    read_errors: list[dict[str, Any]],
    progress: ImportProgress | None,
) -> ImportResult | JudgmentImportResult:
    if kind == ImportJob.Kind.JUDGMENTS:
        return judgments_import(
            project=project, rows=rows, read_errors=read_errors, progress=progress
        )
    return items_import(project=project, rows=rows, read_errors=read_errors, progress=progress)


def _error(exc: Exception) -> dict[str, Any]:
    detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
    return {"line": 0, "error": str(detail)[:2000]}


def _finish(job: ImportJob, *, status: str, errors: list | None = None, result=None) -> None:
    """The job's end, and its upload dropped (a job that ended never runs again)."""
    ImportJob.objects.filter(pk=job.pk).update(
        status=status,
        errors=errors or [],
        result=result or {},
        rows_done=job.rows_total if status == ImportJob.Status.DONE else 0,
        content=b"",
        finished_at=timezone.now(),
    )


def _content_store(job: ImportJob, content: bytes) -> None:
    """Put the upload in the job's row. On PostgreSQL as a binary parameter: Django's
    client-side binding would send 100 MB as a 200 MB hex literal for the server to parse."""
    if connection.vendor != "postgresql":
        ImportJob.objects.filter(pk=job.pk).update(content=content)
        return
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            sql.SQL("UPDATE {table} SET content = %b WHERE id = %s").format(table=table(ImportJob)),
            [content, job.pk],
        )


def _content_read(job: ImportJob) -> bytes:
    """The job's upload, read in binary on PostgreSQL (not as hex text to decode)."""
    if connection.vendor != "postgresql":
        return bytes(ImportJob.objects.values_list("content", flat=True).get(pk=job.pk))
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            sql.SQL("SELECT content FROM {table} WHERE id = %s").format(table=table(ImportJob)),
            [job.pk],
            binary=True,
        )
        return bytes(cursor.fetchone()[0])


@contextmanager
def _job_held(job_id: int) -> Iterator[None]:
    """A session advisory lock on the job while it runs: a second delivery of the task waits
    its turn (ImportJobBusy), and a killed worker's lock ends with its session. The job's
    row is not locked, so progress can be written to it meanwhile."""
    with session_lock(LOCK_NAMESPACE, job_id) as held:
        if not held:
            raise ImportJobBusy(f"import {job_id} is being run")
        yield


@contextmanager
def _progress_writer(job: ImportJob) -> Iterator[ImportProgress]:
    """A function that records the rows written so far. On PostgreSQL it commits through a
    second connection, so readers see it while the import's transaction is open; SQLite
    allows one writer at a time, so there it writes within the import (seen at its end)."""
    total = job.rows_total

    def clamp(rows_done: int) -> int:
        return min(rows_done, total)

    if connection.vendor != "postgresql":
        yield lambda rows_done: ImportJob.objects.filter(pk=job.pk).update(
            rows_done=clamp(rows_done)
        )
        return
    statement = sql.SQL("UPDATE {table} SET rows_done = %s WHERE id = %s").format(
        table=table(ImportJob)
    )
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:

        def progress(rows_done: int) -> None:
            other.execute(statement, [clamp(rows_done), job.pk])

        yield progress
