"""Group quotas (README "Group quotas"): a newcomer whose group is full gets no first task;
an annotator already at work keeps going, a held lease is handed out again, and racing
newcomers never overshoot a group's places on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.errors import GroupQuotaFull
from annotation.models import GroupPlace, Project
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from annotation.services.projects import project_update
from annotation.services.quotas import group_places_taken
from annotation.services.surveys import survey_answers_record
from tests.factories import ProjectFactory, import_items, make_annotator
from tests.postgres import race

pytestmark = pytest.mark.django_db

SURVEY = [
    {"key": "country", "text": "Country?", "type": "single", "options": ["UK", "US", "FR"]},
    {"key": "ai_use", "text": "AI use?", "type": "scale", "options": ["never", "weekly", "daily"]},
    {"key": "age", "text": "Age?", "type": "number"},
    {"key": "home", "text": "Country of residence?", "type": "text"},
]


def quota_project(quotas: dict, **fields) -> Project:
    project = ProjectFactory(survey=SURVEY, annotations_per_task=10, **fields)
    import_items(project, 5)
    return project_update(project=project, group_quotas=quotas)


def newcomer(project: Project, **answers):
    annotator = make_annotator()
    if answers:
        survey_answers_record(project=project, annotator=annotator, answers=answers)
    return annotator


def test_a_full_group_stops_newcomers_of_that_group_only():
    project = quota_project({"country": {"max": {"UK": 2}}})
    for _ in range(2):
        assert assignment_lease(project=project, annotator=newcomer(project, country="UK"))

    with pytest.raises(GroupQuotaFull) as refused:
        assignment_lease(project=project, annotator=newcomer(project, country="UK"))

    assert refused.value.status == 403
    assert refused.value.errors == [
        {"field": "group_quotas.country", "error": "your group is full"}
    ]
    assert assignment_lease(project=project, annotator=newcomer(project, country="US"))
    assert group_places_taken(project=project) == {("country", "UK"): 2, ("country", "US"): 1}


def test_a_share_is_of_the_planned_places_from_the_first_annotator():
    # 40% of 5 planned places: 2 per country, even while the study is nearly empty.
    project = quota_project({"country": {"max_share": 0.4, "places": 5}})
    first, second = newcomer(project, country="FR"), newcomer(project, country="FR")
    assignment_lease(project=project, annotator=first)
    assignment_lease(project=project, annotator=second)

    with pytest.raises(GroupQuotaFull):
        assignment_lease(project=project, annotator=newcomer(project, country="FR"))


def test_an_annotator_at_work_keeps_going_once_the_group_is_full():
    project = quota_project({"country": {"max": {"UK": 1}}})
    worker = newcomer(project, country="UK")
    assignment = assignment_lease(project=project, annotator=worker)
    with pytest.raises(GroupQuotaFull):
        assignment_lease(project=project, annotator=newcomer(project, country="UK"))

    again = assignment_lease(project=project, annotator=worker)  # the held lease, again
    judgment_submit(assignment=again, annotator=worker, choice="left")
    following = assignment_lease(project=project, annotator=worker)

    assert again.pk == assignment.pk
    assert following is not None and following.pk != assignment.pk


def test_a_lowered_quota_stops_newcomers_not_those_holding_places():
    project = quota_project({"country": {"max": {"UK": 3}}})
    workers = [newcomer(project, country="UK") for _ in range(2)]
    leases = [assignment_lease(project=project, annotator=w) for w in workers]
    project_update(project=project, group_quotas={"country": {"max": {"UK": 1}}})
    for worker, lease in zip(workers, leases, strict=True):
        judgment_submit(assignment=lease, annotator=worker, choice="left")

    assert all(assignment_lease(project=project, annotator=w) for w in workers)
    with pytest.raises(GroupQuotaFull):
        assignment_lease(project=project, annotator=newcomer(project, country="UK"))


def test_a_scale_groups_by_its_option_label():
    project = quota_project({"ai_use": {"max": {"daily": 1}}})
    assignment_lease(project=project, annotator=newcomer(project, ai_use=3))

    with pytest.raises(GroupQuotaFull):
        assignment_lease(project=project, annotator=newcomer(project, ai_use=3))
    assert assignment_lease(project=project, annotator=newcomer(project, ai_use=1))


def test_a_text_answer_groups_by_its_words_whatever_the_case_and_spaces():
    project = quota_project({"home": {"max": {"United Kingdom": 1}}})
    assignment_lease(project=project, annotator=newcomer(project, home="united  kingdom "))

    with pytest.raises(GroupQuotaFull):
        assignment_lease(project=project, annotator=newcomer(project, home="United Kingdom"))
    assert assignment_lease(project=project, annotator=newcomer(project, home="Jordan"))


def test_an_annotator_without_an_answer_is_not_limited():
    project = quota_project({"country": {"max": {"UK": 0, "US": 0, "FR": 0}}})

    assert assignment_lease(project=project, annotator=newcomer(project, age=30))
    assert not GroupPlace.objects.exists()


def test_a_refusal_takes_no_place_in_any_group():
    project = quota_project({"country": {"max": {"UK": 5}}, "ai_use": {"max": {"never": 0}}})

    with pytest.raises(GroupQuotaFull) as refused:
        assignment_lease(project=project, annotator=newcomer(project, country="UK", ai_use=1))

    assert refused.value.errors == [{"field": "group_quotas.ai_use", "error": "your group is full"}]
    assert not GroupPlace.objects.exists()


def test_a_quota_costs_one_query_a_lease_once_the_place_is_held():
    plain = ProjectFactory(survey=SURVEY, annotations_per_task=10)
    import_items(plain, 5)
    quoted = quota_project({"country": {"max": {"UK": 5}}})
    plain_worker, quoted_worker = newcomer(plain, country="UK"), newcomer(quoted, country="UK")
    for project, worker in ((plain, plain_worker), (quoted, quoted_worker)):
        lease = assignment_lease(project=project, annotator=worker)
        judgment_submit(assignment=lease, annotator=worker, choice="left")
    counts = []
    for project, worker in ((plain, plain_worker), (quoted, quoted_worker)):
        with CaptureQueriesContext(connection) as queries:
            assert assignment_lease(project=project, annotator=worker)
        counts.append(len(queries.captured_queries))

    # Once they hold their place, a quota costs one indexed lookup a lease.
    assert counts[1] == counts[0] + 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_newcomers_never_overshoot_a_group():
    """16 newcomers of one country, each in a thread with its own connection, ask for their
    first task at the same moment: exactly the group's 5 places are taken."""
    project = quota_project({"country": {"max": {"UK": 5}}}, lease_seconds=60)
    annotators = [newcomer(project, country="UK") for _ in range(16)]
    admitted: list[int] = []
    refused: list[int] = []

    def work(annotator) -> None:
        try:
            assignment_lease(project=project, annotator=annotator)
        except GroupQuotaFull:
            refused.append(annotator.pk)
        else:
            admitted.append(annotator.pk)

    assert not race(work, annotators, timeout=60)
    assert connection.vendor == "postgresql"
    assert len(admitted) == 5 and len(refused) == 11
    assert set(GroupPlace.objects.values_list("annotator_id", flat=True)) == set(admitted)


