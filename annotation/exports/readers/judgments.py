"""The `judgments` format: the judgments that pass the filters, as dicts (judgment_records)
or, on PostgreSQL, as Arrow batches decoded from COPY (annotation/pg/copy_out.py) in the
plan's schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pyarrow as pa
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import NullIf

from annotation.exports.fields import USES_HYBRID, USES_REWRITES, USES_SPANS
from annotation.exports.plan import ExportPlan
from annotation.exports.query import ExportFilters
from annotation.exports.rankings import ranking_in_ids, response_external_ids, shown_in_ids
from annotation.exports.readers.profiles import profile_cells, profile_record, with_profile_batch
from annotation.exports.readers.shared import EXPORT_CHUNK, iso_time, since_q
from annotation.models import Annotator, Judgment, Project, Response, Task
from annotation.pg.copy_out import WireColumn, select_batches
from annotation.selectors.quality import flagged_annotator_ids


def passing_judgments(*, project: Project, filters: ExportFilters) -> QuerySet[Judgment]:
    """The judgments that count under the filters, whatever their age (`since` selects
    rows, not votes: see judgments_for_export and the aggregated formats)."""
    queryset = Judgment.objects.filter(project=project)
    if filters.up_to_id is not None:
        queryset = queryset.filter(pk__lte=filters.up_to_id)
    if filters.exclude_flagged:
        queryset = queryset.exclude(annotator_id__in=flagged_annotator_ids(project=project))
    if not filters.include_gold:
        queryset = queryset.filter(is_gold=False)
    if filters.annotator_kind in Annotator.Kind.values:
        queryset = queryset.filter(annotator__kind=filters.annotator_kind)
    if filters.rubric_version is not None:
        queryset = queryset.filter(rubric_version=filters.rubric_version)
    if not filters.include_identity_leak:
        for leaking in identity_leak_tasks(project=project):
            queryset = queryset.exclude(Exists(leaking.filter(pk=OuterRef("task_id"))))
    return queryset


def identity_leak_tasks(*, project: Project) -> tuple[QuerySet[Task], QuerySet[Task]]:
    """The project's tasks showing an answer that named its own model (README, Arena
    safety), by the flagged response's side: the few flagged responses come from their
    partial index and each side's tasks from its index (an OR of the two sides would read
    every task). Left out with NOT EXISTS, which PostgreSQL plans as an anti-join and so
    estimates as leaving nearly every judgment (NOT IN would halve the estimate per side and
    change the export's plan)."""
    leaked = Response.objects.filter(item__project=project, identity_leak=True).values("pk")
    return (
        Task.objects.filter(response_a__in=leaked),
        Task.objects.filter(response_b__in=leaked),
    )


def _tasks_with_enough(passing: QuerySet[Judgment], minimum: int) -> QuerySet:
    return (
        passing.order_by()
        .values("task_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=minimum)
        .values("task_id")
    )


def judgments_for_export(*, project: Project, filters: ExportFilters) -> QuerySet[Judgment]:
    """Judgments passing the filters, oldest first; `min_judgments` counts the passing
    judgments of each judgment's task."""
    passing = passing_judgments(project=project, filters=filters)
    queryset = passing.filter(since_q(filters.since))
    if filters.label == "hybrid":
        # A judge's verdict only where no person's passing judgment labels the task.
        people = passing_judgments(
            project=project, filters=replace(filters, annotator_kind=Annotator.Kind.HUMAN)
        ).filter(task_id=OuterRef("task_id"))
        queryset = queryset.exclude(Q(annotator__kind=Annotator.Kind.MODEL) & Exists(people))
    if filters.min_judgments:
        queryset = queryset.filter(task_id__in=_tasks_with_enough(passing, filters.min_judgments))
    return queryset.order_by("pk")


JUDGMENT_COLUMNS = (
    "pk",
    "created_at",
    "choice",
    "strength",
    "rationale",
    "criteria",
    "scores",
    "seconds",
    "is_gold",
    "task_id",
    "task__item__external_id",
    "task__response_a__external_id",
    "task__response_a__model",
    "task__response_b__external_id",
    "task__response_b__model",
    "shown_left__external_id",
    "annotator__pseudonym",
    "annotator__external_id",
    "annotator__source",
    "annotator__kind",
    "rubric_version",
)


def judgment_rows(
    *,
    project: Project,
    filters: ExportFilters,
    limit: int | None = None,
    answer_keys: Sequence[str] | None = None,
    reason_keys: Sequence[str] = (),
    uses: frozenset[str] = frozenset(),
    profile_questions: Sequence[dict[str, Any]] = (),
) -> Iterator[dict[str, Any]]:
    """One dict per judgment (README "Exports", `judgments`), oldest first, read in
    chunks through a server-side cursor on Postgres; with `profile_questions` (the
    questions of `with_profile`) each row ends with its annotator's `profile.<key>` cells."""
    queryset = judgments_for_export(project=project, filters=filters)
    if limit is not None:
        queryset = queryset[:limit]
    return judgment_records(
        project=project,
        queryset=queryset,
        answer_keys=answer_keys,
        reason_keys=reason_keys,
        uses=uses,
        profile_questions=profile_questions,
    )


def _answers(stored: Any, keys: Sequence[str] | None) -> Any:
    """A judgment's answers as the export's struct: every key, null when unanswered (null
    when the project has none); as stored when no keys are given (the sync API)."""
    if keys is None:
        return stored
    if not keys:
        return None
    stored = stored if isinstance(stored, dict) else {}
    return {key: stored.get(key) for key in keys}


def spans_in_ids(stored: Any, external: dict[int, str]) -> list[dict[str, Any]]:
    """A judgment's stored spans (database response ids) with the import's response ids."""
    return [
        {
            "response": external[span["response"]],
            "start": span["start"],
            "end": span["end"],
            "label": span["label"],
            "note": span.get("note") or "",
        }
        for span in stored or []
    ]


#: What a judgments row reads beyond JUDGMENT_COLUMNS for a field the project uses.
_USED_COLUMNS = {
    USES_SPANS: ("spans",),
    USES_REWRITES: ("rewrite", "rewrite_of__external_id"),
}


def judgment_records(
    *,
    project: Project,
    queryset: QuerySet[Judgment],
    answer_keys: Sequence[str] | None = None,
    reason_keys: Sequence[str] = (),
    uses: frozenset[str] = frozenset(),
    profile_questions: Sequence[dict[str, Any]] = (),
) -> Iterator[dict[str, Any]]:
    """The export's dict for each judgment of an (ordered) queryset, read in chunks. With
    `answer_keys` the answers have exactly those keys (the export's struct); `reason_keys`
    gives a rubric row its verdict reasons, and `uses` the spans and rewrite fields; with
    `profile_questions` the annotator's profile cells follow (one more query in all)."""
    is_pairwise, is_ranking = project.is_pairwise, project.is_ranking
    extra: list[str] = ["ranking", "shown_order"] if is_ranking else []
    if reason_keys:
        extra.append("reasons")
    for used in (USES_SPANS, USES_REWRITES):
        if used in uses:
            extra.extend(_USED_COLUMNS[used])
    needs_ids = is_ranking or USES_SPANS in uses
    external = response_external_ids(project=project) if needs_ids else {}
    profiles = {}
    columns = [*JUDGMENT_COLUMNS, *extra]
    if profile_questions:
        profiles = profile_cells(project=project, questions=profile_questions)
        columns.append("annotator_id")
    rows = queryset.values_list(*columns)
    for row in rows.iterator(chunk_size=EXPORT_CHUNK):
        if profile_questions:
            *row, annotator_id = row
        (
            pk,
            created_at,
            choice,
            strength,
            rationale,
            criteria,
            scores,
            seconds,
            is_gold,
            task_id,
            item_id,
            a_id,
            a_model,
            b_id,
            b_model,
            left_id,
            pseudonym,
            external_id,
            source,
            kind,
            rubric_version,
            *rest,
        ) = row
        used = dict(zip(extra, rest, strict=True))
        record: dict[str, Any] = {
            "id": pk,
            "project": project.slug,
            "item_id": item_id,
            "task": task_id,
            "annotator": external_id if source in Annotator.NAMED_SOURCES else pseudonym,
            "annotator_kind": kind,
        }
        if USES_HYBRID in uses:
            record["label_source"] = "human" if kind == Annotator.Kind.HUMAN else "judge"
        if is_pairwise:
            record.update(
                {
                    "a": a_id,
                    "b": b_id,
                    "a_model": a_model,
                    "b_model": b_model,
                    "choice": choice,
                    "strength": strength,
                    "criteria": _answers(criteria, answer_keys),
                }
            )
        elif is_ranking:
            record.update(
                {
                    "ranking": ranking_in_ids(used["ranking"], external),
                    "shown_order": shown_in_ids(used["shown_order"], external),
                }
            )
        else:
            record.update(
                {"response": a_id, "model": a_model, "scores": _answers(scores, answer_keys)}
            )
            if reason_keys:
                record["reasons"] = _answers(used["reasons"], reason_keys)
        if USES_SPANS in uses:
            record["spans"] = spans_in_ids(used["spans"], external)
        if USES_REWRITES in uses:
            record["rewrite"] = used["rewrite"] or None
            record["rewrite_of"] = used["rewrite_of__external_id"]
        record.update(
            {
                "rationale": rationale,
                "shown_left": left_id,
                "seconds": seconds,
                "created_at": iso_time(created_at),
                "is_gold": is_gold,
                "rubric_version": rubric_version,
            }
        )
        if profile_questions:
            record.update(profile_record(profile_questions, profiles, annotator_id))
        yield record


class UTCTime(Func):
    """A timestamp as iso_time writes it (UTC, always with microseconds), in PostgreSQL."""

    template = (
        "TO_CHAR(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    )
    output_field = TextField()


def public_annotator() -> Case:
    """The annotator as exports name them: an imported one by their own id, a judge by its
    name, anyone else by their pseudonym."""
    return Case(
        When(annotator__source__in=Annotator.NAMED_SOURCES, then=F("annotator__external_id")),
        default=F("annotator__pseudonym"),
    )


def _verdict_of(key: str) -> Case:
    """A verdict of the stored scores as a boolean column (a JSON boolean's text would not
    read as one)."""
    return Case(
        When(**{f"scores__{key}": True}, then=Value(True)),
        When(**{f"scores__{key}": False}, then=Value(False)),
        default=None,
        output_field=BooleanField(),
    )


def judgment_wire_columns(
    project: Project,
    *,
    answer_keys: Sequence[str] | None = None,
    verdict_keys: frozenset[str] = frozenset(),
    reason_keys: Sequence[str] = (),
    uses: frozenset[str] = frozenset(),
) -> tuple[WireColumn, ...]:
    """The columns a judgments export reads, in the order of judgment_records. The answers
    (`criteria` of a pairwise project, `scores` of a rubric one) come one column per key
    (`criteria.<key>`) for the export's struct, or, with no keys given, as the stored JSON
    text. A verdict (`verdict_keys`) is read as a boolean; `reason_keys` and `uses` add the
    reasons (one column per key), the spans (JSON text in database ids, put in the import's
    ids by converted_batch) and the rewrite."""
    text, integer = pa.string(), pa.int64()
    head = [
        WireColumn("id", "pk", integer),
        WireColumn("item_id", "task__item__external_id", text),
        WireColumn("task", "task_id", integer),
        WireColumn("annotator", public_annotator(), text),
        WireColumn("annotator_kind", "annotator__kind", text),
    ]
    if USES_HYBRID in uses:
        source = Case(
            When(annotator__kind=Annotator.Kind.HUMAN, then=Value("human")),
            default=Value("judge"),
            output_field=TextField(),
        )
        head.append(WireColumn("label_source", source, text))
    field_name = "criteria" if project.is_pairwise else "scores"
    if answer_keys is None:
        answer_columns = [WireColumn(field_name, field_name, text)]
    else:
        value_type = text if project.is_pairwise else integer
        answer_columns = [
            WireColumn(f"{field_name}.{key}", _verdict_of(key), pa.bool_())
            if key in verdict_keys
            else WireColumn(f"{field_name}.{key}", KeyTextTransform(key, field_name), value_type)
            for key in answer_keys
        ]
    if project.is_ranking:
        # Stored in database ids, as JSON text: put in the import's ids by converted_batch.
        body = [
            WireColumn("ranking", "ranking", text),
            WireColumn("shown_order", "shown_order", text),
        ]
    elif project.is_pairwise:
        body = [
            WireColumn("a", "task__response_a__external_id", text),
            WireColumn("b", "task__response_b__external_id", text),
            WireColumn("a_model", "task__response_a__model", text),
            WireColumn("b_model", "task__response_b__model", text),
            WireColumn("choice", "choice", text),
            WireColumn("strength", "strength", integer),
            *answer_columns,
        ]
    else:
        body = [
            WireColumn("response", "task__response_a__external_id", text),
            WireColumn("model", "task__response_a__model", text),
            *answer_columns,
            *(
                WireColumn(f"reasons.{key}", KeyTextTransform(key, "reasons"), text)
                for key in reason_keys
            ),
        ]
    if USES_SPANS in uses:
        body.append(WireColumn("spans", "spans", text))
    if USES_REWRITES in uses:
        body += [
            WireColumn("rewrite", NullIf("rewrite", Value(""), output_field=TextField()), text),
            WireColumn("rewrite_of", "rewrite_of__external_id", text),
        ]
    tail = [
        WireColumn("rationale", "rationale", text),
        WireColumn("shown_left", "shown_left__external_id", text),
        WireColumn("seconds", "seconds", pa.float64()),
        WireColumn("created_at", UTCTime("created_at"), text),
        WireColumn("is_gold", "is_gold", pa.bool_()),
        WireColumn("rubric_version", "rubric_version", integer),
    ]
    return tuple(head + body + tail)


def plan_batches(plan: ExportPlan) -> Iterator[pa.RecordBatch]:
    """The judgments of a plan as read through COPY: its wire columns, answers per key,
    rankings in the import's response ids, the annotators' profile cells (`with_profile`)."""
    wire = judgment_wire_columns(
        plan.project,
        answer_keys=plan.answer_keys,
        verdict_keys=plan.verdict_keys,
        reason_keys=plan.reason_keys,
        uses=plan.uses,
    )
    questions = plan.survey_questions
    if questions:
        wire = (*wire, WireColumn("annotator_id", "annotator_id", pa.int64()))
    queryset = judgments_for_export(project=plan.project, filters=plan.query.filters)
    batches = select_batches(queryset, wire)
    converted = [name for name in _IN_DATABASE_IDS if name in plan.column_names]
    if converted:
        external = response_external_ids(project=plan.project)
        batches = (converted_batch(batch, plan.schema, external, converted) for batch in batches)
    if questions:
        cells = profile_cells(project=plan.project, questions=questions)
        batches = (with_profile_batch(b, plan.schema, questions, cells) for b in batches)
    return batches


#: The judgments columns stored in database response ids, as JSON, and how to put them in
#: the import's ids.
_IN_DATABASE_IDS = {
    "ranking": ranking_in_ids,
    "shown_order": shown_in_ids,
    "spans": spans_in_ids,
}


def converted_batch(
    batch: pa.RecordBatch, schema: pa.Schema, external: dict[int, str], names: Sequence[str]
) -> pa.RecordBatch:
    """A batch whose columns `names` (ranking, shown order, spans: the stored JSON text) are
    lists in the import's response ids, typed as the plan's columns."""
    columns = dict(zip(batch.schema.names, batch.columns, strict=True))
    for name in names:
        convert = _IN_DATABASE_IDS[name]
        stored = columns[name].to_pylist()
        values = [convert(None if text is None else json.loads(text), external) for text in stored]
        columns[name] = pa.array(values, type=schema.field(name).type)
    return pa.RecordBatch.from_pydict(columns)


def judgment_batches(*, plan: ExportPlan) -> Iterator[pa.RecordBatch]:
    """The `judgments` export as record batches in the plan's schema (PostgreSQL)."""
    slug = pa.scalar(plan.project.slug, pa.string())
    for batch in plan_batches(plan):
        arrays = []
        for field_ in plan.columns:
            if field_.name == "project":
                arrays.append(pa.repeat(slug, batch.num_rows))
            elif pa.types.is_null(field_.type):
                arrays.append(pa.nulls(batch.num_rows))
            elif pa.types.is_struct(field_.type):
                children = [batch.column(f"{field_.name}.{child.name}") for child in field_.type]
                arrays.append(pa.StructArray.from_arrays(children, fields=list(field_.type)))
            else:
                arrays.append(batch.column(field_.name))
        yield pa.RecordBatch.from_arrays(arrays, schema=plan.schema)
