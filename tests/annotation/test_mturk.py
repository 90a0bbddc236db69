"""MTurk on the annotator pages (README "Annotator pages"): the HIT preview shows a read-only sample
task and signs nobody in; the pages of a visit may be framed by MTurk's sites alone; the
end page submits the HIT to MTurk's externalSubmit, on the site MTurk named."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import Annotator, Assignment, CrowdSession, Project
from annotation.services.importing import items_import
from tests.factories import ProjectFactory, import_items, rubric_project

pytestmark = pytest.mark.django_db

WORKER = {"workerId": "A1B2C3D4E5F6G7", "assignmentId": "3XYZASSIGN", "hitId": "3HITID"}
SANDBOX = "https://workersandbox.mturk.com"
PREVIEW = {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE", "hitId": "3HITID"}
MTURK_ANCESTORS = "https://worker.mturk.com https://workersandbox.mturk.com https://www.mturk.com"


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(
        owner=researcher,
        slug="pairs",
        name="Which is better?",
        instructions="Pick the **better** answer.",
        annotations_per_task=1,
        completion_code="THANKS-42",
        arming_ms=0,  # votes are posted at once here
    )
    import_items(project, 2)
    return project


def html(response) -> str:
    return response.content.decode()


def directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {
        part.strip().split(" ", 1)[0]: part.strip().split(" ", 1)[1]
        for part in policy.split(";")
        if " " in part.strip()
    }


def enter(client: Client, params: dict[str, str]):
    client.get("/annotate/pairs/", params)
    return client.post("/annotate/pairs/", params)


def work_to_the_end(client: Client, params: dict[str, str]):
    """Enter, agree, and vote on every task; answers the last page (htmx, as the page does)."""
    enter(client, params)
    client.post("/annotate/pairs/consent/")
    page = client.get("/annotate/pairs/task/")
    while match := re.search(r'data-assignment="(\d+)"', html(page)):
        page = client.post(
            f"/annotate/pairs/assignments/{match.group(1)}/judgment/",
            {"choice": "left"},
            HTTP_HX_REQUEST="true",
        )
    return page


def submit_form(page) -> str:
    match = re.search(r'<form class="mturk-submit".*?</form>', html(page), re.DOTALL)
    assert match, "no externalSubmit form on the page"
    return match.group(0)


# ---------------------------------------------------------------- the HIT preview


def test_the_preview_shows_a_sample_task_without_model_names(client, project):
    response = client.get("/annotate/pairs/", PREVIEW)

    page = html(response)
    assert response.status_code == 200
    assert "Question 0?" in page
    assert "Answer 0 to 0." in page and "Answer 1 to 0." in page
    assert "model-0" not in page and "model-1" not in page
    assert "Pick the <strong>better</strong> answer." in page
    assert "Accept the HIT" in page


def test_the_preview_has_no_form_and_stores_nothing(client, project):
    response = client.get("/annotate/pairs/", PREVIEW)

    assert "<form" not in html(response)
    assert "password" not in html(response)
    assert not Annotator.objects.exists()
    assert not CrowdSession.objects.exists()
    assert not Assignment.objects.exists()
    assert "sessionid" not in response.cookies


def test_the_preview_never_shows_a_gold_task(client, project):
    first = project.tasks.order_by("pk").first()
    first.is_gold = True
    first.save()

    page = html(client.get("/annotate/pairs/", PREVIEW))

    assert "Question 1?" in page and "Question 0?" not in page


def test_the_preview_of_a_rubric_project_shows_one_response_and_the_criteria(client, researcher):
    project = rubric_project(owner=researcher, slug="rated")
    import_items(project, 1, responses=1)

    page = html(client.get("/annotate/rated/", PREVIEW))

    assert "Answer 0 to 0." in page
    assert "Helpfulness" in page and "Correctness" in page
    assert "Response B" not in page


def test_the_preview_of_a_project_without_tasks_says_what_the_hit_is(client, researcher):
    ProjectFactory(owner=researcher, slug="empty", name="Empty study")

    response = client.get("/annotate/empty/", PREVIEW)

    assert response.status_code == 200
    assert "Accept the HIT" in html(response) and "Example task" not in html(response)


def test_the_preview_of_a_paused_project_says_it_takes_nobody(client, project):
    project.status = Project.Status.PAUSED
    project.save()

    page = html(client.get("/annotate/pairs/", PREVIEW))

    assert "not accepting participants" in page and "Question 0?" not in page


def test_the_preview_shows_media_from_the_projects_hosts(client, project):
    project.media_hosts = ["media.example.org"]
    project.save()
    items_import(
        project=project,
        rows=[
            (
                1,
                {
                    "id": "q0",
                    "prompt": "Describe ![x](https://media.example.org/cat.png)",
                    "responses": [
                        {"id": "r1", "model": "m", "text": "A cat."},
                        {"id": "r2", "model": "n", "text": "A dog."},
                    ],
                },
            )
        ],
    )

    response = client.get("/annotate/pairs/", PREVIEW)

    assert 'src="https://media.example.org/cat.png"' in html(response)
    assert "media.example.org" in directives(response)["img-src"]


# ---------------------------------------------------------------- framing


def test_entry_pages_may_be_framed_by_mturk_alone(client, project):
    for response in (
        client.get("/annotate/pairs/", PREVIEW),
        client.get("/annotate/pairs/", WORKER),
        enter(Client(), WORKER),
    ):
        assert directives(response)["frame-ancestors"] == MTURK_ANCESTORS
        assert "X-Frame-Options" not in response


def test_the_pages_of_a_visit_may_be_framed_and_post_to_mturk(client, project):
    enter(client, WORKER)
    consent_page = client.get("/annotate/pairs/")
    agreed = client.post("/annotate/pairs/consent/")
    task = client.get("/annotate/pairs/task/")
    instructions = client.get("/annotate/pairs/instructions/")

    for response in (consent_page, agreed, task, instructions):
        assert directives(response)["frame-ancestors"] == MTURK_ANCESTORS, response
        assert "X-Frame-Options" not in response
    assert directives(task)["form-action"] == f"'self' {MTURK_ANCESTORS}"


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/accounts/signup/", "/admin/login/", "/api/v1/projects/"]
)
def test_every_other_page_refuses_to_be_framed(client, project, path):
    response = client.get(path)

    assert response["X-Frame-Options"] == "DENY"
    assert directives(response)["frame-ancestors"] == "'none'"
    assert directives(response)["form-action"] == "'self'"


def test_a_researchers_preview_is_not_framed(client, project):
    client.force_login(project.owner)

    response = client.get("/annotate/pairs/preview/")

    assert response["X-Frame-Options"] == "DENY"
    assert directives(response)["frame-ancestors"] == "'none'"


# ---------------------------------------------------------------- externalSubmit


def test_the_start_page_keeps_where_mturk_submits_the_hit(client, project):
    page = html(client.get("/annotate/pairs/", WORKER | {"turkSubmitTo": SANDBOX}))
    assert f'name="turkSubmitTo" value="{SANDBOX}"' in page

    client.post("/annotate/pairs/", WORKER | {"turkSubmitTo": SANDBOX})

    assert CrowdSession.objects.get().submit_to == SANDBOX


@pytest.mark.parametrize(
    "submit_to",
    [
        "https://evil.example",
        "https://www.mturk.com.evil.example",
        "http://www.mturk.com",
        "javascript:alert(1)",
        "https://www.mturk.com/mturk/externalSubmit?x=",
    ],
)
def test_another_submit_target_is_never_kept(client, project, submit_to):
    page = html(client.get("/annotate/pairs/", WORKER | {"turkSubmitTo": submit_to}))
    assert "turkSubmitTo" not in page

    client.post("/annotate/pairs/", WORKER | {"turkSubmitTo": submit_to})

    assert CrowdSession.objects.get().submit_to == ""


def test_the_end_page_submits_the_hit_to_mturk_with_the_assignment(client, project):
    last = work_to_the_end(client, WORKER | {"turkSubmitTo": SANDBOX})

    form = submit_form(last)
    assert f'action="{SANDBOX}/mturk/externalSubmit"' in form
    assert 'method="post"' in form
    assert 'name="assignmentId" value="3XYZASSIGN"' in form
    assert 'name="completion_code" value="THANKS-42"' in form
    assert "csrfmiddlewaretoken" not in form  # our token never goes to another site
    assert "THANKS-42" in html(last)
    assert CrowdSession.objects.get().outcome == CrowdSession.Outcome.COMPLETED


def test_the_live_site_is_submitted_to_when_mturk_names_it(client, project):
    last = work_to_the_end(client, WORKER | {"turkSubmitTo": "https://www.mturk.com/"})

    assert 'action="https://www.mturk.com/mturk/externalSubmit"' in submit_form(last)


def test_externalsubmit_takes_the_place_of_the_completion_url(client, project):
    project.completion_url = "https://example.org/complete"
    project.save()

    last = work_to_the_end(client, WORKER | {"turkSubmitTo": SANDBOX})

    assert "HX-Redirect" not in last
    assert "externalSubmit" in submit_form(last)


def test_an_mturk_link_without_a_submit_target_ends_with_the_code_alone(client, project):
    last = work_to_the_end(client, WORKER)

    assert "THANKS-42" in html(last)
    assert "externalSubmit" not in html(last)


def test_a_screened_out_worker_is_not_sent_to_submit(client, project):
    enter(client, WORKER | {"turkSubmitTo": SANDBOX})
    client.post("/annotate/pairs/consent/")
    page = client.get("/annotate/pairs/task/")
    while match := re.search(r'data-assignment="(\d+)"', html(page)):
        page = client.post(f"/annotate/pairs/assignments/{match.group(1)}/skip/")

    assert "did not answer any task" in html(page)
    assert "externalSubmit" not in html(page)
