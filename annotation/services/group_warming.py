"""The worker's side of figures by group (README "Figures by group"): after each new report it
computes the figures by group asked for lately from that report, so a researcher reading them
again finds them in the cache instead of waiting for the fits."""

from __future__ import annotations

from annotation.errors import ValidationFailed
from annotation.models import Project
from annotation.selectors.reports import report_latest
from annotation.services.groups import agreement_by_group, group_by_parse
from annotation.services.leaderboard_options import LeaderboardOptions, leaderboard_with_options
from annotation.services.reports import group_figures_asked


def group_figures_warm(*, project_id: int) -> int:
    """Compute (into the cache) each figure by group asked for lately from the project's newest
    good report; a question since removed or no longer groupable is skipped. Returns how many
    were computed or found cached."""
    project = Project.objects.filter(pk=project_id).first()
    report = report_latest(project=project) if project is not None else None
    if report is None:
        return 0
    done = 0
    for query in group_figures_asked(project_id=project_id):
        try:
            # Asked before, so asked with include_sensitive when the question is sensitive.
            group_by = group_by_parse(project=project, by=query["by"], include_sensitive=True)
        except ValidationFailed:
            continue
        if query["figure"] == "agreement":
            agreement_by_group(
                project=project,
                report=report,
                annotator_kind=query["annotator_kind"],
                group_by=group_by,
            )
        elif project.is_pairwise:
            leaderboard_with_options(
                project=project,
                report=report,
                annotator_kind=query["annotator_kind"],
                exclude_flagged=query["exclude_flagged"],
                options=LeaderboardOptions(style_control=query["style_control"], by=group_by),
            )
        done += 1
    return done
