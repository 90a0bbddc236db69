# ruff: noqa: RUF001 (translations have their own punctuation: typographic apostrophes, full-width marks)
"""The annotator pages in six languages (README "Annotator pages"): which language a page is in (the
annotator's choice, else the project's ui_language, else Accept-Language, else English), the
switcher, <html lang dir>, content_language on prompts and responses, and the console and the
API left in English."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.utils import translation
from rest_framework.test import APIClient

from annotation.errors import QUIZ_FAILED_REASON, AnnotatorBlocked, QualificationFailed
from annotation.i18n import content_attributes, text_direction
from annotation.models import Annotator, Assignment, Project, Response
from annotation.services.annotators import annotator_for_user
from tests.factories import AnnotatorUserFactory, ProjectFactory, import_items

pytestmark = pytest.mark.django_db

PID = "5f0c0a0b0c0d0e0f10111213"
PROLIFIC = {"PROLIFIC_PID": PID, "STUDY_ID": "study1", "SESSION_ID": "sess1"}

#: A string each page shows, per language: consent button, task heading, end card heading.
CONSENT = {
    "en": "I agree, start",
    "fr": "J’accepte, commencer",
    "es": "Acepto, empezar",
    "de": "Ich stimme zu, beginnen",
    "zh-hans": "我同意，开始",
    "ar": "أوافق، ابدأ",
}
TASK = {
    "en": "Which response is better?",
    "fr": "Quelle réponse est la meilleure\u00a0?",
    "es": "¿Qué respuesta es mejor?",
    "de": "Welche Antwort ist besser?",
    "zh-hans": "哪个回答更好？",
    "ar": "أي الردّين أفضل؟",
}
DONE = {
    "en": "Thank you!",
    "fr": "Merci\u00a0!",
    "es": "¡Gracias!",
    "de": "Vielen Dank!",
    "zh-hans": "谢谢！",
    "ar": "شكرًا لك!",
}
LANGUAGES = list(CONSENT)


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(
        owner=researcher,
        slug="pairs",
        name="Which is better?",
        instructions="Pick the **better** answer.",
        annotations_per_task=1,
        completion_code="THANKS-42",
        arming_ms=0,
    )
    import_items(project, 2)
    return project


@pytest.fixture
def browser(annotator_user) -> Client:
    client = Client()
    client.force_login(annotator_user)
    return client


def html(response) -> str:
    return response.content.decode()


def html_tag(page) -> str:
    """The page's <html> start tag (of a response or of its text)."""
    text = page if isinstance(page, str) else html(page)
    return re.search(r"<html[^>]*>", text).group(0)


def assignment_on(response) -> Assignment:
    match = re.search(r'data-assignment="(\d+)"', html(response))
    assert match, "no task card on the page"
    return Assignment.objects.get(pk=int(match.group(1)))


def vote(client: Client, response, **headers):
    assignment = assignment_on(response)
    return client.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/", {"choice": "left"}, **headers
    )


# ------------------------------------------------------------------ every page, every language


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_consent_task_and_end_pages_come_in_the_projects_language(browser, project, language):
    project.ui_language = language
    project.save(update_fields=["ui_language"])

    consent = browser.get("/annotate/pairs/")
    assert CONSENT[language] in html(consent)
    browser.post("/annotate/pairs/consent/", {"version": project.consent_version})
    task = browser.get("/annotate/pairs/task/")
    assert TASK[language] in html(task)
    task = vote(browser, task)
    end = vote(browser, task)

    assert DONE[language] in html(end)
    assert "THANKS-42" in html(end)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_html_element_names_the_language_and_its_direction(browser, project, language):
    project.ui_language = language
    project.save(update_fields=["ui_language"])

    page = browser.get("/annotate/pairs/")

    direction = "rtl" if language == "ar" else "ltr"
    assert html_tag(page) == f'<html lang="{language}" dir="{direction}">'
    assert page["Content-Language"] == language


def test_without_any_preference_the_pages_are_in_english(browser, project):
    page = browser.get("/annotate/pairs/")

    assert html_tag(page) == '<html lang="en" dir="ltr">'
    assert CONSENT["en"] in html(page)


