"""The survey in the researcher console (README "Surveys"): set by hand or from a preset,
checked as strictly as over the API."""

from __future__ import annotations

import json

import pytest

from tests.annotation.test_admin import _researcher
from tests.annotation.test_admin_isolation import project_form
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_the_project_page_fills_the_survey_from_a_preset(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    form = project_form(project, media_hosts="", survey="", survey_preset="feedback")

    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert [q["key"] for q in project.survey] == [
        "instructions_clear",
        "task_difficulty",
        "comments",
    ]
    assert {q["when"] for q in project.survey} == {"post"}


def test_the_project_page_fills_a_preset_in_the_projects_language(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    form = project_form(
        project, media_hosts="", survey="", survey_preset="feedback", ui_language="de"
    )

    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.survey[0]["text"] == "Wie klar waren die Anweisungen?"
    assert project.survey[1]["options"] == [
        "Sehr leicht",
        "Leicht",
        "Neutral",
        "Schwer",
        "Sehr schwer",
    ]
    assert project.survey[0]["key"] == "instructions_clear"


def test_a_bad_survey_on_the_project_page_is_named_and_not_saved(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher)
    client.force_login(researcher)
    bad = [{"key": "age", "text": "Age?", "type": "single", "options": []}]
    form = project_form(project, media_hosts="", survey=json.dumps(bad), survey_preset="")

    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)

    assert response.status_code == 200
    assert "survey[0].options: a single question needs two or more options" in (
        response.content.decode()
    )
    project.refresh_from_db()
    assert project.survey == []


QUOTA_SURVEY = [{"key": "country", "text": "Country?", "type": "single", "options": ["UK", "US"]}]


def test_the_project_page_sets_group_quotas(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher, survey=QUOTA_SURVEY)
    client.force_login(researcher)
    quotas = {"country": {"max_share": 0.5, "places": 100}}
    form = project_form(
        project, survey=json.dumps(QUOTA_SURVEY), survey_preset="", group_quotas=json.dumps(quotas)
    )

    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.group_quotas == quotas


def test_a_bad_group_quota_on_the_project_page_is_named_and_not_saved(client):
    researcher = _researcher()
    project = ProjectFactory(owner=researcher, survey=QUOTA_SURVEY)
    client.force_login(researcher)
    quotas = {"country": {"max": {"FR": 3}}}
    form = project_form(
        project, survey=json.dumps(QUOTA_SURVEY), survey_preset="", group_quotas=json.dumps(quotas)
    )

    response = client.post(f"/admin/annotation/project/{project.pk}/change/", form)

    assert response.status_code == 200
    assert "group_quotas.country.max: no option &#x27;FR&#x27;" in response.content.decode()
    project.refresh_from_db()
    assert project.group_quotas == {}
