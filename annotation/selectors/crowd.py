"""Crowd sessions as researchers see them: each visit with the work done in it; the task
an MTurk HIT preview shows."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from annotation.models import Assignment, CrowdSession, Project, Task

_NEVER = datetime(9999, 1, 1, tzinfo=UTC)


def _finished_in_session(status: str) -> Subquery:
    """How many of the worker's tasks in the project ended with `status` (gold left out)
    between the session's start and the start of their next session there."""
    finished = (
        Assignment.objects.filter(
            project=OuterRef("project"),
            annotator=OuterRef("annotator"),
            status=status,
            task__is_gold=False,
            finished_at__gte=OuterRef("started_at"),
            finished_at__lt=Coalesce(OuterRef("ends_at"), Value(_NEVER)),
        )
        .order_by()
        .values("annotator")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Subquery(finished, output_field=IntegerField())


def crowd_sessions_with_counts(sessions: QuerySet[CrowdSession]) -> QuerySet[CrowdSession]:
    """Annotate each session with `answered` and `skipped`: the worker's regular tasks (gold
    left out) answered and skipped during that session."""
    next_start = (
        CrowdSession.objects.filter(
            project=OuterRef("project"),
            annotator=OuterRef("annotator"),
            started_at__gt=OuterRef("started_at"),
        )
        .order_by("started_at")
        .values("started_at")[:1]
    )
    return sessions.annotate(ends_at=Subquery(next_start)).annotate(
        answered=Coalesce(_finished_in_session(Assignment.Status.SUBMITTED), 0),
        skipped=Coalesce(_finished_in_session(Assignment.Status.SKIPPED), 0),
    )


def task_sample(*, project: Project) -> Task | None:
    """The task an MTurk HIT preview shows as a sample: the project's first regular task
    (never a gold one), with its item and responses. It is leased to nobody."""
    return (
        Task.objects.filter(project=project, is_gold=False)
        .select_related("item", "response_a", "response_b")
        .order_by("pk")
        .first()
    )


#: The parameters Prolific fills in for each participant, as Prolific's study URL spells them.
PROLIFIC_PLACEHOLDERS = (
    "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
)
EXTERNAL_QUESTION_SCHEMA = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/"
    "ExternalQuestion.xsd"
)


def prolific_study_url(start_url: str) -> str:
    """The study URL to paste into Prolific: the project's start page with the
    placeholders Prolific replaces by the participant's, study's and session's ids."""
    return f"{start_url}?{PROLIFIC_PLACEHOLDERS}"


def mturk_external_question(start_url: str) -> str:
    """The Question XML of an MTurk HIT showing the project in MTurk's frame (MTurk adds
    workerId, assignmentId, hitId and turkSubmitTo to the URL itself); FrameHeight 0 lets
    the frame fill the worker's window."""
    return (
        f'<ExternalQuestion xmlns="{EXTERNAL_QUESTION_SCHEMA}">\n'
        f"  <ExternalURL>{escape(start_url)}</ExternalURL>\n"
        "  <FrameHeight>0</FrameHeight>\n"
        "</ExternalQuestion>"
    )
