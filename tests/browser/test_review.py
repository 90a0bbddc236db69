"""The review queue in a real browser: a researcher made with create_researcher
adjudicates split tasks by keyboard and finds the decisions in the dpo export."""

from __future__ import annotations

import json

import pytest

from annotation.models import Adjudication, Task
from annotation.services.importing import items_import
from annotation.services.researchers import researcher_create
from tests.browser.test_accessibility import _serious
from tests.factories import ProjectFactory, picked_judgments

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"


def _study() -> tuple[object, object]:
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(owner=lead, slug="review", name="Review study", allow_tie=True)
    items = [
        {
            "id": f"q{i}",
            "prompt": f"Which answer explains **photosynthesis** better? ({i})",
            "responses": [
                {"id": "r1", "model": "alpha", "text": f"Plants turn light into sugar ({i})."},
                {"id": "r2", "model": "beta", "text": f"- light\n- water\n- sugar ({i})"},
            ],
        }
        for i in range(4)
    ]
    items_import(project=project, rows=list(enumerate(items, 1)))
    choices = {"q0": "abt", "q1": "aaa", "q2": "abt", "q3": "bat"}  # q1 is clear
    picked_judgments(project, choices)
    return lead, project


def _card(page) -> str:
    return page.get_attribute("#review-card", "data-task") or ""


def _next(page, previous: str) -> None:
    page.wait_for_function(
        "prev => { const c = document.querySelector('#review-card');"
        " return c && c.dataset.task !== prev && c.hasAttribute('data-ready')"
        " && !c.hasAttribute('aria-busy'); }",
        arg=previous,
    )


def test_researcher_adjudicates_split_tasks_by_keyboard_and_the_dpo_export_has_them(
    live_server, page, screenshot
):
    lead, project = _study()
    tasks = {t.item.external_id: t.pk for t in Task.objects.select_related("item")}
    base = live_server.url
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{base}/admin/annotation/project/{project.pk}/change/")
    page.click("text=Review queue")
    queue = page.inner_text("table.review-queue")
    assert [f"Task {tasks[i]}" in queue for i in ("q0", "q1", "q2", "q3")] == [
        True,
        False,
        True,
        True,
    ]
    screenshot(page, "review-queue-1440")
    assert _serious(page) == []

    page.click("#review-start")
    page.wait_for_selector(f"#review-card[data-task='{tasks['q0']}'][data-ready]")
    assert "alpha" in page.inner_text("#response-A") and "beta" in page.inner_text("#response-B")
    assert page.locator(".review-task strong", has_text="photosynthesis").count() == 1
    assert "Reason 2 on q0." in page.inner_text(".review-judgments")
    page.wait_for_selector("#review-computed:not([aria-busy])")  # the labels, fitted after
    assert "none (tied)" in page.inner_text("#review-computed")
    assert "posterior" in page.inner_text("#review-computed")
    screenshot(page, "review-task-1440")
    assert _serious(page) == []
    page.emulate_media(color_scheme="dark")
    screenshot(page, "review-task-1440-dark")
    assert _serious(page) == []
    page.emulate_media(color_scheme="light")

    # Keys typed in the note are text, never a decision, and the labels arriving while
    # the note is typed leave the focus in it.
    held = []
    page.route("**/labels/", lambda route: held.append(route))  # held while the note is typed
    page.goto(page.url)
    page.click("#review-note")
    page.keyboard.type("B lists")
    page.wait_for_function("() => true")
    assert len(held) == 1
    held[0].continue_()
    page.unroute("**/labels/")
    page.wait_for_selector("#review-computed:not([aria-busy])")
    page.keyboard.type(" 2 facts.")
    assert page.evaluate("document.activeElement.id") == "review-note"
    assert page.input_value("#review-note") == "B lists 2 facts."
    assert not Adjudication.objects.exists()
    page.locator(".review-heading").click()  # leave the note
    page.keyboard.press("2")
    _next(page, str(tasks["q0"]))
    assert _card(page) == str(tasks["q2"])
    assert f"Task {tasks['q0']} adjudicated: B." in page.inner_text(".review-status")
    assert page.url.endswith(f"/review/{tasks['q2']}/")

    page.keyboard.press("n")  # q2 stays undecided
    _next(page, str(tasks["q2"]))
    assert _card(page) == str(tasks["q3"])
    page.keyboard.press("1")
    page.wait_for_selector("#review-card .review-empty")
    screenshot(page, "review-done-1440")

    decided = {a.task_id: (a.label, a.note, a.researcher_id) for a in Adjudication.objects.all()}
    assert decided == {
        tasks["q0"]: ("b", "B lists 2 facts.", lead.pk),
        tasks["q3"]: ("a", "", lead.pk),
    }
    page.goto(f"{base}/admin/annotation/project/{project.pk}/review/{tasks['q0']}/")
    assert "B lists 2 facts." in page.inner_text("#review-adjudication")

    export = page.request.get(
        f"{base}/api/v1/projects/{project.slug}/export/?format=dpo&label=adjudicated"
    )
    assert export.status == 200
    rows = {row["item_id"]: row for row in map(json.loads, export.text().splitlines())}
    assert {item: row["chosen_model"] for item, row in rows.items()} == {
        "q0": "beta",  # adjudicated B
        "q1": "alpha",  # the majority
        "q3": "alpha",  # adjudicated A where the votes split
    }
