"""A researcher uploads a 50,000-row file in the console and watches the import job's
progress bar: on the embedded default (eager Celery) and with a real worker."""

from __future__ import annotations

import json

import pytest

from annotation.models import ImportJob, Item
from annotation.services.researchers import researcher_create
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROWS = 50_000
PARAGRAPH = (
    "A considered answer walks through the reasoning step by step, names what it assumes, "
    "and ends with a short summary the reader can check against the question. "
)


def _file(tmp_path) -> str:
    path = tmp_path / "items.jsonl"
    with path.open("w") as out:
        for i in range(ROWS):
            row = {
                "id": f"q{i}",
                "prompt": f"Question {i}: how would you explain this to a new colleague?",
                "responses": [
                    {"id": "r1", "model": "alpha", "text": PARAGRAPH * 2},
                    {"id": "r2", "model": "beta", "text": PARAGRAPH},
                ],
                "metadata": {"n": i},
            }
            out.write(json.dumps(row) + "\n")
    return str(path)


def _upload(live_server, page, tmp_path):
    mira = researcher_create(username="mira", password="a-long-password-1")
    project = ProjectFactory(owner=mira, name="Large study", slug="large")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "mira")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/import/")
    page.set_input_files("input[type=file]", _file(tmp_path))
    # On the embedded default the import runs within this request: give it time.
    page.set_default_timeout(300_000)
    page.click("input[type=submit]")
    return project


def test_a_50000_row_upload_on_the_embedded_default_lands_on_its_finished_job(
    live_server, page, screenshot, tmp_path
):
    project = _upload(live_server, page, tmp_path)

    page.wait_for_selector("#import-job.import-job-done", timeout=300_000)
    assert page.get_attribute("#import-progress", "value") == str(ROWS)
    assert f"{ROWS} items imported ({ROWS} new, 0 updated, 0 unchanged)" in page.inner_text(
        "#import-job"
    )
    screenshot(page, "console-import-job-done")
    assert Item.objects.filter(project=project).count() == ROWS


@pytest.mark.redis
@pytest.mark.postgres
def test_a_50000_row_upload_shows_a_progress_bar_while_a_worker_imports_it(
    live_server, page, screenshot, tmp_path
):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=60):
        project = _upload(live_server, page, tmp_path)
        page.wait_for_selector("#import-job")
        # The bar moves while rows are written (htmx swaps the panel every second).
        page.wait_for_function(
            "() => { const p = document.querySelector('#import-job.import-job-running progress');"
            " return p && p.value > 0 && p.value < p.max; }",
            timeout=300_000,
            polling=100,
        )
        midway = int(page.get_attribute("#import-progress", "value"))
        screenshot(page, "console-import-job-running")
        page.wait_for_selector("#import-job.import-job-done", timeout=300_000)
    assert 0 < midway < ROWS
    assert page.get_attribute("#import-progress", "value") == str(ROWS)
    screenshot(page, "console-import-job-worker-done")
    job = ImportJob.objects.get(project=project)
    assert (job.status, job.rows_done) == ("done", ROWS)
    assert Item.objects.filter(project=project).count() == ROWS
