from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.errors import (
    AlreadyAnswered,
    LeaseExpired,
    PermissionDenied,
    ValidationFailed,
    VoteTooSoon,
)
from annotation.models import Assignment, Judgment, Project, Task
from annotation.services.assignment import assignment_lease
from annotation.services.judging import card_check_armed, card_token, judgment_submit
from tests.factories import (
    CriterionFactory,
    ProjectFactory,
    import_items,
    make_annotator,
    rubric_project,
)
from tests.postgres import race

pytestmark = pytest.mark.django_db


def _leased(project: Project):
    annotator = make_annotator()
    return annotator, assignment_lease(project=project, annotator=annotator)


def test_left_is_stored_as_the_response_shown_on_the_left():
    project = ProjectFactory()
    import_items(project, 1)
    annotator, assignment = _leased(project)
    judgment = judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    task = assignment.task
    expected = "a" if assignment.left_response_id == task.response_a_id else "b"
    assert judgment.choice == expected
    assert judgment.shown_left_id == assignment.left_response_id


def test_right_is_the_other_response():
    project = ProjectFactory()
    import_items(project, 1)
    annotator, assignment = _leased(project)
    judgment = judgment_submit(assignment=assignment, annotator=annotator, choice="right")
    expected = "b" if assignment.left_response_id == assignment.task.response_a_id else "a"
    assert judgment.choice == expected


def test_a_retry_with_the_same_answer_is_stored_once():
    project = ProjectFactory()
    import_items(project, 1)
    annotator, assignment = _leased(project)
    first = judgment_submit(assignment=assignment, annotator=annotator, choice="tie")
    second = judgment_submit(assignment=assignment, annotator=annotator, choice="tie")
    assert first.pk == second.pk
    assert Task.objects.get(pk=assignment.task_id).judgment_count == 1


def test_a_different_second_answer_is_refused():
    project = ProjectFactory()
    import_items(project, 1)
    annotator, assignment = _leased(project)
    judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    with pytest.raises(AlreadyAnswered):
        judgment_submit(assignment=assignment, annotator=annotator, choice="right")


