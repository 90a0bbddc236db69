"""The annotator pages: project list, consent, one task after another, crowd entry."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
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
        arming_ms=0,  # these tests vote at once; the arming tests below turn it on
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
    rubric = rubric_project(owner=researcher, slug="rated", arming_ms=0)
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
    rubric = rubric_project(owner=researcher, slug="rated", arming_ms=0)
    import_items(rubric, 1, responses=1)
    browser.post("/annotate/rated/consent/")
    assignment = assignment_on(browser.get("/annotate/rated/task/"))

    browser.post(
        f"/annotate/rated/assignments/{assignment.pk}/judgment/",
        {"criterion-helpfulness": "3", "criterion-correctness": "1"},
    )

    assert Judgment.objects.get().scores == {"helpfulness": 3, "correctness": 1}


def test_invalid_htmx_vote_answers_what_to_fix_alone_so_the_page_keeps_its_card(consented, project):
    project.rationale = Project.Rationale.REQUIRED
    project.save()
    page = consented.get("/annotate/pairs/task/")

    response = vote(consented, page, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert 'class="refusal"' in html(response)
    assert "Why? This project asks for a reason." in html(response)
    assert 'id="task-card"' not in html(response)
    assert not Judgment.objects.exists()


def test_invalid_plain_vote_shows_the_same_task_with_the_rationale_and_choices_kept(
    consented, project
):
    project.strength_scale = 3
    project.rationale = Project.Rationale.OPTIONAL
    project.save()
    page = consented.get("/annotate/pairs/task/")
    assignment = assignment_on(page)

    response = consented.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/",
        {"choice": "left", "rationale": "A is kinder & shorter", "strength": "9"},
    )

    assert response.status_code == 400
    assert assignment_on(response).pk == assignment.pk
    assert "A is kinder &amp; shorter</textarea>" in html(response)
    assert "How much better? Choose one of the levels." in html(response)
    assert not Judgment.objects.exists()


def test_htmx_vote_after_the_lease_expired_keeps_the_card_and_says_why(consented):
    page = consented.get("/annotate/pairs/task/")
    expired = assignment_on(page)
    Assignment.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = vote(consented, page, HTTP_HX_REQUEST="true")

    assert response.status_code == 410
    assert "lease on this assignment has expired" in html(response)
    assert 'id="task-card"' not in html(response)
    assert 'href="/annotate/pairs/task/"' in html(response)  # go on to the next task
    assert not Judgment.objects.exists()


def test_plain_vote_after_the_lease_expired_shows_a_message_and_the_next_task(consented):
    page = consented.get("/annotate/pairs/task/")
    expired = assignment_on(page)
    Assignment.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = vote(consented, page)

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


# ---------------------------------------------------------------- one vote per seen card


@pytest.fixture
def armed(project) -> Project:
    project.arming_ms = 400
    project.save()
    return project


def served_token(response) -> str:
    match = re.search(r'name="served" value="([^"]+)"', html(response))
    assert match, "no served token on the card"
    return match.group(1)


def post_vote(client: Client, page, choice: str = "left", **headers):
    """A vote as the page sends it: with the card's served token."""
    assignment = assignment_on(page)
    return client.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/",
        {"choice": choice, "served": served_token(page)},
        **headers,
    )


def test_a_vote_sooner_than_arming_ms_after_the_card_was_served_is_a_409(consented, armed):
    page = consented.get("/annotate/pairs/task/")

    response = post_vote(consented, page, HTTP_HX_REQUEST="true")

    assert response.status_code == 409
    assert "400 ms a task must be on screen" in html(response)
    assert 'id="task-card"' not in html(response)  # the page keeps its card
    assert not Judgment.objects.exists()
    assert assignment_on(page).status == Assignment.Status.LEASED


