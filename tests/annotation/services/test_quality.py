from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.errors import AnnotatorBlocked
from annotation.exports.query import ExportFilters
from annotation.exports.readers import judgment_rows
from annotation.models import AnnotatorStats, Assignment, Judgment
from annotation.services.assignment import assignment_lease, project_check_open_for
from annotation.services.importing import items_import
from annotation.services.judging import judgment_submit
from annotation.services.quality import FLAG_LOW_GOLD, FLAG_ONE_SIDE, FLAG_TOO_FAST, annotator_block
from tests.factories import ProjectFactory, ResearcherFactory, import_items, make_annotator

pytestmark = pytest.mark.django_db


def _vote_all(project, annotator, choice="left", *, seconds_ago: float = 10.0) -> int:
    votes = 0
    while (assignment := assignment_lease(project=project, annotator=annotator)) is not None:
        Assignment.objects.filter(pk=assignment.pk).update(
            leased_at=timezone.now() - timedelta(seconds=seconds_ago)
        )
        assignment.refresh_from_db()
        judgment_submit(assignment=assignment, annotator=annotator, choice=choice)
        votes += 1
    return votes


def test_an_always_left_annotator_is_flagged():
    project = ProjectFactory(flag_min_judgments=10)
    import_items(project, 20)
    clicker = make_annotator()
    _vote_all(project, clicker, "left")
    stats = AnnotatorStats.objects.get(project=project, annotator=clicker)
    assert stats.left_rate == 1.0
    assert FLAG_ONE_SIDE in stats.flags


def test_an_honest_annotator_whose_choices_follow_content_is_not_flagged():
    project = ProjectFactory(flag_min_judgments=10, annotations_per_task=1)
    import_items(project, 30)
    annotator = make_annotator()
    while (assignment := assignment_lease(project=project, annotator=annotator)) is not None:
        Assignment.objects.filter(pk=assignment.pk).update(
            leased_at=timezone.now() - timedelta(seconds=10)
        )
        assignment.refresh_from_db()
        # Always prefers response a, wherever it is shown.
        side = "left" if assignment.left_response_id == assignment.task.response_a_id else "right"
        judgment_submit(assignment=assignment, annotator=annotator, choice=side)
    stats = AnnotatorStats.objects.get(project=project, annotator=annotator)
    assert stats.flags == []
    assert 0.1 < stats.left_rate < 0.9


def test_too_fast_votes_raise_a_flag():
    project = ProjectFactory(flag_min_judgments=5, min_seconds_per_task=3, flag_side_rate=1.0)
    import_items(project, 6)
    speeder = make_annotator()
    _vote_all(project, speeder, "tie", seconds_ago=0.5)
    assert FLAG_TOO_FAST in AnnotatorStats.objects.get(annotator=speeder).flags


