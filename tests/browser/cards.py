"""Helpers for driving the task card in the browser tests."""

from __future__ import annotations


def wait_armed(page) -> str:
    """Wait until the card on screen takes a choice (it has been shown for the project's
    arming_ms); answers its assignment id."""
    page.wait_for_selector("#task-card[data-armed]")
    return page.get_attribute("#task-card", "data-assignment")


def wait_for_next_card(page, previous: str | None) -> None:
    page.wait_for_function(
        "prev => { const c = document.querySelector('#task-card');"
        " return c && c.dataset.assignment !== prev; }",
        arg=previous,
    )


def answer_by_key(page, key: str) -> None:
    """Press a key once the card is armed, and wait for the next card."""
    previous = wait_armed(page)
    page.keyboard.press(key)
    wait_for_next_card(page, previous)


def shoot(page, screenshot, name: str) -> None:
    """Screenshots of the page as it is now at 390 and 1440 px wide, light and dark:
    artifacts/screenshots/{name}-{width}-{scheme}.png. Leaves the page light, at the
    width it had."""
    size = page.viewport_size
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (390, 1440):
            page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
            screenshot(page, f"{name}-{width}-{scheme}")
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(size)


def sign_in(page, base: str, username: str) -> None:
    """Sign in a user made by the factories (password "pw")."""
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/annotate/")


def start(page, base: str, slug: str) -> None:
    """From the project's start page (consent) to its first task card."""
    page.goto(f"{base}/annotate/{slug}/")
    page.click("text=I agree, start")
    page.wait_for_selector("#task-card")


def serious_axe_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def record_sources(page) -> list[str]:
    """Collect the text of every page and htmx answer the server sends this page from now on
    (what the annotator's browser receives, before any script runs): for blindness checks."""
    sources: list[str] = []

    def on_response(response) -> None:
        if response.request.resource_type in ("document", "xhr", "fetch") and (
            response.status < 300 or response.status >= 400
        ):
            sources.append(response.text())

    page.on("response", on_response)
    return sources


def tab_to(page, selector: str, *, backwards: bool = False, presses: int = 60) -> None:
    """Press Tab (Shift+Tab backwards) until the element focused matches `selector`: how a
    keyboard user gets there."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(presses):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{presses} presses of {key} never reached {selector}")
