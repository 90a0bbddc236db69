"""The data explorer's item page in a real browser on a project with spans, verdicts and
rewrites (issue 16): the marks highlighted in the text, the reasons and the rewrite's diff,
axe-clean at 390 and 1440 px, light and dark; a hostile note or rewrite runs nothing."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from annotation.models import Item, Project
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from annotation.services.projects import criteria_add
from annotation.services.researchers import researcher_create
from tests.browser.cards import serious_axe_violations, shoot
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
TEXT = "Paris is in Japan, and the Eiffel tower is 30 metres tall."


def _study() -> tuple[Project, Item]:
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(
        owner=lead, slug="marks", kind=Project.Kind.RUBRIC, rewrite=Project.Rewrite.OPTIONAL
    )
    criteria_add(
        project=project,
        criteria=[
            {
                "key": "errors",
                "type": "spans",
                "labels": [{"key": "factual_error", "description": "False"}],
            },
            {"key": "harmless", "type": "verdict"},
        ],
    )
    row = {
        "id": "q0",
        "prompt": "Tell me about Paris.",
        "responses": [{"model": "m1", "text": TEXT}],
    }
    items_import(project=project, rows=[(1, row)])
    japan, metres = TEXT.index("Japan"), TEXT.index("30 metres")
    judged = {"item": "q0", "response": "r1"}
    hostile = '<img src=x onerror="alert(1)">'
    rows = [
        {
            **judged,
            "annotator": "h0",
            "scores": {"harmless": False},
            "reasons": {"harmless": f"Misleads {hostile}"},
            "spans": [
                {"response": "r1", "start": japan, "end": japan + 5, "label": "factual_error"}
                | {"note": f"It is in France {hostile}"},
                {"response": "r1", "start": metres, "end": metres + 9, "label": "factual_error"},
            ],
            "rewrite": TEXT.replace("Japan", "France").replace("30", "330") + hostile,
        },
        {**judged, "annotator": "h1", "scores": {"harmless": True}},
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    return project, Item.objects.get(project=project)


def test_a_researcher_sees_marks_reasons_and_a_rewrite_diff(live_server, page, screenshot):
    project, item = _study()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    base = live_server.url
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", "lead")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    page.goto(f"{base}/admin/annotation/project/{project.pk}/explorer/items/{item.pk}/")
    page.wait_for_selector(".explorer-detail")

    assert page.locator("mark.explorer-span").all_inner_texts() == ["Japan", "30 metres"]
    assert "It is in France <img" in page.inner_text(".explorer-span-list")
    assert page.locator(".explorer-diff del").first.inner_text() == "Jap"
    assert "harmless: bad · Misleads <img" in page.inner_text(".explorer-verdicts")
    assert page.locator(".explorer-detail img").count() == 0
    assert dialogs == []
    assert serious_axe_violations(page) == []
    shoot(page, screenshot, "explorer-marks")
    page.set_viewport_size({"width": 390, "height": 844})
    # The narrow admin page's own link colour and heading order are the admin's; what this
    # page adds (the judgments' table and the rows under it) is checked.
    narrow = Axe().run(page, context=".explorer-task").response["violations"]
    assert [v["id"] for v in narrow if v["impact"] in ("serious", "critical")] == []
