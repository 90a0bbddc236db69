from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.errors import AnnotatorBlocked, LeaseExpired, PermissionDenied, ProjectNotOpen
from annotation.models import Assignment, Project
from annotation.services.assignment import assignment_lease, assignment_renew, assignment_skip
from annotation.services.judging import judgment_submit
from tests.factories import ProjectFactory, import_items, make_annotator

pytestmark = pytest.mark.django_db


def _vote(project: Project, annotator) -> Assignment | None:
    assignment = assignment_lease(project=project, annotator=annotator)
    if assignment is not None:
        judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    return assignment


def test_lease_picks_a_task_and_a_random_side():
    project = ProjectFactory()
    import_items(project, 1)
    assignment = assignment_lease(project=project, annotator=make_annotator())
    task = assignment.task
    assert assignment.left_response_id in (task.response_a_id, task.response_b_id)
    assert assignment.expires_at > timezone.now()


def test_sides_are_randomised_across_assignments():
    project = ProjectFactory(annotations_per_task=1)
    import_items(project, 40)
    annotator = make_annotator()
    left_is_a = []
    for _ in range(40):
        assignment = _vote(project, annotator)
        left_is_a.append(assignment.left_response_id == assignment.task.response_a_id)
    assert 5 < sum(left_is_a) < 35


def test_reload_resumes_the_same_lease():
    project = ProjectFactory()
    import_items(project, 3)
    annotator = make_annotator()
    first = assignment_lease(project=project, annotator=annotator)
    assert assignment_lease(project=project, annotator=annotator).pk == first.pk


def test_an_annotator_never_gets_a_task_twice():
    project = ProjectFactory(annotations_per_task=3)
    import_items(project, 2)
    annotator = make_annotator()
    seen = []
    while (assignment := _vote(project, annotator)) is not None:
        seen.append(assignment.task_id)
    assert len(seen) == len(set(seen)) == 2


def test_each_task_gets_exactly_k_distinct_annotators():
    project = ProjectFactory(annotations_per_task=2)
    import_items(project, 3)
    annotators = [make_annotator() for _ in range(5)]
    for annotator in annotators:
        while _vote(project, annotator) is not None:
            pass
    counts = sorted(project.tasks.values_list("judgment_count", flat=True))
    assert counts == [2, 2, 2]


def test_tasks_closest_to_done_come_first():
    project = ProjectFactory(annotations_per_task=3)
    import_items(project, 3)
    first = make_annotator()
    started = _vote(project, first).task_id
    assert assignment_lease(project=project, annotator=make_annotator()).task_id == started


def test_an_unexpired_lease_holds_the_last_slot():
    project = ProjectFactory(annotations_per_task=1)
    import_items(project, 1)
    assignment_lease(project=project, annotator=make_annotator())
    assert assignment_lease(project=project, annotator=make_annotator()) is None


def test_an_expired_lease_returns_the_task_to_the_pool_at_once():
    project = ProjectFactory(annotations_per_task=1)
    import_items(project, 1)
    held = assignment_lease(project=project, annotator=make_annotator())
    Assignment.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    other = assignment_lease(project=project, annotator=make_annotator())
    assert other is not None and other.task_id == held.task_id


def test_skipped_task_never_returns_to_that_annotator():
    project = ProjectFactory()
    import_items(project, 1)
    annotator = make_annotator()
    assignment = assignment_lease(project=project, annotator=annotator)
    assignment_skip(assignment=assignment, annotator=annotator, reason="unclear")
    assert assignment_lease(project=project, annotator=annotator) is None
    assert assignment_lease(project=project, annotator=make_annotator()) is not None


def test_max_tasks_per_annotator_is_respected():
    project = ProjectFactory(max_tasks_per_annotator=2)
    import_items(project, 5)
    annotator = make_annotator()
    assert sum(1 for _ in iter(lambda: _vote(project, annotator), None)) == 2


def test_gold_tasks_are_mixed_in_and_met_once():
    project = ProjectFactory(gold_rate=1.0, annotations_per_task=1)
    rows = [
        {
            "id": "g",
            "prompt": "p",
            "gold": {"preferred": "r1"},
            "responses": [{"model": "m", "text": "a"}, {"model": "n", "text": "b"}],
        },
        {
            "id": "q",
            "prompt": "p",
            "responses": [{"model": "m", "text": "a"}, {"model": "n", "text": "b"}],
        },
    ]
    from annotation.services.importing import items_import

    items_import(project=project, rows=list(enumerate(rows, 1)))
    annotator = make_annotator()
    first = _vote(project, annotator)
    assert first.task.is_gold
    second = _vote(project, annotator)
    assert not second.task.is_gold
    assert _vote(project, annotator) is None
    # Gold is not bound by k: a second annotator meets it too.
    assert _vote(project, make_annotator()).task.is_gold


