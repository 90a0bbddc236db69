"""The annotator pages: project list, consent, one task after another, crowd entry."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotation.models import Assignment, Judgment, Project
from annotation.services.annotators import annotator_for_user
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from tests.factories import (
    AnnotatorUserFactory,
    ProjectFactory,
    import_items,
    item_rows,
    rubric_project,
)

pytestmark = pytest.mark.django_db

MODEL_NAMES = ("model-0", "model-1")


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(
        owner=researcher,
        slug="pairs",
        name="Which is better?",
        instructions="Pick the **better** answer.",
        annotations_per_task=1,
        completion_code="THANKS-42",
    )
    import_items(project, 2)
    return project


@pytest.fixture
def browser(annotator_user) -> Client:
    client = Client()
    client.force_login(annotator_user)
    return client


@pytest.fixture
def consented(browser, project) -> Client:
    browser.post("/annotate/pairs/consent/")
    return browser


def html(response) -> str:
    return response.content.decode()


def assignment_on(response) -> Assignment:
    match = re.search(r'data-assignment="(\d+)"', html(response))
    assert match, "no task card on the page"
    return Assignment.objects.select_related("task__item").get(pk=int(match.group(1)))


def vote(client: Client, response, choice: str = "left", **headers):
    assignment = assignment_on(response)
    return client.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/", {"choice": choice}, **headers
    )


# ---------------------------------------------------------------- project list


def test_project_list_shows_open_projects(browser, project):
    response = browser.get("/annotate/")

    assert response.status_code == 200
    assert "Which is better?" in html(response)


def test_project_list_hides_paused_projects(browser, project):
    project.status = Project.Status.PAUSED
    project.save()

    assert "Which is better?" not in html(browser.get("/annotate/"))


def test_project_list_hides_members_projects_from_non_members(browser, project):
    project.access = Project.Access.MEMBERS
    project.save()

    assert "Which is better?" not in html(browser.get("/annotate/"))


def test_project_list_shows_members_projects_to_members(browser, annotator_user, project):
    project.access = Project.Access.MEMBERS
    project.save()
    project.members.add(annotator_for_user(user=annotator_user))

    assert "Which is better?" in html(browser.get("/annotate/"))


def test_project_list_asks_anonymous_visitors_to_sign_in(client):
    response = client.get("/annotate/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# ---------------------------------------------------------------- consent


def test_start_page_shows_consent_and_rendered_instructions(browser, project):
    response = browser.get("/annotate/pairs/")

    assert response.status_code == 200
    page = html(response)
    assert "Pick the <strong>better</strong> answer." in page
    assert "I agree, start" in page
    assert "/annotate/pairs/consent/" in page


def test_task_page_before_consent_goes_back_to_the_start(browser, project):
    response = browser.get("/annotate/pairs/task/")

    assert response.status_code == 302
    assert response["Location"] == "/annotate/pairs/"


def test_consent_leads_to_the_task_page(browser, project):
    response = browser.post("/annotate/pairs/consent/")

    assert response.status_code == 302
    assert response["Location"] == "/annotate/pairs/task/"


def test_start_page_of_a_paused_project_says_it_is_closed(browser, project):
    project.status = Project.Status.PAUSED
    project.save()

    response = browser.get("/annotate/pairs/")

    assert response.status_code == 403
    assert "paused" in html(response)


def test_start_page_of_an_unknown_project_is_a_404(browser):
    assert browser.get("/annotate/nope/").status_code == 404


# ---------------------------------------------------------------- tasks


def test_task_page_shows_both_responses_and_no_model_name(consented):
    response = consented.get("/annotate/pairs/task/")

    assert response.status_code == 200
    page = html(response)
    assert "Question 0?" in page
    assert "Answer 0 to 0." in page
    assert "Answer 1 to 0." in page
    for model in MODEL_NAMES:
        assert model not in page


def test_task_page_tells_the_keys(consented):
    page = html(consented.get("/annotate/pairs/task/"))

    assert "Keys:" in page
    for key in ("<kbd>1</kbd>", "<kbd>A</kbd>", "<kbd>2</kbd>", "<kbd>B</kbd>", "<kbd>S</kbd>"):
        assert key in page


def test_markup_in_a_response_is_escaped(consented, project):
    row = item_rows(1, prefix="x")[0]
    row["prompt"] = "Say <script>alert(1)</script>"
    row["responses"][0]["text"] = "<script>alert(1)</script>"
    project.tasks.all().delete()
    items_import(project=project, rows=[(1, row)])

    page = html(consented.get("/annotate/pairs/task/"))

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_htmx_vote_returns_the_next_task_card_alone(consented):
    first = consented.get("/annotate/pairs/task/")

    response = vote(consented, first, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    page = html(response)
    assert "<html" not in page
    assert 'id="task-card"' in page
    assert assignment_on(response).task_id != assignment_on(first).task_id
    assert "Question 1?" in page
    assert Judgment.objects.filter(assignment=assignment_on(first)).count() == 1


def test_vote_is_stored_for_the_response_shown_on_the_chosen_side(consented):
    page = consented.get("/annotate/pairs/task/")
    task = assignment_on(page).task
    texts = sorted((html(page).index(r.text), r) for r in (task.response_a, task.response_b))
    shown_right = texts[1][1]

    vote(consented, page, "right")

    judgment = Judgment.objects.get(task=task)
    assert judgment.choice == ("a" if shown_right == task.response_a else "b")
    assert judgment.shown_left == texts[0][1]
    assert judgment.source == Judgment.Source.PAGE


def test_plain_vote_returns_the_whole_page_with_the_next_task(consented):
    first = consented.get("/annotate/pairs/task/")

    response = vote(consented, first)

    assert "<html" in html(response)
    assert "Question 1?" in html(response)


def test_done_card_shows_the_completion_code(consented):
    vote(consented, consented.get("/annotate/pairs/task/"))
    second = consented.get("/annotate/pairs/task/")

    response = vote(consented, second, HTTP_HX_REQUEST="true")

    page = html(response)
    assert "<html" not in page
    assert "THANKS-42" in page
    assert "data-assignment" not in page


def test_page_when_nothing_is_left_after_an_answer_shows_the_completion_code(consented, project):
    second = vote(consented, consented.get("/annotate/pairs/task/"))

    response = consented.post(f"/annotate/pairs/assignments/{assignment_on(second).pk}/skip/")

    assert response.status_code == 200
    assert "THANKS-42" in html(response)


def test_nothing_left_without_a_single_answer_shows_no_completion_code(consented, project):
    project.tasks.update(judgment_count=1)

    response = consented.get("/annotate/pairs/task/")

    assert response.status_code == 200
    assert "THANKS-42" not in html(response)
    assert "did not answer any task" in html(response)


def test_skip_moves_on_and_never_shows_the_skipped_task_again(consented):
    first = consented.get("/annotate/pairs/task/")
    skipped = assignment_on(first)

    response = consented.post(f"/annotate/pairs/assignments/{skipped.pk}/skip/")

    assert assignment_on(response).task_id != skipped.task_id
    after_vote = vote(consented, response)
    assert "data-assignment" not in html(after_vote)  # done: the skipped task is not offered
    assert not Judgment.objects.filter(task=skipped.task).exists()


def test_rubric_page_shows_criteria_with_level_labels(browser, researcher):
    rubric = rubric_project(owner=researcher, slug="rated")
    import_items(rubric, 1, responses=1)
    browser.post("/annotate/rated/consent/")

    page = html(browser.get("/annotate/rated/task/"))

    assert "Helpfulness" in page
    assert "Correctness" in page
    assert "bad" in page and "great" in page
    assert 'name="criterion-helpfulness" value="4"' in page
    assert "Answer 0 to 0." in page
    assert "model-0" not in page


def test_rubric_vote_stores_the_scores(browser, researcher):
    rubric = rubric_project(owner=researcher, slug="rated")
    import_items(rubric, 1, responses=1)
    browser.post("/annotate/rated/consent/")
    assignment = assignment_on(browser.get("/annotate/rated/task/"))

    browser.post(
        f"/annotate/rated/assignments/{assignment.pk}/judgment/",
        {"criterion-helpfulness": "3", "criterion-correctness": "1"},
    )

    assert Judgment.objects.get().scores == {"helpfulness": 3, "correctness": 1}


def test_invalid_vote_shows_the_errors_on_the_same_task(consented, project):
    project.rationale = Project.Rationale.REQUIRED
    project.save()
    page = consented.get("/annotate/pairs/task/")

    response = vote(consented, page, HTTP_HX_REQUEST="true")

    assert "rationale" in html(response)
    assert assignment_on(response).pk == assignment_on(page).pk
    assert not Judgment.objects.exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_vote_after_the_lease_expired_shows_a_message_and_the_next_task(consented, htmx):
    page = consented.get("/annotate/pairs/task/")
    expired = assignment_on(page)
    Assignment.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = vote(consented, page, **headers)

    assert response.status_code == 200
    assert "lease on this assignment has expired" in html(response)
    assert 'id="task-card"' in html(response)
    assert not Judgment.objects.exists()


def test_vote_on_someone_elses_assignment_stores_nothing(consented, project):
    other = annotator_for_user(user=AnnotatorUserFactory())
    theirs = assignment_lease(project=project, annotator=other)

    response = consented.post(
        f"/annotate/pairs/assignments/{theirs.pk}/judgment/", {"choice": "left"}
    )

    assert response.status_code == 200
    assert "not yours" in html(response)
    assert not Judgment.objects.exists()


def test_conversation_prompt_shows_every_message(consented, project):
    row = item_rows(1, prefix="chat")[0]
    row["prompt"] = [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Name a prime."},
    ]
    project.tasks.all().delete()
    items_import(project=project, rows=[(1, row)])

    page = html(consented.get("/annotate/pairs/task/"))

    for text in ("Hello there", "Hi! How can I help?", "Name a prime."):
        assert text in page


def test_vote_with_a_strength_stores_it(consented, project):
    project.strength_scale = 3
    project.save()
    page = consented.get("/annotate/pairs/task/")
    assignment = assignment_on(page)

    consented.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/",
        {"choice": "left", "strength": "2"},
    )

    assert Judgment.objects.get().strength == 2
