"""The annotator quality table of a project: AnnotatorStats rows with their rates, sorted on
the database by any shown figure (rates are computed there, so a page of 50 is one query)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.db.models import F, FloatField, Q, QuerySet
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast, Coalesce, NullIf

from annotation.models import Annotator, AnnotatorStats, Project


def _rate(part: str, whole: str) -> Combinable:
    return Cast(part, FloatField()) / NullIf(Cast(whole, FloatField()), 0.0)


@dataclass(frozen=True)
class QualityColumn:
    key: str
    label: str
    sortable: bool = True
    shown: bool = True  # by default


#: The columns a researcher may show, in their order; the annotator is always shown.
QUALITY_COLUMNS: tuple[QualityColumn, ...] = (
    QualityColumn("judgments", "judgments"),
    QualityColumn("gold", "gold accuracy"),
    QualityColumn("left", "left-side rate"),
    QualityColumn("fast", "too fast"),
    QualityColumn("seconds", "mean seconds"),
    QualityColumn("flags", "flags", sortable=False),
    QualityColumn("blocked", "blocked"),
    QualityColumn("qualified", "qualified", shown=False),
    QualityColumn("blocked_by", "blocked by", sortable=False, shown=False),
    QualityColumn("updated", "updated", shown=False),
)
SORT_KEYS = {"annotator", *(c.key for c in QUALITY_COLUMNS if c.sortable)}
DEFAULT_SORT = "-judgments"


def quality_columns(chosen: list[str], *, project: Project | None = None) -> list[QualityColumn]:
    """The columns asked for (unknown names ignored), or the default ones, named for the
    project's kind."""
    picked = [c for c in project_quality_columns(project) if c.key in chosen]
    return picked or [c for c in project_quality_columns(project) if c.shown]


def project_quality_columns(project: Project | None) -> tuple[QualityColumn, ...]:
    """QUALITY_COLUMNS, the side-bias one named for what it counts in a ranking project
    (the share of rankings whose first-shown response was ranked first)."""
    if project is None or not project.is_ranking:
        return QUALITY_COLUMNS
    return tuple(
        replace(c, label="first shown ranked first") if c.key == "left" else c
        for c in QUALITY_COLUMNS
    )


def quality_sort(requested: str | None) -> str:
    """The sort asked for (a column key, "-" first for descending), or the default."""
    return requested if requested and requested.lstrip("-") in SORT_KEYS else DEFAULT_SORT


def annotator_quality(*, project: Project, sort: str) -> QuerySet[AnnotatorStats]:
    """The project's annotator rows with their rates, in the given order (figures that do
    not exist yet, such as gold accuracy without gold tasks, last either way)."""
    rows = (
        AnnotatorStats.objects.filter(project=project)
        .select_related("annotator__user", "blocked_by")
        .annotate(
            sort_annotator=Coalesce(
                "annotator__user__username", "annotator__external_id", "annotator__pseudonym"
            ),
            sort_judgments=F("judgments"),
            sort_gold=_rate("gold_correct", "gold_judgments"),
            sort_left=_rate("left_choices", "decided"),
            sort_fast=_rate("fast_judgments", "judgments"),
            sort_seconds=F("seconds_total") / NullIf(Cast("judgments", FloatField()), 0.0),
            sort_blocked=F("is_blocked"),
            sort_qualified=F("qualified"),
            sort_updated=F("updated_at"),
        )
    )
    key = "sort_" + sort.lstrip("-")
    order = F(key).desc(nulls_last=True) if sort.startswith("-") else F(key).asc(nulls_last=True)
    return rows.order_by(order, "pk")


def flagged_annotator_ids(*, project: Project) -> QuerySet[Annotator]:
    """Ids of annotators whose judgments exports leave out by default: blocked site-wide,
    or blocked or flagged in this project."""
    in_project = AnnotatorStats.objects.filter(project=project).filter(
        Q(is_blocked=True) | ~Q(flags=[])
    )
    return Annotator.objects.filter(
        Q(is_blocked=True) | Q(pk__in=in_project.values("annotator_id"))
    ).values("pk")