def test_the_sign_in_sign_up_and_locked_pages_follow_the_browser(client):
    french = {"HTTP_ACCEPT_LANGUAGE": "fr"}

    assert "Se connecter" in html(client.get("/accounts/login/", **french))
    assert "Créer le compte" in html(client.get("/accounts/signup/", **french))
    request = RequestFactory().get("/accounts/login/")
    request.user = AnonymousUser()
    request.session = {}
    with translation.override("de"):
        locked = render_to_string(
            "registration/locked.html", {"cooloff_timedelta": timedelta(minutes=15)}, request
        )
        one_minute = render_to_string(
            "registration/locked.html", {"cooloff_timedelta": timedelta(minutes=1)}, request
        )
    assert "etwa 15 Minuten" in locked
    assert "etwa 1 Minute)" in one_minute


# ------------------------------------------------------------------------- which language


def test_accept_language_picks_the_closest_language(browser, project):
    page = browser.get("/annotate/pairs/", HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")

    assert html_tag(page) == '<html lang="fr" dir="ltr">'
    assert CONSENT["fr"] in html(page)


@pytest.mark.parametrize(
    ("header", "language"),
    [("zh-CN,zh;q=0.9", "zh-hans"), ("ja,de;q=0.5", "de"), ("ja, ko", "en"), ("ar-EG", "ar")],
)
def test_accept_language_falls_back_along_its_list(browser, project, header, language):
    page = browser.get("/annotate/pairs/", HTTP_ACCEPT_LANGUAGE=header)

    assert f'<html lang="{language}"' in html_tag(page)


def test_the_projects_language_beats_accept_language(browser, project):
    project.ui_language = "de"
    project.save(update_fields=["ui_language"])

    page = browser.get("/annotate/pairs/", HTTP_ACCEPT_LANGUAGE="fr-CA,fr;q=0.9")

    assert CONSENT["de"] in html(page)


def test_the_switcher_stores_the_annotators_choice_over_accept_language(
    browser, annotator_user, project
):
    response = browser.post(
        "/annotate/settings/language/",
        {"language": "es", "next": "/annotate/pairs/"},
        HTTP_ACCEPT_LANGUAGE="fr",
    )

    assert response.status_code == 302
    assert response["Location"] == "/annotate/pairs/"
    assert annotator_for_user(user=annotator_user).language == "es"
    page = Client()  # another browser of the same annotator: the choice is theirs, not a cookie's
    page.force_login(annotator_user)
    assert CONSENT["es"] in html(page.get("/annotate/pairs/", HTTP_ACCEPT_LANGUAGE="fr"))


def test_the_annotators_choice_overrides_the_projects_default_language(
    browser, annotator_user, project
):
    """The project's ui_language is the language its annotators start in; one who switches
    keeps the language they picked (README "Annotator pages": "the annotator can switch it")."""
    project.ui_language = "de"
    project.save(update_fields=["ui_language"])
    assert CONSENT["de"] in html(browser.get("/annotate/pairs/"))

    browser.post("/annotate/settings/language/", {"language": "ar", "next": "/annotate/pairs/"})

    page = browser.get("/annotate/pairs/")
    assert CONSENT["ar"] in html(page)
    assert 'dir="rtl"' in html_tag(page)


def test_a_visitor_not_signed_in_switches_with_a_cookie_and_keeps_it_as_a_crowd_worker(
    client, project
):
    start = client.get("/annotate/pairs/", PROLIFIC)
    assert "Start the study" in html(start)
    assert 'name="next" value="/annotate/pairs/?PROLIFIC_PID=' in html(start)

    client.post(
        "/annotate/settings/language/",
        {"language": "zh-hans", "next": f"/annotate/pairs/?PROLIFIC_PID={PID}"},
    )

    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert "开始研究" in html(client.get("/annotate/pairs/", PROLIFIC))
    client.post("/annotate/pairs/", PROLIFIC)  # Start: signed in as a crowd identity
    assert CONSENT["zh-hans"] in html(client.get("/annotate/pairs/"))

    client.post("/annotate/settings/language/", {"language": "fr", "next": "/annotate/pairs/"})
    assert Annotator.objects.get(external_id=PID).language == "fr"
    assert CONSENT["fr"] in html(client.get("/annotate/pairs/"))


def test_the_switcher_goes_back_only_to_this_site_and_ignores_unknown_languages(browser):
    response = browser.post(
        "/annotate/settings/language/", {"language": "xx", "next": "https://evil.example/"}
    )

    assert response["Location"] == "/annotate/"
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_the_switcher_on_a_task_page_comes_back_to_the_task(browser, project):
    browser.post("/annotate/pairs/consent/", {"version": project.consent_version})
    page = browser.get("/annotate/pairs/task/")

    assert 'name="next" value="/annotate/pairs/task/"' in html(page)
    assert '<select id="language-select" name="language">' in html(page)
    assert '<option value="ar" lang="ar">العربية</option>' in html(page)


def test_pages_say_that_they_vary_by_language(browser, project):
    page = browser.get("/annotate/pairs/")

    assert {"accept-language", "cookie"} <= {v.strip().lower() for v in page["Vary"].split(",")}


# ----------------------------------------------------------------------- htmx and refusals


def test_a_vote_swapped_in_by_htmx_brings_the_next_card_in_the_same_language(browser, project):
    project.ui_language = "fr"
    project.save(update_fields=["ui_language"])
    browser.post("/annotate/pairs/consent/", {"version": project.consent_version})
    page = browser.get("/annotate/pairs/task/")

    card = vote(browser, page, HTTP_HX_REQUEST="true")

    assert card.status_code == 200
    assert "<html" not in html(card)
    assert TASK["fr"] in html(card)
    assert "Réponse A" in html(card)


def test_the_scripts_messages_and_the_shortcut_setting_are_in_the_pages_language(browser, project):
    project.ui_language = "fr"
    project.save(update_fields=["ui_language"])
    browser.post("/annotate/pairs/consent/", {"version": project.consent_version})

    page = html(browser.get("/annotate/pairs/task/"))

    assert 'data-retry="Réessayer"' in page
    assert 'data-server="Le serveur a rencontré un problème (erreur {status})' in page
    assert 'data-sending="Enregistrement…"' in page
    assert "Raccourcis à une touche (<kbd>1</kbd>, <kbd>2</kbd>, <kbd>S</kbd>…)" in page
    assert "<kbd>1</kbd>/<kbd>A</kbd> A est meilleure" in page


def test_a_refusal_is_said_in_the_pages_language(browser, project):
    project.ui_language = "es"
    project.save(update_fields=["ui_language"])
    browser.post("/annotate/pairs/consent/", {"version": project.consent_version})
    assignment = assignment_on(browser.get("/annotate/pairs/task/"))

    refused = browser.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/", {}, HTTP_HX_REQUEST="true"
    )

    assert refused.status_code == 400
    assert "Complete su respuesta." in html(refused)
    assert "Elija una de las respuestas." in html(refused)


