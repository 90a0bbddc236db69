"""Group quotas (README "Group quotas"): a crowd study caps how many annotators of each
answer to a survey question take part, as Prolific's quotas do. An annotator takes a place
in their group when they first ask for a task, and keeps it while they take part: a full
group stops newcomers, never someone already at work (nor a lease they hold). A newcomer who
leaves without voting gives the place back once their lease has run out, and an annotator who
changes their answer before their first vote moves to their new group."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from annotation.errors import GroupQuotaFull
from annotation.models import Annotator, Assignment, GroupPlace, Project, SurveyAnswers
from annotation.pg.locks import transaction_lock
from annotation.surveys import group_of, group_quota_cap

#: The advisory lock admissions of one project queue on, so two newcomers of one group
#: never both take its last place.
QUOTA_LOCK = "group_quota"


def group_quota_admit(
    *, project: Project, annotator: Annotator, now: datetime | None = None
) -> None:
    """Give the annotator a place in their group of each of the project's quotas they have
    none in yet, or raise GroupQuotaFull (taking no place at all) when one of those groups
    is full. An annotator with no answer (or one that no longer fits the question) to a
    quota's question is not in any of its groups, so not limited by it. Nothing to do (one
    query) once they hold their places."""
    quotas = project.group_quotas
    if not quotas:
        return
    held = set(
        GroupPlace.objects.filter(project=project, annotator=annotator).values_list(
            "key", flat=True
        )
    )
    missing = [key for key in quotas if key not in held]
    if not missing:
        return
    answers = (
        SurveyAnswers.objects.filter(project=project, annotator=annotator)
        .order_by("-version")
        .values_list("answers", flat=True)
        .first()
    ) or {}
    questions = {q["key"]: q for q in project.survey}
    wanted = {
        key: group
        for key in missing
        if key in questions and (group := group_of(questions[key], answers.get(key))) is not None
    }
    if not wanted:
        return
    now = now or timezone.now()
    with transaction.atomic():
        transaction_lock(QUOTA_LOCK, project.pk)
        full = _full_groups(project=project, questions=questions, wanted=wanted)
        if full and _idle_places_given_back(
            project=project, groups=[(key, wanted[key]) for key in full], now=now
        ):
            full = _full_groups(project=project, questions=questions, wanted=wanted)
        if full:
            raise GroupQuotaFull(
                errors=[
                    {"field": f"group_quotas.{key}", "error": "your group is full"} for key in full
                ]
            )
        GroupPlace.objects.bulk_create(
            [
                GroupPlace(project=project, annotator=annotator, key=key, group=group, taken_at=now)
                for key, group in wanted.items()
            ],
            ignore_conflicts=True,  # the annotator's other tab took it a moment ago
        )


def group_places_taken(
    *, project: Project, keys: list[str] | None = None
) -> dict[tuple[str, str], int]:
    """How many places each group of the project's quotas holds: (key, group) to a count."""
    places = GroupPlace.objects.filter(project=project)
    if keys is not None:
        places = places.filter(key__in=keys)
    counts = places.order_by().values("key", "group").annotate(n=Count("pk"))
    return {(row["key"], row["group"]): row["n"] for row in counts}


def _full_groups(
    *, project: Project, questions: dict[str, dict[str, Any]], wanted: dict[str, str]
) -> list[str]:
    """The quota keys whose wanted group has no place left."""
    taken = group_places_taken(project=project, keys=list(wanted))
    return [
        key
        for key, group in wanted.items()
        if (cap := group_quota_cap(project.group_quotas[key], questions[key], group)) is not None
        and taken.get((key, group), 0) >= cap
    ]


def _idle_places_given_back(
    *, project: Project, groups: list[tuple[str, str]], now: datetime
) -> int:
    """Free the places in these groups of annotators who left: taken more than a lease ago
    (a newcomer is leased their task right after taking the place), with no vote in the
    project and no lease still running. How many were freed (one query)."""
    taking_part = Assignment.objects.filter(
        project=project, annotator_id=OuterRef("annotator_id")
    ).filter(
        Q(status=Assignment.Status.SUBMITTED)
        | Q(status=Assignment.Status.LEASED, expires_at__gt=now)
    )
    in_groups = Q()
    for key, group in groups:
        in_groups |= Q(key=key, group=group)
    freed, _ = (
        GroupPlace.objects.filter(
            in_groups,
            project=project,
            taken_at__lte=now - timedelta(seconds=project.lease_seconds),
        )
        .exclude(Exists(taking_part))
        .delete()
    )
    return freed


def group_places_follow_answers(
    *, project: Project, annotator: Annotator, answers: dict[str, Any]
) -> None:
    """Give back the annotator's places in groups their answers no longer put them in (they
    changed an answer before their first vote): their next task request takes a place in
    their new group, if it has room."""
    quotas = project.group_quotas
    if not quotas:
        return
    questions = {q["key"]: q for q in project.survey}  # a quota's question is never dropped
    held = GroupPlace.objects.filter(project=project, annotator=annotator, key__in=list(quotas))
    moved = [
        place.pk
        for place in held
        if group_of(questions[place.key], answers.get(place.key)) != place.group
    ]
    if moved:
        GroupPlace.objects.filter(pk__in=moved).delete()
