"""The judgment table: every judgment as numeric columns, the same on PostgreSQL (binary
arrays) and elsewhere (the ORM), checked against the judgments themselves."""

from __future__ import annotations

import math

import numpy as np
import psycopg
import pytest
from django.db import connection
from django.db.models import Q

from annotation.models import Annotator, Judgment, Project, Response, Task
from annotation.selectors import judgment_table as selector
from annotation.selectors.judgment_table import (
    CHOICES,
    COLUMNS,
    CRITERION_CHOICES,
    MISSING_SCORE,
    judgment_table,
)
from tests.factories import CriterionFactory, ProjectFactory, import_items

pytestmark = pytest.mark.django_db

DTYPES = {
    "seconds": np.float64,
    "is_model": np.bool_,
    "is_gold": np.bool_,
    "identity_leak": np.bool_,
}


def _annotator(name: str, kind: str = Annotator.Kind.HUMAN) -> Annotator:
    return Annotator.objects.create(source=Annotator.Source.IMPORT, external_id=name, kind=kind)


@pytest.fixture
def pairwise() -> Project:
    """Three models per item, so three tasks per item; judgments with every kind of gap."""
    project = ProjectFactory(allow_both_bad=True)
    CriterionFactory(project=project, key="helpful")
    CriterionFactory(project=project, key="honest")
    import_items(project, 3, responses=3)
    tasks = list(project.tasks.select_related("response_a", "response_b").order_by("id"))
    humans = [_annotator(f"h{i}") for i in range(3)]
    judge = _annotator("judge", Annotator.Kind.MODEL)
    answers = [*CHOICES, ""]
    criteria = [{"helpful": "a", "honest": "tie"}, {"helpful": "b"}, {}, {"helpful": "odd"}]
    rows = []
    for t, task in enumerate(tasks):
        task.is_gold = t == 2
        for a, annotator in enumerate([*humans, judge]):
            n = t * 4 + a
            rows.append(
                Judgment(
                    project=project,
                    task=task,
                    annotator=annotator,
                    choice=answers[n % len(answers)],
                    strength=None if n % 3 else n % 4,
                    shown_left=[None, task.response_a, task.response_b][n % 3],
                    seconds=None if n % 4 == 0 else n / 2,
                    is_gold=task.is_gold,
                    gold_correct=(n % 2 == 0) if task.is_gold else None,
                    criteria=criteria[n % len(criteria)],
                )
            )
    Task.objects.bulk_update(tasks, ["is_gold"])
    Judgment.objects.bulk_create(rows)
    # An answer that named its model: shown by two of its item's three tasks.
    Response.objects.filter(pk=tasks[1].response_b_id).update(identity_leak=True)
    return project


def _expected(project: Project) -> dict:
    """The columns as the table documents them, built from the judgments one by one."""
    judgments = list(
        Judgment.objects.filter(project=project)
        .select_related("task__response_a", "task__response_b", "annotator")
        .order_by("id")
    )
    names = sorted(
        {j.task.response_a.model for j in judgments}
        | {j.task.response_b.model for j in judgments if j.task.response_b}
    )

    def model(response):
        return names.index(response.model) if response else -1

    def code(value, labels):
        return labels.index(value) if value in labels else -1

    return {
        "judgment": [j.pk for j in judgments],
        "task": [j.task_id for j in judgments],
        "item": [j.task.item_id for j in judgments],
        "annotator": [j.annotator_id for j in judgments],
        "is_model": [j.annotator.kind == Annotator.Kind.MODEL for j in judgments],
        "choice": [code(j.choice, CHOICES) for j in judgments],
        "strength": [-1 if j.strength is None else j.strength for j in judgments],
        "left_is_a": [
            -1 if j.shown_left_id is None else int(j.shown_left_id == j.task.response_a_id)
            for j in judgments
        ],
        "seconds": [math.nan if j.seconds is None else j.seconds for j in judgments],
        "is_gold": [j.is_gold for j in judgments],
        "gold_correct": [-1 if j.gold_correct is None else int(j.gold_correct) for j in judgments],
        "model_a": [model(j.task.response_a) for j in judgments],
        "model_b": [model(j.task.response_b) for j in judgments],
        "identity_leak": [
            j.task.response_a.identity_leak
            or (j.task.response_b is not None and j.task.response_b.identity_leak)
            for j in judgments
        ],
        "models": names,
        "criteria": {
            key: [code(j.criteria.get(key), CRITERION_CHOICES) for j in judgments]
            for key in ("helpful", "honest")
        },
    }


def _assert_table_is(table, expected: dict) -> None:
    for name in COLUMNS:
        column = getattr(table, name)
        assert column.dtype == DTYPES.get(name, np.int64), name
        np.testing.assert_array_equal(column, np.array(expected[name]), err_msg=name)
    assert table.models == expected["models"]
    assert set(table.criteria) == set(expected["criteria"])
    for key, values in expected["criteria"].items():
        np.testing.assert_array_equal(table.criteria[key], values, err_msg=key)


def test_every_column_is_coded_as_documented(pairwise):
    _assert_table_is(judgment_table(project=pairwise), _expected(pairwise))


def test_judgments_after_the_cursor_are_left_out(pairwise):
    ids = list(pairwise.judgments.order_by("id").values_list("id", flat=True))
    table = judgment_table(project=pairwise, up_to_id=ids[9])
    assert table.judgment.tolist() == ids[:10]
    assert len(table.seconds) == len(table.criteria["helpful"]) == 10


