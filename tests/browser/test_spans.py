"""Span marking in a real browser (README "Span-level feedback"): an annotator marks a
passage of a response with the mouse and with the keyboard (Shift+arrows in the focused
response), picks a label by its key, removes a mark, at 390 and 1440 px; offsets arrive in
code points past an emoji. Screenshots go to artifacts/screenshots/spans-*.png."""

from __future__ import annotations

import pytest

from annotation.models import Judgment, Project
from annotation.services.importing import items_import
from annotation.services.projects import project_create
from tests.browser.cards import serious_axe_violations, sign_in, wait_armed, wait_for_next_card
from tests.factories import AnnotatorUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = "The tower 🗼 stands in 日本 since 1889."


def _project(slug: str = "facts", **fields) -> Project:
    project = project_create(
        owner=None,
        preset="factuality-spans",
        slug=slug,
        name="Span study",
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
        **fields,
    )
    rows = [
        {
            "id": f"q{i}",
            "prompt": "Where is the Eiffel tower?",
            "responses": [{"id": "r1", "model": "secret-model", "text": TEXT}],
        }
        for i in range(2)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _at_work(page, live_server, project: Project, width: int) -> str:
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    AnnotatorUserFactory(username="marker")
    sign_in(page, live_server.url, "marker")
    page.goto(f"{live_server.url}/annotate/{project.slug}/")
    page.click("form[action$='/consent/'] button[type=submit]")
    return wait_armed(page)


def _spans(assignment: str) -> list[dict]:
    return Judgment.objects.get(assignment_id=int(assignment)).spans


def _status(page) -> str:
    return page.inner_text("[data-span-status]")


@pytest.mark.parametrize("width", [390, 1440])
def test_marking_a_span_with_the_keyboard(live_server, page, screenshot, width):
    card = _at_work(page, live_server, _project(), width)
    target = page.locator("[data-span-target=response]")
    target.focus()

    page.keyboard.press("Home")
    for _ in range(TEXT.index("日本")):  # one press per character, the emoji too
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    assert "“日本” (2 characters)" in _status(page)
    page.fill("[data-span-note]", "It is in France.")
    target.focus()
    page.keyboard.press("f")  # Factual error
    assert "Marked “日本”" in _status(page)
    assert page.locator("[data-span-list] li").count() == 1
    assert page.inner_text("mark.span-mark") == "日本"
    screenshot(page, f"spans-keyboard-{width}")
    assert serious_axe_violations(page) == []

    page.keyboard.press("Enter")
    wait_for_next_card(page, card)

    start = TEXT.index("日本")
    assert _spans(card) == [
        {
            "response": Judgment.objects.get(assignment_id=int(card)).task.response_a_id,
            "start": start,
            "end": start + 2,
            "label": "factual_error",
            "note": "It is in France.",
        }
    ]
    assert "secret-model" not in page.content()


def _select_with_the_mouse(page, text: str) -> None:
    """Drag across `text` in the response: from its first character to its last."""
    box = page.evaluate(
        """([wanted]) => {
            const element = document.querySelector("[data-span-target=response]");
            const node = element.firstChild;
            const at = node.textContent.indexOf(wanted);
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + wanted.length);
            const rects = range.getClientRects();
            const first = rects[0], last = rects[rects.length - 1];
            return {x0: first.left + 1, y0: first.top + first.height / 2,
                    x1: last.right - 1, y1: last.top + last.height / 2};
        }""",
        [text],
    )
    page.mouse.move(box["x0"], box["y0"])
    page.mouse.down()
    page.mouse.move(box["x1"], box["y1"], steps=6)
    page.mouse.up()


@pytest.mark.parametrize("width", [390, 1440])
def test_marking_spans_with_the_mouse_and_removing_one(live_server, page, screenshot, width):
    card = _at_work(page, live_server, _project(), width)
    page.locator("[data-span-target=response]").scroll_into_view_if_needed()

    _select_with_the_mouse(page, "1889")
    assert "“1889”" in _status(page)
    page.click("[data-span-label=irrelevant]")
    _select_with_the_mouse(page, "tower 🗼")
    page.click("[data-span-label=unsafe]")
    assert page.locator("[data-span-list] li").count() == 2
    page.click("[data-span-list] li:first-child button")  # takes 1889 back
    assert page.locator("[data-span-list] li").count() == 1
    assert "Removed the mark on “1889”" in _status(page)
    screenshot(page, f"spans-mouse-{width}")

    page.click("#task-form button[type=submit]")
    wait_for_next_card(page, card)

    (span,) = _spans(card)
    assert TEXT[span["start"] : span["end"]] == "tower 🗼"
    assert span["label"] == "unsafe"


def test_the_arabic_span_page_is_mirrored_and_axe_clean(live_server, page, screenshot):
    _at_work(page, live_server, _project(slug="facts-ar", ui_language="ar"), 390)
    page.locator("[data-span-target=response]").focus()
    page.keyboard.press("Home")
    page.keyboard.press("Shift+End")

    assert page.get_attribute("html", "dir") == "rtl"
    assert page.locator("mark.span-pending").count() == 1
    screenshot(page, "spans-ar-390")
    assert serious_axe_violations(page) == []
