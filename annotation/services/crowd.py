"""Crowd workers from Prolific and MTurk: checked entry, their own kind of identity, a
record of each visit, and completion codes given only for work done.

A crowd identity is an annotator keyed by (platform, worker id) with no user account: no
password, never staff, and no username anyone could sign up with, so resuming one never
reaches another account. Entering is a POST from the start page; a plain GET of an entry
link changes nothing, so a link or an image in a response cannot sign anybody in or out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotation.errors import CrowdEntryRefused, CrowdEntryThrottled, ProjectNotOpen
from annotation.models import Annotator, AnnotatorStats, Assignment, CrowdSession, Project
from annotation.services.assignment import project_check_open_for

PROLIFIC_ID = re.compile(r"^[0-9a-fA-F]{24}$")
MTURK_WORKER_ID = re.compile(r"^A[A-Z0-9]{12,20}$")
#: Study, session, HIT and assignment ids: the platforms' own are short and plain.
PLATFORM_REF = re.compile(r"^[A-Za-z0-9_\-.:]{1,100}$")
MTURK_PREVIEW = "ASSIGNMENT_ID_NOT_AVAILABLE"
#: Where MTurk says a HIT is submitted (`turkSubmitTo`): the live and the sandbox site. Any
#: other value is ignored, so an entry link can never make the end page post elsewhere.
MTURK_SUBMIT_ORIGINS = ("https://www.mturk.com", "https://workersandbox.mturk.com")
NEW_IDENTITY_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class CrowdEntry:
    """What an entry link says: who the worker is on which platform, in which study."""

    platform: str
    worker_id: str
    study_id: str
    session_id: str
    preview: bool = False
    #: MTurk's turkSubmitTo when it is one of MTURK_SUBMIT_ORIGINS, else empty.
    submit_to: str = ""

    @property
    def platform_label(self) -> str:
        return Annotator.Source(self.platform).label


def mturk_submit_origin(value: str) -> str:
    """MTurk's `turkSubmitTo` as one of MTURK_SUBMIT_ORIGINS, or empty for anything else."""
    origin = value.strip().rstrip("/").lower()
    return origin if origin in MTURK_SUBMIT_ORIGINS else ""


def crowd_entry_from_params(params: Mapping[str, str]) -> CrowdEntry | None:
    """Read Prolific (PROLIFIC_PID, STUDY_ID, SESSION_ID) or MTurk (workerId, hitId,
    assignmentId, turkSubmitTo) parameters; None when the link has none. Nothing is checked
    here, except that turkSubmitTo is kept only when it is MTurk's live or sandbox site."""
    if "PROLIFIC_PID" in params:
        return CrowdEntry(
            platform=Annotator.Source.PROLIFIC,
            worker_id=params.get("PROLIFIC_PID", "").strip(),
            study_id=params.get("STUDY_ID", "").strip(),
            session_id=params.get("SESSION_ID", "").strip(),
        )
    if "workerId" in params or "assignmentId" in params:
        assignment_id = params.get("assignmentId", "").strip()
        return CrowdEntry(
            platform=Annotator.Source.MTURK,
            worker_id=params.get("workerId", "").strip(),
            study_id=params.get("hitId", "").strip(),
            session_id="" if assignment_id == MTURK_PREVIEW else assignment_id,
            preview=assignment_id == MTURK_PREVIEW,
            submit_to=mturk_submit_origin(params.get("turkSubmitTo", "")),
        )
    return None


def crowd_entry_params(entry: CrowdEntry) -> dict[str, str]:
    """The parameters of an entry link as this site keeps them (turkSubmitTo only when it is
    MTurk's own site): the start page's address, for the pages that come back to it."""
    if entry.platform == Annotator.Source.PROLIFIC:
        return {
            "PROLIFIC_PID": entry.worker_id,
            "STUDY_ID": entry.study_id,
            "SESSION_ID": entry.session_id,
        }
    params = {
        "workerId": entry.worker_id,
        "hitId": entry.study_id,
        "assignmentId": MTURK_PREVIEW if entry.preview else entry.session_id,
    }
    if entry.submit_to:
        params["turkSubmitTo"] = entry.submit_to
    return params


