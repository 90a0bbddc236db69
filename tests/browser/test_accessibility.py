"""axe-core finds no serious or critical accessibility problem on the annotator's pages."""

from __future__ import annotations

import pytest

from annotation.services.importing import items_import
from tests.factories import AnnotatorUserFactory, ProjectFactory, rubric_project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _serious(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(node["target"][0] for node in v["nodes"][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _sign_in(page, base: str) -> None:
    AnnotatorUserFactory(username="reader")
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", "pw")
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}/annotate/")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [390, 1440])
def test_pairwise_pages_have_no_serious_violations(live_server, page, width, scheme):
    project = ProjectFactory(
        slug="a11y",
        strength_scale=3,
        rationale="optional",
        instructions="Compare **two** answers.",
        arming_ms=0,
        annotations_per_task=1,
        completion_code="A11Y-1",
    )
    items_import(
        project=project,
        rows=[
            (
                1,
                {
                    "id": "q",
                    "prompt": [
                        {"role": "user", "content": "Hello?"},
                        {"role": "assistant", "content": "Hi. What can I do?"},
                        {"role": "user", "content": "Show me code and a table."},
                    ],
                    "responses": [
                        {"model": "m1", "text": "Hi there.\n\n```python\nprint(1)\n```"},
                        {"model": "m2", "text": "| a | b |\n|---|---|\n| 1 | 2 |"},
                    ],
                },
            )
        ],
    )
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size({"width": width, "height": 900})
    _sign_in(page, live_server.url)
    assert _serious(page) == []
    page.goto(f"{live_server.url}/annotate/a11y/")
    assert _serious(page) == []
    page.click("text=I agree, start")
    page.wait_for_selector("#task-card[data-armed]")
    assert _serious(page) == []

    # A failure said next to the buttons, and the end with its code.
    page.route("**/judgment/", lambda route: route.fulfill(status=500, body="x"), times=1)
    page.keyboard.press("t")
    page.wait_for_selector("#card-alert button.retry")
    assert _serious(page) == []
    page.click("#card-alert button.retry")
    page.wait_for_selector(".completion-code")
    assert _serious(page) == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_rubric_task_page_has_no_serious_violations(live_server, page, scheme):
    project = rubric_project(slug="a11y-rubric")
    items_import(
        project=project,
        rows=[(1, {"id": "q", "prompt": "Hello?", "responses": [{"model": "m", "text": "Hi."}]})],
    )
    page.emulate_media(color_scheme=scheme)
    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/annotate/a11y-rubric/")
    page.click("text=I agree, start")
    page.wait_for_selector("#task-card")
    assert _serious(page) == []
