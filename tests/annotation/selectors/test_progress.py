"""An annotator's progress bar: the quota, or the tasks still open to them, counted only as
far as it can change what the bar shows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Assignment, Project
from annotation.selectors import progress
from annotation.selectors.progress import annotator_progress
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from tests.factories import ProjectFactory, import_items, make_annotator

pytestmark = pytest.mark.django_db


def _vote(project: Project, annotator) -> Assignment:
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    return assignment


def test_without_a_quota_the_target_is_every_task_still_open_to_them():
    project = ProjectFactory(annotations_per_task=2)
    import_items(project, 4)
    annotator = make_annotator()
    _vote(project, annotator)
    assert annotator_progress(project=project, annotator=annotator) == {"done": 1, "target": 4}


@pytest.mark.parametrize(
    ("items", "per_task", "quota", "target"),
    [
        (5, 2, 2, 2),  # enough tasks left: the quota
        (3, 1, 10, 3),  # fewer left than the quota: what is left
    ],
)
def test_a_quota_is_the_target_while_enough_tasks_are_left(items, per_task, quota, target):
    project = ProjectFactory(annotations_per_task=per_task, max_tasks_per_annotator=quota)
    import_items(project, items)
    annotator = make_annotator()
    _vote(project, annotator)
    assert annotator_progress(project=project, annotator=annotator) == {
        "done": 1,
        "target": target,
    }


def test_more_open_tasks_than_are_counted_give_no_total(monkeypatch):
    monkeypatch.setattr(progress, "OPEN_TASKS_COUNTED", 3)
    project = ProjectFactory()
    import_items(project, 5)
    annotator = make_annotator()
    assert annotator_progress(project=project, annotator=annotator) == {
        "done": 0,
        "target": None,
    }
    with CaptureQueriesContext(connection) as captured:
        annotator_progress(project=project, annotator=annotator)
    assert "LIMIT 3" in captured.captured_queries[-1]["sql"]


def test_a_task_they_hold_stays_open_to_them_though_others_finished_it():
    # Their own lease is not finished; somebody else's submitted vote on the same task does
    # not make it theirs.
    project = ProjectFactory(annotations_per_task=3)
    import_items(project, 2)
    annotator, other = make_annotator(), make_annotator()
    assignment_lease(project=project, annotator=annotator)
    _vote(project, other)
    _vote(project, other)  # the other annotator has now voted on both tasks
    assert annotator_progress(project=project, annotator=annotator) == {"done": 0, "target": 2}


def test_the_task_page_says_how_many_are_done_when_there_is_no_total(client, monkeypatch):
    monkeypatch.setattr(progress, "OPEN_TASKS_COUNTED", 2)
    project = ProjectFactory(slug="big")
    import_items(project, 4)
    annotator = make_annotator()
    client.force_login(annotator.user)
    client.post("/annotate/big/consent/")
    html = client.get("/annotate/big/task/").content.decode()
    assert 'id="task-card"' in html
    assert "Done: <strong>0</strong>" in html
    assert "<progress" not in html
