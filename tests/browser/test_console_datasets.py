"""A researcher (made by create_researcher, nothing else granted) takes their data from the
datasets page in a real browser: every export, a snapshot, an API token."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import datasets
import pytest

from annotation.exports.query import export_formats_of
from annotation.models import Snapshot
from annotation.services.exporting import snapshot_build
from annotation.services.judgment_import import judgments_import
from annotation.services.researchers import researcher_create
from tests.browser.test_accessibility import _serious
from tests.factories import ProjectFactory, import_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-Passphrase-42"
LOADERS = {"jsonl": "json", "csv": "csv", "parquet": "parquet"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def project():
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(
        owner=lead, slug="pairs", name="Helpfulness pairs", completion_code="C0DE42"
    )
    import_items(project, 4)
    rows = [
        {"annotator": f"h{n}", "item": f"q{i}", "a": "r1", "b": "r2", "choice": choice}
        for i in range(4)
        for n, choice in enumerate(["a", "a", "b"] if i % 2 else ["b", "b", "b"])
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("text=Site administration")


def download(page, selector: str, folder) -> tuple[str, object]:
    with page.expect_download() as info:
        page.click(selector)
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return info.value.suggested_filename, path


def fetch_link(page, selector: str, folder) -> tuple[str, object]:
    """Fetch a download link's file with the page's session (cookies), as the browser would,
    and keep it under the name its Content-Disposition gives."""
    link = page.locator(selector)
    assert link.get_attribute("download") is not None  # the browser saves it, not shows it
    answer = page.context.request.get(link.evaluate("a => a.href"), timeout=60_000)
    assert answer.status == 200, (answer.status, answer.text()[:300])
    filename = re.search(r'filename="?([^";]+)', answer.headers["content-disposition"]).group(1)
    path = folder / filename
    path.write_bytes(answer.body())
    return filename, path


def load(path, filetype: str, cache) -> datasets.Dataset:
    return datasets.load_dataset(
        LOADERS[filetype], data_files=str(path), split="train", cache_dir=str(cache)
    )


def api_status(url: str, key: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {key}"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_researcher_downloads_every_export_and_loads_it_with_datasets(
    live_server, page, screenshot, project, tmp_path
):
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/change/")
    page.click("a.button:text('Datasets')")
    page.wait_for_selector("h2:text('Exports')")

    names = page.eval_on_selector_all("a[data-export]", "links => links.map(a => a.dataset.export)")
    expected = {f"{f}.{t}" for f in export_formats_of(project=project) for t in LOADERS}
    assert set(names) == expected
    for name in names:
        filename, path = fetch_link(page, f"a[data-export='{name}']", tmp_path)
        export_format, filetype = name.split(".")
        assert filename == f"pairs-{export_format}.{filetype}"
        assert load(path, filetype, tmp_path / "cache").num_rows > 0, name

    # The form checks values as the API does, in place (htmx), and then gives the link.
    page.select_option("#export-format", "dpo")
    page.wait_for_selector("#export-min_agreement")
    page.fill("#export-min_agreement", "2")
    page.click("text=Show the link")
    page.wait_for_selector("text=must be a number from 0 to 1")
    assert page.locator("#export-download").count() == 0
    assert _serious(page) == []
    page.fill("#export-min_agreement", "0.6")
    page.select_option("#export-filetype", "parquet")
    page.wait_for_selector("#export-download")
    assert "min_agreement=0.6" in page.url
    curl = page.inner_text("#snippet-curl")
    assert curl.startswith('curl -H "Authorization: Token YOUR_API_TOKEN" -o pairs-dpo.parquet')
    _, path = download(page, "#export-download", tmp_path)
    pairs = load(path, "parquet", tmp_path / "cache")
    assert pairs.num_rows == 4 and min(pairs["agreement"]) >= 0.6
    screenshot(page, "console-datasets-exports")


def test_researcher_makes_a_snapshot_downloads_it_and_manages_a_token(
    live_server, page, screenshot, project, tmp_path
):
    sign_in(page, live_server.url)
    base = f"{live_server.url}/admin/annotation/project/{project.pk}/datasets/"
    page.goto(f"{base}?format=labels&filetype=jsonl")
    page.click("button:text('New snapshot')")  # a plain form post with its CSRF token
    page.wait_for_selector("tr.snapshot[data-status='ready']")
    snapshot = Snapshot.objects.get()
    assert snapshot.query["format"] == "labels"
    assert snapshot.sha256 in page.inner_text("#snapshot-list")
    filename, path = download(page, f"tr[data-snapshot='{snapshot.pk}'] a:text('file')", tmp_path)
    assert load(path, "jsonl", tmp_path / "cache").num_rows == 4
    filename, _ = download(page, f"tr[data-snapshot='{snapshot.pk}'] a:text('folder')", tmp_path)
    assert filename.endswith(".zip")
    page.click("summary:text('Dataset card')")
    assert page.locator(".card-body h2").count() > 0

    # A snapshot still being built: the list polls until the worker is done.
    pending = Snapshot.objects.create(project=project, query={"format": "items", "filetype": "csv"})
    page.goto(base)
    page.wait_for_selector(f"tr[data-snapshot='{pending.pk}'][data-status='pending']")
    snapshot_build(snapshot=pending)
    page.wait_for_selector(f"tr[data-snapshot='{pending.pk}'][data-status='ready']")

    page.fill("#token-name", "training pipeline")
    page.click("button:text('Create token')")
    key = page.inner_text("#new-token-key").strip()
    progress = f"{live_server.url}/api/v1/projects/pairs/progress/"
    assert api_status(progress, key) == 200
    screenshot(page, "console-datasets-snapshots-tokens")
    page.click("summary:text('Dataset card')")
    assert _serious(page) == []
    page.goto(f"{base}#tokens")
    assert key not in page.content()
    assert "never" not in page.inner_text("table.tokens")  # its use was noted
    page.click("button.revoke")
    page.wait_for_selector("text=The token is revoked")
    assert api_status(progress, key) == 401

    prolific = page.inner_text("#prolific-url")
    assert prolific.endswith(
        "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    assert "<ExternalQuestion" in page.inner_text("#mturk-xml")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("button[data-copy='prolific-url']")
    page.wait_for_selector("#crowd [data-copy-status]:text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == prolific
    page.locator("#crowd").scroll_into_view_if_needed()
    screenshot(page, "console-datasets-crowd")


@pytest.mark.redis
def test_on_the_real_stack_a_snapshot_from_the_page_shows_pending_then_ready_by_itself(
    live_server, page, project, tmp_path
):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/datasets/?format=dpo")
    page.click("button:text('New snapshot')")
    row = page.locator("tr.snapshot").first
    assert row.get_attribute("data-status") == "pending"  # no worker yet: queued in Redis

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        page.wait_for_selector("tr.snapshot[data-status='ready']", timeout=60_000)  # htmx polls

    snapshot = Snapshot.objects.get()
    assert snapshot.sha256 in page.inner_text("#snapshot-list")
    _, path = download(page, f"tr[data-snapshot='{snapshot.pk}'] a:text('file')", tmp_path)
    assert load(path, "jsonl", tmp_path / "cache").num_rows == snapshot.row_count == 4
