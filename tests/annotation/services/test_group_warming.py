"""After a new report the worker computes the figures by group asked for lately, so reading
them again waits for no fit (README "Figures by group")."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from annotation import scheduling
from annotation.services import groups, leaderboard_options
from annotation.services.group_warming import group_figures_warm
from annotation.services.projects import project_update
from annotation.services.reports import group_figures_asked, report_refresh
from annotation.services.researchers import researcher_create
from tests.api.test_group_figures import AGREEMENT, LEADERBOARD, _votes, plural_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cache_cleared")]

BY_REGION = {"by": "profile.region"}


def _count_fits(monkeypatch) -> list[int]:
    """Every read of the judgments a figure by group fits from."""
    reads: list[int] = []
    for module in (groups, leaderboard_options):
        real = module.judgment_table
        monkeypatch.setattr(
            module, "judgment_table", lambda real=real, **kw: reads.append(1) or real(**kw)
        )
    return reads


def test_a_new_report_computes_the_figures_by_group_asked_for(
    researcher_client, researcher, monkeypatch
):
    project = plural_project(researcher, tiny=0)
    cache.clear()
    assert researcher_client.get(AGREEMENT, BY_REGION).status_code == 200
    assert researcher_client.get(LEADERBOARD, BY_REGION).status_code == 200
    assert [q["figure"] for q in group_figures_asked(project_id=project.pk)] == [
        "leaderboard",
        "agreement",
    ]
    _votes(project, [{"id": "q0"}], {"late": "east"})  # a vote after the report
    new = report_refresh(project_id=project.pk, force=True)  # the worker, eager here
    reads = _count_fits(monkeypatch)

    agreement = researcher_client.get(AGREEMENT, BY_REGION).json()
    board = researcher_client.get(LEADERBOARD, BY_REGION).json()
    assert reads == []  # both were fitted by the worker, from the new report
    assert agreement["computed_at"] == board["computed_at"] == new.computed_at.isoformat()


def test_nothing_is_scheduled_where_no_figure_by_group_was_asked_for(researcher, monkeypatch):
    project = plural_project(researcher, tiny=0)
    cache.clear()
    scheduled: list[int] = []
    monkeypatch.setattr(scheduling, "schedule_group_figures_warm", scheduled.append)
    report_refresh(project_id=project.pk, force=True)
    assert scheduled == []


def test_a_question_removed_since_is_skipped(researcher_client, researcher):
    project = plural_project(researcher, tiny=0)
    cache.clear()
    researcher_client.get(AGREEMENT, BY_REGION)
    researcher_client.get(AGREEMENT, {"by": "profile.languages"})
    project_update(project=project, survey=[q for q in project.survey if q["key"] != "region"])
    assert group_figures_warm(project_id=project.pk) == 1


def _with_a_worker(settings, monkeypatch) -> list[int]:
    """A deployment with a worker (tasks are queued, not run here); returns the projects whose
    figures by group were queued for computing."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued: list[int] = []
    monkeypatch.setattr(
        scheduling,
        "schedule_group_figures_warm",
        lambda project_id, **kw: queued.append(project_id),
    )
    return queued


def test_right_after_a_new_report_the_previous_figures_are_served_stale_and_recomputed(
    researcher_client, researcher, settings, monkeypatch
):
    project = plural_project(researcher, tiny=0)
    cache.clear()
    before = {url: researcher_client.get(url, BY_REGION).json() for url in (AGREEMENT, LEADERBOARD)}
    assert not before[AGREEMENT]["stale"] and not before[LEADERBOARD]["stale"]
    _votes(project, [{"id": "q0"}], {"late": "east"})
    queued = _with_a_worker(settings, monkeypatch)
    new = report_refresh(project_id=project.pk, force=True)  # its warm-up queued, not run yet
    reads = _count_fits(monkeypatch)

    for _ in range(2):
        for url in (AGREEMENT, LEADERBOARD):
            body = researcher_client.get(url, BY_REGION).json()
            assert body["stale"] is True
            assert body["computed_at"] == before[url]["computed_at"] != new.computed_at.isoformat()
            assert body["groups"] == before[url]["groups"]
    assert reads == []  # no request fitted anything
    assert queued == [project.pk, project.pk]  # by the report, then once by the requests

    group_figures_warm(project_id=project.pk)  # the worker
    assert len(reads) == 2
    for url in (AGREEMENT, LEADERBOARD):
        body = researcher_client.get(url, BY_REGION).json()
        assert body["stale"] is False and body["computed_at"] == new.computed_at.isoformat()
    assert len(reads) == 2


def test_figures_never_computed_are_computed_by_the_request_even_with_a_worker(
    researcher_client, researcher, settings, monkeypatch
):
    project = plural_project(researcher, tiny=0)
    report_refresh(project_id=project.pk, force=True)
    cache.clear()
    queued = _with_a_worker(settings, monkeypatch)
    body = researcher_client.get(AGREEMENT, BY_REGION).json()
    assert body["stale"] is False and set(body["groups"]) == {"north", "south"}
    assert queued == []


def test_figures_under_another_group_size_are_never_served_stale(
    researcher_client, researcher, settings, monkeypatch
):
    """k-anonymity: figures computed with a smaller min_group_annotators would show groups
    now too small, so a changed setting computes anew."""
    project = plural_project(researcher, tiny=5)
    cache.clear()
    assert "east" in researcher_client.get(AGREEMENT, BY_REGION).json()["groups"]
    queued = _with_a_worker(settings, monkeypatch)
    project_update(project=project, min_group_annotators=6)
    body = researcher_client.get(AGREEMENT, BY_REGION).json()
    assert body["stale"] is False and "east" not in body["groups"]
    assert queued == []


def test_the_console_says_the_figures_by_group_served_are_an_earlier_reports(settings, monkeypatch):
    lead = researcher_create(username="lead")
    console = Client()
    console.force_login(lead)
    project = plural_project(lead, tiny=0)
    cache.clear()
    figures = f"/admin/annotation/project/{project.pk}/groups/figures/"
    htmx = {"HX-Request": "true"}
    notice = "These are the figures of an earlier report: newer ones are being computed."
    assert notice not in console.get(figures, BY_REGION, headers=htmx).content.decode()
    _votes(project, [{"id": "q0"}], {"late": "east"})
    _with_a_worker(settings, monkeypatch)
    report_refresh(project_id=project.pk, force=True)
    reads = _count_fits(monkeypatch)
    html = console.get(figures, BY_REGION, headers=htmx).content.decode()
    assert notice in html and 'data-group="north"' in html
    assert reads == []
