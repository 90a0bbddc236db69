"""The Instructions button on every task card opens the project's instructions in a dialog
(README "Annotator pages"): keys typed there never vote, Escape and the backdrop close it, focus
comes back to the button; readable at 390 and 1440 px, light and dark."""

from __future__ import annotations

import pytest

from annotation.models import Judgment, Project
from annotation.services.importing import items_import
from tests.browser.cards import serious_axe_violations
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENTRY = "/annotate/guide/?PROLIFIC_PID=5f1e2d3c4b5a69788796a5b4&STUDY_ID=st1&SESSION_ID=se1"
INSTRUCTIONS = """## How to judge

Read the prompt, then both answers **in full**.

- Prefer the answer that is *correct*.
- Then the one that is clear and kind.
- A tie is fine when you truly cannot choose.

> When in doubt, skip the task.
"""


def _project() -> Project:
    project = ProjectFactory(
        slug="guide",
        name="Guided study",
        instructions=INSTRUCTIONS,
        annotations_per_task=1,
        arming_ms=0,
        min_seconds_per_task=0,
    )
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"id": "r1", "model": "alpha", "text": f"A careful answer to {i}."},
                {"id": "r2", "model": "beta", "text": f"A hasty answer to {i}."},
            ],
        }
        for i in range(3)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _to_the_first_task(page, base: str) -> None:
    page.goto(base + ENTRY)
    page.click("text=Start the study")
    page.click("text=I agree, start")
    page.wait_for_selector("#task-card")


def test_the_instructions_open_in_a_dialog_that_takes_no_vote(live_server, page, screenshot):
    _project()
    _to_the_first_task(page, live_server.url)
    first = page.get_attribute("#task-card", "data-assignment")

    page.click("#task-card [data-instructions-open]")
    dialog = page.locator("#instructions-dialog")
    dialog.get_by_text("Prefer the answer that is correct").wait_for()
    assert dialog.evaluate("d => d.open && d.matches(':modal')")
    assert dialog.evaluate("d => d.contains(document.activeElement)")
    assert dialog.locator("h2", has_text="How to judge").count() == 1
    screenshot(page, "instructions-dialog-1440")

    for key in ("1", "2", "t", "s"):
        page.keyboard.press(key)
    page.wait_for_timeout(500)
    assert not Judgment.objects.exists()
    assert page.get_attribute("#task-card", "data-assignment") == first
    assert dialog.evaluate("d => d.open")

    page.keyboard.press("Escape")
    page.wait_for_function("() => !document.querySelector('#instructions-dialog').open")
    assert page.evaluate("() => document.activeElement.hasAttribute('data-instructions-open')")


def test_every_new_card_reopens_them_and_the_backdrop_closes_them(live_server, page):
    _project()
    _to_the_first_task(page, live_server.url)
    first = page.get_attribute("#task-card", "data-assignment")
    page.click("#task-card button[value=left]")
    page.wait_for_function(
        "prev => document.querySelector('#task-card').dataset.assignment !== prev", arg=first
    )
    assert Judgment.objects.count() == 1

    page.click("#task-card [data-instructions-open]")
    page.locator("#instructions-dialog").get_by_text("When in doubt").wait_for()
    page.mouse.click(5, 5)  # on the backdrop

    page.wait_for_function("() => !document.querySelector('#instructions-dialog').open")
    assert Judgment.objects.count() == 1


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1440])
def test_the_dialog_is_readable_and_accessible(live_server, page, screenshot, width, scheme):
    _project()
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 1000})
    page.emulate_media(color_scheme=scheme)
    _to_the_first_task(page, live_server.url)

    page.click("#task-card [data-instructions-open]")
    dialog = page.locator("#instructions-dialog")
    dialog.get_by_text("When in doubt").wait_for()

    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    assert dialog.locator("button", has_text="Close").is_visible()
    screenshot(page, f"instructions-dialog-{width}-{scheme}")
    assert serious_axe_violations(page) == []


def test_without_scripts_the_button_opens_the_instructions_page(live_server, browser):
    _project()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        _to_the_first_task(page, live_server.url)
        with context.expect_page() as opened:
            page.click("#task-card [data-instructions-open]")
        instructions = opened.value
        instructions.wait_for_load_state()
        assert "Prefer the answer that is" in instructions.inner_text("main")
        assert instructions.url.endswith("/annotate/guide/instructions/")
    finally:
        context.close()
