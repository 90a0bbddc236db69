"""Domain errors that page views leave to the site are answered in one place
(annotation.error_pages): the project's closed page on an annotator page (its card for htmx,
framed for MTurk as the page it replaces), Django's 404 page in the console, the API's
JSON under /api/."""

from __future__ import annotations

import json

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from annotation.error_pages import DomainErrorMiddleware
from annotation.errors import AlreadyAnswered, ArenaPromptRefused, NotFound, ValidationFailed
from annotation.models import ApiToken, Project
from annotation.services.researchers import researcher_create
from annotation.services.tokens import api_token_issue
from tests.annotation.test_mturk import MTURK_ANCESTORS, WORKER, directives, enter
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(owner=researcher, slug="pairs", name="Which is better?")
    import_items(project, 2)
    return project


def test_a_project_that_closed_answers_its_closed_page_with_the_reason(
    client, project, annotator_user
):
    client.force_login(annotator_user)
    Project.objects.filter(pk=project.pk).update(status=Project.Status.PAUSED)
    page = client.get("/annotate/pairs/")
    assert page.status_code == 403
    assert "Which is better?" in page.content.decode()
    assert page.templates[0].name == "annotation/closed.html"
    card = client.get("/annotate/pairs/instructions/", HTTP_HX_REQUEST="true")
    assert card.status_code == 403
    assert card.templates[0].name == "annotation/partials/closed_card.html"


def test_the_closed_page_of_an_mturk_visit_may_still_be_framed_by_mturk(client, project):
    enter(client, WORKER)
    client.post("/annotate/pairs/consent/")
    Project.objects.filter(pk=project.pk).update(status=Project.Status.PAUSED)
    for path in ("/annotate/pairs/task/", "/annotate/pairs/instructions/"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert directives(page)["frame-ancestors"] == MTURK_ANCESTORS
        assert "X-Frame-Options" not in page


def test_revoking_a_token_that_is_not_yours_is_the_consoles_404_page(project):
    lead, other = researcher_create(username="lead"), researcher_create(username="other")
    project.owner = lead
    project.save()
    token, _ = api_token_issue(user=other, name="theirs")
    console = Client()
    console.force_login(lead)
    page = console.post(
        reverse("admin:annotation_project_token_revoke", args=[project.pk, token.pk])
    )
    assert page.status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


@pytest.mark.parametrize(
    "error",
    [NotFound(), AlreadyAnswered(), ValidationFailed(errors=[{"field": "x", "error": "bad"}])],
)
def test_under_api_a_domain_error_is_the_apis_json_with_its_status(error):
    request = RequestFactory().get("/api/v1/anything/")
    answer = DomainErrorMiddleware(lambda r: None).process_exception(request, error)
    assert answer.status_code == error.status
    assert answer["Content-Type"] == "application/json"
    assert json.loads(answer.content) == {"detail": error.detail, "errors": error.errors}


def test_other_errors_pass_on():
    request = RequestFactory().get("/annotate/")
    assert DomainErrorMiddleware(lambda r: None).process_exception(request, KeyError("x")) is None


def test_an_arena_prompt_over_the_limit_is_a_429_saying_when_to_try_again():
    refused = ArenaPromptRefused("annotator_limit", "Try again later.", status=429, retry_after=90)
    request = RequestFactory().get("/api/v1/projects/pairs/arena/")
    answer = DomainErrorMiddleware(lambda r: None).process_exception(request, refused)
    assert (answer.status_code, answer["Retry-After"]) == (429, "90")
    assert json.loads(answer.content) == {
        "detail": "Try again later.",
        "errors": [{"field": "prompt", "error": "annotator_limit"}],
        "code": "annotator_limit",
        "retry_after": 90,
    }


def test_a_refused_arena_prompt_on_an_annotator_page_shows_its_plain_message(project):
    refused = ArenaPromptRefused("blocked", "This prompt was refused: say it differently.")
    request = RequestFactory().get(reverse("annotation:task", args=[project.slug]))
    request.htmx = False
    answer = DomainErrorMiddleware(lambda r: None).process_exception(request, refused)
    assert answer.status_code == 400
    assert "This prompt was refused: say it differently." in answer.content.decode()
