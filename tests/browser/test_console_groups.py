"""The console's groups page in a real browser: a researcher picks a survey question by
keyboard and sees each group's leaderboard and agreement side by side (opposite orders in the
issue's simulation), the small group nowhere, the page axe-clean."""

from __future__ import annotations

import pytest

from annotation.services.researchers import researcher_create
from tests.api.test_group_figures import plural_project
from tests.browser.cards import serious_axe_violations
from tests.browser.test_console_statistics import PASSWORD, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("cache_cleared"),
]


def test_researcher_compares_the_groups_side_by_side(live_server, page, screenshot):
    lead = researcher_create(username="lead", password=PASSWORD)
    project = plural_project(lead, westerners=2)
    base = live_server.url
    sign_in(page, base)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{base}/admin/annotation/project/{project.pk}/groups/")
    assert "Your religion" not in page.content()  # sensitive: not in the default view
    page.focus("#groups-by")
    page.keyboard.press("ArrowDown")  # the first question: region
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("svg[aria-label='Leaderboard of south with 95% intervals']")

    figures = page.inner_text(".group-figures")
    assert "Rating of north minus rating of south" in figures
    assert "east" not in page.content() and "west" not in page.content()
    assert serious_axe_violations(page) == []
    screenshot(page, "console-groups")
    shot = screenshot(page, "console-groups-figures")  # the figures alone, to read them
    page.locator(".group-figures").screenshot(path=str(shot))
