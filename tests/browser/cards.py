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
