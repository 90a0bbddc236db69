"""The console's import page with import jobs: a large upload goes to a worker and the page
shows its progress, polled by htmx until the job ends, and its bad lines."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import ImportJob, Item
from annotation.services.researchers import researcher_create
from tests.api.test_import_jobs import queued_job
from tests.factories import ProjectFactory, ResearcherFactory, import_items, item_rows


def _researcher():
    """A researcher as `create_researcher` makes one: staff in the researcher group."""
    return researcher_create(username=ResearcherFactory.build().username)


def _upload(rows: list, name: str = "items.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, "\n".join(json.dumps(r) for r in rows).encode())


def _job_url(job: ImportJob) -> str:
    return f"/admin/annotation/project/{job.project_id}/import/{job.pk}/"


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_becomes_a_job_and_the_page_shows_it_done(client, settings):
    settings.IMPORT_ASYNC_ROWS = 4
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)

    response = client.post(
        f"/admin/annotation/project/{project.pk}/import/", {"file": _upload(item_rows(10))}
    )

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _job_url(job)
    html = client.get(response["Location"]).content.decode()
    assert '<progress id="import-progress" value="10" max="10"' in html
    assert "10 items imported (10 new, 0 updated, 0 unchanged)" in html
    assert "hx-trigger" not in html  # a job that ended is not polled
    assert Item.objects.filter(project=project).count() == 10


@pytest.mark.django_db(transaction=True)
def test_a_large_upload_with_a_bad_line_lists_it_and_imports_nothing(client, settings):
    settings.IMPORT_ASYNC_ROWS = 4
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    rows = item_rows(10)
    rows[7] = {"id": "broken"}

    response = client.post(
        f"/admin/annotation/project/{project.pk}/import/", {"file": _upload(rows)}, follow=True
    )

    html = response.content.decode()
    assert "nothing was imported; 1 problem listed below" in html
    assert "<td>8</td>" in html
    assert not Item.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_a_running_job_is_polled_every_second_by_its_panel(client, monkeypatch):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    job = queued_job(project, researcher, monkeypatch)
    ImportJob.objects.filter(pk=job.pk).update(status="running", rows_done=3)
    client.force_login(researcher)

    page = client.get(_job_url(job)).content.decode()
    panel = client.get(_job_url(job), headers={"HX-Request": "true"}).content.decode()

    assert "<form" in page and "<form" not in panel
    assert panel.strip().startswith('<section id="import-job"')
    assert f'hx-get="{_job_url(job)}" hx-trigger="every 1s" hx-swap="outerHTML"' in panel
    assert 'value="3" max="6"' in panel and "3 of 6 rows written" in panel


@pytest.mark.django_db
def test_a_pending_job_says_it_waits_for_a_worker(client, monkeypatch):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    job = queued_job(project, researcher, monkeypatch)
    client.force_login(researcher)

    html = client.get(_job_url(job)).content.decode()

    assert "waiting for a worker" in html and 'hx-trigger="every 1s"' in html


@pytest.mark.django_db
def test_another_researchers_import_job_is_not_found(client, monkeypatch):
    owner = _researcher()
    job = queued_job(ProjectFactory(owner=owner), owner, monkeypatch)
    client.force_login(_researcher())

    assert client.get(_job_url(job)).status_code == 404
    assert client.get(_job_url(job), headers={"HX-Request": "true"}).status_code == 404


@pytest.mark.django_db
def test_a_job_of_another_project_is_not_shown_under_this_one(client, monkeypatch):
    researcher = _researcher()
    mine, other = ProjectFactory(owner=researcher), ProjectFactory(owner=researcher)
    job = queued_job(other, researcher, monkeypatch)
    client.force_login(researcher)

    assert client.get(f"/admin/annotation/project/{mine.pk}/import/{job.pk}/").status_code == 404


@pytest.mark.django_db
def test_the_job_page_makes_as_many_queries_whatever_the_project_holds(client, monkeypatch):
    researcher = _researcher()
    client.force_login(researcher)
    counts = []
    for size in (2, 40):
        project = ProjectFactory(owner=researcher)
        import_items(project, size)
        job = queued_job(project, researcher, monkeypatch, rows=size)
        ImportJob.objects.filter(pk=job.pk).update(
            status="failed", errors=[{"line": n, "error": "bad"} for n in range(1, size + 1)]
        )
        for _ in range(size // 10):
            queued_job(project, researcher, monkeypatch)
        for headers in ({}, {"HX-Request": "true"}):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(_job_url(job), headers=headers).status_code == 200
            counts.append(len(queries))
    assert counts[:2] == counts[2:]
