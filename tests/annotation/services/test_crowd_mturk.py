"""The crowd service and MTurk's ExternalQuestion: where a HIT is submitted (turkSubmitTo)
is kept only when it is MTurk's live or sandbox site, and a completed visit ends with
MTurk's externalSubmit."""

from __future__ import annotations

import pytest

from annotation.models import Project
from annotation.services.assignment import assignment_lease
from annotation.services.crowd import (
    CrowdEntry,
    crowd_end,
    crowd_entry_from_params,
    crowd_session_start,
    mturk_submit_origin,
)
from annotation.services.judging import judgment_submit
from tests.factories import ProjectFactory, import_items

WORKER = {"workerId": "A1B2C3D4E5F6G7", "hitId": "3HIT", "assignmentId": "3ASSIGN"}


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://www.mturk.com", "https://www.mturk.com"),
        ("https://workersandbox.mturk.com/", "https://workersandbox.mturk.com"),
        (" HTTPS://WWW.MTURK.COM ", "https://www.mturk.com"),
        ("https://worker.mturk.com", ""),
        ("http://www.mturk.com", ""),
        ("https://www.mturk.com.example.org", ""),
        ("https://www.mturk.com@example.org", ""),
        ("//www.mturk.com", ""),
        ("", ""),
    ],
)
def test_only_mturks_live_and_sandbox_sites_are_submit_targets(given, kept):
    assert mturk_submit_origin(given) == kept
    entry = crowd_entry_from_params(WORKER | {"turkSubmitTo": given})
    assert entry.submit_to == kept


def test_a_prolific_link_has_no_submit_target():
    entry = crowd_entry_from_params(
        {"PROLIFIC_PID": "5f0c0a0b0c0d0e0f10111213", "turkSubmitTo": "https://www.mturk.com"}
    )
    assert entry.submit_to == ""


@pytest.fixture
def project(db) -> Project:
    project = ProjectFactory(slug="hits", annotations_per_task=1, completion_code="DONE-1")
    import_items(project, 1)
    return project


def _entry(**changes) -> CrowdEntry:
    return crowd_entry_from_params(WORKER | {"turkSubmitTo": "https://www.mturk.com"} | changes)


def _answer_everything(project: Project, session) -> None:
    assignment = assignment_lease(project=project, annotator=session.annotator)
    judgment_submit(assignment=assignment, annotator=session.annotator, choice="left")


def test_the_visit_keeps_its_submit_target(project):
    session = crowd_session_start(project=project, entry=_entry(), client_address="10.0.0.1")

    assert session.submit_to == "https://www.mturk.com"


def test_the_same_assignment_opened_from_the_sandbox_updates_it(project):
    crowd_session_start(project=project, entry=_entry(), client_address="10.0.0.1")

    again = crowd_session_start(
        project=project,
        entry=_entry(turkSubmitTo="https://workersandbox.mturk.com"),
        client_address="10.0.0.1",
    )

    assert again.submit_to == "https://workersandbox.mturk.com"


def test_a_completed_visit_is_submitted_to_externalsubmit(project):
    project.completion_url = "https://example.org/done"
    project.save()
    session = crowd_session_start(project=project, entry=_entry(), client_address="10.0.0.1")
    _answer_everything(project, session)

    end = crowd_end(
        project=project, annotator=session.annotator, nothing_left=True, session=session
    )

    assert end.completed and end.code == "DONE-1"
    assert end.submit_url == "https://www.mturk.com/mturk/externalSubmit"
    assert end.assignment_id == "3ASSIGN"
    assert end.url == ""  # no redirect away from MTurk's frame


def test_a_visit_without_a_submit_target_ends_as_before(project):
    project.completion_url = "https://example.org/done"
    project.save()
    session = crowd_session_start(
        project=project, entry=_entry(turkSubmitTo=""), client_address="10.0.0.1"
    )
    _answer_everything(project, session)

    end = crowd_end(
        project=project, annotator=session.annotator, nothing_left=True, session=session
    )

    assert (end.url, end.submit_url) == ("https://example.org/done", "")


def test_an_unfinished_visit_is_never_submitted(project):
    session = crowd_session_start(project=project, entry=_entry(), client_address="10.0.0.1")

    end = crowd_end(
        project=project, annotator=session.annotator, nothing_left=True, session=session
    )

    assert not end.completed and end.submit_url == ""