def test_models_are_numbered_in_name_order_over_the_judged_tasks_only(pairwise):
    shows_model_2 = Q(task__response_a__model="model-2") | Q(task__response_b__model="model-2")
    pairwise.judgments.filter(shows_model_2).delete()
    table = judgment_table(project=pairwise)
    assert table.models == ["model-0", "model-1"]
    _assert_table_is(table, _expected(pairwise))


def test_a_project_without_judgments_gives_empty_columns(pairwise):
    pairwise.judgments.all().delete()
    table = judgment_table(project=pairwise)
    assert len(table) == 0
    assert table.seconds.dtype == np.float64
    assert table.models == []
    for name in COLUMNS:
        assert len(getattr(table, name)) == 0
    assert set(table.criteria) == {"helpful", "honest"}


def test_rubric_scores_are_read_per_criterion_with_gaps_as_missing():
    """A gap is MISSING_SCORE, never a score: -1 is a real one on a range below zero."""
    project = ProjectFactory(kind=Project.Kind.RUBRIC)
    CriterionFactory(project=project, key="clarity", min=-2, max=2)
    CriterionFactory(project=project, key="accuracy", min=0, max=4)
    CriterionFactory(project=project, key="fine", type="verdict", min=0, max=1)
    import_items(project, 2, responses=1)
    tasks = list(project.tasks.order_by("id"))
    scores = [{"clarity": 2, "accuracy": 0, "fine": False}, {"clarity": -1, "fine": True}, {}]
    for i, annotator in enumerate(_annotator(f"r{i}") for i in range(3)):
        for task in tasks:
            Judgment.objects.create(
                project=project, task=task, annotator=annotator, scores=scores[i]
            )
    table = judgment_table(project=project)
    gap = MISSING_SCORE
    assert table.criteria["clarity"].tolist() == [2, 2, -1, -1, gap, gap]
    assert table.criteria["accuracy"].tolist() == [0, 0, gap, gap, gap, gap]
    assert table.criteria["fine"].tolist() == [0, 0, 1, 1, gap, gap]
    assert table.model_b.tolist() == [-1] * 6
    assert table.models == ["model-0"]
    assert table.choice.tolist() == [-1] * 6


@pytest.mark.postgres
def test_postgres_arrays_equal_the_orm_rows(pairwise):
    criteria = list(pairwise.criteria.all())
    last = pairwise.judgments.order_by("id").values_list("id", flat=True)[20]
    for up_to_id in (None, last):
        arrays = selector._read_with_arrays(pairwise, criteria, up_to_id)
        rows = selector._read_with_orm(pairwise, criteria, up_to_id)
        for name in COLUMNS:
            np.testing.assert_array_equal(getattr(arrays, name), getattr(rows, name), name)
        assert arrays.models == rows.models
        for key in rows.criteria:
            np.testing.assert_array_equal(arrays.criteria[key], rows.criteria[key], key)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_large_project_is_read_in_two_halves_in_one_snapshot(pairwise, monkeypatch):
    """Above SPLIT_MIN_SPAN ids the upper half comes from a second connection at the same
    time; a vote changed once the read has begun is not seen by either half."""
    monkeypatch.setattr(selector, "SPLIT_MIN_SPAN", 0)
    criteria = list(pairwise.criteria.all())
    expected = selector._read_with_orm(pairwise, criteria, None)
    last = pairwise.judgments.order_by("-id").first()
    read_in_snapshot = selector._fetch_in_snapshot
    halves = []

    def change_a_vote_then_read(reader, snapshot, statement, params):
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute(
                "UPDATE annotation_judgment"
                " SET choice = CASE choice WHEN 'b' THEN 'a' ELSE 'b' END WHERE id = %s",
                [last.pk],
            )
        halves.append(params[-2:])
        return read_in_snapshot(reader, snapshot, statement, params)

    monkeypatch.setattr(selector, "_fetch_in_snapshot", change_a_vote_then_read)
    table = selector._read_with_arrays(pairwise, criteria, None)
    assert len(halves) == 1 and halves[0][1] == last.pk  # the upper half ends at the last id
    for name in COLUMNS:
        np.testing.assert_array_equal(getattr(table, name), getattr(expected, name), name)
    for key in expected.criteria:
        np.testing.assert_array_equal(table.criteria[key], expected.criteria[key], key)
    assert Judgment.objects.get(pk=last.pk).choice != last.choice


@pytest.mark.postgres
def test_packed_codes_keep_large_strengths_and_many_criteria():
    """Codes travel packed in bigints: the largest strength a column holds and a 40th criterion
    (the second packed column) come back as they were stored."""
    project = ProjectFactory()
    keys = [f"c{i:02d}" for i in range(40)]
    for key in keys:
        CriterionFactory(project=project, key=key)
    import_items(project, 1, responses=2)
    task = project.tasks.get()
    criteria = {key: CRITERION_CHOICES[i % 3] for i, key in enumerate(keys) if i % 4}
    Judgment.objects.create(
        project=project,
        task=task,
        annotator=_annotator("h"),
        choice="b",
        strength=2**15 - 1,
        criteria=criteria,
    )
    table = judgment_table(project=project)
    assert table.strength.tolist() == [2**15 - 1]
    assert table.choice.tolist() == [CHOICES.index("b")]
    for key in keys:
        expected = CRITERION_CHOICES.index(criteria[key]) if key in criteria else -1
        assert table.criteria[key].tolist() == [expected], key
