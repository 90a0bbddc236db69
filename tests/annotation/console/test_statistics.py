"""The project's statistics block: on the embedded default (no worker) it is
computed when the project page asks for it, not before; "Refresh statistics" recomputes or
queues; only the project's researchers reach it; its queries do not grow with the data."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation.models import AgreementReport, Response
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute
from annotation.services.researchers import researcher_create
from tests.factories import ProjectFactory, import_items, ranked_judgments, ranking_project

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def vote_on(project, items: int, annotators: int, prefix: str = "q") -> None:
    import_items(project, items, prefix=prefix)
    rows = [
        {
            "annotator": f"h{k}",
            "item": f"{prefix}{i}",
            "a": "r1",
            "b": "r2",
            "choice": "a" if (i + k) % 3 else "b",
        }
        for i in range(items)
        for k in range(annotators)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))


@pytest.fixture
def project(lead):
    project = ProjectFactory(owner=lead, slug="stats", name="Stats study")
    vote_on(project, 6, 3)
    return project


def _urls(project) -> tuple[str, str]:
    base = f"/admin/annotation/project/{project.pk}/statistics/"
    return base, base + "refresh/"


def test_the_project_page_does_not_compute_and_holds_a_spinner_that_fetches_the_block(
    project, client
):
    html = client.get(f"/admin/annotation/project/{project.pk}/change/").content.decode()

    block, _ = _urls(project)
    assert f'hx-get="{block}" hx-trigger="load"' in html
    assert 'class="statistics-spinner"' in html
    assert not AgreementReport.objects.filter(project=project).exists()


def test_without_a_worker_the_block_computes_the_stale_report_and_shows_agreement_and_leaderboard(
    project, client
):
    block, _ = _urls(project)
    html = client.get(block, headers=HTMX).content.decode()

    assert AgreementReport.objects.filter(project=project, failed=False).count() == 1
    assert "krippendorff alpha" in html and "over 18 judgments" in html
    assert "Leaderboard with 95% intervals" in html and "model-0" in html
    assert "<html" not in html  # the block alone, swapped into the project page
    assert client.get(block, headers=HTMX).status_code == 200
    assert AgreementReport.objects.filter(project=project).count() == 1  # fresh: kept


def test_the_statistics_page_shows_the_block_with_the_admin_around_it(project, client):
    block, _ = _urls(project)
    html = client.get(block).content.decode()

    assert "<html" in html and "Statistics of Stats study" in html
    assert "krippendorff alpha" in html and "Refresh statistics" in html


def test_refresh_recomputes_in_the_request_without_a_worker(project, client):
    report_compute(project=project, n_boot=20)
    _, refresh = _urls(project)
    html = client.post(refresh, headers=HTMX).content.decode()

    assert AgreementReport.objects.filter(project=project, failed=False).count() == 2
    assert "Statistics recomputed over 18 judgments." in html
    assert "krippendorff alpha" in html


def test_a_plain_refresh_post_goes_back_to_the_project_page_with_a_message(project, client):
    _, refresh = _urls(project)
    answer = client.post(refresh, follow=True)

    assert answer.redirect_chain[-1][0] == f"/admin/annotation/project/{project.pk}/change/"
    assert "Statistics recomputed over 18 judgments." in answer.content.decode()


def test_with_a_worker_refresh_queues_the_recomputation_and_says_so(
    project, client, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    _, refresh = _urls(project)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        html = client.post(refresh, headers=HTMX).content.decode()

    assert len(queued) == 1  # a forced report refresh, queued once the request commits
    assert "Recomputation queued" in html
    assert not AgreementReport.objects.filter(project=project).exists()
    assert "No report yet" in html


def test_with_a_worker_the_block_does_not_compute_in_the_request(project, client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    block, _ = _urls(project)
    html = client.get(block, headers=HTMX).content.decode()

    assert "No report yet" in html
    assert not AgreementReport.objects.filter(project=project).exists()


def test_refresh_needs_the_csrf_token(project, lead):
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    _, refresh = _urls(project)

    assert client.post(refresh, headers=HTMX).status_code == 403
    assert not AgreementReport.objects.filter(project=project).exists()


def test_refresh_is_a_post(project, client):
    _, refresh = _urls(project)
    assert client.get(refresh).status_code == 405


def test_another_researcher_reaches_neither_the_block_nor_the_refresh(project):
    other = Client()
    other.force_login(researcher_create(username="other"))
    block, refresh = _urls(project)

    assert other.get(block, headers=HTMX).status_code == 404
    assert other.post(refresh, headers=HTMX).status_code == 404
    assert not AgreementReport.objects.filter(project=project).exists()


def test_the_block_queries_do_not_grow_with_items_judgments_or_annotators(project, client):
    block, _ = _urls(project)
    report_compute(project=project, n_boot=20)
    client.get(block, headers=HTMX)  # the session: warm
    with CaptureQueriesContext(connection) as small:
        assert client.get(block, headers=HTMX).status_code == 200
    vote_on(project, 30, 7, prefix="g")
    report_compute(project=project, n_boot=20)
    with CaptureQueriesContext(connection) as large:
        html = client.get(block, headers=HTMX).content.decode()

    assert "over 228 judgments" in html
    assert len(large) == len(small)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_on_the_real_stack_refresh_is_computed_by_a_celery_worker(lead):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    project = ProjectFactory(owner=lead, slug="stats-worker", name="Worker study")
    vote_on(project, 6, 3)
    client = Client()
    client.force_login(lead)
    block, refresh = _urls(project)
    assert "No report yet" in client.get(block, headers=HTMX).content.decode()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        assert "Recomputation queued" in client.post(refresh, headers=HTMX).content.decode()
        deadline = time.monotonic() + 60
        html = ""
        while time.monotonic() < deadline and "krippendorff alpha" not in html:
            time.sleep(0.2)
            html = client.get(block, headers=HTMX).content.decode()
    assert "krippendorff alpha" in html and "over 18 judgments" in html


def test_a_ranking_projects_block_shows_kendalls_w_position_bias_and_plackett_luce(lead, client):
    project = ranking_project(owner=lead, slug="ranked")
    import_items(project, 4, responses=3)
    ranked_judgments(
        project,
        [
            {"annotator": f"h{k}", "item": f"q{i}", "ranking": [["r1"], ["r2"], ["r3"]]}
            | {"shown": ["r1", "r3", "r2"]}
            for i in range(4)
            for k in range(2)
        ],
    )
    block, _ = _urls(project)
    html = client.get(block, headers=HTMX).content.decode()

    assert "kendall w" in html and "fleiss kappa" not in html
    assert "ranked first in 100% of 8 rankings (blind to the order: 33%)" in html
    assert "Leaderboard (Plackett-Luce" in html and "model-0" in html


def test_the_block_fetches_the_style_controlled_leaderboard_beside_the_plain_one(project, client):
    block, _ = _urls(project)
    html = client.get(block, headers=HTMX).content.decode()
    styled_url = f"/admin/annotation/project/{project.pk}/statistics/styled/"

    plain, styled = html.split('class="statistics-leaderboard statistics-styled"')
    assert "Leaderboard (Bradley-Terry" in plain and "model-0" in plain
    assert "Style-controlled" in plain  # its heading, in the same row of boards
    assert f'hx-get="{styled_url}" hx-trigger="load"' in styled
    chart = client.get(styled_url, headers=HTMX).content.decode()
    assert "Style-controlled leaderboard with 95% intervals" in chart and "model-0" in chart
    assert "Style coefficients" in chart and "<td>tokens</td>" in chart


def test_another_researcher_cannot_fetch_the_style_controlled_leaderboard(project):
    other = Client()
    other.force_login(researcher_create(username="other"))
    response = other.get(f"/admin/annotation/project/{project.pk}/statistics/styled/")
    assert response.status_code == 404


def test_the_block_says_how_many_votes_identity_leaks_left_out(project, client):
    Response.objects.filter(item__project=project, item__external_id="q0", model="model-0").update(
        identity_leak=True
    )
    block, _ = _urls(project)

    html = client.get(block, headers=HTMX).content.decode()

    assert "3 votes on answers that named their own model" in html


def test_the_block_says_nothing_of_identity_leaks_without_any(project, client):
    block, _ = _urls(project)

    assert "named their own model" not in client.get(block, headers=HTMX).content.decode()
