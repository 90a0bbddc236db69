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
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/annotate/")


@pytest.mark.parametrize("width", [390, 1440])
def test_pairwise_pages_have_no_serious_violations(live_server, page, width):
    project = ProjectFactory(
        slug="a11y", strength_scale=3, rationale="optional", instructions="Compare **two** answers."
    )
    items_import(
        project=project,
        rows=[
            (
                1,
                {
                    "id": "q",
                    "prompt": "Hello?",
                    "responses": [
                        {"model": "m1", "text": "Hi there.\n\n```python\nprint(1)\n```"},
                        {"model": "m2", "text": "| a | b |\n|---|---|\n| 1 | 2 |"},
                    ],
                },
            )
        ],
    )
    page.set_viewport_size({"width": width, "height": 900})
    _sign_in(page, live_server.url)
    assert _serious(page) == []
    page.goto(f"{live_server.url}/annotate/a11y/")
    assert _serious(page) == []
    page.click("text=I agree, start")
    page.wait_for_selector("#task-card")
    assert _serious(page) == []


def test_rubric_task_page_has_no_serious_violations(live_server, page):
    project = rubric_project(slug="a11y-rubric")
    items_import(
        project=project,
        rows=[(1, {"id": "q", "prompt": "Hello?", "responses": [{"model": "m", "text": "Hi."}]})],
    )
    _sign_in(page, live_server.url)
    page.goto(f"{live_server.url}/annotate/a11y-rubric/")
    page.click("text=I agree, start")
    page.wait_for_selector("#task-card")
    assert _serious(page) == []
