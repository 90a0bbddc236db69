"""Verdicts and rewrites in a real browser (README "Verdicts and KTO", "Rewrites"): an annotator
answers Good / Bad, gives a reason and rewrites the response behind its toggle, by keyboard only
(the number keys) and with the mouse, at 390 and 1440 px; the page is axe-clean and names no
model. Screenshots go to artifacts/screenshots/verdict-*.png."""

from __future__ import annotations

import pytest

from annotation.models import Judgment, Project
from annotation.services.importing import items_import
from annotation.services.projects import project_create
from tests.browser.cards import (
    record_sources,
    serious_axe_violations,
    sign_in,
    tab_to,
    wait_armed,
    wait_for_next_card,
)
from tests.factories import AnnotatorUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ORIGINAL = "Paris is the capital of **Germany**."


def _project(slug: str = "thumbs", **fields) -> Project:
    project = project_create(
        owner=None,
        preset="helpful-harmless-verdict",
        slug=slug,
        name="Thumbs study",
        **{"rewrite": "optional", **fields},
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
        gold_rate=0,
    )
    rows = [
        {
            "id": f"q{i}",
            "prompt": "What is the capital of France?",
            "responses": [{"id": "r1", "model": "secret-model", "text": ORIGINAL}],
        }
        for i in range(2)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


@pytest.mark.parametrize("width", [390, 1440])
def test_a_verdict_by_keyboard_with_a_reason_and_a_rewrite(live_server, page, screenshot, width):
    _project()
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    AnnotatorUserFactory(username="judge")
    sign_in(page, live_server.url, "judge")
    page.goto(f"{live_server.url}/annotate/thumbs/")
    page.click("form[action$='/consent/'] button[type=submit]")
    card = wait_armed(page)
    assert "secret-model" not in page.content()
    assert not page.is_visible("#rewrite-response")  # behind its toggle

    page.keyboard.press("2")  # helpful: bad
    page.keyboard.press("3")  # harmless: good
    assert page.is_checked("input[name=criterion-helpful][value=false]")
    assert page.is_checked("input[name=criterion-harmless][value=true]")
    tab_to(page, "#reason-helpful")
    page.keyboard.type("Wrong country.")
    tab_to(page, "details.rewrite summary")
    page.keyboard.press("Enter")
    assert page.is_visible("#rewrite-response")
    assert page.input_value("#rewrite-response") == ORIGINAL
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "rewrite-response"
    page.keyboard.press("Control+a")
    page.keyboard.type("Paris is the capital of **France**.")
    assert serious_axe_violations(page) == []
    screenshot(page, f"verdict-rewrite-{width}")
    tab_to(page, "#task-form button[type=submit]")
    page.keyboard.press("Enter")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    assert judgment.scores == {"helpful": False, "harmless": True}
    assert judgment.reasons == {"helpful": "Wrong country."}
    assert judgment.rewrite == "Paris is the capital of **France**."
    assert judgment.rewrite_of.text == ORIGINAL
    screenshot(page, f"verdict-next-{width}")


def _verdict(page, criterion: str, good: bool) -> None:
    """Click the Good or Bad label of a criterion, as a mouse user does."""
    page.click(f"label:has(input[name=criterion-{criterion}][value={str(good).lower()}])")


@pytest.mark.parametrize("width", [390, 1440])
def test_a_verdict_with_the_mouse_with_a_reason_and_a_rewrite(live_server, page, screenshot, width):
    _project()
    sources = record_sources(page)
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    AnnotatorUserFactory(username="clicker")
    sign_in(page, live_server.url, "clicker")
    page.goto(f"{live_server.url}/annotate/thumbs/")
    page.click("form[action$='/consent/'] button[type=submit]")
    card = wait_armed(page)

    _verdict(page, "helpful", good=True)
    _verdict(page, "harmless", good=True)
    _verdict(page, "helpful", good=False)  # a change of mind
    assert page.is_checked("input[name=criterion-helpful][value=false]")
    page.click("#reason-helpful")
    page.keyboard.type("Wrong country.")
    page.click("details.rewrite summary")
    assert page.input_value("#rewrite-response") == ORIGINAL
    page.click("#rewrite-response")
    page.keyboard.press("Control+a")
    page.keyboard.type("Paris is the capital of **France**.")
    screenshot(page, f"verdict-mouse-{width}")
    assert serious_axe_violations(page) == []
    page.click("#task-form button[type=submit]")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    assert judgment.scores == {"helpful": False, "harmless": True}
    assert judgment.reasons == {"helpful": "Wrong country."}
    assert judgment.rewrite == "Paris is the capital of **France**."
    assert sources and not any("secret-model" in source for source in sources)


def test_a_verdict_left_out_with_the_mouse_is_asked_for_and_nothing_is_lost(
    live_server, page, screenshot
):
    _project()
    page.set_viewport_size({"width": 390, "height": 844})
    AnnotatorUserFactory(username="hasty")
    sign_in(page, live_server.url, "hasty")
    page.goto(f"{live_server.url}/annotate/thumbs/")
    page.click("form[action$='/consent/'] button[type=submit]")
    card = wait_armed(page)
    _verdict(page, "helpful", good=False)
    page.click("#reason-helpful")
    page.keyboard.type("Wrong country.")

    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#card-alert .refusal")

    assert "Harmless: choose one." in page.inner_text("#card-alert")
    assert page.is_checked("input[name=criterion-helpful][value=false]")
    assert page.input_value("#reason-helpful") == "Wrong country."
    screenshot(page, "verdict-missing-390")
    assert serious_axe_violations(page) == []
    _verdict(page, "harmless", good=True)
    page.click("#task-form button[type=submit]")
    wait_for_next_card(page, card)
    assert Judgment.objects.get(assignment_id=int(card)).scores == {
        "helpful": False,
        "harmless": True,
    }
