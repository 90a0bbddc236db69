"""Surveys on the annotator pages (README "Surveys"): the pre-survey between consent and the
first task, the post-survey at the end, in the annotator's language, answered by form."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Project, SurveyAnswers
from annotation.services.projects import project_update
from tests.annotation.test_views import assignment_on, html, vote
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db

PRE = "/annotate/pairs/survey/pre/"
POST = "/annotate/pairs/survey/post/"
PRISM_FORM = {
    "age_band": "25-34",
    "gender": "Woman",
    "country": "Jordan",
    "first_language": "Arabic",
    "education": "Graduate degree",
    "ai_use": "Weekly",
}


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(
        owner=researcher, slug="pairs", name="Which is better?", annotations_per_task=1, arming_ms=0
    )
    import_items(project, 1)
    return project_update(project=project, survey_preset="prism-demographics-and-feedback")


@pytest.fixture
def consented(annotator_user, project) -> Client:
    client = Client()
    client.force_login(annotator_user)
    client.post("/annotate/pairs/consent/")
    return client


def test_the_pre_survey_comes_after_consent_and_before_the_first_task(consented):
    response = consented.get("/annotate/pairs/task/")

    assert response.status_code == 302 and response.url == PRE
    page = html(consented.get(PRE))
    assert "How old are you?" in page and "How clear were the instructions?" not in page
    assert 'type="radio" name="age_band" value="18-24" required autofocus' in page
    assert 'id="q-country-legend"' in page and 'aria-labelledby="q-country-legend"' in page


def test_sent_answers_are_stored_and_lead_to_the_first_task(consented, annotator_user):
    sent = consented.post(PRE, PRISM_FORM)

    assert sent.status_code == 302 and sent.url == "/annotate/pairs/task/"
    record = SurveyAnswers.objects.get()
    assert record.answers == PRISM_FORM and record.submitted == ["pre"] and record.version == 1
    assert 'data-assignment="' in html(consented.get("/annotate/pairs/task/"))


def test_a_missing_answer_is_named_and_nothing_is_stored(consented):
    response = consented.post(PRE, {**PRISM_FORM, "gender": "", "ai_use": "Hourly"})

    assert response.status_code == 400
    page = html(response)
    assert "Some answers need your attention." in page
    assert 'aria-describedby="q-gender-error"' in page and "This answer is required." in page
    assert 'aria-describedby="q-ai_use-error"' in page and "Please check this answer." in page
    assert ">Jordan</textarea>" in page  # what was typed stays
    assert not SurveyAnswers.objects.exists()


def test_the_pre_survey_can_be_changed_until_the_first_vote(consented):
    consented.post(PRE, PRISM_FORM)
    assert 'value="25-34" checked required' in html(consented.get(PRE))
    consented.post(PRE, {**PRISM_FORM, "age_band": "35-44"})
    vote(consented, consented.get("/annotate/pairs/task/"))

    refused = consented.post(PRE, {**PRISM_FORM, "age_band": "18-24"}, follow=True)

    assert "already voted in this project" in html(refused)
    assert SurveyAnswers.objects.get().answers["age_band"] == "35-44"


def test_the_post_survey_comes_when_nothing_is_left_then_the_end(consented):
    consented.post(PRE, PRISM_FORM)
    last = vote(consented, consented.get("/annotate/pairs/task/"), HTTP_HX_REQUEST="true")

    assert last.headers["HX-Redirect"] == POST
    assert "How clear were the instructions?" in html(consented.get(POST))
    sent = consented.post(POST, {"instructions_clear": "4", "comments": "Fine."})
    assert sent.url == "/annotate/pairs/task/"
    end = consented.get("/annotate/pairs/task/")
    assert end.status_code == 200 and "How clear" not in html(end)
    assert SurveyAnswers.objects.get().answers == {
        **PRISM_FORM,
        "instructions_clear": 4,
        "comments": "Fine.",
    }


def test_the_survey_page_speaks_arabic_right_to_left(consented, project):
    project.ui_language = "ar"
    project.save(update_fields=["ui_language"])

    page = html(consented.get(PRE))

    assert '<html lang="ar" dir="rtl">' in page
    assert "عنك" in page and "متابعة" in page
    assert '<legend id="q-age_band-legend" dir="auto">' in page


def test_a_project_without_a_survey_goes_straight_to_its_tasks(consented, project):
    project_update(project=project, survey=[])

    response = consented.get("/annotate/pairs/task/")

    assert response.status_code == 200 and assignment_on(response)
    assert consented.get(PRE).url == "/annotate/pairs/task/"
