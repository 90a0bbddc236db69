"""The review queue and adjudications (README "Researchers"): which tasks wait for a
decision, the decision stored with who, when and note, and the console page that makes it."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation.errors import PermissionDenied, ValidationFailed
from annotation.models import Adjudication, Annotator, Project, Task
from annotation.selectors.review import review_queue
from annotation.services.adjudication import adjudication_record
from annotation.services.assignment import assignment_lease
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.quality import annotator_block
from annotation.services.researchers import researcher_create
from tests.api.test_exports import import_votes, votes
from tests.factories import ProjectFactory, item_rows, make_annotator

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(lead) -> Project:
    """Four pairwise items (q0..q3), q3 a gold item whose answer is r1 (a)."""
    project = ProjectFactory(owner=lead, slug="pairs", allow_tie=True)
    rows = item_rows(4)
    rows[3]["gold"] = {"preferred": "r1"}
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    return project


def task_of(item: str) -> Task:
    return Task.objects.get(item__external_id=item)


def queued(project: Project) -> list[tuple[str, bool, bool]]:
    return [
        (task_of_id(row["task_id"]), row["split"], row["contradicts_gold"])
        for row in review_queue(project=project)
    ]


def task_of_id(task_id: int) -> str:
    return Task.objects.get(pk=task_id).item.external_id


def split_and_gold(project: Project) -> None:
    import_votes(
        project,
        votes("q0", "a", "a", "a")  # clear
        + votes("q1", "a", "b", "tie")  # split: 1/3 each
        + votes("q2", "a", "a", "b")  # 2/3 >= 0.6: clear
        + votes("q3", "b", "b", "a"),  # gold a, majority b
    )


@pytest.fixture
def client_of():
    def log_in(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return log_in


def labels_url(project: Project, task: Task) -> str:
    return f"/admin/annotation/project/{project.pk}/review/{task.pk}/labels/"


def url(project: Project, task: Task | None = None) -> str:
    base = f"/admin/annotation/project/{project.pk}/review/"
    return base if task is None else f"{base}{task.pk}/"


# ---------------------------------------------------------------- the queue


def test_queue_lists_split_and_gold_contradicting_tasks_only_oldest_first(project):
    split_and_gold(project)

    assert queued(project) == [("q1", True, False), ("q3", False, True)]


def test_review_min_share_decides_what_is_split(project):
    split_and_gold(project)
    project.review_min_share = 0.7
    project.save()

    assert [item for item, _, _ in queued(project)] == ["q1", "q2", "q3"]


def test_an_adjudicated_task_leaves_the_queue(project, lead):
    split_and_gold(project)

    adjudication_record(task=task_of("q1"), researcher=lead, label="a")

    assert [item for item, _, _ in queued(project)] == ["q3"]


def test_model_judges_and_flagged_annotators_do_not_split_a_task(project, lead):
    import_votes(project, votes("q0", "a", "a") + votes("q0", "b", "b", judge="gpt", kind="model"))
    import_votes(project, votes("q1", "a", "a") + votes("q1", "b", "b", judge="spam"))
    for annotator in Annotator.objects.filter(external_id__startswith="spam"):
        annotator_block(project=project, annotator=annotator, by=lead)

    assert queued(project) == []


# ---------------------------------------------------------------- the decision


def test_a_decision_is_stored_with_who_when_and_note_and_a_newer_one_replaces_it(project, lead):
    colleague = researcher_create(username="colleague")
    project.researchers.add(colleague)
    split_and_gold(project)
    task = task_of("q1")

    first = adjudication_record(task=task, researcher=lead, label="a", note="  A cites it.  ")
    adjudication_record(task=task, researcher=colleague, label="tie", note="")

    stored = Adjudication.objects.get(task=task)
    assert (first.label, first.note, first.researcher) == ("a", "A cites it.", lead)
    assert (stored.label, stored.note, stored.researcher) == ("tie", "", colleague)
    assert stored.decided_at > first.decided_at
    assert Adjudication.objects.count() == 1


@pytest.mark.parametrize(
    ("settings_", "label"),
    [({"allow_tie": False}, "tie"), ({"allow_both_bad": False}, "both_bad"), ({}, "left")],
)
def test_a_label_the_project_does_not_allow_is_refused_naming_label(
    project, lead, settings_, label
):
    Project.objects.filter(pk=project.pk).update(**settings_)
    task = task_of("q1")

    with pytest.raises(ValidationFailed) as refused:
        adjudication_record(task=task, researcher=lead, label=label)

    assert [e["field"] for e in refused.value.errors] == ["label"]
    assert not Adjudication.objects.exists()


def test_a_researcher_not_managing_the_project_cannot_decide(project):
    stranger = researcher_create(username="stranger")

    with pytest.raises(PermissionDenied):
        adjudication_record(task=task_of("q1"), researcher=stranger, label="a")

    assert not Adjudication.objects.exists()


# ---------------------------------------------------------------- the console page


def test_researcher_sees_the_queue_and_the_task_with_every_judgment(project, lead, client_of):
    split_and_gold(project)
    client = client_of(lead)

    queue = client.get(url(project)).content.decode()
    page = client.get(url(project, task_of("q1"))).content.decode()

    assert f"Task {task_of('q1').pk}" in queue and "contradicts gold" in queue
    assert f"Task {task_of('q0').pk}" not in queue
    assert "Answer 0 to 1." in page and "model-0" in page and "model-1" in page
    assert page.count('<td class="review-rationale">') == 3
    for key in ("1", "2", "3"):
        assert f'data-keys="{key}"' in page
    assert 'data-keys="4"' not in page  # the project does not allow "both bad"
    assert f'hx-get="{labels_url(project, task_of("q1"))}"' in page


def test_the_labels_come_after_the_page_as_the_labels_export_computes_them(
    project, lead, client_of
):
    split_and_gold(project)
    client = client_of(lead)
    export = client.get(
        "/api/v1/projects/pairs/export/", {"format": "labels", "include_gold": "true"}
    )
    exported = {
        row["item_id"]: row
        for row in map(json.loads, b"".join(export.streaming_content).splitlines())
    }

    split = client.get(labels_url(project, task_of("q1"))).content.decode()
    gold = client.get(labels_url(project, task_of("q3"))).content.decode()

    q1, q3 = exported["q1"], exported["q3"]
    assert f"posterior {q1['ds_posterior']:.3f}" in split
    assert f"posterior {q3['ds_posterior']:.3f}" in gold
    assert (q1["majority"], q3["majority"]) == (None, "b")
    assert "<html" not in split and 'id="review-computed"' in split
    assert "none (tied) · 0.33 of 3" in split
    assert "Majority</th><td>B · 0.67 of 3" in gold
    assert "Dawid-Skene</th><td>" in gold and "posterior" in gold


def test_deciding_by_htmx_stores_it_and_swaps_in_the_next_task(project, lead, client_of):
    split_and_gold(project)
    client = client_of(lead)
    q1, q3 = task_of("q1"), task_of("q3")

    response = client.post(
        url(project, q1), {"label": "b", "note": "B is right."}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert f'data-task="{q3.pk}"' in body and "<html" not in body
    assert f"Task {q1.pk} adjudicated: B." in body
    assert response.headers["HX-Push-Url"] == url(project, q3)
    stored = Adjudication.objects.get(task=q1)
    assert (stored.label, stored.note, stored.researcher) == ("b", "B is right.", lead)
    shown = client.get(url(project, q1)).content.decode()
    assert "<strong>B</strong> by lead" in shown and "B is right." in shown


def test_a_plain_post_goes_to_the_next_task_and_a_bad_label_is_a_400(project, lead, client_of):
    split_and_gold(project)
    client = client_of(lead)

    bad = client.post(url(project, task_of("q1")), {"label": "maybe", "note": "kept"})
    good = client.post(url(project, task_of("q1")), {"label": "a"})

    assert bad.status_code == 400 and "kept" in bad.content.decode()
    assert "label: must be one of a, b, tie" in bad.content.decode()
    assert good.status_code == 302 and good.headers["Location"] == url(project, task_of("q3"))


def test_a_vote_from_the_page_shows_its_choice_and_the_side_it_was_on(project, lead, client_of):
    annotator = make_annotator(username="ann")
    assignment = assignment_lease(project=project, annotator=annotator)
    judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    left_was_a = assignment.left_response_id == assignment.task.response_a_id

    page = client_of(lead).get(url(project, assignment.task)).content.decode()

    assert f'{"A" if left_was_a else "B"} <span class="review-side-note">(left on screen)' in page
    assert annotator.pseudonym in page


def test_a_refused_decision_by_htmx_shows_the_card_with_the_error_and_the_note(
    project, lead, client_of
):
    split_and_gold(project)
    task = task_of("q1")
    note = "x" * 5001

    response = client_of(lead).post(
        url(project, task), {"label": "a", "note": note}, headers={"HX-Request": "true"}
    )

    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps only 2xx answers
    assert f'data-task="{task.pk}"' in body and "note: at most 5000 characters" in body
    assert note in body
    assert not Adjudication.objects.exists()


def test_another_researcher_can_neither_see_nor_decide(project, client_of):
    split_and_gold(project)
    client = client_of(researcher_create(username="stranger"))
    task = task_of("q1")

    assert client.get(url(project)).status_code == 404
    assert client.get(url(project, task)).status_code == 404
    assert client.post(url(project, task), {"label": "a"}).status_code == 404
    assert not Adjudication.objects.exists()


def test_a_task_of_another_project_is_not_found_under_this_one(project, lead, client_of):
    other = ProjectFactory(owner=lead, slug="other")
    items_import(project=other, rows=list(enumerate(item_rows(1, prefix="x"), start=1)))

    response = client_of(lead).get(url(project, task_of("x0")))

    assert response.status_code == 404


def test_a_rubric_task_has_no_review_page(lead, client_of):
    rated = ProjectFactory(owner=lead, slug="rated", kind=Project.Kind.RUBRIC)
    items_import(project=rated, rows=list(enumerate(item_rows(1, responses=1), start=1)))
    client = client_of(lead)

    assert client.get(url(rated)).status_code == 200
    assert client.get(url(rated, Task.objects.get(project=rated))).status_code == 404


def grow(project: Project, items: int, judges: int) -> None:
    rows = item_rows(items, prefix=f"g{items}-")
    items_import(project=project, rows=list(enumerate(rows, start=1)))
    choices = ["a", "b", "tie"] * judges
    for i in range(items):
        import_votes(project, votes(f"g{items}-{i}", *choices[:judges], judge=f"j{items}-"))


def test_queue_and_task_pages_queries_do_not_grow_with_tasks_or_judgments(project, lead, client_of):
    client = client_of(lead)
    grow(project, 3, 3)
    small_task = Task.objects.get(item__external_id="g3-0")
    client.get(url(project))  # the session and the content types: warm
    client.get(url(project, small_task))
    with CaptureQueriesContext(connection) as small:
        assert client.get(url(project)).status_code == 200
    with CaptureQueriesContext(connection) as one_small:
        assert client.get(url(project, small_task)).status_code == 200
    with CaptureQueriesContext(connection) as labels_small:
        assert client.get(labels_url(project, small_task)).status_code == 200
    grow(project, 30, 6)
    large_task = Task.objects.get(item__external_id="g30-0")
    with CaptureQueriesContext(connection) as large:
        page = client.get(url(project))
    with CaptureQueriesContext(connection) as one_large:
        shown = client.get(url(project, large_task))
    with CaptureQueriesContext(connection) as labels_large:
        client.get(labels_url(project, large_task))

    assert page.content.decode().count(f"review/{large_task.pk}/") == 1
    assert shown.content.decode().count('<td class="review-rationale">') == 6
    assert len(large) == len(small)
    assert len(one_large) == len(one_small)
    assert len(labels_large) == len(labels_small)
