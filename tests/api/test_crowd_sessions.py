"""GET /api/v1/projects/{slug}/crowd-sessions/ (README "Annotator pages"), and staff who
annotate only in their own projects (README "Researchers")."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import Project
from annotation.services.assignment import assignment_lease, assignment_skip
from annotation.services.crowd import CrowdEntry, crowd_session_start
from annotation.services.judging import judgment_submit
from tests.factories import ProjectFactory, ResearcherFactory, import_items

pytestmark = pytest.mark.django_db

PID = "5f0c0a0b0c0d0e0f10111213"


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(owner=researcher, slug="study", annotations_per_task=1)
    import_items(project, 4)
    return project


def _visit(project: Project, session_id: str, *, when=None):
    entry = CrowdEntry(platform="prolific", worker_id=PID, study_id="st1", session_id=session_id)
    return crowd_session_start(project=project, entry=entry, client_address="192.0.2.1", now=when)


def _answer(project, annotator):
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice="left")


def _skip(project, annotator):
    assignment = assignment_lease(project=project, annotator=annotator)
    assignment_skip(assignment=assignment, annotator=annotator)


def test_each_visit_is_listed_with_the_work_done_in_it(researcher_client, project):
    first = _visit(project, "sess1", when=timezone.now() - timedelta(minutes=5))
    _answer(project, first.annotator)
    _skip(project, first.annotator)
    second = _visit(project, "sess2")
    _answer(project, second.annotator)

    body = researcher_client.get("/api/v1/projects/study/crowd-sessions/").json()

    rows = body["results"]
    assert [r["session_id"] for r in rows] == ["sess1", "sess2"]
    assert rows[0] | {"started_at": None} == {
        "id": first.pk,
        "platform": "prolific",
        "external_id": PID,
        "study_id": "st1",
        "session_id": "sess1",
        "started_at": None,
        "completed_at": None,
        "outcome": "",
        "answered": 1,
        "skipped": 1,
    }
    assert (rows[1]["answered"], rows[1]["skipped"]) == (1, 0)


def test_crowd_sessions_are_for_the_projects_researchers_only(project):
    _visit(project, "sess1")
    other = APIClient()
    other.force_authenticate(ResearcherFactory())

    assert other.get("/api/v1/projects/study/crowd-sessions/").status_code == 404
    assert APIClient().get("/api/v1/projects/study/crowd-sessions/").status_code == 401


def test_the_crowd_session_list_has_a_fixed_number_of_queries(
    researcher_client, project, django_assert_max_num_queries
):
    for n in range(5):
        entry = CrowdEntry(
            platform="prolific", worker_id=f"{n + 1:024x}", study_id="", session_id="s"
        )
        crowd_session_start(project=project, entry=entry, client_address=f"192.0.2.{n}")

    with django_assert_max_num_queries(4):
        researcher_client.get("/api/v1/projects/study/crowd-sessions/")


# ---------------------------------------------------------------- staff annotate only at home


def test_a_researcher_gets_no_task_in_another_researchers_project(project):
    outsider = APIClient()
    outsider.force_authenticate(ResearcherFactory())

    response = outsider.get("/api/v1/projects/study/tasks/next/")

    assert response.status_code == 403


def test_a_researcher_gets_no_task_in_a_members_only_project_of_another(project):
    project.access = Project.Access.MEMBERS
    project.save()
    outsider = APIClient()
    outsider.force_authenticate(ResearcherFactory())

    assert outsider.get("/api/v1/projects/study/tasks/next/").status_code == 403


def test_a_researcher_may_annotate_in_their_own_project(researcher_client, project):
    assert researcher_client.get("/api/v1/projects/study/tasks/next/").status_code == 200


def test_a_researcher_sees_only_their_projects_on_the_annotator_pages(project):
    ProjectFactory(slug="theirs", name="Someone else's study")
    browser = Client()
    browser.force_login(project.owner)

    listed = browser.get("/annotate/").content.decode()
    elsewhere = browser.get("/annotate/theirs/")

    assert project.name in listed and "Someone else" not in listed
    assert elsewhere.status_code == 403


def test_a_researcher_can_still_preview_their_project(project):
    browser = Client()
    browser.force_login(project.owner)

    assert browser.get("/annotate/study/preview/").status_code == 200
