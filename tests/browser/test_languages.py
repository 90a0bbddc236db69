# ruff: noqa: RUF001 (translations have their own punctuation: typographic apostrophes, full-width marks)
"""The annotator pages in six languages, in a real browser (README
"Annotator pages"): the Arabic page mirrored and axe-clean, every language's task page axe-clean, an
Arabic response right to left inside an English page, the switcher and an htmx swap in the
chosen language. Screenshots go to artifacts/screenshots/i18n-*.png."""

from __future__ import annotations

import pytest

from annotation.models import Judgment, Project
from annotation.services.importing import items_import
from tests.browser.cards import sign_in, wait_armed, wait_for_next_card
from tests.factories import AnnotatorUserFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: The task card's heading in each language.
HEADING = {
    "en": "Which response is better?",
    "fr": "Quelle réponse est la meilleure\u00a0?",
    "es": "¿Qué respuesta es mejor?",
    "de": "Welche Antwort ist besser?",
    "zh-hans": "哪个回答更好？",
    "ar": "أي الردّين أفضل؟",
}
#: The consent page's button and the end card's heading in each language.
AGREE = {
    "en": "I agree, start",
    "fr": "J’accepte, commencer",
    "es": "Acepto, empezar",
    "de": "Ich stimme zu, beginnen",
    "zh-hans": "我同意，开始",
    "ar": "أوافق، ابدأ",
}
THANKS = {
    "en": "Thank you!",
    "fr": "Merci\u00a0!",
    "es": "¡Gracias!",
    "de": "Vielen Dank!",
    "zh-hans": "谢谢！",
    "ar": "شكرًا لك!",
}
ARABIC_ANSWER = "مرحبًا! عاصمة فرنسا هي باريس، وعدد سكانها نحو ٢ مليون نسمة."
HEBREW_ANSWER = "שלום! בירת צרפת היא פריז."


def _serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(node["target"][0] for node in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _project(slug: str, items: int = 2, responses: list[str] | None = None, **fields) -> Project:
    project = ProjectFactory(
        slug=slug,
        name="Préférences · 偏好 · تفضيلات",
        annotations_per_task=1,
        min_seconds_per_task=0,
        arming_ms=0,
        completion_code="CODE-I18N",
        rationale="optional",
        strength_scale=3,
        instructions="Compare the two answers and pick the better one.",
        **fields,
    )
    texts = responses or ["A careful answer.", "A **hasty** answer."]
    rows = [
        {
            "id": f"q{i}",
            "prompt": [
                {"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And how many people live there?"},
            ],
            "responses": [
                {"id": f"r{j}", "model": f"m{j}", "text": text} for j, text in enumerate(texts)
            ],
        }
        for i in range(items)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _to_task(page, base: str, slug: str) -> None:
    """From the consent page (whatever its language) to an armed task card."""
    page.goto(f"{base}/annotate/{slug}/")
    page.click("form[action$='/consent/'] button[type=submit]")
    wait_armed(page)


def _box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def _direction(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).direction")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1440])
def test_the_arabic_task_page_is_mirrored_and_axe_clean(
    live_server, page, screenshot, width, scheme
):
    project = _project("arabic", ui_language="ar")
    AnnotatorUserFactory(username="reader")
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.url, "reader")
    page.goto(f"{live_server.url}/annotate/arabic/")
    assert page.inner_text("main button[type=submit]") == AGREE["ar"]
    assert _serious(page) == []
    screenshot(page, f"i18n-consent-ar-{width}-{scheme}")
    page.click("main button[type=submit]")
    wait_armed(page)

    assert page.get_attribute("html", "lang") == "ar"
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.inner_text("#card-heading") == HEADING["ar"]
    card, a, b = _box(page, "#task-card"), _box(page, "#label-a"), _box(page, "#label-b")
    a_is_better, b_is_better = (
        _box(page, "button[value=left]"),
        _box(page, "button[value=right]"),
    )
    if width == 1440:  # side by side, mirrored: Response A on the right
        assert a["x"] > b["x"] + 200
        assert a_is_better["x"] > b_is_better["x"]
        assert a["x"] + a["width"] > card["x"] + card["width"] * 0.75
    else:  # stacked: A above B, each heading at the right edge
        assert a["y"] < b["y"]
        assert a["x"] + a["width"] > card["x"] + card["width"] * 0.5
    # Headings and labels start at the right; the role of a turn too.
    role = _box(page, ".conversation > .message .role")
    assert role["x"] + role["width"] > card["x"] + card["width"] * 0.75
    assert _serious(page) == []
    screenshot(page, f"i18n-task-ar-{width}-{scheme}")

    # A failure is said in Arabic, in an alert that mirrors too, with its Try again button.
    page.route("**/judgment/", lambda route: route.fulfill(status=500, body="x"), times=1)
    page.check("input[name=strength][value='2']")
    page.keyboard.press("1")  # keys are physical: 1 still votes for A
    page.wait_for_selector("#card-alert button.retry")
    alert, retry = _box(page, "#card-alert"), _box(page, "#card-alert button.retry")
    assert "الخادم" in page.inner_text("#card-alert")
    assert page.inner_text("#card-alert button.retry") == "أعد المحاولة"
    assert _direction(page, "#card-alert") == "rtl"
    assert retry["x"] + retry["width"] > alert["x"] + alert["width"] * 0.6
    assert _serious(page) == []
    screenshot(page, f"i18n-task-ar-alert-{width}-{scheme}")

    first = page.get_attribute("#task-card", "data-assignment")
    page.click("#card-alert button.retry")
    wait_for_next_card(page, first)
    wait_armed(page)
    assert page.inner_text("#card-heading") == HEADING["ar"]  # the swapped card is Arabic too
    page.check("input[name=strength][value='1']")
    page.keyboard.press("2")
    page.wait_for_selector("#task-card.done")
    assert page.inner_text("#card-heading") == THANKS["ar"]
    assert Judgment.objects.filter(project=project).count() == 2
    assert _serious(page) == []
    screenshot(page, f"i18n-done-ar-{width}-{scheme}")


@pytest.mark.parametrize("language", ["en", "fr", "es", "de", "zh-hans", "ar"])
def test_each_languages_pages_are_translated_and_axe_clean(live_server, page, screenshot, language):
    _project("study", items=1, ui_language=language)
    AnnotatorUserFactory(username="reader")
    sign_in(page, live_server.url, "reader")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/annotate/study/")
    assert page.inner_text("main button[type=submit]") == AGREE[language]
    screenshot(page, f"i18n-consent-{language}-390-light")

    page.set_viewport_size({"width": 1440, "height": 900})
    page.click("main button[type=submit]")
    wait_armed(page)
    assert page.get_attribute("html", "lang") == language
    assert page.inner_text("#card-heading") == HEADING[language]
    assert _serious(page) == []
    screenshot(page, f"i18n-task-{language}-1440-light")
    page.emulate_media(color_scheme="dark")
    screenshot(page, f"i18n-task-{language}-1440-dark")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"i18n-task-{language}-390-dark")
    page.emulate_media(color_scheme="light")

    page.keyboard.press("t" if language != "ar" else "3")
    page.wait_for_selector("#task-card.done")
    assert page.inner_text("#card-heading") == THANKS[language]
    screenshot(page, f"i18n-done-{language}-390-light")


