"""Crowd entry through the pages: a GET only shows the start page; its POST signs the
worker in as a crowd identity that no other account can be reached through; completion
codes only for work done (README "Annotator pages")."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from annotation.models import Annotator, Assignment, CrowdSession, Judgment, Project
from annotation.services.importing import items_import
from tests.factories import AnnotatorUserFactory, ProjectFactory, ResearcherFactory, import_items

pytestmark = pytest.mark.django_db

PID = "5f0c0a0b0c0d0e0f10111213"
OTHER_PID = "60aa11bb22cc33dd44ee55ff"
PROLIFIC = {"PROLIFIC_PID": PID, "STUDY_ID": "study1", "SESSION_ID": "sess1"}
MTURK = {"workerId": "A1B2C3D4E5F6G7", "assignmentId": "3XYZASSIGN", "hitId": "3HITID"}


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(
        owner=researcher,
        slug="pairs",
        name="Which is better?",
        annotations_per_task=1,
        completion_code="THANKS-42",
        arming_ms=0,  # votes are posted at once here; arming is tested with the task page
    )
    import_items(project, 3)
    return project


def html(response) -> str:
    return response.content.decode()


def enter(client: Client, params: dict[str, str], slug: str = "pairs", **extra):
    """What a worker does: open the link, then press Start (a POST from that page)."""
    start = client.get(f"/annotate/{slug}/", params)
    assert start.status_code == 200, html(start)
    return client.post(f"/annotate/{slug}/", params, **extra)


def start_working(client: Client, params: dict[str, str] = PROLIFIC) -> None:
    enter(client, params)
    client.post("/annotate/pairs/consent/")


def assignment_on(response) -> Assignment:
    match = re.search(r'data-assignment="(\d+)"', html(response))
    assert match, "no task card on the page"
    return Assignment.objects.get(pk=int(match.group(1)))


def vote(client: Client, page, **headers):
    assignment = assignment_on(page)
    return client.post(
        f"/annotate/pairs/assignments/{assignment.pk}/judgment/", {"choice": "left"}, **headers
    )


def skip(client: Client, page, **headers):
    assignment = assignment_on(page)
    return client.post(f"/annotate/pairs/assignments/{assignment.pk}/skip/", **headers)


# ---------------------------------------------------------------- the GET changes nothing


def test_a_get_of_an_entry_link_shows_the_start_page_and_creates_nothing(client, project):
    response = client.get("/annotate/pairs/", PROLIFIC)

    assert response.status_code == 200
    assert "Start the study" in html(response)
    assert not Annotator.objects.exists()
    assert not get_user_model().objects.exclude(pk=project.owner_id).exists()
    assert "sessionid" not in response.cookies
    assert not response.wsgi_request.user.is_authenticated


def test_a_get_of_an_entry_link_keeps_a_signed_in_researcher_signed_in(client, project):
    """A response with ![x](/annotate/pairs/?PROLIFIC_PID=...) seen by a researcher."""
    client.force_login(project.owner)

    client.get("/annotate/pairs/", PROLIFIC)

    assert client.get("/admin/").status_code == 200
    assert not Annotator.objects.filter(source=Annotator.Source.PROLIFIC).exists()


def test_a_malformed_prolific_id_is_explained_and_has_no_start_button(client, project):
    response = client.get("/annotate/pairs/", {"PROLIFIC_PID": "<script>"})

    assert response.status_code == 200
    assert "Prolific ID in the link is not valid" in html(response)
    assert "Start the study" not in html(response)
    assert "<script>" not in html(response)


@pytest.mark.parametrize(
    "params",
    [
        {"PROLIFIC_PID": "alice"},
        {"PROLIFIC_PID": PID + "0"},
        {"PROLIFIC_PID": PID, "SESSION_ID": "a b"},
        {"workerId": "lab", "assignmentId": "X1", "hitId": "H1"},
        {"workerId": "A12345", "assignmentId": "X1", "hitId": "H1"},
        {"workerId": "a1b2c3d4e5f6g7", "assignmentId": "X1", "hitId": "H1"},
    ],
)
def test_a_post_with_a_malformed_id_is_refused_and_creates_nothing(client, project, params):
    response = client.post("/annotate/pairs/", params)

    assert response.status_code == 400
    assert not Annotator.objects.exists()
    assert not CrowdSession.objects.exists()


def test_the_start_post_needs_the_csrf_token(project):
    client = Client(enforce_csrf_checks=True)

    response = client.post("/annotate/pairs/", PROLIFIC)

    assert response.status_code == 403
    assert not Annotator.objects.exists()


def test_the_start_page_posts_with_its_csrf_token(project):
    client = Client(enforce_csrf_checks=True)
    page = html(client.get("/annotate/pairs/", PROLIFIC))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    response = client.post("/annotate/pairs/", {**PROLIFIC, "csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert Annotator.objects.filter(external_id=PID).exists()


# ---------------------------------------------------------------- the POST: a crowd identity


def test_prolific_entry_creates_a_crowd_identity_without_any_user_account(client, project):
    response = enter(client, PROLIFIC)

    assert response.status_code == 302
    annotator = Annotator.objects.get(source=Annotator.Source.PROLIFIC, external_id=PID)
    assert annotator.user is None
    assert not get_user_model().objects.exclude(pk=project.owner_id).exists()
    page = client.get(response["Location"])
    assert "I agree, start" in html(page)


def test_mturk_entry_creates_a_crowd_identity_and_records_the_hit(client, project):
    enter(client, MTURK)

    session = CrowdSession.objects.get()
    assert (session.platform, session.external_id) == ("mturk", "A1B2C3D4E5F6G7")
    assert (session.study_id, session.session_id) == ("3HITID", "3XYZASSIGN")
    assert session.annotator.user is None


def test_mturk_preview_explains_and_signs_nobody_in(client, project):
    response = client.get(
        "/annotate/pairs/", MTURK | {"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"}
    )

    assert response.status_code == 200
    assert "Accept the HIT" in html(response)
    assert "Start the study" not in html(response)
    assert not Annotator.objects.exists()


def test_the_same_worker_again_resumes_the_same_identity(client, project):
    enter(client, PROLIFIC)
    again = Client()

    enter(again, PROLIFIC | {"PROLIFIC_PID": PID.upper(), "SESSION_ID": "sess2"})

    annotator = Annotator.objects.get(source=Annotator.Source.PROLIFIC)
    assert annotator.external_id == PID
    assert annotator.session_id == "sess2"
    assert CrowdSession.objects.filter(annotator=annotator).count() == 2


def test_a_reload_of_the_entry_link_goes_on_working(client, project):
    start_working(client)

    response = client.get("/annotate/pairs/", PROLIFIC)

    assert response.status_code == 302
    assert response["Location"] == "/annotate/pairs/task/"


def test_an_account_named_like_a_crowd_worker_keeps_its_password_and_session(project):
    owner = AnnotatorUserFactory(username=f"prolific-{PID}")
    owner.set_password("correct horse battery")
    owner.save()
    theirs = Client()
    theirs.force_login(owner)
    attacker = Client()

    enter(attacker, PROLIFIC)
    start_working(attacker)

    owner.refresh_from_db()
    assert owner.has_usable_password() and owner.check_password("correct horse battery")
    assert theirs.get("/annotate/").wsgi_request.user == owner
    crowd = Annotator.objects.get(source=Annotator.Source.PROLIFIC)
    assert crowd.user is None and crowd != getattr(owner, "annotator", None)
    assert not attacker.get("/annotate/").wsgi_request.user.is_authenticated


def test_a_crowd_identity_never_reaches_a_staff_account(project):
    ResearcherFactory(username="mturk-A1B2C3D4E5F6G7", is_superuser=True)
    attacker = Client()

    enter(attacker, MTURK)

    assert attacker.get("/admin/").status_code == 302  # to the admin's sign-in
    assert "/admin/login/" in attacker.get("/admin/")["Location"]


def test_entering_signs_out_whoever_was_signed_in_in_that_browser(client, project):
    client.force_login(project.owner)
    start = client.get("/annotate/pairs/", PROLIFIC)
    assert "Starting the study signs you out" in html(start)

    client.post("/annotate/pairs/", PROLIFIC)

    assert client.get("/admin/").status_code == 302
    assert "Study participant" in html(client.get("/annotate/"))


def test_another_worker_in_the_same_browser_replaces_the_first(client, project):
    start_working(client)

    enter(client, PROLIFIC | {"PROLIFIC_PID": OTHER_PID})

    page = client.get("/annotate/pairs/", follow=True)
    assert "I agree, start" in html(page)  # the new identity has not consented yet


def test_a_new_worker_cannot_join_a_members_only_project(client, project):
    project.access = Project.Access.MEMBERS
    project.save()

    response = client.post("/annotate/pairs/", PROLIFIC)

    assert response.status_code == 403
    assert "invited workers only" in html(response)
    assert not Annotator.objects.exists()
    assert not project.members.exists()


def test_a_closed_project_shows_no_start_button(client, project):
    project.status = Project.Status.PAUSED
    project.save()

    response = client.get("/annotate/pairs/", PROLIFIC)

    assert "Start the study" not in html(response)
    assert "not accepting participants" in html(response)


def test_prolific_study_id_is_checked_when_the_project_sets_it(client, project):
    project.prolific_study_id = "study1"
    project.save()

    wrong = client.post("/annotate/pairs/", PROLIFIC | {"STUDY_ID": "other"})
    right = client.post("/annotate/pairs/", PROLIFIC)

    assert wrong.status_code == 400
    assert "another Prolific study" in html(wrong)
    assert right.status_code == 302


def test_new_identities_per_address_are_limited_with_a_429_page(project):
    project.crowd_new_per_hour = 3
    project.save()
    pids = [f"{n:024x}" for n in range(1, 5)]

    answers = [Client().post("/annotate/pairs/", {"PROLIFIC_PID": pid}) for pid in pids]

    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert "Too many new participants" in html(answers[-1])
    assert Annotator.objects.filter(source=Annotator.Source.PROLIFIC).count() == 3


def test_a_returning_worker_is_not_counted_against_the_limit(project):
    project.crowd_new_per_hour = 1
    project.save()
    Client().post("/annotate/pairs/", PROLIFIC)

    again = Client().post("/annotate/pairs/", PROLIFIC | {"SESSION_ID": "sess2"})

    assert again.status_code == 302


def test_another_address_has_its_own_limit(project):
    project.crowd_new_per_hour = 1
    project.save()
    Client(REMOTE_ADDR="10.0.0.1").post("/annotate/pairs/", {"PROLIFIC_PID": PID})

    other = Client(REMOTE_ADDR="10.0.0.2").post("/annotate/pairs/", {"PROLIFIC_PID": OTHER_PID})

    assert other.status_code == 302


def test_a_crowd_identity_works_only_where_it_entered(client, project):
    ProjectFactory(slug="elsewhere", annotations_per_task=1)
    import_items(Project.objects.get(slug="elsewhere"), 1)
    start_working(client)

    listed = html(client.get("/annotate/"))
    response = client.get("/annotate/elsewhere/", follow=True)

    assert "Which is better?" in listed and "elsewhere" not in listed
    assert "open this study from its link" in html(response)


def test_a_crowd_worker_votes_and_the_judgment_carries_the_study(client, project):
    start_working(client)

    vote(client, client.get("/annotate/pairs/task/"))

    judgment = Judgment.objects.get()
    assert judgment.annotator.external_id == PID
    assert (judgment.study_id, judgment.session_id) == ("study1", "sess1")


# ----------------------------------------------- completion (README "Annotator pages")


def test_skipping_every_task_earns_no_completion_code(client, project):
    start_working(client)
    page = client.get("/annotate/pairs/task/")
    for _ in range(3):
        page = skip(client, page)

    assert "THANKS-42" not in html(page)
    assert "did not answer any task" in html(page)
    assert CrowdSession.objects.get().outcome == CrowdSession.Outcome.SCREENED_OUT


def test_skipping_every_task_never_redirects_to_the_completion_url(client, project):
    project.completion_url = "https://app.prolific.com/submissions/complete?cc=THANKS-42"
    project.screenout_url = "https://app.prolific.com/submissions/complete?cc=SCREENED"
    project.save()
    start_working(client)
    page = client.get("/annotate/pairs/task/")
    page = skip(client, page)
    page = skip(client, page)

    last = skip(client, page, HTTP_HX_REQUEST="true")

    assert last["HX-Redirect"] == project.screenout_url


def test_a_screen_out_code_is_shown_when_set(client, project):
    project.screenout_code = "SCREENED-7"
    project.save()
    start_working(client)
    page = client.get("/annotate/pairs/task/")
    for _ in range(3):
        page = skip(client, page)

    assert "SCREENED-7" in html(page)


def test_answering_then_running_out_of_tasks_earns_the_code(client, project):
    start_working(client)
    page = client.get("/annotate/pairs/task/")
    page = vote(client, page)
    page = skip(client, page)

    page = skip(client, page)

    assert "THANKS-42" in html(page)
    session = CrowdSession.objects.get()
    assert session.outcome == CrowdSession.Outcome.COMPLETED
    assert session.completed_at is not None


def test_the_completion_url_redirects_only_after_work(client, project):
    project.completion_url = "https://app.prolific.com/submissions/complete?cc=THANKS-42"
    project.save()
    start_working(client)
    page = client.get("/annotate/pairs/task/")
    page = vote(client, page)
    page = vote(client, page)

    last = vote(client, page, HTTP_HX_REQUEST="true")

    assert last["HX-Redirect"] == project.completion_url
    assert Judgment.objects.count() == 3


def test_with_a_quota_skips_do_not_count_toward_it(client, project):
    project.max_tasks_per_annotator = 2
    project.save()
    import_items(project, 3, prefix="more")
    start_working(client)
    page = client.get("/annotate/pairs/task/")
    page = skip(client, page)
    page = skip(client, page)

    page = vote(client, page)

    assert "data-assignment" in html(page)  # one answer of the two: work goes on


def test_finish_early_needs_completion_min_answers(client, project):
    project.completion_min_answers = 2
    project.save()
    start_working(client)
    page = vote(client, client.get("/annotate/pairs/task/"))
    assert "finish and get my code" not in html(page)

    too_soon = client.post("/annotate/pairs/finish/", follow=True)
    assert "THANKS-42" not in html(too_soon)
    assert "at least 2 tasks" in html(too_soon)

    page = vote(client, client.get("/annotate/pairs/task/"))
    assert "finish and get my code" in html(page)
    done = client.post("/annotate/pairs/finish/")
    assert "THANKS-42" in html(done)
    assert CrowdSession.objects.get().outcome == CrowdSession.Outcome.COMPLETED


def test_a_local_annotator_who_only_skipped_sees_no_code(project):
    client = Client()
    client.force_login(AnnotatorUserFactory())
    client.post("/annotate/pairs/consent/")
    page = client.get("/annotate/pairs/task/")
    for _ in range(3):
        page = skip(client, page)

    assert "THANKS-42" not in html(page)


def test_a_worker_who_fails_the_quiz_is_screened_out(client, project):
    project.qualification_tasks = 1
    project.qualification_min_accuracy = 1.0
    project.screenout_code = "SCREENED-7"
    project.save()
    gold = [
        {
            "id": "gold1",
            "prompt": "2+2?",
            "responses": [
                {"id": "r1", "model": "m1", "text": "4"},
                {"id": "r2", "model": "m2", "text": "5"},
            ],
            "gold": {"preferred": "r1"},
        }
    ]
    items_import(project=project, rows=list(enumerate(gold, 1)))
    start_working(client)
    page = client.get("/annotate/pairs/task/")
    assignment = assignment_on(page)
    wrong = "right" if assignment.left_response.external_id == "r1" else "left"

    page = client.post(f"/annotate/pairs/assignments/{assignment.pk}/judgment/", {"choice": wrong})

    assert "SCREENED-7" in html(page)
    assert "THANKS-42" not in html(page)


def test_the_start_page_offers_no_sign_in_form_to_a_crowd_worker(client, project):
    page = html(client.get("/annotate/pairs/", PROLIFIC))

    assert 'href="/accounts/login/"' not in page


def test_the_sign_in_page_tells_study_participants_to_reopen_their_link(client):
    page = html(client.get("/accounts/login/"))

    assert "study's link again from the platform" in page