def test_a_late_judgment_on_an_expired_lease_is_refused():
    project = ProjectFactory()
    import_items(project, 1)
    annotator, assignment = _leased(project)
    Assignment.objects.filter(pk=assignment.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(LeaseExpired):
        judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    assert not Judgment.objects.exists()


def test_someone_elses_assignment_is_refused():
    project = ProjectFactory()
    import_items(project, 1)
    _, assignment = _leased(project)
    with pytest.raises(PermissionDenied):
        judgment_submit(assignment=assignment, annotator=make_annotator(), choice="left")


@pytest.mark.parametrize(
    ("project_settings", "answer", "field"),
    [
        ({"allow_tie": False}, {"choice": "tie"}, "choice"),
        ({}, {"choice": "both_bad"}, "choice"),
        ({}, {"choice": "up"}, "choice"),
        ({"strength_scale": 3}, {"choice": "left", "strength": 4}, "strength"),
        ({"strength_scale": 3}, {"choice": "left"}, "strength"),
        ({}, {"choice": "left", "strength": 2}, "strength"),
        ({"rationale": "required"}, {"choice": "left", "rationale": "  "}, "rationale"),
        ({}, {"choice": "left", "seconds": -1}, "seconds"),
    ],
)
def test_answers_the_project_does_not_allow_are_refused(project_settings, answer, field):
    project = ProjectFactory(**project_settings)
    import_items(project, 1)
    annotator, assignment = _leased(project)
    with pytest.raises(ValidationFailed) as caught:
        judgment_submit(assignment=assignment, annotator=annotator, **answer)
    assert caught.value.errors[0]["field"] == field
    assert not Judgment.objects.exists()


def test_strength_and_rationale_are_kept_when_the_project_asks():
    project = ProjectFactory(strength_scale=3, rationale="optional")
    import_items(project, 1)
    annotator, assignment = _leased(project)
    judgment = judgment_submit(
        assignment=assignment,
        annotator=annotator,
        choice="right",
        strength=3,
        rationale="More precise.",
    )
    assert (judgment.strength, judgment.rationale) == (3, "More precise.")


def test_pairwise_criteria_are_stored_in_canonical_terms():
    project = ProjectFactory()
    CriterionFactory(project=project, key="honesty")
    import_items(project, 1)
    annotator, assignment = _leased(project)
    judgment = judgment_submit(
        assignment=assignment, annotator=annotator, choice="left", criteria={"honesty": "left"}
    )
    assert judgment.criteria == {"honesty": judgment.choice}


def test_rubric_scores_must_cover_every_criterion_within_range():
    project = rubric_project()
    import_items(project, 1, responses=1)
    annotator, assignment = _leased(project)
    with pytest.raises(ValidationFailed) as caught:
        judgment_submit(assignment=assignment, annotator=annotator, scores={"helpfulness": 5})
    fields = {e["field"] for e in caught.value.errors}
    assert fields == {"scores.helpfulness", "scores.correctness"}
    judgment = judgment_submit(
        assignment=assignment, annotator=annotator, scores={"helpfulness": 4, "correctness": 0}
    )
    assert judgment.scores == {"helpfulness": 4, "correctness": 0}


def test_every_problem_of_a_pairwise_answer_is_named_at_once_in_order():
    project = ProjectFactory(strength_scale=3, rationale="required")
    CriterionFactory(project=project, key="honesty")
    import_items(project, 1)
    annotator, assignment = _leased(project)
    with pytest.raises(ValidationFailed) as caught:
        judgment_submit(
            assignment=assignment,
            annotator=annotator,
            choice="left",
            strength=9,
            criteria={"honesty": "up", "tone": "left"},
            scores={"honesty": 3},
        )
    assert [e["field"] for e in caught.value.errors] == [
        "strength",
        "criteria.tone",
        "criteria.honesty",
        "scores",
        "rationale",
    ]
    assert not Judgment.objects.exists()


@pytest.mark.parametrize(
    ("answer", "fields"),
    [
        ({"scores": ["4", "0"]}, ["scores", "scores.helpfulness", "scores.correctness"]),
        (
            {"choice": "left", "strength": 2, "scores": {"helpfulness": 4, "style": 1}},
            ["choice", "strength", "scores.style", "scores.correctness"],
        ),
    ],
)
def test_every_problem_of_a_rubric_answer_is_named_at_once_in_order(answer, fields):
    project = rubric_project()
    import_items(project, 1, responses=1)
    annotator, assignment = _leased(project)
    with pytest.raises(ValidationFailed) as caught:
        judgment_submit(assignment=assignment, annotator=annotator, **answer)
    assert [e["field"] for e in caught.value.errors] == fields


def test_pairwise_criteria_that_are_not_an_object_are_refused():
    project = ProjectFactory()
    CriterionFactory(project=project, key="honesty")
    import_items(project, 1)
    annotator, assignment = _leased(project)
    with pytest.raises(ValidationFailed) as caught:
        judgment_submit(assignment=assignment, annotator=annotator, choice="left", criteria=["a"])
    assert [e["field"] for e in caught.value.errors] == ["criteria", "criteria.honesty"]


def test_time_on_task_is_measured_by_the_server():
    project = ProjectFactory()
    import_items(project, 1)
    annotator, assignment = _leased(project)
    Assignment.objects.filter(pk=assignment.pk).update(
        leased_at=timezone.now() - timedelta(seconds=30)
    )
    assignment.refresh_from_db()
    judgment = judgment_submit(
        assignment=assignment, annotator=annotator, choice="left", seconds=0.5
    )
    assert 29 < judgment.seconds < 60


def test_submit_query_count_is_fixed():
    project = ProjectFactory()
    import_items(project, 30)
    annotator = make_annotator()
    counts = []
    for _ in range(3):
        assignment = assignment_lease(project=project, annotator=annotator)
        assignment = Assignment.objects.select_related("project", "task").get(pk=assignment.pk)
        with CaptureQueriesContext(connection) as captured:
            judgment_submit(assignment=assignment, annotator=annotator, choice="left")
        counts.append(len(captured.captured_queries))
    # criteria, lock, count the vote, insert, quality figures (read + write), close the lease,
    # and the savepoints around them; the first vote also creates the quality row.
    assert counts[1] == counts[2] <= 10
    assert counts[0] <= counts[1] + 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("sampling", "items", "responses"), [("uniform", 30, 2), ("active", 10, 3)]
)
def test_racing_annotators_leave_every_task_at_exactly_k(sampling, items, responses):
    """24 threads, each with its own connection, lease and vote until nothing is left; with
    active sampling every lease first narrows the queue to one model pair of three."""
    project = ProjectFactory(
        annotations_per_task=3, lease_seconds=60, sampling=sampling, explore_share=0.0
    )
    import_items(project, items, responses=responses)
    annotators = [make_annotator() for _ in range(24)]
    acknowledged: list[int] = []

    def work(annotator) -> None:
        while True:
            assignment = assignment_lease(project=project, annotator=annotator)
            if assignment is None:
                return
            judgment = judgment_submit(assignment=assignment, annotator=annotator, choice="left")
            # A retry of the same vote is acknowledged but stored once.
            judgment_submit(assignment=assignment, annotator=annotator, choice="left")
            acknowledged.append(judgment.pk)

    failures = race(work, annotators)
    assert not failures, failures
    assert connection.vendor == "postgresql"
    per_task = {t.pk: t.judgment_count for t in Task.objects.filter(project=project)}
    stored = Judgment.objects.filter(project=project)
    assert set(per_task.values()) == {3}
    assert stored.count() == 90 == len(acknowledged) == len(set(acknowledged))
    pairs = list(stored.values_list("task_id", "annotator_id"))
    assert len(pairs) == len(set(pairs))


