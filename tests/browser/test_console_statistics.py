"""The project page's statistics in a real browser: on the embedded default (no
worker) a researcher made with create_researcher opens a voted project and sees agreement and
the leaderboard, computed when the page asked for them, without touching the API."""

from __future__ import annotations

import pytest

from annotation.models import AgreementReport
from annotation.services.researchers import researcher_create
from tests.annotation.console.test_consistency import VOTES, vote
from tests.annotation.console.test_quality import FIGURES, add_annotators
from tests.annotation.console.test_statistics import vote_on
from tests.factories import ProjectFactory, import_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def sign_in(page, base: str) -> None:
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")


def test_researcher_opens_a_voted_project_and_sees_agreement_and_leaderboard(
    live_server, page, screenshot
):
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(owner=lead, slug="stats", name="Statistics study")
    vote_on(project, 8, 3)
    assert not AgreementReport.objects.filter(project=project).exists()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))

    base = live_server.url
    sign_in(page, base)
    page.goto(f"{base}/admin/annotation/project/{project.pk}/change/")
    page.wait_for_selector("table.statistics-agreement")

    block = page.inner_text(".statistics-block")
    assert "krippendorff alpha" in block.lower() and "over 24 judgments" in block
    assert page.locator("svg[aria-label='Leaderboard with 95% intervals']").count() == 1
    styled = "svg[aria-label='Style-controlled leaderboard with 95% intervals']"
    page.wait_for_selector(styled)
    assert page.locator(styled).count() == 1
    assert not [url for url in asked if "/api/" in url]
    screenshot(page, "console-statistics")
    shown = screenshot(page, "console-statistics-block")  # the block alone, to read it
    page.locator(".statistics-block").screenshot(path=str(shown))

    page.click("text=Refresh statistics")
    page.wait_for_selector("text=Statistics recomputed over 24 judgments.")
    assert AgreementReport.objects.filter(project=project, failed=False).count() == 2


def test_researcher_follows_the_block_to_the_consistency_details(live_server, page, screenshot):
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(owner=lead, slug="cons", name="Consistency study", allow_tie=True)
    import_items(project, 3, responses=3)
    vote(project, VOTES)

    base = live_server.url
    sign_in(page, base)
    page.goto(f"{base}/admin/annotation/project/{project.pk}/change/")
    page.click("text=Consistency details")
    page.wait_for_selector("table.consistency-annotators")

    assert page.locator("table.consistency-items a").all_inner_texts() == ["q0", "q1"]
    rows = page.locator("table.consistency-annotators tbody tr").all_inner_texts()
    assert [row.split("\t")[1:] for row in rows] == [
        ["1", "0", "1", "0 of 0"],
        ["0", "1", "1", "0 of 0"],
    ]
    screenshot(page, "console-consistency")
    page.click("text=q0")
    page.wait_for_selector("text=Change item")


def test_researcher_sees_the_instructions_preview_while_typing(live_server, page, screenshot):
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(owner=lead, slug="words", instructions="Be **kind**.")

    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/change/")
    page.wait_for_selector("#instructions-preview strong")  # the saved text, on opening
    assert page.inner_text("#instructions-preview strong") == "kind"
    box = page.locator("#id_instructions")
    box.fill("")
    box.type("# Task\n\nPick the *more helpful* answer:\n\n- be fair\n- be quick", delay=5)
    page.wait_for_selector("#instructions-preview h1")

    assert page.inner_text("#instructions-preview em") == "more helpful"
    assert page.locator("#instructions-preview li").count() == 2
    page.locator(".instructions-editor").scroll_into_view_if_needed()
    screenshot(page, "console-instructions-preview")
    shown = screenshot(page, "console-instructions-preview-box")
    page.locator(".instructions-editor").screenshot(path=str(shown))


def test_the_annotator_quality_table_fits_1440_px_sorts_and_shows_chosen_columns(
    live_server, page, screenshot
):
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(owner=lead, slug="quality", name="Quality study")
    add_annotators(
        project, [*FIGURES, *((f"worker-{i:02d}", i, (i % 4, 4), 3.5) for i in range(12))]
    )
    add_annotators(project, [("a-very-long-crowd-worker-identifier-" + "x" * 40, 1, (0, 0), 1.0)])

    sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/change/")
    page.wait_for_selector("table.quality-table")
    first = page.locator(".quality-annotator").first.inner_text()
    assert first == "bob"
    page.click("table.quality-table >> text=mean seconds")
    page.wait_for_selector("th[aria-sort='descending'] >> text=mean seconds")
    assert page.locator(".quality-annotator").first.inner_text() == "cat"
    page.check(".quality-columns input[value=qualified]")
    page.wait_for_selector("th.quality-qualified")
    page.uncheck(".quality-columns input[value=flags]")
    page.wait_for_selector("th.quality-flags", state="detached")

    right = page.evaluate(
        "document.querySelector('table.quality-table').getBoundingClientRect().right"
    )
    assert right <= 1440
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    screenshot(page, "console-quality")
    shown = screenshot(page, "console-quality-block")
    page.locator("div.quality").screenshot(path=str(shown))