def test_the_arming_refusal_is_translated_with_its_numbers(browser, project):
    project.ui_language = "de"
    project.arming_ms = 60_000
    project.save(update_fields=["ui_language", "arming_ms"])
    browser.post("/annotate/pairs/consent/", {"version": project.consent_version})
    page = browser.get("/annotate/pairs/task/")
    token = re.search(r'name="served" value="([^"]+)"', html(page)).group(1)
    assignment = assignment_on(page)

    refused = browser.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/",
        {"choice": "left", "served": token},
        HTTP_HX_REQUEST="true",
    )

    assert refused.status_code == 409
    assert "60000 ms, die eine Aufgabe sichtbar sein muss" in html(refused)


def test_the_closed_page_says_why_in_the_pages_language(browser, project):
    project.ui_language = "fr"
    project.status = Project.Status.PAUSED
    project.save(update_fields=["ui_language", "status"])

    page = browser.get("/annotate/pairs/")

    assert page.status_code == 403
    assert "Le projet &#x27;pairs&#x27; est en pause, et non actif." in html(page)


def test_a_failed_quiz_is_known_by_its_english_reason_and_said_in_the_pages_language():
    with translation.override("fr"):
        error = AnnotatorBlocked.for_reason(QUIZ_FAILED_REASON)
    assert isinstance(error, QualificationFailed)
    assert error.detail.startswith("Merci d’avoir répondu au questionnaire de qualification.")
    assert QualificationFailed().detail == QUIZ_FAILED_REASON  # English outside a page


