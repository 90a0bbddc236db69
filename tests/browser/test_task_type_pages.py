"""Each task type's page in a real browser, in a state with something chosen (README "Annotator
pages"): a ranking half built with a tie, spans marked and one pending, verdicts refused for a
missing required rewrite (in English and in Arabic, right to left). Every one axe-clean at 390
and 1440 px, light and dark, with nothing the browser receives naming a model. Screenshots go
to artifacts/screenshots/types-{page}-{width}-{scheme}.png."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from annotation.models import Project
from annotation.services.importing import items_import
from annotation.services.projects import project_create
from tests.browser.cards import (
    record_sources,
    serious_axe_violations,
    sign_in,
    tab_to,
    wait_armed,
)
from tests.factories import AnnotatorUserFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXTS = [
    "Paris is the capital of **Germany**, since 1889.",
    "The capital of France is Paris.",
    "باريس هي عاصمة فرنسا.",
]
COMMON = {
    "name": "Task types",
    "annotations_per_task": 1,
    "min_seconds_per_task": 0,
    "arming_ms": 0,
    "gold_rate": 0,
}


def _import(project: Project, count: int) -> Project:
    rows = [
        {
            "id": "q0",
            "prompt": "What is the capital of France?",
            "responses": [
                {"id": f"r{j}", "model": f"secret-model-{j}", "text": text}
                for j, text in enumerate(TEXTS[:count])
            ],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def _ranking(page) -> None:
    page.keyboard.press("b")
    page.keyboard.press("=")
    page.keyboard.press("a")


def _spans(page) -> None:
    tab_to(page, "[data-span-target=response]")
    page.keyboard.press("Home")
    for _ in range(5):
        page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("f")
    page.keyboard.press("End")
    for _ in range(5):
        page.keyboard.press("Shift+ArrowLeft")


def _verdict(page) -> None:
    page.keyboard.press("2")
    page.keyboard.press("3")
    page.keyboard.press("Enter")  # refused: the required rewrite is missing
    page.wait_for_selector("#card-alert .refusal")


PAGES: dict[str, tuple[Callable[[], Project], Callable]] = {
    "ranking": (
        lambda: _import(
            ProjectFactory(
                slug="types-ranking",
                kind=Project.Kind.RANKING,
                allow_tie=True,
                rewrite="optional",
                **COMMON,
            ),
            3,
        ),
        _ranking,
    ),
    "spans": (
        lambda: _import(
            project_create(owner=None, preset="factuality-spans", slug="types-spans", **COMMON),
            1,
        ),
        _spans,
    ),
    "verdict": (
        lambda: _import(
            project_create(
                owner=None,
                preset="helpful-harmless-verdict",
                slug="types-verdict",
                rewrite="required",
                **COMMON,
            ),
            1,
        ),
        _verdict,
    ),
    "verdict-ar": (
        lambda: _import(
            project_create(
                owner=None,
                preset="helpful-harmless-verdict",
                slug="types-verdict-ar",
                rewrite="required",
                ui_language="ar",
                **COMMON,
            ),
            1,
        ),
        _verdict,
    ),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_each_task_type_page_is_axe_clean_in_both_schemes_and_widths(
    live_server, page, screenshot, name
):
    make, act = PAGES[name]
    project = make()
    sources = record_sources(page)
    AnnotatorUserFactory(username="looker")
    sign_in(page, live_server.url, "looker")
    page.goto(f"{live_server.url}/annotate/{project.slug}/")
    page.click("form[action$='/consent/'] button[type=submit]")
    wait_armed(page)
    act(page)
    if name.endswith("-ar"):
        assert page.get_attribute("html", "dir") == "rtl"
        said = page.inner_text("#card-alert")
        assert said and not re.search("[A-Za-z]", said), f"English in an Arabic refusal: {said}"

    found = {}
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for width in (390, 1440):
            page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} at {width} px scrolls sideways by {overflow} px"
            screenshot(page, f"types-{name}-{width}-{scheme}")
            found[(width, scheme)] = serious_axe_violations(page)
    assert found == {key: [] for key in found}
    assert sources and not any("secret-model" in source for source in sources)