def crowd_entry_problems(*, project: Project, entry: CrowdEntry) -> list[str]:
    """Why this entry link cannot start work, in words for the worker (empty when it can)."""
    if entry.preview:
        return [_("This is a preview of the task. Accept the HIT on MTurk to start working.")]
    problems = []
    if entry.platform == Annotator.Source.PROLIFIC:
        if not PROLIFIC_ID.match(entry.worker_id):
            problems.append(
                _(
                    "The Prolific ID in the link is not valid (it should be 24 letters and "
                    "digits, 0-9 and a-f). Please open the study again from Prolific."
                )
            )
        if (
            project.prolific_study_id
            and entry.study_id.lower() != project.prolific_study_id.lower()
        ):
            problems.append(_("This link belongs to another Prolific study."))
    elif not MTURK_WORKER_ID.match(entry.worker_id):
        problems.append(
            _("The MTurk worker ID in the link is not valid. Please open the HIT again from MTurk.")
        )
    if entry.study_id and not PLATFORM_REF.match(entry.study_id):
        problems.append(_("The study id in the link is not valid."))
    if entry.session_id and not PLATFORM_REF.match(entry.session_id):
        problems.append(_("The session id in the link is not valid."))
    return problems


def crowd_identity_key(entry: CrowdEntry) -> tuple[str, str]:
    """(platform, worker id) as stored: Prolific ids are hexadecimal, so one worker whatever
    the case of the link."""
    if entry.platform == Annotator.Source.PROLIFIC:
        return entry.platform, entry.worker_id.lower()
    return entry.platform, entry.worker_id


def client_key(address: str) -> str:
    """A keyed hash of the client address: enough to count entries per address, without
    keeping the address itself."""
    return hmac.new(
        settings.SECRET_KEY.encode(), f"crowd-client:{address}".encode(), hashlib.sha256
    ).hexdigest()[:32]


def crowd_session_start(
    *,
    project: Project,
    entry: CrowdEntry,
    client_address: str,
    now: datetime | None = None,
) -> CrowdSession:
    """Create or resume the crowd identity of this entry and record the visit.

    Raises CrowdEntryRefused for a malformed link, ProjectNotOpen (or AnnotatorBlocked) when
    the project will not take this worker, and CrowdEntryThrottled when this address has
    started `crowd_new_per_hour` new identities in the project within the hour."""
    problems = crowd_entry_problems(project=project, entry=entry)
    if problems:
        raise CrowdEntryRefused(" ".join(problems))
    platform, worker_id = crowd_identity_key(entry)
    now = now or timezone.now()
    key = client_key(client_address)
    with transaction.atomic():
        annotator = (
            Annotator.objects.select_for_update()
            .filter(source=platform, external_id=worker_id)
            .first()
        )
        created = annotator is None
        if created:
            annotator = _identity_create(
                project=project, platform=platform, worker_id=worker_id, client=key, now=now
            )
        annotator.study_id, annotator.session_id = entry.study_id, entry.session_id
        annotator.save(update_fields=["study_id", "session_id"])
        session, _ = CrowdSession.objects.get_or_create(
            project=project,
            annotator=annotator,
            session_id=entry.session_id,
            defaults={
                "platform": platform,
                "external_id": worker_id,
                "study_id": entry.study_id,
                "client_key": key,
                "new_identity": created,
                "started_at": now,
                "submit_to": entry.submit_to,
            },
        )
        if entry.submit_to and session.submit_to != entry.submit_to:
            session.submit_to = entry.submit_to
            session.save(update_fields=["submit_to"])
        # Checked with the visit recorded: a crowd identity may work where it entered.
        project_check_open_for(project=project, annotator=annotator)
    return session