# ------------------------------------------------------------------ the console and the API


def test_the_api_and_the_console_stay_in_english(annotator_user, researcher, project, client):
    api = APIClient()
    api.force_authenticate(annotator_user)
    annotator = annotator_for_user(user=annotator_user)
    annotator.language = "fr"
    annotator.save(update_fields=["language"])
    project.ui_language = "fr"
    project.status = Project.Status.PAUSED
    project.save(update_fields=["ui_language", "status"])

    refused = api.get("/api/v1/projects/pairs/tasks/next/", HTTP_ACCEPT_LANGUAGE="fr")
    client.force_login(researcher)
    console = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="fr")

    assert refused.json()["detail"] == "Project 'pairs' is paused, not active."
    assert '<html lang="en" dir="ltr">' in html(console)
    assert "Content-Language" not in console


def test_the_research_progress_line_under_annotate_stays_in_english(researcher, project, client):
    client.force_login(researcher)

    response = client.get("/annotate/pairs/progress/", HTTP_ACCEPT_LANGUAGE="de")

    assert "Content-Language" not in response


# -------------------------------------------------------------------------- content language


@pytest.mark.parametrize(
    ("tag", "direction"),
    [
        ("", "auto"),
        ("en", "ltr"),
        ("ar", "rtl"),
        ("he-IL", "rtl"),
        ("fa", "rtl"),
        ("ur", "rtl"),
        ("zh-Hans", "ltr"),
        ("az-Arab", "rtl"),
        ("ks-Deva", "ltr"),
        ("de_CH", "ltr"),
    ],
)
def test_the_direction_of_a_content_language(tag, direction):
    assert text_direction(tag) == direction


def test_content_attributes_escape_the_tag():
    assert content_attributes("") == ' dir="auto"'
    assert content_attributes("ar") == ' lang="ar" dir="rtl"'
    assert content_attributes('en" onclick="x') == (' lang="en&quot; onclick=&quot;x" dir="ltr"')


def _task_page(browser, project):
    browser.post("/annotate/pairs/consent/", {"version": project.consent_version})
    return html(browser.get("/annotate/pairs/task/"))


def test_an_unknown_content_language_lets_the_browser_find_each_blocks_direction(browser, project):
    page = _task_page(browser, project)

    assert page.count('<div class="markdown" dir="auto">') == 1  # the prompt
    assert page.count('aria-labelledby="label-a" dir="auto">') == 1
    assert page.count('aria-labelledby="label-b" dir="auto">') == 1
    assert '<input type="text" name="reason" dir="auto"' in page


def test_a_right_to_left_content_language_marks_prompt_and_responses(browser, project):
    project.content_language = "ar"
    project.save(update_fields=["content_language"])

    page = _task_page(browser, project)

    assert page.count('<div class="markdown" lang="ar" dir="rtl">') == 1
    assert 'aria-labelledby="label-a" lang="ar" dir="rtl">' in page
    assert 'aria-labelledby="label-b" lang="ar" dir="rtl">' in page
    assert html_tag(page) == '<html lang="en" dir="ltr">'  # the page itself stays English


def test_an_empty_response_is_said_in_the_pages_language_not_the_contents(browser, project):
    project.content_language = "ar"
    project.ui_language = "de"
    project.save(update_fields=["content_language", "ui_language"])
    Response.objects.filter(item__project=project).update(text="")

    page = _task_page(browser, project)

    assert 'aria-labelledby="label-a"><p class="empty">(leere Antwort)</p>' in page


def test_a_crowd_start_page_and_the_project_list_are_translated(client, project):
    annotator_user = AnnotatorUserFactory()
    signed_in = Client()
    signed_in.force_login(annotator_user)

    start = client.get("/annotate/pairs/", PROLIFIC, HTTP_ACCEPT_LANGUAGE="es")
    projects = signed_in.get("/annotate/", HTTP_ACCEPT_LANGUAGE="de")

    assert "Empezar el estudio" in html(start)
    assert "Für Sie offene Projekte" in html(projects)
    assert "Paarvergleich" in html(projects)