def test_places_keep_when_taken():
    project = quota_project({"country": {"max": {"UK": 5}}})
    before = timezone.now()
    assignment_lease(project=project, annotator=newcomer(project, country="UK"))

    place = GroupPlace.objects.get()
    assert (place.key, place.group) == ("country", "UK")
    assert before <= place.taken_at <= timezone.now() + timedelta(seconds=1)


def test_a_newcomer_who_leaves_without_voting_gives_the_place_back():
    project = quota_project({"country": {"max": {"UK": 1}}}, lease_seconds=60)
    start = timezone.now()
    leaver = newcomer(project, country="UK")
    assert assignment_lease(project=project, annotator=leaver, now=start)
    with pytest.raises(GroupQuotaFull):  # their lease still runs: the place is theirs
        assignment_lease(project=project, annotator=newcomer(project, country="UK"), now=start)

    later = start + timedelta(seconds=61)
    arrival = newcomer(project, country="UK")

    assert assignment_lease(project=project, annotator=arrival, now=later)
    assert list(GroupPlace.objects.values_list("annotator_id", flat=True)) == [arrival.pk]
    with pytest.raises(GroupQuotaFull):  # back after leaving: the group is full now
        assignment_lease(project=project, annotator=leaver, now=later)


def test_an_annotator_who_voted_keeps_the_place_after_their_lease():
    project = quota_project({"country": {"max": {"UK": 1}}}, lease_seconds=60)
    start = timezone.now()
    worker = newcomer(project, country="UK")
    lease = assignment_lease(project=project, annotator=worker, now=start)
    judgment_submit(assignment=lease, annotator=worker, choice="left")

    with pytest.raises(GroupQuotaFull):
        assignment_lease(
            project=project,
            annotator=newcomer(project, country="UK"),
            now=start + timedelta(days=1),
        )
    assert list(GroupPlace.objects.values_list("annotator_id", flat=True)) == [worker.pk]


def test_an_answer_changed_before_the_first_vote_moves_the_place():
    project = quota_project({"country": {"max": {"UK": 1, "US": 1}}})
    mover = newcomer(project, country="UK")
    assert assignment_lease(project=project, annotator=mover)

    survey_answers_record(project=project, annotator=mover, answers={"country": "US"})

    assert assignment_lease(project=project, annotator=newcomer(project, country="UK"))
    assert assignment_lease(project=project, annotator=mover)  # the lease they hold
    assert group_places_taken(project=project) == {("country", "UK"): 1}
    judgment_submit(
        assignment=assignment_lease(project=project, annotator=mover),
        annotator=mover,
        choice="left",
    )
    assert assignment_lease(project=project, annotator=mover)  # a place among the US's now
    assert group_places_taken(project=project) == {("country", "UK"): 1, ("country", "US"): 1}
    with pytest.raises(GroupQuotaFull):
        assignment_lease(project=project, annotator=newcomer(project, country="US"))
