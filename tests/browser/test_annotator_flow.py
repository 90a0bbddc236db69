"""A new annotator votes blind in a real browser; the vote reaches the judgments export."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from annotation.models import Judgment, Project
from annotation.services.importing import items_import
from tests.browser.cards import answer_by_key, wait_armed
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MODELS = ("secret-model-alpha", "secret-model-beta")


def _project() -> Project:
    project = ProjectFactory(
        slug="browser-pairwise",
        name="Browser study",
        strength_scale=3,
        rationale=Project.Rationale.OPTIONAL,
        completion_code="CODE-42",
        instructions="Pick the **better** answer.",
    )
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Question number {i}?",
            "responses": [
                {
                    "id": "r1",
                    "model": MODELS[0],
                    "text": f"Answer one to {i}. <script>window.__pwned = {i}</script>",
                },
                {"id": "r2", "model": MODELS[1], "text": f"Answer **two** to {i}.\n\n- a\n- b"},
            ],
        }
        for i in range(3)
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _sign_up(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", "correct-horse-battery")
    page.fill("#id_password2", "correct-horse-battery")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/annotate/")


def test_new_annotator_votes_by_keyboard_and_the_vote_is_exported(live_server, page, screenshot):
    project = _project()
    base = live_server.url
    _sign_up(page, base, "newcomer")
    page.click("text=Browser study")
    assert "better" in page.inner_text(".instructions")
    screenshot(page, "consent")
    page.click("text=I agree, start")
    page.wait_for_selector("#task-card")
    screenshot(page, "task-1440")

    html = page.content()
    assert not any(model in html for model in MODELS)
    assert page.evaluate("window.__pwned") is None
    assert "<script>window.__pwned" in page.inner_text("#task-card")  # shown as text

    # A preference with a strength, by keyboard: the next task swaps in without a reload.
    page.check("input[name=strength][value='3']")
    answer_by_key(page, "1")
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    page.wait_for_function("() => document.activeElement.id === 'card-heading'")  # focus moved

    # A tie needs no strength.
    answer_by_key(page, "t")

    # Skip the last one; then the end page shows the completion code.
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "task-390")
    wait_armed(page)
    page.keyboard.press("s")
    page.wait_for_selector(".completion-code")
    assert page.inner_text(".completion-code") == "CODE-42"
    screenshot(page, "done")

    judgments = list(Judgment.objects.filter(project=project).order_by("pk"))
    assert [j.choice in ("a", "b") for j in judgments] == [True, False]
    assert judgments[0].strength == 3
    assert judgments[1].choice == "tie"

    researcher = ResearcherFactory(is_superuser=True)
    client = APIClient()
    client.force_authenticate(researcher)
    response = client.get(f"/api/v1/projects/{project.slug}/export/?format=judgments")
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [row["id"] for row in rows] == [j.pk for j in judgments]
    left_choice = rows[0]
    # "1" means the left response was better: the export names it as the chosen side.
    chosen = left_choice["a"] if left_choice["choice"] == "a" else left_choice["b"]
    assert chosen == left_choice["shown_left"]


def test_rubric_task_is_answered_with_level_labels(live_server, page, screenshot):
    from tests.factories import rubric_project

    project = rubric_project(slug="browser-rubric", annotations_per_task=1)
    items_import(
        project=project,
        rows=[(1, {"id": "x", "prompt": "Say hi.", "responses": [{"model": "m", "text": "Hi!"}]})],
    )
    _sign_up(page, live_server.url, "rater")
    page.goto(f"{live_server.url}/annotate/{project.slug}/")
    page.click("text=I agree, start")
    assert "great" in page.inner_text("#task-card")
    screenshot(page, "rubric-1440")
    page.check("input[name=criterion-helpfulness][value='4']")
    page.check("input[name=criterion-correctness][value='3']")
    wait_armed(page)
    page.click("button.primary")
    page.wait_for_selector(".done")
    assert Judgment.objects.get(project=project).scores == {"helpfulness": 4, "correctness": 3}
