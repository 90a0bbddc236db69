"""The project's instructions, always at hand: a button on every task card opens them (in
a dialog with scripts, on their own page without), to those who may work on the project."""

from __future__ import annotations

import pytest
from django.test import Client

from annotation.models import Project
from annotation.services.annotators import annotator_for_user
from annotation.services.consent import consent_record
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(
        owner=researcher,
        slug="pairs",
        instructions="Prefer the **honest** answer.\n\n![chart](https://media.example.org/c.png)",
        media_hosts=["media.example.org"],
        annotations_per_task=1,
    )
    import_items(project, 2)
    return project


@pytest.fixture
def browser(annotator_user, project) -> Client:
    client = Client()
    client.force_login(annotator_user)
    consent_record(project=project, annotator=annotator_for_user(user=annotator_user))
    return client


def html(response) -> str:
    return response.content.decode()


def test_every_task_card_has_a_button_to_the_instructions(browser):
    page = html(browser.get("/annotate/pairs/task/"))
    card = html(browser.get("/annotate/pairs/task/", HTTP_HX_REQUEST="true"))

    for shown in (page, card):
        assert 'href="/annotate/pairs/instructions/"' in shown
        assert 'aria-controls="instructions-dialog"' in shown
        assert '<dialog id="instructions-dialog"' in shown
    assert "js/instructions.js" in page and "js/instructions.js" not in card


def test_a_project_without_instructions_has_no_button(browser, project):
    project.instructions = ""
    project.save()

    assert "instructions-dialog" not in html(browser.get("/annotate/pairs/task/"))


def test_the_instructions_page_shows_them_rendered_with_the_projects_media(browser):
    response = browser.get("/annotate/pairs/instructions/")

    assert response.status_code == 200
    assert "Prefer the <strong>honest</strong> answer." in html(response)
    assert 'src="https://media.example.org/c.png"' in html(response)
    assert "media.example.org" in response["Content-Security-Policy"]


def test_a_researcher_reads_the_instructions_of_a_draft_they_preview(client, project):
    project.status = Project.Status.DRAFT
    project.save()
    client.force_login(project.owner)

    response = client.get("/annotate/pairs/instructions/")

    assert response.status_code == 200
    assert "honest" in html(response)


def test_someone_who_may_not_work_on_the_project_does_not_read_them(annotator_user):
    ProjectFactory(slug="members", access=Project.Access.MEMBERS, instructions="Secret rules.")
    client = Client()
    client.force_login(annotator_user)

    response = client.get("/annotate/members/instructions/")

    assert response.status_code == 403
    assert "Secret rules." not in html(response)


def test_the_instructions_page_asks_a_stranger_to_sign_in(client, project):
    response = client.get("/annotate/pairs/instructions/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
