"""The annotator page of a verdict project (README "Verdicts and KTO"): Good / Bad per verdict
criterion with its key, an optional reason, stored as true / false with the reason."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import Assignment, Judgment, Project
from annotation.services.projects import project_create
from tests.factories import import_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def thumbs(researcher) -> Project:
    project = project_create(
        owner=researcher,
        preset="helpful-harmless-verdict",
        slug="thumbs",
        name="Thumbs",
        arming_ms=0,
        gold_rate=0,
    )
    import_items(project, 2, responses=1)
    return project


@pytest.fixture
def browser(annotator_user, thumbs) -> Client:
    client = Client()
    client.force_login(annotator_user)
    client.post("/annotate/thumbs/consent/")
    return client


def _assignment(page: str) -> Assignment:
    match = re.search(r'data-assignment="(\d+)"', page)
    assert match, "no task card on the page"
    return Assignment.objects.get(pk=int(match.group(1)))


def test_the_page_asks_good_or_bad_per_verdict_criterion_with_keys(browser):
    page = browser.get("/annotate/thumbs/task/").content.decode()

    assert "Helpful" in page and "Harmless" in page
    assert 'name="criterion-helpful" value="true" required data-keys="1"' in page
    assert 'name="criterion-helpful" value="false" data-keys="2"' in page
    assert 'name="criterion-harmless" value="true" required data-keys="3"' in page
    assert page.count('name="reason-') == 2
    assert '<label for="reason-helpful"' in page
    assert "model-0" not in page


def test_a_verdict_from_the_page_is_stored_with_its_reason(browser):
    assignment = _assignment(browser.get("/annotate/thumbs/task/").content.decode())

    response = browser.post(
        f"/annotate/thumbs/assignments/{assignment.pk}/judgment/",
        {
            "criterion-helpful": "false",
            "criterion-harmless": "true",
            "reason-helpful": " off topic ",
            "reason-harmless": "",
        },
    )

    assert response.status_code == 200
    judgment = Judgment.objects.get()
    assert judgment.scores == {"helpful": False, "harmless": True}
    assert judgment.reasons == {"helpful": "off topic"}


def test_a_missing_verdict_keeps_the_card_with_what_was_typed(browser):
    assignment = _assignment(browser.get("/annotate/thumbs/task/").content.decode())

    response = browser.post(
        f"/annotate/thumbs/assignments/{assignment.pk}/judgment/",
        {"criterion-helpful": "true", "reason-harmless": "rude"},
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert "Harmless: choose one." in page
    assert 'value="true" required data-keys="1" checked' in page
    assert 'name="reason-harmless" dir="auto" maxlength="2000" value="rude"' in page
    assert not Judgment.objects.exists()
