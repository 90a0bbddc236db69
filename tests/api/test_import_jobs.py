"""Imports above IMPORT_ASYNC_ROWS rows run as import jobs (README "Researchers"): 202 with the job,
its progress readable while it runs, nothing kept when a row is bad, and the job only for
the researchers of its project."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation.models import ImportJob, Item, Judgment
from annotation.services import importing
from annotation.services.import_jobs import ImportJobBusy, import_job_create, import_job_run
from tests.factories import ProjectFactory, ResearcherFactory, import_items, item_rows
from tests.postgres import wait_until_session_ended

ITEMS = "/api/v1/projects/big/items/"
JUDGMENTS = "/api/v1/projects/big/judgments/"


@pytest.fixture
def project(researcher):
    return ProjectFactory(owner=researcher, slug="big")


@pytest.fixture
def small_async(settings):
    """Imports of more than 4 rows go to a worker (eager Celery: in-process)."""
    settings.IMPORT_ASYNC_ROWS = 4


def jsonl(rows: list) -> bytes:
    return ("\n".join(json.dumps(row) for row in rows) + "\n").encode()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def queued_job(project, researcher, monkeypatch, *, rows: int = 6) -> ImportJob:
    """An import job of `rows` items stored but not run, as while it waits for a worker."""
    from annotation import scheduling

    monkeypatch.setattr(scheduling, "_publish", lambda name, args, **options: None)
    return import_job_create(
        project=project,
        kind="items",
        content=jsonl(item_rows(rows)),
        filetype="jsonl",
        created_by=researcher,
    )


def votes(count: int) -> list[dict]:
    return [
        {"annotator": f"judge{k}", "item": f"q{i}", "a": "r1", "b": "r2", "choice": "a"}
        for i in range(count)
        for k in range(2)
    ]


@pytest.mark.django_db(transaction=True)
def test_large_item_import_answers_202_with_the_job_done_on_the_embedded_default(
    researcher, project, small_async
):
    response = client_for(researcher).post(ITEMS, item_rows(10), format="json")

    assert response.status_code == 202
    job = response.json()
    assert {k: job[k] for k in ("status", "rows_done", "rows_total", "errors")} == {
        "status": "done",
        "rows_done": 10,
        "rows_total": 10,
        "errors": [],
    }
    assert response["Location"].endswith(f"/api/v1/imports/{job['id']}/")
    assert job["result"]["items_created"] == 10
    assert project.items.count() == 10
    assert client_for(researcher).get(response["Location"]).json() == job


@pytest.mark.django_db(transaction=True)
def test_large_jsonl_judgment_import_runs_as_a_job(researcher, project, small_async, settings):
    settings.IMPORT_ASYNC_ROWS = 100
    import_items(project, 10)
    settings.IMPORT_ASYNC_ROWS = 4

    response = client_for(researcher).post(
        JUDGMENTS, jsonl(votes(10)), content_type="application/x-ndjson"
    )

    assert response.status_code == 202
    job = response.json()
    assert (job["status"], job["rows_done"], job["rows_total"]) == ("done", 20, 20)
    assert job["result"] == {
        "judgments_created": 20,
        "judgments_updated": 0,
        "judgments_unchanged": 0,
        "annotators_created": 2,
    }
    assert Judgment.objects.filter(project=project).count() == 20


@pytest.mark.django_db(transaction=True)
def test_a_bad_row_mid_file_fails_the_job_with_its_line_and_keeps_nothing(
    researcher, project, small_async, monkeypatch
):
    monkeypatch.setattr(importing, "WRITE_CHUNK", 2)
    rows = item_rows(9)
    rows[6] = {"id": "broken", "prompt": "No responses here"}

    response = client_for(researcher).post(ITEMS, jsonl(rows), content_type="application/jsonl")

    assert response.status_code == 202
    job = client_for(researcher).get(response["Location"]).json()
    assert job["status"] == "failed"
    assert job["rows_done"] == 0
    assert [e["line"] for e in job["errors"]] == [7]
    assert "responses" in job["errors"][0]["error"]
    assert not Item.objects.filter(project=project).exists()


@pytest.mark.django_db(transaction=True)
def test_a_row_the_database_refuses_late_fails_the_job_and_keeps_nothing(
    researcher, project, small_async, monkeypatch
):
    """Even after some rows are written (a failure in the third step of writing), the
    whole import is rolled back."""
    monkeypatch.setattr(importing, "WRITE_CHUNK", 2)
    write = importing._write_specs
    steps = []

    def failing_third_step(project, specs, result):
        steps.append(len(specs))
        if len(steps) == 3:
            raise RuntimeError("disk full")
        write(project, specs, result)

    monkeypatch.setattr(importing, "_write_specs", failing_third_step)
    response = client_for(researcher).post(ITEMS, item_rows(9), format="json")

    job = response.json()
    assert job["status"] == "failed"
    assert job["errors"] == [{"line": 0, "error": "RuntimeError: disk full"}]
    assert not Item.objects.filter(project=project).exists()


def test_small_imports_stay_synchronous(researcher, project):
    response = client_for(researcher).post(ITEMS, item_rows(3), format="json")

    assert response.status_code == 201
    assert response.json()["items_created"] == 3
    assert not ImportJob.objects.exists()
    judged = client_for(researcher).post(JUDGMENTS, votes(2), format="json")
    assert judged.status_code == 201
    assert judged.json()["judgments_created"] == 4


def test_a_small_import_with_a_bad_line_is_still_a_400_naming_it(researcher, project):
    rows = item_rows(3)
    rows[1] = {"id": "x"}

    response = client_for(researcher).post(ITEMS, rows, format="json")

    assert response.status_code == 400
    assert [e["line"] for e in response.json()["errors"]] == [2]


@pytest.mark.django_db(transaction=True)
def test_someone_elses_import_job_is_not_found_and_annotators_are_refused(
    researcher, project, small_async, annotator_user
):
    url = client_for(researcher).post(ITEMS, item_rows(5), format="json")["Location"]

    assert client_for(ResearcherFactory()).get(url).status_code == 404
    assert client_for(annotator_user).get(url).status_code == 403
    assert APIClient().get(url).status_code in (401, 403)


@pytest.mark.django_db(transaction=True)
def test_running_a_job_again_leaves_it_as_it_ended(researcher, project, monkeypatch):
    job = queued_job(project, researcher, monkeypatch, rows=6)
    assert job.status == "pending" and job.rows_total == 6

    first = import_job_run(job_id=job.pk)
    finished_at = first.finished_at
    second = import_job_run(job_id=job.pk)

    assert (second.status, second.finished_at) == ("done", finished_at)
    assert second.result["items_created"] == 6
    assert Item.objects.filter(project=project).count() == 6


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_progress_is_readable_while_the_import_runs_and_no_data_before_it_commits(
    researcher, project, monkeypatch
):
    """A reader on another connection sees rows_done grow step by step, while none of the
    items written so far are visible to it until the import commits."""
    monkeypatch.setattr(importing, "WRITE_CHUNK", 2)
    job = queued_job(project, researcher, monkeypatch, rows=7)
    seen = []
    write = importing._write_specs
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as reader:

        def write_and_look(project, specs, result):
            write(project, specs, result)
            status, done = reader.execute(
                "SELECT status, rows_done FROM annotation_importjob WHERE id = %s", [job.pk]
            ).fetchone()
            items = reader.execute(
                "SELECT count(*) FROM annotation_item WHERE project_id = %s", [project.pk]
            ).fetchone()[0]
            seen.append((status, done, items))

        monkeypatch.setattr(importing, "_write_specs", write_and_look)
        import_job_run(job_id=job.pk)

    # Each step is looked at after it is written and before its progress is told.
    assert seen == [("running", 0, 0), ("running", 2, 0), ("running", 4, 0), ("running", 6, 0)]
    job.refresh_from_db()
    assert (job.status, job.rows_done) == ("done", 7)
    assert job.content == b""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_another_worker_runs_is_tried_again_not_run_twice(researcher, project, monkeypatch):
    from annotation.services.import_jobs import LOCK_NAMESPACE

    job = queued_job(project, researcher, monkeypatch, rows=6)
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, job.pk])
        with pytest.raises(ImportJobBusy):
            import_job_run(job_id=job.pk)
        pid = other.info.backend_pid
    # The other worker's session ended without finishing (the server ends it a moment after
    # the client goes away): the job runs on the next delivery.
    wait_until_session_ended(pid)
    assert import_job_run(job_id=job.pk).status == "done"


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_job_while_the_api_reports_its_progress(
    researcher, project, settings, monkeypatch
):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    settings.IMPORT_ASYNC_ROWS = 100
    monkeypatch.setattr(importing, "WRITE_CHUNK", 500)
    client = client_for(researcher)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        response = client.post(ITEMS, jsonl(item_rows(4000)), content_type="application/x-ndjson")
        assert response.status_code == 202
        assert response.json()["status"] in ("pending", "running")
        deadline = time.monotonic() + 120
        seen = set()
        job = {}
        while time.monotonic() < deadline:
            job = client.get(response["Location"]).json()
            seen.add((job["status"], job["rows_done"]))
            if job["status"] in ("done", "failed"):
                break
            time.sleep(0.05)
    assert (job["status"], job["rows_done"], job["rows_total"]) == ("done", 4000, 4000), job
    assert project.items.count() == 4000
    assert any(status == "running" for status, _ in seen), seen


@pytest.mark.postgres
@pytest.mark.django_db
def test_uploads_are_stored_with_lz4_on_postgresql():
    """pglz took 7 s to store a 100 MB upload within the request that answers 202; lz4 1 s."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = "
            "'annotation_importjob'::regclass AND attname = 'content'"
        )
        assert cursor.fetchone()[0] == "l"


def test_the_import_items_command_stays_synchronous_whatever_the_size(
    project, small_async, tmp_path
):
    from django.core.management import call_command

    path = tmp_path / "items.jsonl"
    path.write_bytes(jsonl(item_rows(10)))

    call_command("import_items", project.slug, str(path))

    assert project.items.count() == 10
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("body", "filetype", "rows"),
    [
        (b'{"id": 1}\n\n{"id": 2}\n   \n', "jsonl", 2),
        (b'[{"id": 1}, {"id": 2}, {"id": 3}]', "json", 3),
        (b'id,prompt\n1,"two\nlines"\n\n2,b\n', "csv", 2),
        ([{"id": 1}, {"id": 2}], "jsonl", 2),
    ],
)
def test_rows_are_counted_as_the_import_reads_them(body, filetype, rows):
    from annotation.services.import_jobs import import_rows_count

    assert import_rows_count(body, filetype=filetype) == rows
