"""Rewrites in a real browser (README "Rewrites"): a required rewrite left untouched is asked for
with everything kept, then stored once edited, by keyboard only and with the mouse at 390 and
1440 px; an optional rewrite of the preferred response on a pairwise page and of the first
ranked on a ranking page. Screenshots go to artifacts/screenshots/rewrite-*.png."""

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
from tests.factories import AnnotatorUserFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROMPT = "What is the capital of France?"
WRONG = "Paris is the capital of **Germany**."
FIXED = "Paris is the capital of **France**."
ASKED = "This project asks for a rewrite: edit the response in its box until it is good."


def _import(project: Project, texts: list[str]) -> Project:
    rows = [
        {
            "id": f"q{i}",
            "prompt": PROMPT,
            "responses": [
                {"id": f"r{j}", "model": f"secret-model-{j}", "text": text}
                for j, text in enumerate(texts)
            ],
        }
        for i in range(2)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _verdict_project(rewrite: str) -> Project:
    project = project_create(
        owner=None,
        preset="helpful-harmless-verdict",
        slug="fixes",
        name="Rewrite study",
        rewrite=rewrite,
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
        gold_rate=0,
    )
    return _import(project, [WRONG])


def _at_work(page, live_server, slug: str, width: int) -> str:
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    AnnotatorUserFactory(username="editor")
    sign_in(page, live_server.url, "editor")
    page.goto(f"{live_server.url}/annotate/{slug}/")
    page.click("form[action$='/consent/'] button[type=submit]")
    return wait_armed(page)


def _retype(page, text: str) -> None:
    """Replace the text of the focused box, as typed."""
    page.keyboard.press("Control+a")
    page.keyboard.type(text)


@pytest.mark.parametrize("width", [390, 1440])
def test_a_required_rewrite_by_keyboard_is_asked_for_then_stored(
    live_server, page, screenshot, width
):
    _verdict_project("required")
    sources = record_sources(page)
    card = _at_work(page, live_server, "fixes", width)
    assert page.is_visible("#rewrite-response")  # open from the start
    assert page.inner_text("details.rewrite summary") == "Rewrite the response (required)"

    page.keyboard.press("2")  # helpful: bad
    page.keyboard.press("3")  # harmless: good
    page.keyboard.press("Enter")
    page.wait_for_selector("#card-alert .refusal")
    assert ASKED in page.inner_text("#card-alert")
    assert page.is_checked("input[name=criterion-helpful][value=false]")
    assert page.input_value("#rewrite-response") == WRONG
    screenshot(page, f"rewrite-required-asked-{width}")
    assert serious_axe_violations(page) == []

    tab_to(page, "#rewrite-response", backwards=True)
    _retype(page, FIXED)
    page.keyboard.press("Tab")  # on to Submit
    page.keyboard.press("Enter")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    assert judgment.rewrite == FIXED
    assert judgment.rewrite_of.text == WRONG
    assert judgment.scores == {"helpful": False, "harmless": True}
    assert sources and not any("secret-model" in source for source in sources)


def _flagged_box(page) -> dict:
    """The focused element's id and how it is flagged: aria-invalid, and the texts of what
    its aria-describedby names."""
    return page.evaluate(
        """() => {
          const box = document.activeElement;
          const named = (box.getAttribute("aria-describedby") || "").split(/\\s+/);
          return {
            id: box.id,
            invalid: box.getAttribute("aria-invalid"),
            described: named.filter(Boolean).map((id) => document.getElementById(id))
              .filter(Boolean).map((el) => el.textContent.trim()),
          };
        }"""
    )


def test_a_required_rewrite_left_out_flags_and_focuses_its_box(live_server, page, screenshot):
    _verdict_project("required")
    card = _at_work(page, live_server, "fixes", 390)
    page.keyboard.press("2")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_selector("#card-alert .refusal")
    assert _flagged_box(page) == {"id": "rewrite-response", "invalid": "true", "described": [ASKED]}
    screenshot(page, "rewrite-required-flagged-390")

    _retype(page, FIXED)  # typed straight into the focused box
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    wait_for_next_card(page, card)
    assert Judgment.objects.get(assignment_id=int(card)).rewrite == FIXED


def test_a_required_rewrite_left_out_on_a_pair_flags_the_preferred_box(live_server, page):
    _pairwise_project("required")
    card = _at_work(page, live_server, "fix-pairs", 1440)
    better = "left" if page.input_value("#rewrite-left") == WRONG else "right"
    page.click(f"button[name=choice][value={better}]")
    page.wait_for_selector("#card-alert .refusal")
    assert _flagged_box(page) == {
        "id": f"rewrite-{better}",
        "invalid": "true",
        "described": [ASKED],
    }
    other = "right" if better == "left" else "left"
    assert page.get_attribute(f"#rewrite-{other}", "aria-invalid") is None

    _retype(page, FIXED)
    page.click(f"button[name=choice][value={better}]")
    wait_for_next_card(page, card)
    assert Judgment.objects.get(assignment_id=int(card)).rewrite == FIXED


@pytest.mark.parametrize("width", [390, 1440])
def test_a_required_rewrite_with_the_mouse_is_asked_for_then_stored(
    live_server, page, screenshot, width
):
    _verdict_project("required")
    card = _at_work(page, live_server, "fixes", width)
    page.click("label:has(input[name=criterion-helpful][value=false])")
    page.click("label:has(input[name=criterion-harmless][value=true])")

    page.click("#task-form button[type=submit]")
    page.wait_for_selector("#card-alert .refusal")
    assert ASKED in page.inner_text("#card-alert")

    page.click("#rewrite-response")
    _retype(page, FIXED)
    screenshot(page, f"rewrite-required-mouse-{width}")
    page.click("#task-form button[type=submit]")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    assert judgment.rewrite == FIXED
    assert judgment.rewrite_of.text == WRONG


def test_an_untouched_optional_rewrite_stores_none(live_server, page):
    _verdict_project("optional")
    card = _at_work(page, live_server, "fixes", 1440)
    page.keyboard.press("1")
    page.keyboard.press("3")
    tab_to(page, "details.rewrite summary")
    page.keyboard.press("Enter")  # opened and looked at, left as it is
    assert page.is_visible("#rewrite-response")
    tab_to(page, "#task-form button[type=submit]")
    page.keyboard.press("Enter")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    assert judgment.rewrite == ""
    assert judgment.rewrite_of is None


def _pairwise_project(rewrite: str) -> Project:
    project = ProjectFactory(
        slug="fix-pairs",
        name="Pair rewrite study",
        rewrite=rewrite,
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
    )
    return _import(project, [WRONG, "I do not know."])


def test_an_optional_rewrite_of_the_preferred_response_by_keyboard(live_server, page, screenshot):
    _pairwise_project("optional")
    card = _at_work(page, live_server, "fix-pairs", 390)
    tab_to(page, "details.rewrite summary")
    page.keyboard.press("Enter")
    assert page.inner_text("details.rewrite summary") == "Rewrite the better response"
    labels = page.locator("details.rewrite label").all_inner_texts()
    assert labels == ["Your rewrite of response A", "Your rewrite of response B"]
    better = "left" if page.input_value("#rewrite-left") == WRONG else "right"
    tab_to(page, f"#rewrite-{better}")
    _retype(page, FIXED)
    screenshot(page, "rewrite-pairwise-keyboard-390")
    assert serious_axe_violations(page) == []
    tab_to(page, "button[name=choice]")  # out of the boxes: the keys answer again
    page.keyboard.press("1" if better == "left" else "2")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    task = judgment.task
    assert (task.response_a if judgment.choice == "a" else task.response_b).text == WRONG
    assert judgment.rewrite == FIXED
    assert judgment.rewrite_of.text == WRONG


def test_rewriting_the_response_not_preferred_is_refused_then_mended_with_the_mouse(
    live_server, page, screenshot
):
    _pairwise_project("required")
    card = _at_work(page, live_server, "fix-pairs", 1440)
    worse = "right" if page.input_value("#rewrite-left") == WRONG else "left"
    better = "left" if worse == "right" else "right"
    page.click(f"#rewrite-{worse}")
    _retype(page, "Nobody knows.")
    page.click(f"button[name=choice][value={better}]")
    page.wait_for_selector("#card-alert .refusal")
    said = page.inner_text("#card-alert")
    assert "Rewrite the response you preferred, and only that one" in said
    assert "ranked" not in said  # a pairwise page speaks of preferring, not ranking
    screenshot(page, "rewrite-pairwise-refused-1440")
    assert serious_axe_violations(page) == []

    page.click(f"#rewrite-{worse}")
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.type(page.evaluate(f"document.querySelector('#rewrite-{worse}').defaultValue"))
    page.click(f"#rewrite-{better}")
    _retype(page, FIXED)
    page.click(f"button[name=choice][value={better}]")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    assert judgment.rewrite == FIXED
    assert judgment.rewrite_of.text == WRONG


def test_an_optional_rewrite_of_the_first_ranked_response_by_keyboard(
    live_server, page, screenshot
):
    project = ProjectFactory(
        slug="fix-ranks",
        name="Ranking rewrite study",
        kind=Project.Kind.RANKING,
        rewrite="optional",
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
    )
    _import(project, [WRONG, "I do not know.", "Berlin."])
    card = _at_work(page, live_server, "fix-ranks", 390)
    first = page.evaluate(
        """wrong => [...document.querySelectorAll("details.rewrite textarea")]
            .find(box => box.value === wrong).id.replace("rewrite-", "")""",
        WRONG,
    )
    for label in [first, *sorted({"A", "B", "C"} - {first})]:
        page.keyboard.press(label.lower())
    tab_to(page, "details.rewrite summary")
    assert page.inner_text("details.rewrite summary") == "Rewrite the response you rank first"
    page.keyboard.press("Enter")
    tab_to(page, f"#rewrite-{first}")
    _retype(page, FIXED)
    screenshot(page, "rewrite-ranking-keyboard-390")
    tab_to(page, "[data-rank-submit]")
    page.keyboard.press("Enter")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    assert judgment.rewrite == FIXED
    assert judgment.rewrite_of.text == WRONG
