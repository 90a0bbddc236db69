"""Votes schedule a report refresh at most once per debounce window, and ask Redis (the
shared cache) only once per window and process."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from annotation.scheduling import REPORT_REFRESH
from annotation.services import reports


@pytest.fixture
def scheduled(settings, monkeypatch, published) -> list[dict]:
    """Run as with a worker (not eager); record instead of sending to a broker."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.REPORT_DEBOUNCE_SECONDS = 30
    cache.clear()
    monkeypatch.setattr(reports, "_refresh_due", {})
    return published


@pytest.fixture
def cache_reads(monkeypatch) -> list[str]:
    asked: list[str] = []
    add, get = cache.add, cache.get

    def counting_add(key, *args, **kwargs):
        asked.append(key)
        return add(key, *args, **kwargs)

    def counting_get(key, *args, **kwargs):
        asked.append(key)
        return get(key, *args, **kwargs)

    monkeypatch.setattr(cache, "add", counting_add)
    monkeypatch.setattr(cache, "get", counting_get)
    return asked


def test_a_burst_of_votes_schedules_one_refresh_after_the_window(scheduled):
    results = [reports.report_refresh_soon(project_id=7) for _ in range(5)]

    assert results == [True, False, False, False, False]
    assert scheduled == [{"task": REPORT_REFRESH, "args": [7], "countdown": 30, "retry": False}]


def test_later_votes_in_the_window_do_not_ask_the_shared_cache(scheduled, cache_reads):
    reports.report_refresh_soon(project_id=7)
    reports.report_refresh_soon(project_id=7)
    reports.report_refresh_soon(project_id=7)

    assert cache_reads == ["report-pending:7"]


def test_another_process_learns_when_the_scheduled_refresh_runs(
    scheduled, cache_reads, monkeypatch
):
    reports.report_refresh_soon(project_id=7)
    monkeypatch.setattr(reports, "_refresh_due", {})  # a second worker process

    assert reports.report_refresh_soon(project_id=7) is False
    assert reports.report_refresh_soon(project_id=7) is False
    assert len(scheduled) == 1
    assert cache_reads == ["report-pending:7", "report-pending:7", "report-pending:7"]


def test_after_the_window_a_vote_schedules_again(scheduled, monkeypatch):
    clock = [1_000.0]
    monkeypatch.setattr(reports.time, "time", lambda: clock[0])
    reports.report_refresh_soon(project_id=7)
    clock[0] += 31
    cache.delete("report-pending:7")  # the key expired with the window

    assert reports.report_refresh_soon(project_id=7) is True
    assert len(scheduled) == 2


def test_projects_are_debounced_apart(scheduled):
    assert reports.report_refresh_soon(project_id=7) is True
    assert reports.report_refresh_soon(project_id=8) is True
