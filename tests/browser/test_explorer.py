"""The data explorer in a real browser: a researcher made with create_researcher
finds an item by a word of its prompt and sees every vote on it, with the side it was on."""

from __future__ import annotations

import pytest

from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.researchers import researcher_create
from tests.factories import ProjectFactory, make_annotator, picked_judgments

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
TOPICS = ("photosynthesis", "volcanoes", "tides", "glaciers", "comets", "rainbows")


def _study() -> tuple[object, str]:
    """Six items with imported votes (q1 split), and one vote given on the annotator page
    (which records the side each response was on); returns the project and that vote's
    item."""
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(owner=lead, slug="explore", name="Explorer study", allow_tie=True)
    items = [
        {
            "id": f"q{i}",
            "prompt": f"Explain **{topic}** to a ten-year-old.",
            "metadata": {"source": "hh" if i % 2 else "shp"},
            "responses": [
                {"id": "r1", "model": "alpha", "text": f"{topic.title()}: a *short* answer."},
                {"id": "r2", "model": "beta", "text": f"- one\n- two\n- {topic}"},
            ],
        }
        for i, topic in enumerate(TOPICS)
    ]
    items_import(project=project, rows=list(enumerate(items, 1)))
    picks = {"q0": "aab", "q1": "abt", "q2": "bbb", "q3": "ab", "q4": "a", "q5": "tt"}
    picked_judgments(project, picks)
    annotator = make_annotator()
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice="right", seconds=7.0)
    return project, assignment.task.item.external_id


def test_researcher_finds_an_item_by_search_and_sees_its_votes(live_server, page, screenshot):
    project, page_voted = _study()
    base = live_server.url
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{base}/admin/annotation/project/{project.pk}/change/")
    page.click("text=Data explorer")
    assert page.locator("#explorer-results tbody tr").count() == 6
    screenshot(page, "explorer-1440")

    page.fill("#id_q", "volcanoes")
    page.check("#id_split")  # q1's votes split whatever the page vote was
    page.click("button:has-text('Search')")
    page.wait_for_url("**q=volcanoes**")
    rows = page.locator("#explorer-results tbody tr")
    assert rows.count() == 1
    assert "split" in rows.first.inner_text()
    screenshot(page, "explorer-search-1440")
    # Nothing of the table runs off the page at 1440 px.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440

    page.click("#explorer-results a:has-text('q1')")
    page.wait_for_selector(".explorer-judgments")
    assert page.locator(".explorer-item strong", has_text="volcanoes").count() == 1
    votes = page.inner_text(".explorer-judgments")
    assert all(f"Reason {k} on q1." in votes for k in range(3))
    screenshot(page, "explorer-item-q1-1440")
    assert page.locator("[data-judgment]").count() == (4 if page_voted == "q1" else 3)
    assert "alpha" in page.inner_text(".explorer-task h2")

    # The vote given on the annotator page says which side the annotator clicked.
    topic = TOPICS[int(page_voted[1:])]
    page.goto(f"{base}/admin/annotation/project/{project.pk}/explorer/?q={topic}")
    page.click(f"#explorer-results a:has-text('{page_voted}')")
    page.wait_for_selector(".explorer-judgments")
    assert "B (right)" in page.inner_text(".explorer-judgments")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    screenshot(page, "explorer-item-1440")
