"""The console's groups page: the profile summary with small answers merged, each group's
leaderboard and agreement side by side, sensitive questions only when asked, another
researcher kept out, and queries that do not grow with the annotators."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation.services.researchers import researcher_create
from tests.api.test_group_figures import plural_project

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cache_cleared")]

HTMX = {"HX-Request": "true"}


def _page(project) -> str:
    return f"/admin/annotation/project/{project.pk}/groups/"


def _figures(project) -> str:
    return f"/admin/annotation/project/{project.pk}/groups/figures/"


def test_the_page_summarises_answers_without_small_groups_or_sensitive_questions(lead, client):
    project = plural_project(lead, westerners=2)
    html = client.get(_page(project)).content.decode()
    assert "<td>north</td><td>10</td>" in html and "<td>south</td><td>10</td>" in html
    # Three easterners and two westerners: each under k, five together.
    assert "east" not in html and "west" not in html and "<td>other</td><td>5</td>" in html
    assert "Your religion" not in html and "faith" not in html
    assert 'value="profile.region"' in html and "hx-get" not in html  # nothing chosen yet

    shown = client.get(_page(project), {"include_sensitive": "true"}).content.decode()
    assert 'value="profile.faith"' in shown and "<td>no</td><td>25</td>" in shown


def test_the_groups_leaderboards_and_agreement_side_by_side(lead, client):
    project = plural_project(lead, westerners=2)
    page = client.get(_page(project), {"by": "profile.region"}).content.decode()
    assert f'hx-get="{_figures(project)}?by=profile.region"' in page

    html = client.get(_figures(project), {"by": "profile.region"}, headers=HTMX)
    html = html.content.decode()
    assert html.index('data-group="north"') < html.index('data-group="south"')
    assert "Leaderboard of north with 95% intervals" in html
    assert "Leaderboard of south with 95% intervals" in html
    assert "10 annotators, 600 judgments." in html
    assert "Agreement within the group" in html
    assert "Rating of north minus rating of south" in html
    assert "north and south" in html  # whether their majorities agree
    assert "east" not in html and "west" not in html and 'data-group="other"' in html


def test_a_sensitive_question_needs_asking_for_it(lead, client):
    project = plural_project(lead, tiny=0)
    refused = client.get(_page(project), {"by": "profile.faith"})
    assert refused.status_code == 400 and "include_sensitive" in refused.content.decode()
    refused = client.get(_figures(project), {"by": "profile.faith"}, headers=HTMX)
    assert refused.status_code == 400
    allowed = client.get(
        _figures(project), {"by": "profile.faith", "include_sensitive": "true"}, headers=HTMX
    )
    assert allowed.status_code == 200 and 'data-group="no"' in allowed.content.decode()


def test_another_researcher_gets_a_404(lead):
    project = plural_project(lead, tiny=0)
    other = Client()
    other.force_login(researcher_create(username="other"))
    assert other.get(_page(project)).status_code == 404
    assert other.get(_figures(project), {"by": "profile.region"}).status_code == 404


def test_the_page_queries_do_not_grow_with_annotators_or_groups(lead, client):
    project = plural_project(lead, tiny=0)
    client.get(_page(project))  # the session: warm
    client.get(_figures(project), {"by": "profile.region"}, headers=HTMX)  # fitted once
    with CaptureQueriesContext(connection) as small:
        client.get(_page(project), {"by": "profile.region"})
        client.get(_figures(project), {"by": "profile.region"}, headers=HTMX)
    more = plural_project(lead, tiny=6, slug="plural-2")
    client.get(_figures(more), {"by": "profile.region"}, headers=HTMX)
    with CaptureQueriesContext(connection) as large:
        client.get(_page(more), {"by": "profile.region"})
        html = client.get(_figures(more), {"by": "profile.region"}, headers=HTMX)
    assert 'data-group="east"' in html.content.decode()  # a third group, six people
    assert len(large) == len(small)
