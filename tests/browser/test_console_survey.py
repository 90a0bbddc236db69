"""A researcher builds a project's survey on the console's Survey page in a real browser,
with the keyboard where it matters (add, move), sees a problem beside its field, saves, and
an annotator then meets the new question on the pre-survey. Axe-clean at 1440 and 390 px;
screenshots to artifacts/screenshots/builder-*.png."""

from __future__ import annotations

import pytest

from annotation.models import Project
from annotation.services.importing import items_import
from annotation.services.projects import project_create
from annotation.services.researchers import researcher_create
from tests.browser.cards import serious_axe_violations
from tests.browser.cards import sign_in as annotator_sign_in
from tests.browser.conftest import SCREENSHOTS
from tests.browser.test_console_datasets import PASSWORD, sign_in
from tests.factories import AnnotatorUserFactory, item_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_QUESTION = "How much do you trust answers from AI?"


def _project() -> Project:
    lead = researcher_create(username="lead", password=PASSWORD)
    project = project_create(
        owner=lead,
        preset="pairwise-ties",
        survey_preset="prism-demographics",
        slug="prism",
        name="PRISM study",
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
        gold_rate=0,
    )
    items_import(project=project, rows=list(enumerate(item_rows(1), start=1)))
    return project


def test_researcher_adds_a_question_by_keyboard_and_annotators_are_asked_it(
    live_server, browser, page, screenshot
):
    from playwright.sync_api import expect

    project = _project()
    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/change/")
    page.click("a.button:text-is('Survey')")
    page.wait_for_selector("#q-5-key")
    assert page.frame_locator("#survey-preview").locator("text=How old are you?").is_visible()
    # A text question has no options box until its type takes options.
    assert not page.is_visible("#q-2-options")
    page.select_option("#q-2-type", "single")
    assert page.is_visible("#q-2-options")
    page.select_option("#q-2-type", "text")

    # Add a question (htmx swaps the editor): the focus lands in its key.
    page.focus("#survey-add")
    page.keyboard.press("Enter")
    page.wait_for_selector("#q-6-key")
    expect(page.locator("#q-6-key")).to_be_focused()
    assert "Question 7 added" in page.inner_text("#survey-status")
    page.keyboard.type("ai_trust")
    page.keyboard.press("Tab")
    page.keyboard.type(NEW_QUESTION)
    page.select_option("#q-6-type", "scale")

    # Move it up twice with the keyboard: the focus follows the button.
    page.focus("#up-6")
    page.keyboard.press("Enter")
    expect(page.locator("#up-5")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#up-4")).to_be_focused()
    assert page.input_value("#q-4-key") == "ai_trust"
    assert page.input_value("#q-4-text") == NEW_QUESTION
    assert page.input_value("#q-5-key") == "education"

    # A scale without points is refused beside its options, what was typed kept.
    page.click("button:text('Save survey') >> nth=0")
    page.wait_for_selector("#q-4-options-error")
    assert "a scale question needs two or more options" in page.inner_text("#q-4-options-error")
    assert page.input_value("#q-4-text") == NEW_QUESTION
    assert serious_axe_violations(page) == []
    screenshot(page, "builder-errors-1440")

    page.fill("#q-4-options", "Not at all\nSomewhat\nFully")
    page.click("button:text('Save survey') >> nth=1")
    page.wait_for_selector("text=Survey saved")
    assert page.input_value("#q-4-key") == "ai_trust"
    preview = page.frame_locator("#survey-preview")
    preview.locator(f"text={NEW_QUESTION}").wait_for()
    assert serious_axe_violations(page) == []
    screenshot(page, "builder-1440")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert serious_axe_violations(page) == []
    screenshot(page, "builder-390")
    page.locator("#question-4").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "builder-390-question.png"))

    # The annotator meets the question, fifth, on the pre-survey.
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        annotator = context.new_page()
        AnnotatorUserFactory(username="respondent")
        annotator_sign_in(annotator, live_server.url, "respondent")
        annotator.goto(f"{live_server.url}/annotate/prism/")
        annotator.click("text=I agree, start")
        annotator.wait_for_url("**/survey/pre/")
        legends = annotator.locator("fieldset.survey-question legend").all_inner_texts()
        assert NEW_QUESTION in legends[4]
        assert annotator.locator("#q-ai_trust input[type=radio]").count() == 3
        screenshot(annotator, "builder-annotator-pre-survey-390")
    finally:
        context.close()


def test_without_javascript_the_buttons_still_add_and_enter_saves(live_server, browser):
    project = _project()
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, live_server.url)
        page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/survey/")
        page.click("#survey-add")  # a plain form post: the page comes back with the draft
        page.wait_for_selector("#q-6-key")
        assert page.is_visible("text=This draft is not saved yet.")
        page.fill("#q-6-key", "comments")
        page.fill("#q-6-text", "Anything else?")
        page.select_option("#q-6-type", "text")
        page.press("#q-6-text", "Enter")  # the form's first button: Save, never a move

        page.wait_for_selector("text=Survey saved")
        project.refresh_from_db()
        assert [q["key"] for q in project.survey][-1] == "comments"
        assert len(project.survey) == 7
    finally:
        context.close()
