"""How an import writes: every field as the ORM would store it, re-imports that change only
what differs, and imports into one project taking turns (PostgreSQL writes with COPY)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from annotation.models import Item, Response, Task
from annotation.services.importing import items_import
from tests.factories import ProjectFactory, item_rows, rubric_project

pytestmark = pytest.mark.django_db


def _numbered(rows: list[dict]) -> list[tuple[int, dict]]:
    return list(enumerate(rows, start=1))


def test_new_items_responses_and_tasks_hold_every_field():
    project = ProjectFactory()
    chat = [{"role": "user", "content": "Hi, ✓"}]
    row = item_rows(1, responses=3)[0] | {
        "prompt": chat,
        "metadata": {"source": "x", "n": 1},
        "gold": {"preferred": "r2"},
    }

    items_import(project=project, rows=_numbered([row]))

    item = Item.objects.get(project=project)
    assert (item.external_id, item.prompt, item.metadata) == ("q0", chat, {"source": "x", "n": 1})
    assert item.gold == {"preferred": "r2"} and item.reference is None
    assert item.created_at is not None and item.updated_at is not None
    responses = list(item.responses.order_by("position"))
    assert [(r.external_id, r.model, r.text, r.position) for r in responses] == [
        ("r1", "model-0", "Answer 0 to 0.", 0),
        ("r2", "model-1", "Answer 1 to 0.", 1),
        ("r3", "model-2", "Answer 2 to 0.", 2),
    ]
    tasks = {
        (t.response_a.external_id, t.response_b.external_id): t
        for t in Task.objects.filter(project=project)
    }
    assert set(tasks) == {("r1", "r2"), ("r1", "r3"), ("r2", "r3")}
    assert tasks[("r1", "r2")].gold_answer == {"choice": "b"} and tasks[("r1", "r2")].is_gold
    assert tasks[("r1", "r3")].gold_answer is None and not tasks[("r1", "r3")].is_gold
    assert all(t.judgment_count == 0 and t.created_at for t in tasks.values())
    assert all(t.item_id == item.pk for t in tasks.values())


def test_rubric_items_get_one_task_per_response_with_gold_scores():
    project = rubric_project()
    row = item_rows(1, responses=2)[0] | {"gold": {"scores": {"r2": {"helpfulness": 3}}}}

    items_import(project=project, rows=_numbered([row]))

    answers = dict(Task.objects.values_list("response_a__external_id", "gold_answer"))
    assert answers == {"r1": None, "r2": {"scores": {"helpfulness": 3}}}
    assert not Task.objects.filter(response_b__isnull=False).exists()


def test_reimport_changes_only_what_differs():
    project = ProjectFactory()
    rows = item_rows(3)
    items_import(project=project, rows=_numbered(rows))
    before = {i.external_id: i for i in Item.objects.filter(project=project)}
    responses_before = set(Response.objects.values_list("pk", flat=True))

    rows[1]["metadata"] = {"fixed": True}
    rows[2]["responses"][0]["text"] = "A better answer."
    rows[2]["responses"].append({"id": "r3", "model": "model-9", "text": "A third."})
    result = items_import(project=project, rows=_numbered(rows))

    assert (result.items_created, result.items_updated, result.items_unchanged) == (0, 2, 1)
    assert (result.responses_created, result.tasks_created) == (1, 2)
    after = {i.external_id: i for i in Item.objects.filter(project=project)}
    assert after["q0"].updated_at == before["q0"].updated_at
    assert after["q1"].updated_at > before["q1"].updated_at
    assert after["q1"].metadata == {"fixed": True}
    assert Response.objects.get(item__external_id="q2", external_id="r1").text == (
        "A better answer."
    )
    assert Response.objects.filter(item__project=project).count() == 7
    assert responses_before <= set(Response.objects.values_list("pk", flat=True))


def test_reimport_sets_gold_on_a_pair_stored_the_other_way_round():
    project = ProjectFactory()
    row = item_rows(1)[0]
    items_import(project=project, rows=_numbered([row]))

    flipped = row | {"pairs": [["r2", "r1"]], "gold": {"preferred": "r2"}}
    result = items_import(project=project, rows=_numbered([flipped]))

    task = Task.objects.get(project=project)
    assert result.tasks_created == 0
    assert (task.response_a.external_id, task.gold_answer, task.is_gold) == (
        "r1",
        {"choice": "b"},
        True,
    )


def test_reimport_of_an_unchanged_file_changes_nothing():
    project = ProjectFactory()
    rows = item_rows(2, responses=3)
    items_import(project=project, rows=_numbered(rows))
    snapshot = list(Item.objects.values_list("pk", "updated_at"))
    tasks = list(Task.objects.values_list("pk", "response_a_id", "response_b_id", "gold_answer"))

    result = items_import(project=project, rows=_numbered(rows))

    assert result.as_dict() == {
        "items_created": 0,
        "items_updated": 0,
        "items_unchanged": 2,
        "responses_created": 0,
        "tasks_created": 0,
    }
    assert list(Item.objects.values_list("pk", "updated_at")) == snapshot
    assert (
        list(Task.objects.values_list("pk", "response_a_id", "response_b_id", "gold_answer"))
        == tasks
    )


def test_many_items_are_looked_up_and_written_in_bulk(django_assert_max_num_queries):
    project = ProjectFactory()
    rows = item_rows(2500)
    items_import(project=project, rows=_numbered(rows))
    rows[0]["prompt"] = "Changed?"

    with django_assert_max_num_queries(40):
        result = items_import(project=project, rows=_numbered(rows))

    assert (result.items_updated, result.items_unchanged, result.tasks_created) == (1, 2499, 0)
    assert Item.objects.get(project=project, external_id="q0").prompt == "Changed?"
    assert Task.objects.filter(project=project).count() == 2500


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_file_at_once_take_turns():
    project = ProjectFactory()
    rows = _numbered(item_rows(300))
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            items_import(project=project, rows=rows)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert Item.objects.filter(project=project).count() == 300
    assert Task.objects.filter(project=project).count() == 300
