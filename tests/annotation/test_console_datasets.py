"""The console's datasets page: exports as links that load with `datasets`, snapshots made
from a CSRF-correct form, named API tokens, crowd links; scoped to the researcher's projects."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import unescape

import datasets
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.console.datasets import FILTER_FIELDS, LOADERS, export_form
from annotation.errors import ValidationFailed
from annotation.exports.plan import export_plan
from annotation.exports.query import (
    EXPORT_FORMATS,
    QUERY_KEYS,
    SPAN_FORMATS,
    export_formats_of,
    export_query_from_params,
)
from annotation.models import ApiToken, Project, Snapshot
from annotation.services.judgment_import import judgments_import
from annotation.services.researchers import researcher_create
from annotation.services.tokens import api_token_create, api_token_issue
from tests.factories import ProjectFactory, import_items, ranking_project, rubric_project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def pairwise_votes(project: Project, items: int = 3) -> None:
    rows = [
        {"annotator": f"h{n}", "item": f"q{i}", "a": "r1", "b": "r2", "choice": choice}
        for i in range(items)
        for n, choice in enumerate(["a", "a", "b"] if i % 2 else ["b", "b", "a"])
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


@pytest.fixture
def pairs(lead) -> Project:
    project = ProjectFactory(owner=lead, slug="pairs", completion_code="C0DE42")
    import_items(project, 3)
    pairwise_votes(project)
    return project


@pytest.fixture
def rated(lead) -> Project:
    project = rubric_project(owner=lead, slug="rated")
    import_items(project, 2, responses=1)
    rows = [
        {
            "annotator": f"h{n}",
            "item": f"q{i}",
            "response": "r1",
            "scores": {"helpfulness": n + i, "correctness": 2},
        }
        for i in range(2)
        for n in range(2)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def page_url(project: Project) -> str:
    return reverse("admin:annotation_project_datasets", args=[project.pk])


def links(html: str, attribute: str) -> dict[str, str]:
    return {
        name: unescape(href)
        for href, name in re.findall(rf'href="([^"]+)" download {attribute}="([^"]+)"', html)
    }


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def load(content: bytes, filetype: str, tmp_path, name: str) -> datasets.Dataset:
    path = tmp_path / f"{name}.{filetype}"
    path.write_bytes(content)
    return datasets.load_dataset(
        LOADERS[filetype],
        data_files=str(path),
        split="train",
        cache_dir=str(tmp_path / "cache"),
    )


# ---------------------------------------------------------------- exports


@pytest.mark.parametrize("kind", ["pairwise", "rubric"])
def test_every_export_of_the_page_downloads_with_the_session_and_loads_with_datasets(
    console, request, tmp_path, kind
):
    project = request.getfixturevalue("pairs" if kind == "pairwise" else "rated")
    html = console.get(page_url(project)).content.decode()

    found = links(html, "data-export")

    expected = {f"{f}.{t}" for f in export_formats_of(project=project) for t in LOADERS}
    assert set(found) == expected
    # Neither project has a spans or a verdict criterion, nor takes rewrites: their formats
    # are not offered.
    assert {name.split(".")[0] for name in found} == set(EXPORT_FORMATS) - {
        *SPAN_FORMATS,
        "kto",
        "rewrites",
    } - ({"rubric"} if kind == "pairwise" else {"dpo", "labels"})
    for name, href in sorted(found.items()):
        response = console.get(href)
        assert response.status_code == 200, (name, response.content[:300])
        assert response.streaming, name  # streamed, never buffered whole
        filetype = name.split(".")[1]
        dataset = load(b"".join(response.streaming_content), filetype, tmp_path, name)
        assert dataset.num_rows > 0, name


def test_the_chosen_format_offers_only_its_filters(console, pairs):
    html = console.get(page_url(pairs), {"format": "items"}).content.decode()

    assert 'name="since"' in html and 'name="include_gold"' in html
    assert 'name="min_agreement"' not in html and 'name="label"' not in html


def test_every_filter_of_the_export_has_a_field_on_the_form():
    assert set(FILTER_FIELDS) == set(QUERY_KEYS) - {"format", "filetype"}


def test_a_bad_filter_value_shows_the_exports_own_error_on_the_form_and_no_link(console, pairs):
    response = console.get(page_url(pairs), {"format": "dpo", "min_agreement": "2"})
    html = response.content.decode()

    assert "must be a number from 0 to 1" in html
    assert (
        'id="export-min_agreement" name="min_agreement" type="number" step="0.01" value="2"' in html
    )
    assert 'id="export-download"' not in html
    assert "snapshot-form" not in html


def test_the_link_carries_the_filters_and_is_given_as_curl_and_load_dataset(console, pairs):
    params = {"format": "dpo", "filetype": "parquet", "min_agreement": "0.6", "label": ""}
    html = unescape(console.get(page_url(pairs), params).content.decode())

    url = "http://testserver/api/v1/projects/pairs/export/?format=dpo&filetype=parquet&min_agreement=0.6"
    assert (
        f'href="{url.removeprefix("http://testserver")}" download>Download pairs-dpo.parquet'
        in html
    )
    assert f'-o pairs-dpo.parquet "{url}"' in html
    assert "Authorization: Token YOUR_API_TOKEN" in html
    assert f'    "{url}",\n    headers={{"Authorization": "Token YOUR_API_TOKEN"}},' in html
    assert 'load_dataset("parquet", data_files="pairs-dpo.parquet", split="train")' in html


def test_an_htmx_change_of_the_form_redraws_only_the_export_part(console, pairs):
    response = console.get(page_url(pairs), {"format": "labels"}, headers={"HX-Request": "true"})
    html = response.content.decode()

    assert html.lstrip().startswith('<div id="export-builder"')
    assert "Snapshots" not in html
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_the_formats_offered_are_those_the_export_plans(pairs, rated):
    for project in (pairs, rated):
        for export_format in EXPORT_FORMATS:
            query = export_query_from_params({"format": export_format})
            if export_format in export_formats_of(project=project):
                export_plan(project=project, query=query)
            else:
                with pytest.raises(ValidationFailed):
                    export_plan(project=project, query=query)


# ---------------------------------------------------------------- snapshots


def test_a_snapshot_posted_to_the_api_from_the_browser_without_a_csrf_header_is_403(lead, pairs):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(lead)

    response = browser.post(
        "/api/v1/projects/pairs/snapshots/", {"format": "dpo"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Snapshot.objects.exists()


def test_the_new_snapshot_form_is_csrf_correct_and_its_snapshot_downloads(
    lead, pairs, tmp_path, django_capture_on_commit_callbacks
):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(lead)
    html = browser.get(page_url(pairs), {"format": "dpo", "filetype": "jsonl"}).content.decode()
    form = re.search(
        r'<form method="post" action="([^"]+)" class="snapshot-form">(.*?)</form>', html, re.S
    )
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(2)))

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(form.group(1), fields)

    assert response.status_code == 302
    snapshot = Snapshot.objects.get()
    assert snapshot.status == Snapshot.Status.READY  # eager Celery: built on commit
    assert snapshot.query["format"] == "dpo" and snapshot.created_by == lead
    listing = browser.get(response["Location"]).content.decode()
    assert f'data-snapshot="{snapshot.pk}" data-status="ready"' in listing
    assert snapshot.sha256 in listing and "Dataset card" in listing
    assert "<h2>" in listing.split("Dataset card", 1)[1]  # the card's Markdown, rendered
    download = reverse(
        "api:snapshot-download", kwargs={"slug": "pairs", "snapshot_id": snapshot.pk}
    )
    assert f'href="{download}" download>file' in listing
    assert f'href="{download}?as=folder" download>folder' in listing
    file = browser.get(download)
    assert load(b"".join(file.streaming_content), "jsonl", tmp_path, "snap").num_rows == 3
    folder = browser.get(download, {"as": "folder"})
    assert folder.status_code == 200 and folder["Content-Type"] == "application/zip"


def test_a_snapshot_form_without_its_csrf_token_is_refused(lead, pairs):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(lead)

    response = browser.post(
        reverse("admin:annotation_project_snapshot_new", args=[pairs.pk]), {"format": "dpo"}
    )

    assert response.status_code == 403
    assert not Snapshot.objects.exists()


def test_a_bad_snapshot_query_is_shown_on_the_form_and_makes_nothing(console, pairs):
    response = console.post(
        reverse("admin:annotation_project_snapshot_new", args=[pairs.pk]),
        {"format": "dpo", "min_judgments": "-1"},
    )

    assert response.status_code == 400
    assert "must be an integer from 0 to" in response.content.decode()
    assert not Snapshot.objects.exists()


def test_a_pending_snapshot_makes_the_list_poll_until_it_is_built(console, pairs):
    snapshot = Snapshot.objects.create(project=pairs, query={"format": "dpo", "filetype": "csv"})
    partial = reverse("admin:annotation_project_snapshots", args=[pairs.pk])

    pending = console.get(partial).content.decode()
    snapshot.status = Snapshot.Status.READY
    snapshot.save()
    ready = console.get(partial).content.decode()

    assert pending.lstrip().startswith('<div id="snapshot-list" hx-get="') and "every 2s" in pending
    assert 'data-status="pending"' in pending
    assert "hx-trigger" not in ready and 'data-status="ready"' in ready


# ---------------------------------------------------------------- tokens


def test_a_named_token_is_shown_once_signs_in_and_is_refused_once_revoked(console, lead, pairs):
    made = console.post(
        reverse("admin:annotation_project_token_new", args=[pairs.pk]), {"name": "trainer"}
    )
    key = re.search(r'<pre id="new-token-key">([^<]+)</pre>', made.content.decode()).group(1)
    token = ApiToken.objects.get(user=lead)
    api = Client(headers={"Authorization": f"Token {key}"})

    assert token.name == "trainer" and key not in token.key_hash
    assert key not in console.get(page_url(pairs)).content.decode()  # shown once only
    assert api.get("/api/v1/projects/pairs/progress/").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert "never" not in console.get(page_url(pairs)).content.decode().split("trainer", 1)[1][:200]

    revoked = console.post(
        reverse("admin:annotation_project_token_revoke", args=[pairs.pk, token.pk])
    )

    assert revoked.status_code == 302
    assert api.get("/api/v1/projects/pairs/progress/").status_code == 401
    assert not ApiToken.objects.exists()


def test_the_command_line_token_is_listed_and_revoked_and_still_signs_in_until_then(
    console, lead, pairs
):
    key = api_token_create(username="lead")
    api = Client(headers={"Authorization": f"Token {key}"})
    html = console.get(page_url(pairs)).content.decode()

    assert 'data-token="command-line"' in html and key not in html
    assert api.get("/api/v1/projects/pairs/progress/").status_code == 200

    console.post(reverse("admin:annotation_project_command_line_token_revoke", args=[pairs.pk]))

    assert api.get("/api/v1/projects/pairs/progress/").status_code == 401
    assert 'data-token="command-line"' not in console.get(page_url(pairs)).content.decode()


def test_a_token_notes_its_use_at_most_once_a_minute(lead, pairs):
    _, key = api_token_issue(user=lead, name="poller")
    api = Client(headers={"Authorization": f"Token {key}"})
    api.get("/api/v1/projects/pairs/progress/")

    with CaptureQueriesContext(connection) as queries:
        api.get("/api/v1/projects/pairs/progress/")

    assert not [q for q in queries.captured_queries if q["sql"].startswith("UPDATE")]


def test_a_token_name_used_twice_is_refused_on_the_form(console, lead, pairs):
    api_token_issue(user=lead, name="trainer")

    response = console.post(
        reverse("admin:annotation_project_token_new", args=[pairs.pk]), {"name": "trainer"}
    )

    assert response.status_code == 400
    assert "already used by another of your tokens" in response.content.decode()
    assert ApiToken.objects.count() == 1


# ---------------------------------------------------------------- isolation


def test_another_researcher_gets_404_and_never_sees_or_revokes_the_tokens(lead, pairs):
    token, _ = api_token_issue(user=lead, name="lead's pipeline")
    other_user = researcher_create(username="other")
    other = Client()
    other.force_login(other_user)
    own = ProjectFactory(owner=other_user)

    assert other.get(page_url(pairs)).status_code == 404
    assert (
        other.get(reverse("admin:annotation_project_snapshots", args=[pairs.pk])).status_code == 404
    )
    assert (
        other.post(
            reverse("admin:annotation_project_snapshot_new", args=[pairs.pk]), {"format": "dpo"}
        ).status_code
        == 404
    )
    assert "lead&#x27;s pipeline" not in other.get(page_url(own)).content.decode()
    revoke = reverse("admin:annotation_project_token_revoke", args=[own.pk, token.pk])
    assert other.post(revoke).status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert not Snapshot.objects.exists()


# ---------------------------------------------------------------- crowd links


def test_the_crowd_links_are_the_exact_prolific_url_and_mturk_xml(console, pairs):
    html = console.get(page_url(pairs)).content.decode()

    prolific = unescape(re.search(r'<pre id="prolific-url">([^<]+)</pre>', html).group(1))
    xml = unescape(re.search(r'<pre id="mturk-xml">(.+?)</pre>', html, re.S).group(1))
    question = ET.fromstring(xml)
    namespace = question.tag.split("}")[0] + "}"

    assert prolific == (
        "http://testserver/annotate/pairs/"
        "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    assert question.tag.endswith("ExternalQuestion")
    assert question.find(f"{namespace}ExternalURL").text == "http://testserver/annotate/pairs/"
    assert question.find(f"{namespace}FrameHeight").text == "0"
    assert '<code id="completion-code">C0DE42</code>' in html
    assert "MTurk shows only HTTPS pages" in html


def test_the_project_page_shows_the_same_crowd_links(console, pairs):
    html = console.get(reverse("admin:annotation_project_change", args=[pairs.pk])).content.decode()

    prolific = unescape(re.search(r'<pre id="prolific-url">([^<]+)</pre>', html).group(1))
    assert prolific.startswith("http://testserver/annotate/pairs/?PROLIFIC_PID={{%PROLIFIC_PID%}}")
    assert '<pre id="mturk-xml">' in html
    assert '<code id="completion-code">C0DE42</code>' in html
    assert "js/copy.js" in html


# ---------------------------------------------------------------- queries


def test_the_page_makes_as_many_queries_with_many_snapshots_and_tokens(console, lead, pairs):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert console.get(page_url(pairs)).status_code == 200
        return len(queries)

    Snapshot.objects.create(project=pairs, query={"format": "dpo", "filetype": "csv"})
    api_token_issue(user=lead, name="t0")
    few = count()
    for n in range(1, 30):
        Snapshot.objects.create(project=pairs, query={"format": "dpo", "filetype": "csv"})
        api_token_issue(user=lead, name=f"t{n}")
    import_items(pairs, 40, prefix="more")
    rows = [
        {"annotator": f"m{n}", "item": f"more{i}", "a": "r1", "b": "r2", "choice": "a"}
        for i in range(40)
        for n in range(4)
    ]
    judgments_import(project=pairs, rows=list(enumerate(rows, start=1)))
    many = count()

    assert many == few


@pytest.mark.parametrize("export_format", ["dpo", "labels", "items", "annotators"])
def test_each_formats_form_makes_as_many_queries_at_any_size(console, pairs, export_format):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert console.get(page_url(pairs), {"format": export_format}).status_code == 200
        return len(queries)

    few = count()
    import_items(pairs, 30, prefix="more")
    judgments_import(
        project=pairs,
        rows=list(
            enumerate(
                [
                    {"annotator": f"m{i}", "item": f"more{i}", "a": "r1", "b": "r2", "choice": "b"}
                    for i in range(30)
                ],
                start=1,
            )
        ),
    )

    assert count() == few


# ---------------------------------------------------------------- the snippet, as given


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("filetype", ["jsonl", "parquet"])
def test_the_load_dataset_snippet_loads_the_export_over_http_with_a_token(
    live_server, tmp_path, monkeypatch, filetype
):
    monkeypatch.chdir(tmp_path)
    lead = researcher_create(username="lead")
    project = ProjectFactory(owner=lead, slug="pairs")
    import_items(project, 3)
    pairwise_votes(project)
    _, key = api_token_issue(user=lead, name="snippet")
    console = Client()
    console.force_login(lead)
    html = console.get(page_url(project), {"format": "dpo", "filetype": filetype}).content
    snippet = unescape(re.search(r'<pre id="snippet-python">(.+?)</pre>', html.decode(), re.S)[1])
    snippet = snippet.replace("http://testserver", live_server.url)
    snippet = snippet.replace("YOUR_API_TOKEN", key).replace(
        'split="train")', f'split="train", cache_dir={str(tmp_path / "cache")!r})'
    )

    scope: dict = {}
    exec(snippet, scope)  # the researcher's copy and paste

    assert scope["dataset"].num_rows == 3
    assert {"prompt", "chosen", "rejected"} <= set(scope["dataset"].column_names)


def test_the_dpo_form_of_a_ranking_project_asks_which_pairs_each_ranking_gives():
    ranked, pairs = ranking_project(), ProjectFactory()

    form = export_form({"format": "dpo", "expand": "best_worst"}, project=ranked)

    assert form.query is not None and form.query.filters.expand == "best_worst"
    assert "expand" in [f.name for f in form.filters]
    assert "expand" not in [f.name for f in export_form({"format": "dpo"}, project=pairs).filters]
    assert export_form({"format": "dpo", "expand": "most"}, project=ranked).errors == {
        "expand": ["must be one of adjacent, all, best_worst"]
    }
