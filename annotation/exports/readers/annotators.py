"""The `annotators` format: one statement, each annotator of the project with their consent,
quality figures, the times of their passing judgments and their latest survey answers.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from django.db.models import Aggregate, FilteredRelation, JSONField, OuterRef, Q, QuerySet, Subquery

from annotation.exports.query import ExportFilters
from annotation.exports.readers.judgments import passing_judgments
from annotation.exports.readers.profiles import survey_cell
from annotation.exports.readers.shared import EXPORT_CHUNK, iso_time
from annotation.models import (
    Annotator,
    Assignment,
    Consent,
    CrowdSession,
    Judgment,
    Project,
    SurveyAnswers,
)
from annotation.selectors.quality import flagged_annotator_ids


class NumberArrayAgg(Aggregate):
    """A number column's values as one JSON array, nulls kept (JSONB_AGG on PostgreSQL,
    JSON_GROUP_ARRAY on SQLite), in no particular order."""

    function = "JSONB_AGG"
    output_field = JSONField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra)


def annotators_of(*, project: Project) -> QuerySet[Annotator]:
    """Everyone who took part in the project: agreed to its consent, entered it from a crowd
    platform, answered its survey, was given a task or has a judgment in it (imported ones
    too)."""
    taking_part = (
        Q(pk__in=Judgment.objects.filter(project=project).values("annotator_id"))
        | Q(pk__in=Consent.objects.filter(project=project).values("annotator_id"))
        | Q(pk__in=Assignment.objects.filter(project=project).values("annotator_id"))
        | Q(pk__in=CrowdSession.objects.filter(project=project).values("annotator_id"))
        | Q(pk__in=SurveyAnswers.objects.filter(project=project).values("annotator_id"))
    )
    return Annotator.objects.filter(taking_part)


_ANNOTATOR_VALUES = (
    "pseudonym",
    "external_id",
    "source",
    "kind",
    "is_blocked",
    "consent_version",
    "consented_at",
    "seconds",
    "quality__judgments",
    "quality__decided",
    "quality__left_choices",
    "quality__fast_judgments",
    "quality__gold_judgments",
    "quality__gold_correct",
    "quality__qualified",
    "quality__flags",
    "quality__is_blocked",
    "survey_version",
    "latest_answers",
)


def _share(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 6) if part is not None and whole else None


def annotator_export_rows(
    *,
    project: Project,
    filters: ExportFilters,
    questions: tuple[dict[str, Any], ...] = (),
) -> Iterator[dict[str, Any]]:
    """One row per annotator of the project (format `annotators`), oldest first, in one
    statement. `n_judgments` and the seconds count the judgments passing the filters (gold
    with `include_gold`, up to a snapshot's last judgment); consent and the quality figures
    (the project's running AnnotatorStats) are as they are now. `exclude_flagged` leaves
    out flagged and blocked annotators, as the other formats leave out their judgments.
    `questions`: the survey questions whose latest answers are columns (`survey.<key>`)."""
    annotators = annotators_of(project=project)
    if filters.exclude_flagged:
        annotators = annotators.exclude(pk__in=flagged_annotator_ids(project=project))
    if filters.annotator_kind in Annotator.Kind.values:
        annotators = annotators.filter(kind=filters.annotator_kind)
    consents = Consent.objects.filter(project=project, annotator=OuterRef("pk")).order_by(
        "-version"
    )
    surveys = SurveyAnswers.objects.filter(project=project, annotator=OuterRef("pk")).order_by(
        "-version"
    )
    # Votes on answers that named their model are still the annotator's work.
    judged = replace(
        filters, exclude_flagged=False, annotator_kind=None, include_identity_leak=True
    )
    seconds = (
        passing_judgments(project=project, filters=judged)
        .filter(annotator=OuterRef("pk"))
        .order_by()
        .values("annotator")
        .annotate(seconds=NumberArrayAgg("seconds"))
        .values("seconds")
    )
    rows = (
        annotators.annotate(
            quality=FilteredRelation("stats", condition=Q(stats__project=project)),
            consent_version=Subquery(consents.values("version")[:1]),
            consented_at=Subquery(consents.values("consented_at")[:1]),
            seconds=Subquery(seconds[:1], output_field=JSONField()),
            survey_version=Subquery(surveys.values("version")[:1]),
            latest_answers=Subquery(surveys.values("answers")[:1], output_field=JSONField()),
        )
        .order_by("pk")
        .values_list(*_ANNOTATOR_VALUES)
    )
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        values = dict(zip(_ANNOTATOR_VALUES, row, strict=True))
        seconds_each = values["seconds"] or []
        timed = [s for s in seconds_each if s is not None]
        consented_at = values["consented_at"]
        answers = values["latest_answers"] or {}
        yield {
            "annotator": (
                values["external_id"]
                if values["source"] in Annotator.NAMED_SOURCES
                else values["pseudonym"]
            ),
            "annotator_kind": values["kind"],
            "platform": values["source"],
            "consented_at": iso_time(consented_at) if consented_at else None,
            "consent_version": values["consent_version"],
            "n_judgments": len(seconds_each),
            "gold_judgments": values["quality__gold_judgments"] or 0,
            "gold_accuracy": _share(
                values["quality__gold_correct"], values["quality__gold_judgments"]
            ),
            "left_rate": _share(values["quality__left_choices"], values["quality__decided"]),
            "fast_share": _share(values["quality__fast_judgments"], values["quality__judgments"]),
            "mean_seconds": round(statistics.fmean(timed), 3) if timed else None,
            "median_seconds": round(statistics.median(timed), 3) if timed else None,
            "qualified": values["quality__qualified"],
            "flags": values["quality__flags"] or [],
            "blocked": bool(values["is_blocked"] or values["quality__is_blocked"]),
            "survey_version": values["survey_version"],
            **{f"survey.{q['key']}": survey_cell(q, answers.get(q["key"])) for q in questions},
        }
