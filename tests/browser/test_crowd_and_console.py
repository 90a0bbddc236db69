"""A Prolific worker's whole visit, and a researcher's first project, in a real browser."""

from __future__ import annotations

import json

import pytest

from annotation.models import Annotator, Judgment, Project
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from tests.browser.cards import wait_armed
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _items(count: int) -> list[dict]:
    return [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"id": "r1", "model": "alpha", "text": f"A careful answer to {i}."},
                {"id": "r2", "model": "beta", "text": f"A hasty answer to {i}."},
            ],
        }
        for i in range(count)
    ]


def _next_card(page, previous: str) -> None:
    page.wait_for_function(
        "prev => { const c = document.querySelector('#task-card');"
        " return c && c.dataset.assignment !== prev; }",
        arg=previous,
    )


def test_prolific_worker_votes_by_keyboard_skips_one_and_gets_the_code(
    live_server, page, screenshot
):
    project = ProjectFactory(
        slug="study",
        name="Prolific study",
        completion_code="C0DE-77",
        annotations_per_task=1,
        min_seconds_per_task=0,
    )
    items_import(project=project, rows=list(enumerate(_items(4), 1)))
    base = live_server.url
    page.goto(
        f"{base}/annotate/study/?PROLIFIC_PID=5f1e2d3c4b5a69788796a5b4&STUDY_ID=st1&SESSION_ID=se9"
    )
    screenshot(page, "prolific-start")
    assert Annotator.objects.filter(source="prolific").count() == 0  # the GET made nobody
    page.click("text=Start the study")
    page.wait_for_selector("text=I agree, start")
    screenshot(page, "prolific-consent")
    page.click("text=I agree, start")
    page.wait_for_selector("#task-card")
    for key in ("1", "2", "t"):
        card = wait_armed(page)  # a card takes a choice after arming_ms on screen
        page.keyboard.press(key)
        _next_card(page, card)
    page.fill("input[name=reason]", "I do not understand the question")
    wait_armed(page)
    page.click("button:has-text('Skip')")
    page.wait_for_selector(".completion-code")
    assert page.inner_text(".completion-code") == "C0DE-77"
    assert "3 tasks answered" in page.inner_text("#task-card")
    screenshot(page, "prolific-done")

    worker = Annotator.objects.get(source="prolific", external_id="5f1e2d3c4b5a69788796a5b4")
    assert worker.user is None
    assert (worker.study_id, worker.session_id) == ("st1", "se9")
    votes = Judgment.objects.filter(annotator=worker)
    assert votes.count() == 3
    assert set(votes.values_list("study_id", flat=True)) == {"st1"}
    assert worker.assignments.filter(status="skipped").get().skip_reason.startswith("I do not")


def test_a_returning_worker_is_sent_back_to_the_platform(live_server, page):
    back = f"{live_server.url}/accounts/login/?returned=1"
    project = ProjectFactory(
        slug="redirect", completion_url=back, annotations_per_task=1, min_seconds_per_task=0
    )
    items_import(project=project, rows=list(enumerate(_items(1), 1)))
    page.goto(
        f"{live_server.url}/annotate/redirect/?workerId=A1B2C3D4E5F6G7&assignmentId=A1&hitId=H1"
    )
    page.click("text=Start the study")
    page.click("text=I agree, start")
    wait_armed(page)
    page.keyboard.press("1")
    page.wait_for_url(back)


def test_researcher_creates_a_project_from_a_preset_uploads_previews_and_sees_figures(
    live_server, page, screenshot, tmp_path
):
    ResearcherFactory(username="lead", is_superuser=True)  # password "pw", as factories set
    base = live_server.url
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.goto(f"{base}/admin/annotation/project/add/")
    page.select_option("#id_preset", "pairwise-strength")
    page.fill("#id_name", "Console study")
    page.fill("#id_slug", "console")
    screenshot(page, "console-add-project")
    page.click("input[name=_continue]")
    page.wait_for_selector("text=Upload a file of items")
    project = Project.objects.get(name="Console study")
    assert project.strength_scale == 3 and project.owner.username == "lead"

    upload = tmp_path / "items.jsonl"
    upload.write_text("\n".join(json.dumps(row) for row in _items(6)))
    page.click("text=Upload a file of items")
    page.set_input_files("input[type=file]", str(upload))
    page.click("input[type=submit]")
    page.wait_for_selector("text=6 items imported")

    page.goto(f"{base}/annotate/{project.slug}/preview/")
    assert "Researcher preview" in page.inner_text("body")
    assert "alpha" in page.inner_text(".preview-banner")
    screenshot(page, "console-preview")

    votes = [
        {
            "annotator": f"h{k}",
            "item": f"q{i}",
            "a": "r1",
            "b": "r2",
            "choice": "a" if (i + k) % 4 else "b",
            "strength": 2,
        }
        for i in range(6)
        for k in range(3)
    ]
    judgments_import(project=project, rows=list(enumerate(votes, 1)))
    page.goto(f"{base}/admin/annotation/project/{project.pk}/change/")
    page.wait_for_selector("table.statistics-agreement")  # computed when the page asked
    body = page.inner_text("body")
    assert "tasks total: 6" in body
    assert "krippendorff alpha" in body.lower()
    assert page.locator("svg[aria-label='Leaderboard with 95% intervals']").count() == 1
    screenshot(page, "console-project")


def test_the_api_docs_render_under_the_content_security_policy(live_server, page):
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info")

    assert "prefpanel API" in page.inner_text(".swagger-ui .info")
