"""Group quotas over the API and on the task page (README "Group quotas"): the project field
checked against the survey, each problem a 400 naming it; a newcomer whose group is full is
told so politely (403), on the page and in JSON."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Project
from annotation.services.projects import project_update
from annotation.services.surveys import survey_answers_record
from tests.annotation.services.test_quotas import SURVEY
from tests.factories import make_annotator

pytestmark = pytest.mark.django_db

PROJECT = "/api/v1/projects/pairs/"
NEXT = "/api/v1/projects/pairs/tasks/next/"
FULL = "It already has all the participants it needs from your group"


@pytest.fixture
def surveyed(pairwise) -> Project:
    return project_update(project=pairwise, survey=SURVEY, arming_ms=0)


def patch(client, **fields):
    return client.patch(PROJECT, fields, format="json")


def test_quotas_are_stored_and_shown(researcher_client, surveyed):
    quotas = {
        "country": {"max_share": 0.5, "places": 200},
        "ai_use": {"max": {"daily": 30}},
    }

    response = patch(researcher_client, group_quotas=quotas)

    assert response.status_code == 200, response.content
    assert response.json()["group_quotas"] == quotas
    assert researcher_client.get(PROJECT).json()["group_quotas"] == quotas


@pytest.mark.parametrize(
    ("quotas", "errors"),
    [
        ([1], [{"field": "group_quotas", "error": "must be an object of survey key to quota"}]),
        (
            {"shoe": {"max": {"42": 1}}},
            [{"field": "group_quotas.shoe", "error": "no such survey question"}],
        ),
        (
            {"age": {"max": {"30": 1}}},
            [
                {
                    "field": "group_quotas.age",
                    "error": "quotas apply to single, scale and text questions",
                }
            ],
        ),
        (
            {"country": {"max": {"Mars": 1, "UK": -1}}},
            [
                {"field": "group_quotas.country.max", "error": "no option 'Mars'"},
                {"field": "group_quotas.country.max", "error": "'UK': a whole number ≥ 0"},
            ],
        ),
        (
            {"country": {"max_share": 0.5}},
            [
                {
                    "field": "group_quotas.country.places",
                    "error": "max_share needs places, the share's base",
                }
            ],
        ),
        (
            {"country": {"max_share": 1.5, "places": 0, "min": 3}},
            [
                {"field": "group_quotas.country.min", "error": "unknown field"},
                {"field": "group_quotas.country.max_share", "error": "a number above 0, at most 1"},
                {"field": "group_quotas.country.places", "error": "a whole number ≥ 1"},
            ],
        ),
        (
            {"country": {}},
            [{"field": "group_quotas.country", "error": "give max (per option) or max_share"}],
        ),
    ],
)
def test_a_bad_quota_is_a_400_naming_it_and_nothing_changes(
    researcher_client, surveyed, quotas, errors
):
    response = patch(researcher_client, group_quotas=quotas)

    assert response.status_code == 400
    assert response.json()["errors"] == errors
    surveyed.refresh_from_db()
    assert surveyed.group_quotas == {}


def test_a_survey_change_that_drops_a_quotas_question_is_refused(researcher_client, surveyed):
    patch(researcher_client, group_quotas={"country": {"max": {"UK": 3}}})

    response = patch(researcher_client, survey=SURVEY[1:])

    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "group_quotas.country", "error": "no such survey question"}
    ]


def full_uk(project: Project) -> None:
    project_update(project=project, group_quotas={"country": {"max": {"UK": 0}}})


def test_the_api_answers_403_naming_the_full_quota(surveyed, annotator, annotator_client):
    survey_answers_record(project=surveyed, annotator=annotator, answers={"country": "UK"})
    full_uk(surveyed)

    response = annotator_client.get(NEXT)

    assert response.status_code == 403
    body = response.json()
    assert FULL in body["detail"]
    assert body["errors"] == [{"field": "group_quotas.country", "error": "your group is full"}]


def test_the_task_page_says_so_politely(surveyed):
    annotator = make_annotator()
    client = Client()
    client.force_login(annotator.user)
    client.post("/annotate/pairs/consent/")
    client.post("/annotate/pairs/survey/pre/", {"country": "UK", "ai_use": "2", "age": "30"})
    full_uk(surveyed)

    response = client.get("/annotate/pairs/task/")

    assert response.status_code == 403
    page = response.content.decode()
    assert FULL in page and 'data-assignment="' not in page


def test_the_page_speaks_the_annotators_language(surveyed):
    annotator = make_annotator()
    client = Client(HTTP_ACCEPT_LANGUAGE="fr")
    client.force_login(annotator.user)
    client.post("/annotate/pairs/consent/")
    client.post("/annotate/pairs/survey/pre/", {"country": "UK", "ai_use": "2", "age": "30"})
    full_uk(surveyed)

    response = client.get("/annotate/pairs/task/")

    assert "dont elle a besoin dans votre groupe" in response.content.decode()
