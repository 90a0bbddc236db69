"""Consent: an annotator's agreement to a project's consent text, stored per version.

The project's `consent_text` (Markdown; empty means the site's default paragraph) is
versioned like the rubric: once someone has agreed to a version, a change of the text
starts a new one, and everyone is asked again. Each agreement is kept with its time and
version, for an ethics board and for the `annotators` export.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from annotation.errors import DomainError
from annotation.models import Annotator, Consent, Project


class ConsentOutdated(DomainError):
    """An agreement posted for a consent text that has changed since it was shown."""

    status = 409
    default_detail = _("The consent text changed since the page was shown: please read it again.")


def consent_current(*, project: Project, annotator: Annotator) -> bool:
    """Whether the annotator agreed to the project's current consent text (one query)."""
    return Consent.objects.filter(
        project=project, annotator=annotator, version=project.consent_version
    ).exists()


def consent_latest(*, project: Project, annotator: Annotator) -> Consent | None:
    """The annotator's most recent agreement in the project, whatever its version."""
    return Consent.objects.filter(project=project, annotator=annotator).order_by("-version").first()


def consent_record(
    *,
    project: Project,
    annotator: Annotator,
    version: int | str | None = None,
    now: datetime | None = None,
) -> Consent:
    """Record the annotator's agreement to the current consent text; agreeing twice keeps
    the first time. `version` is the one the page showed (a form's value): any other than
    the current one raises ConsentOutdated, since the annotator never saw the text now in
    force; None stands for the current one."""
    if version is not None and version != project.consent_version:
        raise ConsentOutdated()
    try:
        with transaction.atomic():
            consent, _ = Consent.objects.get_or_create(
                project=project,
                annotator=annotator,
                version=project.consent_version,
                defaults={"consented_at": now or timezone.now()},
            )
    except IntegrityError:  # the same annotator's other tab agreed at the same moment
        consent = Consent.objects.get(
            project=project, annotator=annotator, version=project.consent_version
        )
    return consent


def consent_version_bump(*, project: Project, previous_text: str) -> bool:
    """Start a new consent version if the text changed from `previous_text` after someone
    agreed to the current one (before that, the text is still a draft). Returns whether a
    new version began."""
    if previous_text == project.consent_text:
        return False
    return project_version_bump(project=project, field="consent_version", given=Consent)


def project_version_bump(*, project: Project, field: str, given: type[models.Model]) -> bool:
    """Bump the project's version counter `field` if some `given` row (an agreement, a set
    of answers) was made at its current value; else the text is still a draft."""
    current = getattr(project, field)
    if not given.objects.filter(project=project, version=current).exists():
        return False
    setattr(project, field, current + 1)
    Project.objects.filter(pk=project.pk).update(**{field: current + 1})
    return True
