"""Span marking in a real browser (README "Span-level feedback"): an annotator marks passages
of a response by keyboard only (Tab to the response, Shift+arrows, a label's key or button, a
note, Remove) and with the mouse (a drag, a label button, a note, Remove), at 390 and 1440 px,
on a rubric page and a ranking page; offsets arrive in code points past an emoji; the pages are
axe-clean and name no model. Screenshots go to artifacts/screenshots/spans-*.png."""

from __future__ import annotations

import pytest

from annotation.models import Judgment, Project
from annotation.presets import FACTUALITY_SPANS
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


ISOLATE = "\u2068{}\u2069"  # first-strong isolate ... pop: quoted text keeps its direction


def _status(page) -> str:
    """The live region's words, without the isolates around quoted text."""
    return page.inner_text("[data-span-status]").replace("\u2068", "").replace("\u2069", "")


@pytest.mark.parametrize("width", [390, 1440])
def test_marking_spans_by_keyboard_only_with_a_note_and_removing_one(
    live_server, page, screenshot, width
):
    sources = record_sources(page)
    card = _at_work(page, live_server, _project(), width)
    assert page.inner_text("[data-span-empty]") == "No marks yet."
    tab_to(page, "[data-span-target=response]")

    page.keyboard.press("Home")
    for _ in range(TEXT.index("日本")):  # one press per character, the emoji too
        page.keyboard.press("ArrowRight")
    assert _before_the_caret(page) == TEXT[: TEXT.index("日本")]  # a bar shows where it is
    screenshot(page, f"spans-caret-{width}")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    assert "“日本” (2 characters)" in _status(page)
    tab_to(page, "[data-span-note]")  # past the label buttons
    assert page.locator(".span-caret").count() == 0  # only in the focused response
    page.keyboard.type("It is in France.")
    tab_to(page, "[data-span-label=factual_error]", backwards=True)
    page.keyboard.press("Enter")  # the label's button
    assert "Marked “日本” in Response as Factual error." in _status(page)
    assert page.inner_text("mark.span-mark") == "日本"
    assert not page.is_visible("[data-span-empty]")

    tab_to(page, "[data-span-target=response]", backwards=True)
    page.keyboard.press("End")
    for _ in range(len("1889.")):
        page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("i")  # Irrelevant, by its key
    items = page.locator("[data-span-list] li").all_inner_texts()
    assert [item.split(" Remove")[0] for item in items] == [
        "Factual error · Response: “日本” — It is in France.",
        "Irrelevant · Response: “1889.”",
    ]
    screenshot(page, f"spans-keyboard-{width}")
    assert serious_axe_violations(page) == []

    tab_to(page, "[data-span-list] li:last-child button")
    page.keyboard.press("Enter")  # takes 1889 back
    assert page.locator("[data-span-list] li").count() == 1
    assert "Removed the mark on “1889.”" in _status(page)
    screenshot(page, f"spans-keyboard-removed-{width}")
    tab_to(page, "#task-form button[type=submit]")
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
    assert sources and not any("secret-model" in source for source in sources)


def _before_the_caret(page) -> str:
    """The response's text before the caret bar the keyboard's focus shows."""
    return page.evaluate(
        """() => {
            const bars = document.querySelectorAll(".span-caret");
            if (bars.length !== 1) return null;
            const range = document.createRange();
            range.selectNodeContents(bars[0].closest("[data-span-target]"));
            range.setEndBefore(bars[0]);
            return range.toString();
        }"""
    )


