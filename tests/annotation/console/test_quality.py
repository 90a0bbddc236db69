"""The annotator quality table of the project page: sorted by clicking a header
(on the server), columns chosen by the researcher, a page of rows in a fixed number of
queries, and only for the project's researchers."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation.models import AnnotatorStats
from annotation.services.researchers import researcher_create
from tests.factories import ProjectFactory, make_annotator

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def project(lead):
    return ProjectFactory(owner=lead, slug="quality")


def add_annotators(project, figures) -> None:
    """One row per (name, judgments, gold correct of gold judgments, seconds per judgment)."""
    for name, judgments, gold, seconds in figures:
        AnnotatorStats.objects.create(
            project=project,
            annotator=make_annotator(username=name),
            judgments=judgments,
            decided=judgments,
            gold_judgments=gold[1],
            gold_correct=gold[0],
            seconds_total=seconds * judgments,
            flags=["low_gold_accuracy"] if gold[1] and gold[0] / gold[1] < 0.5 else [],
        )


FIGURES = [("ann", 10, (1, 4), 5.0), ("bob", 30, (4, 4), 2.0), ("cat", 20, (0, 0), 9.0)]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(project, query: str = "") -> str:
    return f"/admin/annotation/project/{project.pk}/statistics/annotators/" + query


def _names(html: str) -> list[str]:
    return re.findall(r'class="quality-annotator"><a href="[^"]+">([^<]+)</a>', html)


def test_rows_come_most_judgments_first_and_a_header_sorts_by_its_figure(project, lead):
    add_annotators(project, FIGURES)
    client = _client(lead)

    assert _names(client.get(_url(project), headers=HTMX).content.decode()) == ["bob", "cat", "ann"]
    by_gold = client.get(_url(project, "?sort=-gold"), headers=HTMX).content.decode()
    assert _names(by_gold) == ["bob", "ann", "cat"]  # no gold tasks: last either way
    by_seconds = client.get(_url(project, "?sort=seconds"), headers=HTMX).content.decode()
    assert _names(by_seconds) == ["bob", "ann", "cat"]
    assert 'aria-sort="ascending"' in by_seconds


def test_the_sorted_header_links_to_the_other_direction(project, lead):
    add_annotators(project, FIGURES)
    html = _client(lead).get(_url(project, "?sort=-judgments"), headers=HTMX).content.decode()
    assert "?sort=judgments&amp;cols=judgments" in html  # clicking it again turns it
    assert "?sort=-gold&amp;cols=judgments" in html  # another header: largest first


def test_the_researcher_chooses_the_columns(project, lead):
    add_annotators(project, FIGURES)
    html = (
        _client(lead)
        .get(_url(project, "?cols=qualified&cols=flags&sort=annotator"), headers=HTMX)
        .content.decode()
    )

    headers = re.findall(r'<th scope="col" class="quality-(\w+)"', html)
    assert headers == ["flags", "qualified"]
    assert "low_gold_accuracy" in html and "mean seconds</a>" not in html
    assert 'value="judgments">' in html and 'value="flags" checked>' in html


def test_an_unknown_sort_or_column_falls_back_to_the_defaults(project, lead):
    add_annotators(project, FIGURES)
    html = _client(lead).get(_url(project, "?sort=password&cols=x"), headers=HTMX).content.decode()
    assert _names(html) == ["bob", "cat", "ann"]
    assert "mean seconds" in html


def test_the_statistics_block_loads_the_table(project, lead):
    url = f"/admin/annotation/project/{project.pk}/statistics/"
    html = _client(lead).get(url, headers=HTMX).content.decode()
    assert f'hx-get="{_url(project)}" hx-trigger="load"' in html


def test_another_researcher_cannot_see_the_table(project):
    other = _client(researcher_create(username="other"))
    assert other.get(_url(project), headers=HTMX).status_code == 404


def test_the_table_queries_do_not_grow_with_annotators(project, lead):
    client = _client(lead)
    add_annotators(project, FIGURES)
    client.get(_url(project), headers=HTMX)
    with CaptureQueriesContext(connection) as small:
        assert client.get(_url(project), headers=HTMX).status_code == 200
    add_annotators(project, [(f"p{i}", i, (i % 3, 3), 4.0) for i in range(80)])
    with CaptureQueriesContext(connection) as large:
        html = client.get(_url(project), headers=HTMX).content.decode()

    assert len(_names(html)) == 50 and "83 annotators" in html
    assert len(large) == len(small)


def test_a_ranking_projects_side_bias_column_says_it_counts_first_shown_responses(lead):
    ranked = ProjectFactory(owner=lead, slug="ranked", kind="ranking")
    add_annotators(ranked, FIGURES)
    client = _client(lead)

    html = client.get(_url(ranked), headers=HTMX).content.decode()
    pairwise = client.get(
        _url(ProjectFactory(owner=lead, slug="pairs")), headers=HTMX
    ).content.decode()

    assert "first shown ranked first" in html and "left-side rate" not in html
    assert "left-side rate" in pairwise and "first shown ranked first" not in pairwise