def test_a_vote_is_answered_even_when_the_report_refresh_cannot_be_scheduled(
    settings, monkeypatch, django_capture_on_commit_callbacks, caplog
):
    """Redis (cache and broker) down: the vote is stored and the annotator goes on; the
    refresh that could not be scheduled is logged, and beat recomputes the report later."""
    from django.core.cache import cache

    from annotation.services import reports

    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(reports, "_refresh_due", {})

    def redis_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(cache, "add", redis_down)
    project = ProjectFactory()
    import_items(project, 1)
    annotator, assignment = _leased(project)
    with django_capture_on_commit_callbacks(execute=True):
        judgment = judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    assert Judgment.objects.filter(pk=judgment.pk).exists()
    assert "Connection refused" in caplog.text


@pytest.mark.parametrize("choice", ["tie", "both_bad"])
@pytest.mark.parametrize("strength", [2, 9, "much"])
def test_a_tie_or_both_bad_clears_the_strength_instead_of_refusing(choice, strength):
    project = ProjectFactory(strength_scale=3, allow_both_bad=True)
    import_items(project, 1)
    annotator, assignment = _leased(project)

    judgment = judgment_submit(
        assignment=assignment, annotator=annotator, choice=choice, strength=strength
    )

    assert (judgment.choice, judgment.strength) == (choice, None)


def test_a_retried_tie_with_a_strength_is_the_same_vote():
    project = ProjectFactory(strength_scale=3)
    import_items(project, 1)
    annotator, assignment = _leased(project)
    first = judgment_submit(assignment=assignment, annotator=annotator, choice="tie", strength=2)

    again = judgment_submit(assignment=assignment, annotator=annotator, choice="tie", strength=2)

    assert again.pk == first.pk


# ---------------------------------------------------------------- arming (the task page)


def test_a_page_vote_sooner_than_arming_ms_after_the_card_was_served_is_refused():
    project = ProjectFactory(arming_ms=400)
    served = timezone.now()
    token = card_token(assignment_id=7, now=served)

    with pytest.raises(VoteTooSoon, match="came 150 ms after the task appeared") as caught:
        card_check_armed(
            project=project,
            assignment_id=7,
            token=token,
            now=served + timedelta(milliseconds=150),
        )
    assert caught.value.status == 409
    assert "400 ms" in caught.value.detail


def test_a_page_vote_after_arming_ms_is_armed():
    project = ProjectFactory(arming_ms=400)
    served = timezone.now()

    card_check_armed(
        project=project,
        assignment_id=7,
        token=card_token(assignment_id=7, now=served),
        now=served + timedelta(milliseconds=400),
    )


@pytest.mark.parametrize("token", [None, "", "garbage", "WzcsMV0:forged:signature"])
def test_a_page_vote_without_a_valid_card_token_is_refused(token):
    with pytest.raises(VoteTooSoon, match="did not say which task"):
        card_check_armed(project=ProjectFactory(arming_ms=400), assignment_id=7, token=token)


def test_the_token_of_another_card_does_not_arm_this_one():
    old = card_token(assignment_id=6, now=timezone.now() - timedelta(minutes=5))

    with pytest.raises(VoteTooSoon, match="another task"):
        card_check_armed(project=ProjectFactory(arming_ms=400), assignment_id=7, token=old)


def test_a_project_with_arming_ms_zero_takes_page_votes_at_once():
    card_check_armed(project=ProjectFactory(arming_ms=0), assignment_id=7, token=None)
