"""The annotator page of a verdict project (README "Verdicts and KTO"): Good / Bad per verdict
criterion with its key, an optional reason, stored as true / false with the reason."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import Assignment, Judgment, Project
from annotation.services.projects import project_create
from tests.factories import ProjectFactory, import_items

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


@pytest.fixture
def editing(browser, thumbs) -> Client:
    thumbs.rewrite = Project.Rewrite.OPTIONAL
    thumbs.save()
    return browser


def test_an_optional_rewrite_sits_behind_a_toggle_holding_the_original(editing):
    page = editing.get("/annotate/thumbs/task/").content.decode()

    assert '<details class="rewrite">' in page
    assert "<summary>Rewrite this response</summary>" in page
    assert (
        '<label for="rewrite-response" class="block">Your rewrite of the response</label>' in page
    )
    assert re.search(
        r'<textarea id="rewrite-response" name="rewrite-response"[^>]*>Answer 0 to ', page
    )


def test_a_rewrite_from_the_page_is_stored_and_an_untouched_box_is_none(editing):
    verdicts = {"criterion-helpful": "false", "criterion-harmless": "true"}
    first = _assignment(editing.get("/annotate/thumbs/task/").content.decode())
    original = first.task.response_a.text
    editing.post(
        f"/annotate/thumbs/assignments/{first.pk}/judgment/",
        verdicts | {"rewrite-response": original + "\r\n"},
    )
    second = _assignment(editing.get("/annotate/thumbs/task/").content.decode())

    editing.post(
        f"/annotate/thumbs/assignments/{second.pk}/judgment/",
        verdicts | {"rewrite-response": "A much better answer."},
    )

    untouched, edited = Judgment.objects.order_by("pk")
    assert (untouched.rewrite, untouched.rewrite_of_id) == ("", None)
    assert edited.rewrite == "A much better answer."
    assert edited.rewrite_of_id == second.task.response_a_id


def test_a_required_rewrite_left_untouched_keeps_the_card(editing, thumbs):
    thumbs.rewrite = Project.Rewrite.REQUIRED
    thumbs.save()
    page = editing.get("/annotate/thumbs/task/").content.decode()
    assert '<details class="rewrite" open>' in page
    assignment = _assignment(page)

    response = editing.post(
        f"/annotate/thumbs/assignments/{assignment.pk}/judgment/",
        {"criterion-helpful": "false", "criterion-harmless": "true"},
    )

    assert response.status_code == 400
    said = response.content.decode()
    assert "This project asks for a rewrite: edit the response in its box until it is good." in said
    assert not Judgment.objects.exists()


def test_a_required_rewrite_left_out_flags_and_focuses_its_box_without_javascript(editing, thumbs):
    """A plain form post gets the page again: the box is invalid, described by the problem,
    and takes the focus."""
    thumbs.rewrite = Project.Rewrite.REQUIRED
    thumbs.save()
    assignment = _assignment(editing.get("/annotate/thumbs/task/").content.decode())
    said = editing.post(
        f"/annotate/thumbs/assignments/{assignment.pk}/judgment/",
        {"criterion-helpful": "false", "criterion-harmless": "true"},
    ).content.decode()
    (box,) = re.findall(r'<textarea id="rewrite-response"[^>]*>', said)
    assert 'aria-invalid="true"' in box and "autofocus" in box
    assert 'aria-describedby="refusal-rewrite"' in box
    assert re.search(
        r'<li id="refusal-rewrite" data-invalid="rewrite-response">This project asks for a '
        r"rewrite: edit the response in its box until it is good.</li>",
        said,
    )


def test_a_pairwise_page_offers_a_box_per_response_and_refuses_two_edits(
    researcher, annotator_user
):
    project = ProjectFactory(owner=researcher, slug="pairs", arming_ms=0, rewrite="optional")
    import_items(project, 1)
    client = Client()
    client.force_login(annotator_user)
    client.post("/annotate/pairs/consent/")
    page = client.get("/annotate/pairs/task/").content.decode()
    assert "Your rewrite of response A" in page and "Your rewrite of response B" in page
    assignment = _assignment(page)

    both = client.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/",
        {"choice": "left", "rewrite-left": "New A.", "rewrite-right": "New B."},
    )
    wrong = client.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/",
        {"choice": "left", "rewrite-right": "New B."},
    )
    assert both.status_code == wrong.status_code == 400
    assert "Rewrite one response only: put the other boxes back as they were." in (
        both.content.decode()
    )
    assert "Rewrite the response you preferred" in wrong.content.decode()
    assert not Judgment.objects.exists()
    right = client.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/",
        {"choice": "right", "rewrite-right": "New B."},
    )

    assert right.status_code == 200
    judgment = Judgment.objects.get()
    assert judgment.rewrite == "New B." and judgment.rewrite_of_id != assignment.left_response_id
