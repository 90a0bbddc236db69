"""The crowd service: entry checks, identities, visits, rate limit and completion."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from annotation.errors import AnnotatorBlocked, CrowdEntryRefused, CrowdEntryThrottled
from annotation.models import Annotator, CrowdSession, Project
from annotation.services.assignment import assignment_lease, assignment_skip
from annotation.services.crowd import (
    CrowdEntry,
    client_key,
    completion_min_answers,
    crowd_end,
    crowd_entry_from_params,
    crowd_entry_problems,
    crowd_session_start,
)
from annotation.services.judging import judgment_submit
from tests.factories import ProjectFactory, import_items

PID = "5f0c0a0b0c0d0e0f10111213"


def prolific(worker: str = PID, session: str = "s1", study: str = "st") -> CrowdEntry:
    return CrowdEntry(platform="prolific", worker_id=worker, study_id=study, session_id=session)


@pytest.fixture
def project(db) -> Project:
    project = ProjectFactory(slug="crowd", annotations_per_task=1)
    import_items(project, 3)
    return project


def test_entry_parameters_are_read_for_each_platform():
    assert crowd_entry_from_params({"PROLIFIC_PID": PID, "STUDY_ID": "a", "SESSION_ID": "b"}) == (
        CrowdEntry("prolific", PID, "a", "b")
    )
    mturk = crowd_entry_from_params(
        {"workerId": "A1B2C3D4E5F6G7", "hitId": "H", "assignmentId": "X"}
    )
    assert mturk == CrowdEntry("mturk", "A1B2C3D4E5F6G7", "H", "X")
    preview = crowd_entry_from_params({"assignmentId": "ASSIGNMENT_ID_NOT_AVAILABLE"})
    assert preview.preview and preview.session_id == ""
    assert crowd_entry_from_params({"next": "/"}) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("worker", "valid"),
    [
        (PID, True),
        (PID.upper(), True),
        ("5f0c0a0b0c0d0e0f1011121", False),
        ("5f0c0a0b0c0d0e0f1011121g", False),
        ("", False),
    ],
)
def test_prolific_ids_are_24_hexadecimal_characters(project, worker, valid):
    assert (not crowd_entry_problems(project=project, entry=prolific(worker))) is valid


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("worker", "valid"),
    [
        ("A1B2C3D4E5F6G7", True),
        ("A" + "B" * 12, True),
        ("A" + "B" * 20, True),
        ("A" + "B" * 11, False),
        ("A" + "B" * 21, False),
        ("B1B2C3D4E5F6G7", False),
        ("A1b2c3d4e5f6g7", False),
    ],
)
def test_mturk_worker_ids_are_a_and_12_to_20_capitals_and_digits(project, worker, valid):
    entry = CrowdEntry(platform="mturk", worker_id=worker, study_id="H", session_id="X")
    assert (not crowd_entry_problems(project=project, entry=entry)) is valid


@pytest.mark.django_db
def test_a_malformed_entry_is_refused_and_creates_nothing(project):
    with pytest.raises(CrowdEntryRefused):
        crowd_session_start(project=project, entry=prolific("alice"), client_address="192.0.2.1")
    assert not Annotator.objects.exists()


@pytest.mark.django_db
def test_an_upper_case_prolific_id_is_the_same_worker(project):
    first = crowd_session_start(project=project, entry=prolific(), client_address="192.0.2.1")
    second = crowd_session_start(
        project=project, entry=prolific(PID.upper(), session="s2"), client_address="192.0.2.1"
    )
    assert first.annotator_id == second.annotator_id
    assert second.external_id == PID


@pytest.mark.django_db
def test_the_same_visit_twice_is_one_crowd_session(project):
    first = crowd_session_start(project=project, entry=prolific(), client_address="192.0.2.1")
    again = crowd_session_start(project=project, entry=prolific(), client_address="192.0.2.1")
    assert first.pk == again.pk
    assert CrowdSession.objects.count() == 1


@pytest.mark.django_db
def test_the_client_address_is_kept_only_as_a_keyed_hash(project):
    session = crowd_session_start(project=project, entry=prolific(), client_address="192.0.2.77")
    assert "192.0.2.77" not in session.client_key
    assert session.client_key == client_key("192.0.2.77") != client_key("192.0.2.78")


@pytest.mark.django_db
def test_new_identities_per_address_and_hour_are_limited(project):
    project.crowd_new_per_hour = 2
    project.save()
    for n in (1, 2):
        crowd_session_start(
            project=project, entry=prolific(f"{n:024x}"), client_address="192.0.2.1"
        )
    with pytest.raises(CrowdEntryThrottled):
        crowd_session_start(
            project=project, entry=prolific(f"{3:024x}"), client_address="192.0.2.1"
        )
    an_hour_later = timezone.now() + timedelta(hours=1, seconds=1)
    crowd_session_start(
        project=project, entry=prolific(f"{3:024x}"), client_address="192.0.2.1", now=an_hour_later
    )
    assert Annotator.objects.count() == 3


@pytest.mark.django_db
def test_a_blocked_worker_cannot_start_again(project):
    first = crowd_session_start(project=project, entry=prolific(), client_address="192.0.2.1")
    Annotator.objects.filter(pk=first.annotator_id).update(is_blocked=True)
    with pytest.raises(AnnotatorBlocked):
        crowd_session_start(project=project, entry=prolific(session="s2"), client_address="x")
    assert CrowdSession.objects.count() == 1


def _answer(project, annotator):
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice="left")


def _skip(project, annotator):
    assignment = assignment_lease(project=project, annotator=annotator)
    assignment_skip(assignment=assignment, annotator=annotator)


@pytest.mark.django_db
def test_completion_needs_the_minimum_unless_nothing_is_left(project):
    project.completion_code, project.screenout_code = "DONE", "OUT"
    project.completion_min_answers = 2
    project.save()
    visit = crowd_session_start(project=project, entry=prolific(), client_address="192.0.2.1")
    worker = visit.annotator
    _answer(project, worker)

    early = crowd_end(project=project, annotator=worker, nothing_left=False, session=visit)
    at_the_end = crowd_end(project=project, annotator=worker, nothing_left=True, session=visit)

    assert (early.completed, at_the_end.completed) == (False, True)
    assert at_the_end.code == "DONE"
    visit.refresh_from_db()
    assert visit.outcome == CrowdSession.Outcome.COMPLETED


@pytest.mark.django_db
def test_only_skips_end_in_the_screen_out(project):
    project.completion_code, project.screenout_code = "DONE", "OUT"
    project.save()
    visit = crowd_session_start(project=project, entry=prolific(), client_address="192.0.2.1")
    for _ in range(3):
        _skip(project, visit.annotator)

    end = crowd_end(project=project, annotator=visit.annotator, nothing_left=True, session=visit)

    assert (end.completed, end.code, end.answered) == (False, "OUT", 0)
    visit.refresh_from_db()
    assert visit.outcome == CrowdSession.Outcome.SCREENED_OUT


@pytest.mark.django_db
def test_the_minimum_defaults_to_the_quota_else_one(project):
    assert completion_min_answers(project) == 1
    project.max_tasks_per_annotator = 5
    assert completion_min_answers(project) == 5
    project.completion_min_answers = 3
    assert completion_min_answers(project) == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_tabs_entering_at_once_make_one_identity():
    project = ProjectFactory(slug="race", annotations_per_task=1)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def enter(n: int) -> None:
        try:
            barrier.wait()
            crowd_session_start(
                project=project, entry=prolific(session=f"s{n % 2}"), client_address="192.0.2.1"
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=enter, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert Annotator.objects.filter(source="prolific").count() == 1
    assert CrowdSession.objects.count() == 2
