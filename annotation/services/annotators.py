"""Who is annotating: local accounts and crowd workers arriving from Prolific or MTurk."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from annotation.errors import ValidationFailed
from annotation.models import Annotator, Project

CROWD_ID = re.compile(r"^[A-Za-z0-9_\-.:]{1,150}$")


def annotator_for_user(*, user: AbstractBaseUser) -> Annotator:
    """The annotator record of a signed-in user, created on first use."""
    try:
        return user.annotator  # type: ignore[attr-defined]
    except Annotator.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return Annotator.objects.create(user=user, source=Annotator.Source.LOCAL)
    except IntegrityError:
        return Annotator.objects.get(user=user)


@dataclass(frozen=True)
class CrowdEntry:
    source: str
    worker_id: str
    study_id: str
    session_id: str


def crowd_entry_from_params(params: Mapping[str, str]) -> CrowdEntry | None:
    """Read Prolific (PROLIFIC_PID, STUDY_ID, SESSION_ID) or MTurk (workerId, hitId,
    assignmentId) parameters from an entry URL; None when there are none."""
    if params.get("PROLIFIC_PID"):
        entry = CrowdEntry(
            Annotator.Source.PROLIFIC,
            params["PROLIFIC_PID"],
            params.get("STUDY_ID", ""),
            params.get("SESSION_ID", ""),
        )
    elif params.get("workerId"):
        if params.get("assignmentId") == "ASSIGNMENT_ID_NOT_AVAILABLE":
            return None  # MTurk's preview of a HIT: the worker has not accepted it yet.
        entry = CrowdEntry(
            Annotator.Source.MTURK,
            params["workerId"],
            params.get("hitId", ""),
            params.get("assignmentId", ""),
        )
    else:
        return None
    for name, value in (
        ("worker id", entry.worker_id),
        ("study id", entry.study_id),
        ("session id", entry.session_id),
    ):
        if value and not CROWD_ID.match(value):
            raise ValidationFailed(f"The {name} in the link is malformed.")
    return entry


def crowd_annotator_enter(*, project: Project, entry: CrowdEntry) -> Annotator:
    """Find or create the crowd worker's account and annotator, and remember the study and
    session they came from. A returning worker gets their old record back and resumes."""
    User = get_user_model()
    username = f"{entry.source}-{entry.worker_id}"[:150]
    with transaction.atomic():
        annotator = (
            Annotator.objects.select_for_update()
            .filter(source=entry.source, external_id=entry.worker_id)
            .first()
        )
        if annotator is None:
            user, _ = User.objects.get_or_create(username=username)
            if user.has_usable_password():
                user.set_unusable_password()
                user.save(update_fields=["password"])
            annotator, _ = Annotator.objects.get_or_create(
                user=user,
                defaults={"source": entry.source, "external_id": entry.worker_id},
            )
        annotator.study_id, annotator.session_id = entry.study_id, entry.session_id
        annotator.save(update_fields=["study_id", "session_id"])
        if project.access == Project.Access.MEMBERS:
            project.members.add(annotator)
    return annotator
