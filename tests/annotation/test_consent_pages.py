"""Consent on the annotator pages: stored on the server, asked again only when the text
changes (README "Annotator pages"), and changed by researchers in the console."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import Consent, Project
from annotation.services.annotators import annotator_for_user
from annotation.services.consent import consent_current
from annotation.services.projects import project_update
from annotation.services.researchers import researcher_create
from tests.annotation.test_admin_isolation import project_form
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db

PID = "5f0c0a0b0c0d0e0f10111213"
PROLIFIC = {"PROLIFIC_PID": PID, "STUDY_ID": "study1", "SESSION_ID": "sess1"}


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(
        owner=researcher,
        slug="pairs",
        name="Which is better?",
        instructions="Pick the **better** answer.",
        annotations_per_task=1,
    )
    import_items(project, 2)
    return project


def html(response) -> str:
    return response.content.decode()


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def agree(client: Client, slug: str = "pairs"):
    """Press "I agree" on the consent page as shown."""
    page = html(client.get(f"/annotate/{slug}/"))
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    return client.post(f"/annotate/{slug}/consent/", {"version": version})


def test_the_default_text_is_shown_when_the_project_sets_none(annotator_user, project):
    page = html(signed_in(annotator_user).get("/annotate/pairs/"))

    assert "recorded under a pseudonymous id" in page
    assert "I agree, start" in page


def test_the_projects_consent_text_is_shown_as_markdown(annotator_user, project):
    project.consent_text = "Answers are kept for **five years**."
    project.save()

    page = html(signed_in(annotator_user).get("/annotate/pairs/"))

    assert "Answers are kept for <strong>five years</strong>." in page
    assert "recorded under a pseudonymous id" not in page


def test_agreeing_stores_the_consent_and_leads_to_the_tasks(annotator_user, project):
    response = agree(signed_in(annotator_user))

    assert response["Location"] == "/annotate/pairs/task/"
    consent = Consent.objects.get()
    assert consent.annotator == annotator_for_user(user=annotator_user)
    assert (consent.project, consent.version) == (project, 1)


def test_a_returning_annotator_in_a_new_browser_is_not_asked_again(annotator_user, project):
    agree(signed_in(annotator_user))

    later = signed_in(annotator_user)

    assert later.get("/annotate/pairs/")["Location"] == "/annotate/pairs/task/"
    assert later.get("/annotate/pairs/task/").status_code == 200


def test_a_changed_text_is_asked_again_and_says_so(annotator_user, project):
    client = signed_in(annotator_user)
    agree(client)
    project_update(project=project, consent_text="We now also record how long you take.")

    start = client.get("/annotate/pairs/")
    task = client.get("/annotate/pairs/task/")

    assert "We now also record how long you take." in html(start)
    assert "changed since you last agreed" in html(start)
    assert task["Location"] == "/annotate/pairs/"
    assert agree(client)["Location"] == "/annotate/pairs/task/"
    assert sorted(Consent.objects.values_list("version", flat=True)) == [1, 2]


def test_an_agreement_to_a_text_changed_meanwhile_shows_the_new_text(annotator_user, project):
    client = signed_in(annotator_user)
    client.get("/annotate/pairs/")  # shows version 1
    project.consent_version = 2  # someone else agreed, then the text changed
    project.save()

    response = client.post("/annotate/pairs/consent/", {"version": "1"}, follow=True)

    assert "changed since the page was shown" in html(response)
    assert "I agree, start" in html(response)
    assert not Consent.objects.exists()


def test_consent_to_a_project_one_cannot_work_in_is_refused(annotator_user, project):
    project.status = Project.Status.PAUSED
    project.save()

    response = signed_in(annotator_user).post("/annotate/pairs/consent/", {"version": "1"})

    assert response.status_code == 403
    assert not Consent.objects.exists()


def test_a_crowd_worker_returning_in_a_new_browser_is_not_asked_again(project):
    first = Client()
    first.get("/annotate/pairs/", PROLIFIC)
    first.post("/annotate/pairs/", PROLIFIC)
    agree(first)

    again = Client()
    again.get("/annotate/pairs/", PROLIFIC | {"SESSION_ID": "sess2"})
    entered = again.post("/annotate/pairs/", PROLIFIC | {"SESSION_ID": "sess2"})

    assert again.get(entered["Location"])["Location"] == "/annotate/pairs/task/"
    assert Consent.objects.count() == 1


def test_the_consent_check_is_one_query(annotator_user, project, django_assert_num_queries):
    annotator = annotator_for_user(user=annotator_user)

    with django_assert_num_queries(1):
        consent_current(project=project, annotator=annotator)


# ---------------------------------------------------------------- the console


def test_the_project_page_edits_the_consent_text_and_starts_a_new_version(client, annotator_user):
    researcher = researcher_create(username="ethics-minded")
    project = ProjectFactory(owner=researcher, slug="pairs")
    agree(signed_in(annotator_user))
    client.force_login(researcher)
    page = html(client.get(f"/admin/annotation/project/{project.pk}/change/"))
    assert 'name="consent_text"' in page and 'name="arming_ms"' in page

    response = client.post(
        f"/admin/annotation/project/{project.pk}/change/",
        project_form(project, consent_text="A new text for the ethics board."),
        follow=True,
    )

    project.refresh_from_db()
    assert (project.consent_text, project.consent_version) == (
        "A new text for the ethics board.",
        2,
    )
    assert "this is consent version 2" in html(response)


def test_saving_the_project_page_unchanged_keeps_the_consent_version(client, annotator_user):
    researcher = researcher_create(username="careful")
    project = ProjectFactory(owner=researcher, slug="pairs", consent_text="Same text.")
    agree(signed_in(annotator_user))
    client.force_login(researcher)

    client.post(
        f"/admin/annotation/project/{project.pk}/change/",
        project_form(project, consent_text="Same text."),
    )

    project.refresh_from_db()
    assert project.consent_version == 1