def test_paused_project_leases_nothing():
    project = ProjectFactory(status=Project.Status.PAUSED)
    import_items(project, 1)
    with pytest.raises(ProjectNotOpen):
        assignment_lease(project=project, annotator=make_annotator())


def test_members_only_project_refuses_outsiders_and_admits_members():
    project = ProjectFactory(access=Project.Access.MEMBERS)
    import_items(project, 1)
    outsider, member = make_annotator(), make_annotator()
    project.members.add(member)
    with pytest.raises(ProjectNotOpen):
        assignment_lease(project=project, annotator=outsider)
    assert assignment_lease(project=project, annotator=member) is not None


def test_blocked_annotator_gets_nothing():
    project = ProjectFactory()
    import_items(project, 1)
    annotator = make_annotator()
    annotator.is_blocked = True
    annotator.save()
    with pytest.raises(AnnotatorBlocked):
        assignment_lease(project=project, annotator=annotator)


def test_next_task_query_count_does_not_grow_with_tasks(
    django_assert_num_queries, django_assert_max_num_queries
):
    project = ProjectFactory()
    import_items(project, 5)
    annotator = make_annotator()
    # block + quiz + resume check, pick, lease (re-counted in the insert), savepoints
    with django_assert_max_num_queries(5) as small:
        assignment_lease(project=project, annotator=annotator)
    import_items(project, 60, prefix="more")
    other = make_annotator()
    with django_assert_num_queries(len(small.captured_queries)):
        assignment_lease(project=project, annotator=other)


def test_a_renewed_lease_keeps_its_id_and_sides():
    project = ProjectFactory()
    import_items(project, 1)
    annotator = make_annotator()
    first = assignment_lease(project=project, annotator=annotator)
    Assignment.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    renewed = assignment_lease(project=project, annotator=annotator)
    assert renewed.pk == first.pk
    stored = Assignment.objects.get(pk=first.pk)
    assert stored.left_response_id == first.left_response_id
    assert stored.expires_at > timezone.now()


def _leased_for(lease_seconds: int = 60):
    project = ProjectFactory(lease_seconds=lease_seconds)
    import_items(project, 1)
    annotator = make_annotator()
    return annotator, assignment_lease(project=project, annotator=annotator)


def test_renewing_a_live_lease_extends_it_by_lease_seconds_from_now():
    annotator, assignment = _leased_for(60)
    now = timezone.now() + timedelta(seconds=50)

    expires_at = assignment_renew(assignment=assignment, annotator=annotator, now=now)

    assert expires_at == now + timedelta(seconds=60)
    assert Assignment.objects.get(pk=assignment.pk).expires_at == expires_at


def test_a_lapsed_lease_is_not_renewed():
    annotator, assignment = _leased_for(60)

    with pytest.raises(LeaseExpired):
        assignment_renew(
            assignment=assignment,
            annotator=annotator,
            now=timezone.now() + timedelta(seconds=61),
        )
    assert Assignment.objects.get(pk=assignment.pk).expires_at == assignment.expires_at


def test_a_finished_lease_is_not_renewed():
    annotator, assignment = _leased_for()
    assignment_skip(assignment=assignment, annotator=annotator)

    with pytest.raises(LeaseExpired, match="already answered or skipped"):
        assignment_renew(assignment=assignment, annotator=annotator)


def test_someone_elses_lease_is_not_renewed():
    _, assignment = _leased_for()

    with pytest.raises(PermissionDenied):
        assignment_renew(assignment=assignment, annotator=make_annotator())


def test_a_lease_on_a_paused_project_is_not_renewed():
    annotator, assignment = _leased_for()
    Project.objects.filter(pk=assignment.project_id).update(status=Project.Status.PAUSED)
    assignment.project.status = Project.Status.PAUSED

    with pytest.raises(ProjectNotOpen):
        assignment_renew(assignment=assignment, annotator=annotator)


def test_a_renewed_lease_keeps_the_task_from_others_while_the_first_one_reads():
    annotator, assignment = _leased_for(10)
    project = assignment.project
    project.annotations_per_task = 1
    project.save()
    later = timezone.now() + timedelta(seconds=8)
    assignment_renew(assignment=assignment, annotator=annotator, now=later)

    other = assignment_lease(
        project=project, annotator=make_annotator(), now=later + timedelta(seconds=5)
    )

    assert other is None