def _select_with_the_mouse(page, text: str, target: str = "response") -> None:
    """Drag across `text` in a response: from its first character to its last."""
    box = page.evaluate(
        """([wanted, target]) => {
            const element = document.querySelector(`[data-span-target=${target}]`);
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
        [text, target],
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
    assert page.locator(".span-caret").count() == 0  # the keyboard's caret, not the mouse's
    page.click("[data-span-label=irrelevant]")
    _select_with_the_mouse(page, "tower 🗼")
    page.click("[data-span-note]")
    page.keyboard.type("Not a tower.")
    page.click("[data-span-label=unsafe]")
    assert page.locator("[data-span-list] li").count() == 2
    page.click("[data-span-list] li:first-child button")  # takes 1889 back
    assert page.locator("[data-span-list] li").count() == 1
    assert "Removed the mark on “1889”" in _status(page)
    screenshot(page, f"spans-mouse-{width}")
    assert serious_axe_violations(page) == []

    page.click("#task-form button[type=submit]")
    wait_for_next_card(page, card)

    (span,) = _spans(card)
    assert TEXT[span["start"] : span["end"]] == "tower 🗼"
    assert span["label"] == "unsafe"
    assert span["note"] == "Not a tower."


def test_the_arabic_span_page_is_mirrored_and_axe_clean(live_server, page, screenshot):
    _at_work(page, live_server, _project(slug="facts-ar", ui_language="ar"), 390)
    page.locator("[data-span-target=response]").focus()
    page.keyboard.press("Home")
    page.keyboard.press("Shift+End")

    assert page.get_attribute("html", "dir") == "rtl"
    assert page.locator("mark.span-pending").count() == 1
    # The English response quoted in the Arabic message is isolated, so it reads in order.
    assert ISOLATE.format(TEXT) in page.inner_text("[data-span-status]")
    screenshot(page, "spans-ar-390")
    assert serious_axe_violations(page) == []


def test_marking_a_span_in_one_response_of_a_ranking_by_keyboard(live_server, page, screenshot):
    project = project_create(
        owner=None,
        preset="ranking-4",
        criteria=[dict(criterion) for criterion in FACTUALITY_SPANS],
        slug="ranked-facts",
        name="Ranked span study",
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
    )
    texts = [TEXT, "It stands in Paris since 1889."]
    rows = [
        {
            "id": "q0",
            "prompt": "Where is the Eiffel tower?",
            "responses": [
                {"id": f"r{j}", "model": f"secret-model-{j}", "text": text}
                for j, text in enumerate(texts)
            ],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    sources = record_sources(page)
    card = _at_work(page, live_server, project, 1440)
    wrong = page.evaluate(
        """text => [...document.querySelectorAll("[data-span-target]")]
            .find(element => element.textContent === text).dataset.spanTarget""",
        TEXT,
    )
    tab_to(page, f"[data-span-target={wrong}]")
    page.keyboard.press("Home")
    for _ in range(TEXT.index("日本")):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("f")
    assert f"Marked “日本” in Response {wrong} as Factual error." in _status(page)
    right = "A" if wrong == "B" else "B"
    for key in (right, wrong):
        page.keyboard.press(key.lower())
    screenshot(page, "spans-ranking-1440")
    assert serious_axe_violations(page) == []
    tab_to(page, "[data-rank-submit]")
    page.keyboard.press("Enter")
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    (span,) = judgment.spans
    assert judgment.task.item.responses.get(pk=span["response"]).text == TEXT
    assert (span["start"], span["end"], span["label"]) == (
        TEXT.index("日本"),
        TEXT.index("日本") + 2,
        "factual_error",
    )
    assert sources and not any("secret-model" in source for source in sources)


def test_marking_a_span_in_the_better_response_of_a_pair_with_the_mouse(
    live_server, page, screenshot
):
    project = project_create(
        owner=None,
        kind="pairwise",
        criteria=[dict(criterion) for criterion in FACTUALITY_SPANS],
        slug="paired-facts",
        name="Paired span study",
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
        gold_rate=0,
    )
    rows = [
        {
            "id": "q0",
            "prompt": "Where is the Eiffel tower?",
            "responses": [
                {"id": "r0", "model": "secret-model-0", "text": TEXT},
                {"id": "r1", "model": "secret-model-1", "text": "In Paris, since 1889."},
            ],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    sources = record_sources(page)
    card = _at_work(page, live_server, project, 390)
    side = page.evaluate(
        """text => [...document.querySelectorAll("[data-span-target]")]
            .find(element => element.textContent === text).dataset.spanTarget""",
        TEXT,
    )
    page.locator(f"[data-span-target={side}]").scroll_into_view_if_needed()
    _select_with_the_mouse(page, "日本", target=side)
    page.click("[data-span-label=factual_error]")
    assert page.locator("[data-span-list] li").count() == 1
    screenshot(page, "spans-pairwise-390")
    assert serious_axe_violations(page) == []
    page.click("button[name=choice][value=%s]" % ("right" if side == "left" else "left"))
    wait_for_next_card(page, card)

    judgment = Judgment.objects.get(assignment_id=int(card))
    (span,) = judgment.spans
    assert judgment.task.item.responses.get(pk=span["response"]).text == TEXT
    assert TEXT[span["start"] : span["end"]] == "日本"
    assert sources and not any("secret-model" in source for source in sources)


def _marks(page) -> list[dict]:
    """Each highlight in the response: its text, the label name opening it (CSS ::before,
    empty when none), its title, and its colours and underline style in the scheme shown."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll("[data-span-target] mark")).map((m) => {
            const style = getComputedStyle(m), before = getComputedStyle(m, "::before");
            return {
                text: m.textContent,
                opens: before.content === "none" ? "" : JSON.parse(before.content),
                title: m.title,
                color: style.color,
                background: style.backgroundColor,
                underline: style.textDecorationStyle + " " + style.textDecorationLine,
            };
        })"""
    )


def _contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two rgb() colours."""

    def luminance(color: str) -> float:
        channels = [int(v) / 255 for v in color[color.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _read_aloud(page) -> str:
    """The response region's text as Chromium's accessibility tree gives it to screen
    readers (its static texts, CSS generated content included)."""
    session = page.context.new_cdp_session(page)
    nodes = session.send("Accessibility.getFullAXTree")["nodes"]
    by_id = {node["nodeId"]: node for node in nodes}
    (region,) = [
        n for n in nodes if n.get("role", {}).get("value") == "region"
        and n.get("name", {}).get("value") == "Response"
    ]  # fmt: skip
    words: list[str] = []

    def walk(node: dict) -> None:
        if node.get("role", {}).get("value") == "StaticText":
            words.append(node.get("name", {}).get("value", ""))
        for child in node.get("childIds", []):
            if child in by_id:
                walk(by_id[child])

    walk(region)
    return "".join(words)


def test_each_highlight_shows_and_says_its_label_in_a_style_of_its_own(
    live_server, page, screenshot
):
    card = _at_work(page, live_server, _project(), 1440)
    page.locator("[data-span-target=response]").scroll_into_view_if_needed()
    _select_with_the_mouse(page, "1889")  # the later passage first: the helper drags
    page.click("[data-span-label=irrelevant]")  # within the first piece of the text
    _select_with_the_mouse(page, "日本")
    page.click("[data-span-label=factual_error]")

    marked = {m["text"]: m for m in _marks(page)}
    assert set(marked) == {"日本", "1889"}
    error, off_point = marked["日本"], marked["1889"]
    assert (error["opens"], error["title"]) == ("Factual error", "Factual error")
    assert (off_point["opens"], off_point["title"]) == ("Irrelevant", "Irrelevant")
    assert error["underline"] != off_point["underline"]  # not told apart by colour alone
    said = _read_aloud(page)
    assert "Factual error日本" in said and "Irrelevant1889" in said  # the label, then its text
    assert page.inner_text("[data-span-target=response]") == TEXT  # the text is unchanged
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for mark in _marks(page):
            assert _contrast(mark["color"], mark["background"]) >= 7, (scheme, mark)
        assert error["background"] != off_point["background"]
        screenshot(page, f"spans-labelled-{scheme}")
        assert serious_axe_violations(page) == []
    page.emulate_media(color_scheme="light")

    page.click("#task-form button[type=submit]")
    wait_for_next_card(page, card)
    assert sorted(span["label"] for span in _spans(card)) == ["factual_error", "irrelevant"]