def test_an_arabic_or_hebrew_response_reads_right_to_left_in_an_english_page(
    live_server, page, screenshot
):
    _project("mixed", responses=[ARABIC_ANSWER, HEBREW_ANSWER + "\n\nAn English line after."])
    AnnotatorUserFactory(username="reader")
    sign_in(page, live_server.url, "reader")
    _to_task(page, live_server.url, "mixed")

    assert page.get_attribute("html", "dir") == "ltr"
    assert page.get_attribute("[aria-labelledby=label-a]", "dir") == "auto"
    assert _direction(page, "[aria-labelledby=label-a]") == "rtl"
    assert _direction(page, "[aria-labelledby=label-b]") == "rtl"
    assert _direction(page, ".conversation .markdown") == "ltr"  # the English prompt
    assert _direction(page, "#card-heading") == "ltr"
    # The Arabic line starts at the right edge of its box and ends short of the left one.
    box = _box(page, "[aria-labelledby=label-a] p")
    left, right = page.evaluate(
        "() => { const p = document.querySelector('[aria-labelledby=label-a] p');"
        " const r = document.createRange(); r.selectNodeContents(p);"
        " const rects = [...r.getClientRects()];"
        " return [Math.min(...rects.map(x => x.left)), Math.max(...rects.map(x => x.right))]; }"
    )
    assert right > box["x"] + box["width"] - 2
    assert left > box["x"] + 20
    # Each paragraph finds its own direction: the English line after the Hebrew one reads
    # left to right, its full stop on the right.
    english = page.locator(".response p", has_text="An English line after.")
    assert english.evaluate("p => getComputedStyle(p).unicodeBidi") == "plaintext"
    line = english.bounding_box()
    response = page.locator(
        ".response .markdown", has=page.locator("p", has_text="An English line after.")
    ).bounding_box()
    assert line["x"] < response["x"] + 20
    start, end = english.evaluate(
        "p => [0, p.textContent.length - 1].map(i => { const r = document.createRange();"
        " r.setStart(p.firstChild, i); r.setEnd(p.firstChild, i + 1);"
        " return r.getBoundingClientRect().left; })"
    )
    assert end > start  # the full stop is right of the "A"
    assert _serious(page) == []
    screenshot(page, "i18n-task-mixed-1440-light")


def test_a_content_language_marks_the_prompt_and_responses(live_server, page):
    _project("hebrew", content_language="he", responses=[HEBREW_ANSWER, HEBREW_ANSWER])
    AnnotatorUserFactory(username="reader")
    sign_in(page, live_server.url, "reader")
    _to_task(page, live_server.url, "hebrew")

    for selector in (".conversation .markdown", "[aria-labelledby=label-a]"):
        assert page.get_attribute(selector, "lang") == "he"
        assert _direction(page, selector) == "rtl"
    assert _direction(page, "#label-a") == "ltr"  # our own heading follows the page


def test_the_switcher_changes_the_language_and_the_next_card_keeps_it(live_server, page):
    project = _project("switch", items=3)
    AnnotatorUserFactory(username="reader")
    sign_in(page, live_server.url, "reader")
    _to_task(page, live_server.url, "switch")
    assert page.inner_text("#card-heading") == HEADING["en"]

    page.select_option("#language-select", "de")
    page.click(".language-switch button")
    page.wait_for_url(f"{live_server.url}/annotate/switch/task/")
    first = wait_armed(page)
    assert page.get_attribute("html", "lang") == "de"
    assert page.inner_text("#card-heading") == HEADING["de"]

    page.check("input[name=strength][value='3']")
    page.keyboard.press("1")
    wait_for_next_card(page, first)
    assert page.inner_text("#card-heading") == HEADING["de"]
    assert page.inner_text("button[value=left]").startswith("A ist besser")
    assert Judgment.objects.filter(project=project).count() == 1
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