def _identity_create(
    *, project: Project, platform: str, worker_id: str, client: str, now: datetime
) -> Annotator:
    if project.access == Project.Access.MEMBERS:
        raise ProjectNotOpen(_("This study is open to invited workers only."))
    recent = CrowdSession.objects.filter(
        project=project,
        client_key=client,
        new_identity=True,
        started_at__gte=now - NEW_IDENTITY_WINDOW,
    ).count()
    if recent >= project.crowd_new_per_hour:
        raise CrowdEntryThrottled()
    try:
        with transaction.atomic():
            return Annotator.objects.create(source=platform, external_id=worker_id, user=None)
    except IntegrityError:  # the same worker's other tab got there first
        return Annotator.objects.select_for_update().get(source=platform, external_id=worker_id)


@dataclass(frozen=True)
class CrowdEnd:
    """How a worker's time in a study ends: completed (code or redirect) or screened out.
    A completed MTurk visit shown in MTurk's frame is submitted to `submit_url` (MTurk's
    externalSubmit) with `assignment_id`, in place of a redirect."""

    completed: bool
    answered: int
    code: str
    url: str
    submit_url: str = ""
    assignment_id: str = ""


def answered_count(*, project: Project, annotator: Annotator) -> int:
    """Regular tasks this annotator answered in the project (skips and gold do not count)."""
    return Assignment.objects.filter(
        project=project,
        annotator=annotator,
        status=Assignment.Status.SUBMITTED,
        task__is_gold=False,
    ).count()


def completion_min_answers(project: Project) -> int:
    """Answered tasks that earn the completion code before the work runs out."""
    return project.completion_min_answers or project.max_tasks_per_annotator or 1


def quiz_failed(*, project: Project, annotator: Annotator) -> bool:
    """Stopped by the project's qualification quiz."""
    return AnnotatorStats.objects.filter(
        project=project, annotator=annotator, qualified=False
    ).exists()


def crowd_end(
    *,
    project: Project,
    annotator: Annotator,
    nothing_left: bool,
    session: CrowdSession | None = None,
    now: datetime | None = None,
) -> CrowdEnd:
    """Decide whether the worker earned the completion code, and record how the visit ended.

    The code is earned with `completion_min_answers` answered tasks, or, when nothing is
    left for the worker, with at least one. Skips never count, and a worker stopped by the
    qualification quiz is screened out, whatever they answered. A completed MTurk visit
    that MTurk told where to submit (turkSubmitTo) ends with MTurk's externalSubmit, not
    with `completion_url`."""
    answered = answered_count(project=project, annotator=annotator)
    completed = not quiz_failed(project=project, annotator=annotator) and (
        answered >= completion_min_answers(project) or (nothing_left and answered >= 1)
    )
    ended = completed or nothing_left
    if session is not None and ended and session.outcome != CrowdSession.Outcome.COMPLETED:
        outcome = CrowdSession.Outcome.COMPLETED if completed else CrowdSession.Outcome.SCREENED_OUT
        CrowdSession.objects.filter(pk=session.pk).update(
            outcome=outcome, completed_at=now or timezone.now()
        )
    if completed and session is not None and _submitted_to_mturk(session):
        return CrowdEnd(
            True,
            answered,
            project.completion_code,
            "",
            submit_url=f"{session.submit_to}/mturk/externalSubmit",
            assignment_id=session.session_id,
        )
    if completed:
        return CrowdEnd(True, answered, project.completion_code, project.completion_url)
    return CrowdEnd(False, answered, project.screenout_code, project.screenout_url)


def _submitted_to_mturk(session: CrowdSession) -> bool:
    """An MTurk visit that came with where to submit its HIT (ExternalQuestion)."""
    return (
        session.platform == Annotator.Source.MTURK
        and session.submit_to in MTURK_SUBMIT_ORIGINS
        and bool(session.session_id)
    )
