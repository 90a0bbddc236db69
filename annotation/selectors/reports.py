"""Where a project's statistics report stands: the newest good report, the newest
computation (good or failed), whether judgments came after it, and which projects beat
should recompute. Reads only; annotation.services.reports computes and stores reports."""

from __future__ import annotations

from typing import NamedTuple

from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce

from annotation.models import AgreementReport, Judgment, Project


def report_latest(*, project: Project) -> AgreementReport | None:
    """The newest good report: the figures to show."""
    return (
        AgreementReport.objects.filter(project=project, failed=False)
        .order_by("-computed_at", "-pk")
        .first()
    )


def report_last_attempt(*, project: Project) -> AgreementReport | None:
    """The newest computation, good or failed."""
    return AgreementReport.objects.filter(project=project).order_by("-computed_at", "-pk").first()


def report_is_stale(*, project: Project, report: AgreementReport | None) -> bool:
    """Stale when a judgment arrived after the report was computed."""
    if report is None:
        return True
    return Judgment.objects.filter(project=project, pk__gt=report.last_judgment_id).exists()


def projects_with_stale_reports() -> list[int]:
    """Active projects with a judgment newer than their latest computation, good or failed
    (or judged and never reported), in one query: what beat queues for recomputation."""
    covered = (
        AgreementReport.objects.filter(project=OuterRef("pk"))
        .order_by("-computed_at", "-pk")
        .values("last_judgment_id")[:1]
    )
    newer = Judgment.objects.filter(project=OuterRef("pk"), pk__gt=OuterRef("covered"))
    return list(
        Project.objects.filter(status=Project.Status.ACTIVE)
        .annotate(covered=Coalesce(Subquery(covered), 0))
        .filter(Exists(newer))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


class ReportState(NamedTuple):
    """The newest good report, whether judgments came after it, and the newest computation
    when it failed after that report (its error is what to say)."""

    report: AgreementReport | None
    stale: bool
    failure: AgreementReport | None


def report_state(*, project: Project) -> ReportState:
    """Where the project's report stands, without computing anything."""
    attempt = report_last_attempt(project=project)
    if attempt is None or not attempt.failed:
        return ReportState(attempt, report_is_stale(project=project, report=attempt), None)
    good = report_latest(project=project)
    return ReportState(good, report_is_stale(project=project, report=good), attempt)