def test_a_vote_after_arming_ms_is_stored(consented, armed):
    armed.arming_ms = 30
    armed.save()
    page = consented.get("/annotate/pairs/task/")
    time.sleep(0.05)

    response = post_vote(consented, page, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert Judgment.objects.filter(assignment=assignment_on(page)).count() == 1


def test_a_page_vote_without_the_served_token_is_a_409(consented, armed):
    page = consented.get("/annotate/pairs/task/")

    response = vote(consented, page, HTTP_HX_REQUEST="true")

    assert response.status_code == 409
    assert not Judgment.objects.exists()


def test_a_plain_post_too_soon_shows_the_same_card_again(consented, armed):
    page = consented.get("/annotate/pairs/task/")

    response = post_vote(consented, page)

    assert response.status_code == 409
    assert assignment_on(response).pk == assignment_on(page).pk
    assert "400 ms a task must be on screen" in html(response)


def test_a_retried_page_vote_is_stored_once_and_answers_the_next_card(consented):
    page = consented.get("/annotate/pairs/task/")

    first = post_vote(consented, page, HTTP_HX_REQUEST="true")
    retry = post_vote(consented, page, HTTP_HX_REQUEST="true")

    assert (first.status_code, retry.status_code) == (200, 200)
    assert Judgment.objects.filter(assignment=assignment_on(page)).count() == 1
    assert assignment_on(retry).pk == assignment_on(first).pk != assignment_on(page).pk


def test_the_card_says_how_long_it_must_be_on_screen_and_how_long_its_lease_runs(consented):
    page = html(consented.get("/annotate/pairs/task/"))

    assert 'data-arming-ms="0"' in page
    assert 'data-lease-seconds="900"' in page
    assert re.search(r'data-expires-in="(899|900)"', page)
    assert re.search(r'data-renew-url="/annotate/pairs/assignments/\d+/renew/"', page)


def test_a_page_vote_takes_a_number_of_queries_that_does_not_grow_with_tasks(browser, researcher):
    counts = []
    for items in (2, 12):
        slug = f"many-{items}"
        project = ProjectFactory(owner=researcher, slug=slug, arming_ms=5)
        import_items(project, items)
        browser.post(f"/annotate/{slug}/consent/")
        page = browser.get(f"/annotate/{slug}/task/")
        assignment = assignment_on(page)
        time.sleep(0.01)  # armed: the check reads the signed token, not the database
        with CaptureQueriesContext(connection) as queries:
            response = browser.post(
                f"/annotate/{slug}/assignments/{assignment.pk}/judgment/",
                {"choice": "left", "served": served_token(page)},
                HTTP_HX_REQUEST="true",
            )
        assert response.status_code == 200
        counts.append(len(queries))

    assert counts[0] == counts[1]


# ---------------------------------------------------------------- forgiving forms


@pytest.mark.parametrize("choice", ["tie", "both_bad"])
def test_a_tie_or_both_bad_with_a_strength_picked_is_stored_without_it(consented, project, choice):
    project.strength_scale = 3
    project.allow_both_bad = True
    project.save()
    page = consented.get("/annotate/pairs/task/")
    assignment = assignment_on(page)

    response = consented.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/",
        {"choice": choice, "strength": "3"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert (Judgment.objects.get().choice, Judgment.objects.get().strength) == (choice, None)


def test_a_preference_without_a_strength_says_to_choose_one(consented, project):
    project.strength_scale = 3
    project.save()
    page = consented.get("/annotate/pairs/task/")

    response = vote(consented, page, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert "How much better? Choose one of the levels." in html(response)


# ---------------------------------------------------------------- visible failures


def test_a_blocked_annotator_s_vote_replaces_the_card_with_the_reason(
    consented, annotator_user, project
):
    page = consented.get("/annotate/pairs/task/")
    annotator = annotator_for_user(user=annotator_user)
    annotator.is_blocked = True
    annotator.save()

    response = vote(consented, page, HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    assert 'id="task-card"' in html(response)
    assert "<html" not in html(response)
    assert "You can no longer work on this project" in html(response)
    assert "task-form" not in html(response)
    assert not Judgment.objects.exists()


def test_a_failed_quiz_replaces_the_card_with_its_message(consented, project):
    project.qualification_tasks = 1
    project.qualification_min_accuracy = 1.0
    project.save()
    gold = item_rows(1, prefix="gold")[0]
    gold["gold"] = {"preferred": "r1"}
    items_import(project=project, rows=[(1, gold)])
    page = consented.get("/annotate/pairs/task/")
    assignment = assignment_on(page)
    assert assignment.task.is_gold
    wrong = "right" if assignment.left_response.external_id == "r1" else "left"

    response = vote(consented, page, wrong, HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    assert 'id="task-card"' in html(response)
    assert "qualification quiz" in html(response)


def test_someone_elses_assignment_is_refused_in_the_alert_and_the_card_stays(consented, project):
    other = annotator_for_user(user=AnnotatorUserFactory())
    theirs = assignment_lease(project=project, annotator=other)

    response = consented.post(
        f"/annotate/pairs/assignments/{theirs.pk}/judgment/",
        {"choice": "left"},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 403
    assert "not yours" in html(response)
    assert 'id="task-card"' not in html(response)


def test_an_expired_session_s_htmx_vote_is_sent_to_sign_in_and_back_to_the_project(client, project):
    response = client.post(
        "/annotate/pairs/assignments/1/judgment/", {"choice": "left"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/annotate/pairs/"
    assert response.content == b""


def test_an_expired_session_s_plain_vote_signs_in_to_the_project_not_to_a_405(client, project):
    response = client.post("/annotate/pairs/assignments/1/judgment/", {"choice": "left"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/annotate/pairs/"


def test_an_expired_session_s_page_load_comes_back_to_the_same_page(client, project):
    response = client.get("/annotate/pairs/task/")

    assert response["Location"] == "/accounts/login/?next=/annotate/pairs/task/"


# ---------------------------------------------------------------- renewing from the page


def renew_on_page(client: Client, assignment_id: int, slug: str = "pairs"):
    return client.post(f"/annotate/{slug}/assignments/{assignment_id}/renew/")


def test_the_page_renews_its_lease(consented, project):
    project.lease_seconds = 30
    project.save()
    assignment = assignment_on(consented.get("/annotate/pairs/task/"))
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() + timedelta(seconds=3)
    )

    response = renew_on_page(consented, assignment.pk)

    assert response.status_code == 200
    assert set(response.json()) == {"expires_at"}
    assert Assignment.objects.get(pk=assignment.pk).expires_at > timezone.now() + timedelta(
        seconds=25
    )


def test_the_page_cannot_renew_a_lapsed_lease(consented):
    assignment = assignment_on(consented.get("/annotate/pairs/task/"))
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    response = renew_on_page(consented, assignment.pk)

    assert response.status_code == 410
    assert "expired" in response.json()["detail"]


def test_the_page_cannot_renew_someone_elses_lease(consented, project):
    theirs = assignment_lease(
        project=project, annotator=annotator_for_user(user=AnnotatorUserFactory())
    )

    assert renew_on_page(consented, theirs.pk).status_code == 403


def test_the_page_cannot_renew_a_lease_of_another_project(consented, project, researcher):
    other = ProjectFactory(owner=researcher, slug="other")
    import_items(other, 1)
    assignment = assignment_on(consented.get("/annotate/pairs/task/"))

    assert renew_on_page(consented, assignment.pk, slug="other").status_code == 404


def test_a_crowd_identity_renews_its_lease_from_the_page(client, project):
    params = {"PROLIFIC_PID": "5f0c0a0b0c0d0e0f10111213", "STUDY_ID": "s", "SESSION_ID": "x"}
    client.get("/annotate/pairs/", params)
    client.post("/annotate/pairs/", params)
    client.post("/annotate/pairs/consent/", {"version": project.consent_version})
    assignment = assignment_on(client.get("/annotate/pairs/task/"))
    assert assignment.annotator.is_crowd

    assert renew_on_page(client, assignment.pk).status_code == 200


def test_an_expired_session_s_renewal_is_told_to_sign_in(client, project):
    response = renew_on_page(client, 1, slug="pairs")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/annotate/pairs/"


# ---------------------------------------------------------------- the page's settings


def test_single_key_shortcuts_are_on_until_turned_off(consented):
    page = html(consented.get("/annotate/pairs/task/"))

    assert re.search(r'id="shortcuts-toggle" name="shortcuts" checked', page)


def test_turning_the_shortcuts_off_is_remembered_for_the_annotator(
    consented, annotator_user, project
):
    response = consented.post(
        "/annotate/settings/shortcuts/", {"next": "/annotate/pairs/task/"}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 204
    assert annotator_for_user(user=annotator_user).shortcuts_enabled is False
    page = html(consented.get("/annotate/pairs/task/"))
    assert 'id="shortcuts-toggle" name="shortcuts">' in page


def test_turning_the_shortcuts_back_on_without_javascript_returns_to_the_page(
    consented, annotator_user
):
    response = consented.post(
        "/annotate/settings/shortcuts/", {"shortcuts": "on", "next": "/annotate/pairs/task/"}
    )

    assert response["Location"] == "/annotate/pairs/task/"
    assert annotator_for_user(user=annotator_user).shortcuts_enabled is True


def test_the_shortcuts_setting_never_redirects_off_site(consented):
    response = consented.post("/annotate/settings/shortcuts/", {"next": "https://evil.example/"})

    assert response["Location"] == "/annotate/"


# ---------------------------------------------------------------- layout and small things


def test_older_conversation_turns_fold_under_show_earlier_turns(consented, project):
    row = item_rows(1, prefix="chat")[0]
    row["prompt"] = [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "First answer"},
        {"role": "user", "content": "The last question"},
    ]
    project.tasks.all().delete()
    items_import(project=project, rows=[(1, row)])

    page = html(consented.get("/annotate/pairs/task/"))

    folded, _, shown = page.partition("</details>")
    assert "Show earlier turns (2)" in folded
    assert "First question" in folded and "First answer" in folded
    assert "The last question" in shown


def test_prompt_and_responses_are_keyboard_focusable_named_boxes(consented):
    page = html(consented.get("/annotate/pairs/task/"))

    assert 'class="conversation scroll" tabindex="0" role="region" aria-label="Prompt"' in page
    for label in ("label-a", "label-b"):
        assert f'tabindex="0" role="region" aria-labelledby="{label}"' in page


def test_an_empty_response_shows_a_placeholder(consented, project):
    row = item_rows(1, prefix="blank")[0]
    row["responses"][1]["text"] = "   "
    project.tasks.all().delete()
    items_import(project=project, rows=[(1, row)])

    page = html(consented.get("/annotate/pairs/task/"))

    assert page.count("(empty response)") == 1


def test_the_too_fast_warning_of_a_rubric_task_speaks_of_one_response(browser, researcher):
    rubric = rubric_project(owner=researcher, slug="rated", arming_ms=0, min_seconds_per_task=60)
    import_items(rubric, 2, responses=1)
    browser.post("/annotate/rated/consent/")
    assignment = assignment_on(browser.get("/annotate/rated/task/"))

    response = browser.post(
        f"/annotate/rated/assignments/{assignment.pk}/judgment/",
        {"criterion-helpfulness": "3", "criterion-correctness": "1"},
        HTTP_HX_REQUEST="true",
    )

    assert "read the response before you answer" in html(response)
    assert "both responses" not in html(response)


def test_the_completion_code_has_a_copy_button(consented):
    vote(consented, consented.get("/annotate/pairs/task/"))

    page = html(vote(consented, consented.get("/annotate/pairs/task/")))

    assert '<code id="end-code" class="completion-code">THANKS-42</code>' in page
    assert 'data-copy="end-code"' in page


def test_a_signed_in_annotator_can_sign_out(consented):
    assert "Sign out" in html(consented.get("/annotate/pairs/task/"))


def test_a_crowd_worker_sees_no_sign_out(client, project):
    params = {"PROLIFIC_PID": "5f0c0a0b0c0d0e0f10111213", "STUDY_ID": "s", "SESSION_ID": "x"}
    client.get("/annotate/pairs/", params)
    client.post("/annotate/pairs/", params)
    client.post("/annotate/pairs/consent/", {"version": project.consent_version})

    page = html(client.get("/annotate/pairs/task/"))

    assert 'id="task-card"' in page
    assert "Sign out" not in page
    assert "Study participant" in page
