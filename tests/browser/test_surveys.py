"""Surveys in a real browser (README "Surveys"): an annotator agrees, fills in the PRISM-style
pre-survey, votes, and answers the feedback post-survey, keyboard only, at 390 px, in English
and in Arabic (right to left); each survey page is axe-clean. Screenshots go to
artifacts/screenshots/survey-*.png."""

from __future__ import annotations

import pytest

from annotation.models import Judgment, Project, SurveyAnswers
from annotation.services.importing import items_import
from annotation.services.projects import project_create
from tests.browser.cards import serious_axe_violations, sign_in
from tests.factories import AnnotatorUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _project(language: str) -> Project:
    project = project_create(
        owner=None,
        preset="pairwise-ties",
        survey_preset="prism-demographics-and-feedback",
        slug="prism",
        name="PRISM study",
        ui_language=language,
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
        gold_rate=0,
    )
    rows = [
        {
            "id": "q1",
            "prompt": "Say hello.",
            "responses": [
                {"id": "r1", "model": "m1", "text": "Hello!"},
                {"id": "r2", "model": "m2", "text": "Hi."},
            ],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _press(page, *keys: str) -> None:
    for key in keys:
        page.keyboard.press(key)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_prism_survey_by_keyboard_around_the_votes(live_server, page, screenshot, language):
    _project(language)
    page.set_viewport_size({"width": 390, "height": 844})
    AnnotatorUserFactory(username="respondent")
    sign_in(page, live_server.url, "respondent")
    page.goto(f"{live_server.url}/annotate/prism/")
    page.focus("form[action$='/consent/'] button[type=submit]")
    page.keyboard.press("Enter")

    page.wait_for_url("**/survey/pre/")
    assert page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    assert page.evaluate("document.activeElement.name") == "age_band"  # autofocus
    question = "كم عمرك؟" if language == "ar" else "How old are you?"
    assert page.get_by_text(question).count() == 1  # the preset speaks the page's language
    _press(page, "Space", "Tab", "Space", "Tab")  # age band, gender: their first options
    page.keyboard.type("Jordan")
    page.keyboard.press("Tab")
    page.keyboard.type("Arabic")
    _press(page, "Tab", "Space", "ArrowDown", "Tab", "Space")  # education: the second option
    assert serious_axe_violations(page) == []
    screenshot(page, f"survey-pre-{language}-390")
    _press(page, "Tab", "Enter")  # Continue

    page.wait_for_selector("#task-card[data-armed]")
    page.keyboard.press("1")  # the left response

    page.wait_for_url("**/survey/post/")
    assert page.evaluate("document.activeElement.name") == "instructions_clear"
    _press(page, "Space", "ArrowDown", "ArrowDown", "ArrowDown")  # 4 of 5
    assert serious_axe_violations(page) == []
    screenshot(page, f"survey-post-{language}-390")
    _press(page, "Tab", "Tab", "Tab", "Enter")  # past the difficulty and comments to Continue
    page.wait_for_selector(".done")

    answers = SurveyAnswers.objects.get().answers
    arabic = language == "ar"  # the answers are the options as the project's pages say them
    assert answers == {
        "age_band": "18-24",
        "gender": "امرأة" if arabic else "Woman",
        "country": "Jordan",
        "first_language": "Arabic",
        "education": "التعليم الثانوي" if arabic else "Secondary school",
        "ai_use": "أبدًا" if arabic else "Never",
        "instructions_clear": 4,
    }
    assert Judgment.objects.count() == 1
