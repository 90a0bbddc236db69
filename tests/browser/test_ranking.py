"""The ranking task page in a real browser (README "Ranking tasks"): an annotator ranks four
responses by keyboard only (letters, then Alt+arrows on a placed response to reorder) and with
the mouse, at 390 and 1440 px; ties with "=" and the rows' tie switches; the page is axe-clean,
mirrored in Arabic and names no model. Screenshots go to artifacts/screenshots/ranking-*.png."""

from __future__ import annotations

import pytest

from annotation.models import Judgment, Project
from annotation.services.importing import items_import
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

TEXTS = [
    "Paris is the capital of France.",
    "The capital is **Lyon**.",
    "France's capital city is Paris, on the Seine.",
    "I am not sure.",
]


def _project(slug: str = "ranks", **fields) -> Project:
    project = ProjectFactory(
        slug=slug,
        name="Ranking study",
        kind=Project.Kind.RANKING,
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
        instructions="Rank the answers, best first.",
        **{"allow_tie": False, **fields},
    )
    rows = [
        {
            "id": f"q{i}",
            "prompt": "What is the capital of France?",
            "responses": [
                {"id": f"r{j}", "model": f"secret-model-{j}", "text": text}
                for j, text in enumerate(TEXTS)
            ],
        }
        for i in range(2)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _at_work(page, live_server, project: Project, width: int) -> str:
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    AnnotatorUserFactory(username="ranker")
    sign_in(page, live_server.url, "ranker")
    page.goto(f"{live_server.url}/annotate/{project.slug}/")
    page.click("form[action$='/consent/'] button[type=submit]")
    return wait_armed(page)


def _stored(assignment: str) -> tuple[list[list[int]], dict[str, int]]:
    """The stored ranking, and the response id behind each screen label."""
    judgment = Judgment.objects.get(assignment_id=int(assignment))
    return judgment.ranking, dict(zip("ABCD", judgment.shown_order, strict=True))


def _status(page) -> str:
    """The live region's words, without the isolates around each response's letter."""
    return page.inner_text("[data-ranking-status]").replace("\u2068", "").replace("\u2069", "")


@pytest.mark.parametrize("width", [390, 1440])
def test_ranking_by_keyboard_only(live_server, page, screenshot, width):
    project = _project()
    card = _at_work(page, live_server, project, width)
    assert not page.is_visible("select[name=rank-A]")  # the script's ranker replaces them
    assert page.is_disabled("[data-rank-submit]")
    assert "Nothing placed yet" in _status(page)

    for key in ("c", "a", "b"):
        page.keyboard.press(key)
    assert _status(page).startswith("Your ranking, best first: C, then A, then B.")
    assert "Still to place: D." in _status(page)
    page.keyboard.press("Backspace")  # takes B back
    page.keyboard.press("d")
    page.keyboard.press("b")
    assert "Every response is placed" in _status(page)
    assert page.is_enabled("[data-rank-submit]")
    places = page.locator("[data-ranking-list] .ranking-place").all_inner_texts()
    assert places == ["1", "2", "3", "4"]
    assert page.locator("[data-ranking-list] .rank-chip").all_inner_texts() == list("CADB")
    screenshot(page, f"ranking-keyboard-{width}")
    assert serious_axe_violations(page) == []

    page.keyboard.press("Enter")
    wait_for_next_card(page, card)

    ranking, shown = _stored(card)
    assert ranking == [[shown["C"]], [shown["A"]], [shown["D"]], [shown["B"]]]
    assert "secret-model" not in page.content()


def _placed(page) -> list[str]:
    return page.locator("[data-ranking-list] .rank-chip").all_inner_texts()


def _focused_row(page) -> str | None:
    return page.evaluate("document.activeElement.getAttribute('data-rank-move')")


@pytest.mark.parametrize("width", [390, 1440])
def test_reordering_placed_responses_with_alt_and_the_arrow_keys(
    live_server, page, screenshot, width
):
    project = _project()
    sources = record_sources(page)
    card = _at_work(page, live_server, project, width)
    for key in ("c", "a", "d", "b"):
        page.keyboard.press(key)
    tab_to(page, "[data-rank-move=C]")  # the first placed response, reached with Tab
    assert page.is_visible("#rank-move-help")

    page.keyboard.press("ArrowDown")  # focus goes to the next one, nothing moves
    assert _focused_row(page) == "A"
    assert _placed(page) == list("CADB")
    page.keyboard.press("Alt+ArrowDown")
    assert _placed(page) == list("CDAB")
    assert _focused_row(page) == "A"  # focus stays on the response moved
    assert _status(page).startswith("Moved A to place 3 of 4. Your ranking, best first: C, then D")
    page.keyboard.press("Alt+ArrowUp")
    page.keyboard.press("Alt+ArrowUp")
    assert _placed(page) == list("ACDB")
    page.keyboard.press("Alt+ArrowUp")
    assert _status(page) == "A is already first."
    for _ in range(3):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Alt+ArrowDown")
    assert _status(page) == "B is already last."
    page.keyboard.press("Alt+ArrowUp")
    assert _placed(page) == list("ACBD")
    assert page.get_attribute("[data-rank-move=B]", "aria-label") == "B, place 3"
    assert page.locator("[data-ranking-list] .ranking-place").all_inner_texts() == list("1234")
    screenshot(page, f"ranking-reorder-{width}")
    assert serious_axe_violations(page) == []

    tab_to(page, "[data-rank-submit]")
    page.keyboard.press("Enter")
    wait_for_next_card(page, card)
    ranking, shown = _stored(card)
    assert ranking == [[shown[label]] for label in "ACBD"]
    assert sources and not any("secret-model" in source for source in sources)


def test_a_tied_response_moved_by_keyboard_leaves_its_tie(live_server, page, screenshot):
    project = _project(allow_tie=True)
    card = _at_work(page, live_server, project, 1440)
    for key in ("c", "a", "d", "b"):
        page.keyboard.press(key)
    tab_to(page, "[data-rank-row=D] [data-rank-row-tie]")
    page.keyboard.press("Space")  # D tied with A above it
    assert "C, then A tied with D, then B." in _status(page)

    page.keyboard.press("Shift+Tab")  # back to D itself
    assert _focused_row(page) == "D"
    page.keyboard.press("Alt+ArrowUp")
    assert _placed(page) == list("CDAB")
    assert _status(page).startswith("Moved D to place 2 of 4.")
    assert "C, then D, then A, then B." in _status(page)
    tab_to(page, "[data-rank-row=B] [data-rank-row-tie]")
    page.keyboard.press("Space")  # B tied with A
    assert "C, then D, then A tied with B." in _status(page)
    screenshot(page, "ranking-reorder-tie-1440")

    tab_to(page, "[data-rank-move]", backwards=True)
    page.keyboard.press("Enter")  # on a placed response, Enter submits as elsewhere
    wait_for_next_card(page, card)
    ranking, shown = _stored(card)
    assert ranking == [[shown["C"]], [shown["D"]], sorted([shown["A"], shown["B"]])]


def test_ties_by_keyboard_with_the_equals_key(live_server, page, screenshot):
    project = _project(allow_tie=True)
    card = _at_work(page, live_server, project, 1440)

    for key in ("c", "a", "=", "d", "b"):
        page.keyboard.press(key)

    assert "C, then A tied with D, then B." in _status(page)
    screenshot(page, "ranking-tie-1440")
    page.keyboard.press("Enter")
    wait_for_next_card(page, card)
    ranking, shown = _stored(card)
    assert ranking == [[shown["C"]], sorted([shown["A"], shown["D"]]), [shown["B"]]]


def _drag(page, source: str, target: str, *, above: bool = False) -> None:
    """Drag with the mouse from one element's centre onto another (its upper or lower
    part). The ranker is scrolled into view first: the mouse reaches only what is on screen."""
    page.locator("[data-ranker]").scroll_into_view_if_needed()
    start = page.locator(source).bounding_box()
    end = page.locator(target).bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    x = end["x"] + end["width"] / 2
    y = end["y"] + end["height"] * (0.2 if above else 0.8)
    page.mouse.move(x, y, steps=8)
    page.mouse.up()


@pytest.mark.parametrize("width", [390, 1440])
def test_ranking_with_the_mouse(live_server, page, screenshot, width):
    project = _project(allow_tie=True)
    sources = record_sources(page)
    card = _at_work(page, live_server, project, width)

    _drag(page, "[data-rank-chip=B]", "[data-ranking-list]")
    _drag(page, "[data-rank-chip=D]", "[data-rank-row=B]", above=True)  # D above B
    page.click("[data-rank-chip=A]")  # a click places it last
    _drag(page, "[data-rank-chip=C]", "[data-rank-row=D]")  # C below D
    assert page.locator("[data-ranking-list] .rank-chip").all_inner_texts() == list("DCBA")
    _drag(page, "[data-rank-row=A] .rank-chip", "[data-rank-row=D]", above=True)  # A first
    page.click("[data-rank-row=B] [data-rank-row-tie]")  # B tied with C above it
    assert "A, then D, then C tied with B." in _status(page)
    screenshot(page, f"ranking-mouse-{width}")
    assert serious_axe_violations(page) == []

    page.click("[data-rank-submit]")
    wait_for_next_card(page, card)
    ranking, shown = _stored(card)
    assert ranking == [[shown["A"]], [shown["D"]], sorted([shown["B"], shown["C"]])]
    assert sources and not any("secret-model" in source for source in sources)


def test_a_response_dragged_back_to_the_tray_is_no_longer_placed(live_server, page):
    project = _project()
    _at_work(page, live_server, project, 1440)
    page.keyboard.press("a")
    page.keyboard.press("b")

    _drag(page, "[data-rank-row=A] .rank-chip", "[data-ranking-tray]")

    assert "Your ranking, best first: B." in _status(page)
    assert page.is_visible("[data-rank-chip=A]")
    assert page.is_disabled("[data-rank-submit]")


@pytest.mark.parametrize("width", [390, 1440])
def test_the_arabic_ranking_page_is_mirrored_and_axe_clean(live_server, page, screenshot, width):
    project = _project(slug="ranks-ar", ui_language="ar", allow_tie=True)
    _at_work(page, live_server, project, width)
    page.keyboard.press("b")
    page.keyboard.press("a")

    assert page.get_attribute("html", "dir") == "rtl"
    # Each letter isolated, joined by the Arabic comma: "B، ثم A" reads right to left.
    said = page.inner_text("[data-ranking-status]")
    assert "\u2068B\u2069\u060c \u062b\u0645 \u2068A\u2069" in said
    tray = page.locator("[data-ranking-tray]").bounding_box()
    first = page.locator("[data-rank-chip=C]").bounding_box()
    assert first["x"] + first["width"] > tray["x"] + tray["width"] - 60  # starts on the right
    screenshot(page, f"ranking-ar-{width}")
    assert serious_axe_violations(page) == []