def test_gold_accuracy_is_kept_up_to_date():
    project = ProjectFactory(gold_rate=1.0, flag_min_judgments=2, flag_side_rate=1.0)
    rows = [
        {
            "id": f"g{i}",
            "prompt": "p",
            "gold": {"preferred": "r1"},
            "responses": [{"model": "m", "text": "a"}, {"model": "n", "text": "b"}],
        }
        for i in range(2)
    ] + [
        {
            "id": "q",
            "prompt": "p",
            "responses": [{"model": "m", "text": "a"}, {"model": "n", "text": "b"}],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    annotator = make_annotator()
    while (assignment := assignment_lease(project=project, annotator=annotator)) is not None:
        wrong = "right" if assignment.left_response_id == assignment.task.response_a_id else "left"
        judgment_submit(assignment=assignment, annotator=annotator, choice=wrong)
    stats = AnnotatorStats.objects.get(annotator=annotator)
    assert (stats.gold_judgments, stats.gold_accuracy) == (2, 0.0)
    assert FLAG_LOW_GOLD in stats.flags
    assert list(Judgment.objects.filter(is_gold=True).values_list("gold_correct", flat=True)) == [
        False,
        False,
    ]


def test_flagged_annotators_are_left_out_of_exports_by_default_but_kept():
    project = ProjectFactory(flag_min_judgments=5, annotations_per_task=2)
    import_items(project, 8)
    clicker, honest = make_annotator(), make_annotator()
    _vote_all(project, clicker, "left")
    _vote_all(project, honest, "tie")
    default = list(judgment_rows(project=project, filters=ExportFilters()))
    everything = list(judgment_rows(project=project, filters=ExportFilters(exclude_flagged=False)))
    assert {r["annotator"] for r in default} == {honest.pseudonym}
    assert len(everything) == 16 == Judgment.objects.count()


def test_a_blocked_annotator_gets_no_more_tasks_in_that_project_only():
    project, other = ProjectFactory(), ProjectFactory()
    import_items(project, 2)
    import_items(other, 2)
    annotator = make_annotator()
    annotator_block(project=project, annotator=annotator, reason="random clicking")
    with pytest.raises(AnnotatorBlocked):
        assignment_lease(project=project, annotator=annotator)
    assert assignment_lease(project=other, annotator=annotator) is not None


def test_a_block_keeps_who_blocked_and_why_for_researchers_only():
    researcher = ResearcherFactory(username="rosalind")
    project = ProjectFactory(owner=researcher)
    import_items(project, 2)
    annotator = make_annotator()
    stats = annotator_block(
        project=project, annotator=annotator, reason="clicks at random", by=researcher
    )
    assert (stats.blocked_by, stats.blocked_reason) == (researcher, "clicks at random")
    with pytest.raises(AnnotatorBlocked) as caught:
        assignment_lease(project=project, annotator=annotator)
    assert "rosalind" not in caught.value.detail and "random" not in caught.value.detail
    assert caught.value.detail == AnnotatorBlocked.default_detail
    with pytest.raises(AnnotatorBlocked) as caught:  # the vote path's check
        project_check_open_for(project=project, annotator=annotator)
    assert caught.value.detail == AnnotatorBlocked.default_detail


def test_unblocking_forgets_who_blocked():
    researcher = ResearcherFactory()
    project, annotator = ProjectFactory(owner=researcher), make_annotator()
    annotator_block(project=project, annotator=annotator, by=researcher)
    stats = annotator_block(project=project, annotator=annotator, blocked=False)
    assert not stats.is_blocked and stats.blocked_by is None and stats.blocked_reason == ""


def test_deleting_the_researcher_who_blocked_keeps_the_block():
    researcher = ResearcherFactory()
    project, annotator = ProjectFactory(), make_annotator()
    stats = annotator_block(project=project, annotator=annotator, by=researcher)
    researcher.delete()
    stats.refresh_from_db()
    assert stats.is_blocked and stats.blocked_by is None


def _quiz_project(**kwargs):
    project = ProjectFactory(qualification_tasks=2, gold_rate=0.0, **kwargs)
    rows = [
        {
            "id": f"g{i}",
            "prompt": "p",
            "gold": {"preferred": "r1"},
            "responses": [{"model": "m", "text": "a"}, {"model": "n", "text": "b"}],
        }
        for i in range(3)
    ] + [
        {
            "id": f"q{i}",
            "prompt": "p",
            "responses": [{"model": "m", "text": "a"}, {"model": "n", "text": "b"}],
        }
        for i in range(3)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    return project


def _answer(assignment, annotator, right: bool):
    r1_left = assignment.left_response_id == assignment.task.response_a_id
    side = "left" if r1_left == right else "right"
    judgment_submit(assignment=assignment, annotator=annotator, choice=side)


def test_the_qualification_quiz_comes_first_and_passing_it_opens_the_work():
    project = _quiz_project()
    annotator = make_annotator()
    for _ in range(2):
        assignment = assignment_lease(project=project, annotator=annotator)
        assert assignment.task.is_gold
        _answer(assignment, annotator, right=True)
    assert AnnotatorStats.objects.get(annotator=annotator).qualified is True
    assert not assignment_lease(project=project, annotator=annotator).task.is_gold


def test_failing_the_quiz_stops_the_annotator_with_a_kind_message():
    project = _quiz_project()
    annotator = make_annotator()
    for _ in range(2):
        _answer(assignment_lease(project=project, annotator=annotator), annotator, right=False)
    with pytest.raises(AnnotatorBlocked, match="qualification quiz"):
        assignment_lease(project=project, annotator=annotator)
