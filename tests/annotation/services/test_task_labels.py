"""The task-label store: each judged pairwise task's majority and Dawid-Skene label,
stored with every report, following new votes, gone with the task, and stored without
holding up leases or colliding with another report of the same project."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.db import connection, transaction

from annotation.models import Annotator, TaskLabel
from annotation.selectors.judgment_table import CHOICES, judgment_table
from annotation.services.reports import report_compute
from annotation.services.task_labels import task_labels_from_table, task_labels_store
from annotation.stats import dawid_skene
from tests.annotation.services.test_reports import _judge, _simulate_pairwise
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db


def test_task_labels_are_the_majority_and_the_dawid_skene_label_and_follow_new_votes():
    project = ProjectFactory(allow_both_bad=True)
    import_items(project, 3)
    tasks = list(project.tasks.order_by("id"))
    people = [
        Annotator.objects.create(source=Annotator.Source.IMPORT, external_id=f"p{i}")
        for i in range(4)
    ]
    votes = {0: ["a", "a", "b", "a"], 1: ["tie", "b", "tie", "b"], 2: ["both_bad", "b", "b"]}
    for t, choices in votes.items():
        for person, choice in zip(people, choices, strict=False):
            _judge(project, tasks[t], person, choice)
    report_compute(project=project, n_boot=10)
    labels = {label.task_id: label for label in TaskLabel.objects.filter(task__project=project)}
    first, tied, third = (labels[task.pk] for task in tasks)
    assert (first.n_judgments, first.majority, first.majority_share) == (4, "a", 0.75)
    assert (tied.majority, tied.majority_share) == ("", 0.5)
    assert (third.n_judgments, third.majority) == (3, "b")
    codes = {"a": 0, "b": 1, "tie": 2, "both_bad": 3}
    task_index = [t for t, choices in votes.items() for _ in choices]
    person_index = [p for choices in votes.values() for p in range(len(choices))]
    labels_given = [codes[c] for choices in votes.values() for c in choices]
    model = dawid_skene(task_index, person_index, labels_given, 4, max_iter=30, tol=1e-5)
    for position, label in enumerate((first, tied, third)):
        assert label.weighted == CHOICES[model.labels[position]]
        assert label.weighted_confidence == pytest.approx(
            model.posterior[position, model.labels[position]], abs=1e-12
        )
    _judge(project, tasks[2], people[3], "both_bad")
    _judge(project, tasks[1], Annotator.objects.create(external_id="p5"), "b")
    report_compute(project=project, n_boot=10)
    third.refresh_from_db()
    tied.refresh_from_db()
    assert (third.n_judgments, third.majority, third.majority_share) == (4, "", 0.5)
    assert (tied.n_judgments, tied.majority, tied.majority_share) == (5, "b", 0.6)


def test_deleting_an_item_deletes_the_labels_of_its_tasks():
    project = ProjectFactory()
    import_items(project, 3)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.8})
    report_compute(project=project, n_boot=10)
    item = project.items.order_by("pk").first()
    doomed = set(item.tasks.values_list("pk", flat=True))
    assert doomed <= set(TaskLabel.objects.values_list("task_id", flat=True))
    item.delete()
    remaining = set(TaskLabel.objects.values_list("task_id", flat=True))
    assert remaining and not doomed & remaining


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_tasks_can_be_leased_while_a_report_stores_their_labels():
    """A foreign-key check would lock each labelled task until the report commits, and the
    lease (FOR UPDATE SKIP LOCKED) would pass over exactly the tasks just voted on."""
    project = ProjectFactory()
    import_items(project, 3)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.8})
    humans = judgment_table(project=project)
    with transaction.atomic():
        task_labels_store(labels=task_labels_from_table(humans), project_id=project.pk)
        assert TaskLabel.objects.filter(task__project=project).count() == project.tasks.count()
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            free = other.execute(
                "SELECT id FROM annotation_task WHERE project_id = %s FOR UPDATE SKIP LOCKED",
                [project.pk],
            ).fetchall()
        assert len(free) == project.tasks.count()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reports_of_one_project_at_once_both_store_their_labels():
    """The labels are inserted without ON CONFLICT, so two reports must not interleave."""
    project = ProjectFactory()
    import_items(project, 4)
    _simulate_pairwise(project, annotators={"h1": 0.9, "h2": 0.8, "h3": 0.6})
    start = threading.Barrier(2)

    def report() -> int:
        try:
            start.wait()
            return report_compute(project=project, n_boot=10).pk
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = [pool.submit(report) for _ in range(2)]
        assert all(r.result() for r in reports)
    assert TaskLabel.objects.filter(task__project=project).count() == project.tasks.count()
