"""An export's plan: its query checked against the project, with the columns fixed
before the first row is read (from the declared fields, annotation/exports/fields.py, and
the project: its criteria and rubric versions, whether any prompt is a conversation), so a
JSON Lines file loads with one type per column and a Parquet file has one schema.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
from django.db.models import (
    CharField,
    Func,
)

from annotation.errors import ValidationFailed
from annotation.exports.fields import (
    MESSAGES,
    USES_HYBRID,
    USES_REWRITES,
    USES_SPANS,
    USES_VERDICTS,
    fields_of,
)
from annotation.exports.query import (
    SPAN_FORMATS,
    ExportFilters,
    ExportQuery,
    _error,
    has_rewrites,
)
from annotation.models import (
    Criterion,
    Item,
    Project,
    RubricVersion,
)
from annotation.services.projects import CRITERION_FIELDS


@dataclass(frozen=True)
class ExportPlan:
    """A checked query for one project: what to read and the columns it yields. A `rubric`
    plan also knows the criteria of each rubric version it reads (`criteria` is then the
    columns' criteria: every key of those versions, the newest definition of each)."""

    project: Project
    query: ExportQuery
    criteria: tuple[Criterion, ...]
    conversational: bool
    columns: tuple[pa.Field, ...]
    rubric_versions: tuple[tuple[int, tuple[Criterion, ...]], ...] = ()
    #: The survey questions a plan has a column for: every one in an `annotators` plan
    #: (sensitive ones only with `include_sensitive`), those of `with_profile` in a
    #: `judgments` one.
    survey_questions: tuple[dict[str, Any], ...] = ()
    #: What the project uses that some fields need (USES_* of fields.py): which of them
    #: the columns hold.
    uses: frozenset[str] = frozenset()

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def schema(self) -> pa.Schema:
        """The file's schema, whatever its type: Parquet's, and the types JSON Lines keep to."""
        return pa.schema(list(self.columns))

    @property
    def answer_keys(self) -> list[str] | None:
        """The keys of the `judgments` answers struct (`criteria` or `scores`; none in a
        ranking project)."""
        if self.query.format != "judgments":
            return None
        if self.project.is_ranking:
            return []
        answers = self.schema.field("criteria" if self.project.is_pairwise else "scores").type
        return [child.name for child in answers] if pa.types.is_struct(answers) else []

    @property
    def verdict_keys(self) -> frozenset[str]:
        """The `judgments` answer keys that are verdicts (true / false, not integers)."""
        if not self.answer_keys or self.project.is_pairwise:
            return frozenset()
        answers = self.schema.field("scores").type
        return frozenset(child.name for child in answers if pa.types.is_boolean(child.type))

    @property
    def reason_keys(self) -> list[str]:
        """The keys of the `judgments` reasons struct (the verdict criteria; none when the
        file has no `reasons` column)."""
        if self.query.format != "judgments" or "reasons" not in self.column_names:
            return []
        return [child.name for child in self.schema.field("reasons").type]

    @property
    def filename(self) -> str:
        return f"{self.project.slug}-{self.query.format}.{self.query.filetype}"


# ---------------------------------------------------------------- planning


class JSONType(Func):
    """The type of a JSON value: 'array', 'object', ... (JSON_TYPE on SQLite)."""

    function = "JSON_TYPE"
    output_field = CharField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function="JSONB_TYPEOF", **extra)


def project_has_conversations(*, project: Project) -> bool:
    """Whether any item's prompt is a list of messages (one query)."""
    return (
        Item.objects.filter(project=project)
        .annotate(prompt_type=JSONType("prompt"))
        .filter(prompt_type="array")
        .exists()
    )


def export_plan(*, project: Project, query: ExportQuery) -> ExportPlan:
    """Check the query against the project and fix the columns before any row is read."""
    if query.format == "dpo" and not (project.is_pairwise or project.is_ranking):
        raise ValidationFailed(
            f"Project {project.slug!r} is a rubric project: DPO pairs come from pairwise "
            "and ranking ones.",
            errors=[_error("format", "dpo needs a pairwise or ranking project")],
        )
    query = _ranking_checked(project, query)
    if query.format == "labels" and not project.is_pairwise:
        raise ValidationFailed(
            f"Project {project.slug!r} is a rubric project: labels are of pairwise tasks.",
            errors=[_error("format", "labels needs a pairwise project")],
        )
    if query.format in ("rubric", "kto") and project.kind != Project.Kind.RUBRIC:
        raise ValidationFailed(
            f"Project {project.slug!r} is a {project.kind} project: use format dpo or judgments.",
            errors=[_error("format", f"{query.format} needs a rubric project")],
        )
    every_criterion = list(project.criteria.all())
    if query.format in SPAN_FORMATS and not any(c.is_spans for c in every_criterion):
        raise ValidationFailed(
            f"Project {project.slug!r} has no spans criterion: nothing is marked in it.",
            errors=[_error("format", f"{query.format} needs a project with a spans criterion")],
        )
    if query.format == "rewrites" and not has_rewrites(project=project):
        raise ValidationFailed(
            f"Project {project.slug!r} takes no rewrites (its rewrite setting is off).",
            errors=[_error("format", "rewrites needs a project whose rewrite is not off")],
        )
    # A spans criterion's answers are marks, exported by the span formats, not scores.
    criteria = tuple(c for c in every_criterion if not c.is_spans)
    if query.format == "kto" and not any(c.is_verdict for c in criteria):
        raise ValidationFailed(
            f"Project {project.slug!r} has no verdict criterion: kto needs good / bad verdicts.",
            errors=[_error("format", "kto needs a rubric project with a verdict criterion")],
        )
    versions: tuple[tuple[int, tuple[Criterion, ...]], ...] = ()
    if query.format == "rubric":
        versions = _rubric_versions_read(project, criteria, query.filters.rubric_version)
        criteria = _rubric_column_criteria(versions)
    conversational = False
    if query.format in ("dpo", "rubric", "kto", "rewrites", "items"):
        conversational = project_has_conversations(project=project)
    questions: tuple[dict[str, Any], ...] = ()
    if query.format == "annotators":
        sensitive = query.filters.include_sensitive
        questions = tuple(q for q in project.survey if sensitive or not q.get("sensitive"))
    uses = _uses(project, query.format, every_criterion)
    if query.format in ("dpo", "judgments") and query.filters.label == "hybrid":
        uses |= {USES_HYBRID}
    if query.format == "judgments":
        questions = _profile_questions(project, query.filters)
    if query.format == "rubric":
        columns = _rubric_columns(criteria, versions, conversational)
    else:
        retractable = query.filters.since is not None
        columns = _columns(
            project, query.format, criteria, conversational, retractable=retractable, uses=uses
        )
        columns = _with_survey_columns(columns, questions)
    return ExportPlan(project, query, criteria, conversational, columns, versions, questions, uses)


def judgment_fields_used(*, project: Project) -> tuple[frozenset[str], list[str]]:
    """What a project's `judgments` rows carry beyond the kind's fields (USES_*), and its
    verdict keys (the `reasons` struct), for readers of judgments outside an export plan."""
    criteria = list(project.criteria.all())
    uses = _uses(project, "judgments", criteria)
    reason_keys = [c.key for c in criteria if c.is_verdict] if USES_VERDICTS in uses else []
    return uses, reason_keys


def _uses(project: Project, export_format: str, criteria: list[Criterion]) -> frozenset[str]:
    """What the project uses among what the format's fields may need (whether it takes
    rewrites is read only when a field needs it)."""
    needed = {f.needs for f in fields_of(export_format, kind=project.task_kind)} - {None}
    uses = set()
    if USES_SPANS in needed and any(c.is_spans for c in criteria):
        uses.add(USES_SPANS)
    if USES_VERDICTS in needed and any(c.is_verdict for c in criteria):
        uses.add(USES_VERDICTS)
    if USES_REWRITES in needed and has_rewrites(project=project):
        uses.add(USES_REWRITES)
    return frozenset(uses)


#: A survey answer's column type, by question type (README "Surveys").
SURVEY_TYPES: dict[str, pa.DataType] = {
    "single": pa.string(),
    "text": pa.string(),
    "multiple": pa.list_(pa.string()),
    "number": pa.float64(),
    "scale": pa.int64(),
}


def _profile_questions(project: Project, filters: ExportFilters) -> tuple[dict[str, Any], ...]:
    """The questions `with_profile` names, in its order: a key the survey lacks, or a
    sensitive one without `include_sensitive`, is a 400 naming it."""
    by_key = {q["key"]: q for q in project.survey}
    errors = []
    for key in filters.with_profile:
        if key not in by_key:
            known = ", ".join(by_key) or "none"
            errors.append(
                _error("with_profile", f"no survey question {key!r} (this survey has {known})")
            )
        elif by_key[key].get("sensitive") and not filters.include_sensitive:
            errors.append(
                _error("with_profile", f"{key!r} is sensitive: ask include_sensitive=true")
            )
    if errors:
        raise ValidationFailed("The profile fields asked for are not available.", errors=errors)
    return tuple(by_key[key] for key in filters.with_profile)


def _with_survey_columns(
    columns: tuple[pa.Field, ...], questions: tuple[dict[str, Any], ...]
) -> tuple[pa.Field, ...]:
    """The declared per-question field (`survey.<key>`, `profile.<key>`) as one column per
    question."""
    names = [c.name for c in columns]
    at = next((i for i, name in enumerate(names) if name.endswith(".<key>")), None)
    if at is None:
        return columns
    prefix = names[at].removesuffix("<key>")
    asked = tuple(
        column(f"{prefix}{q['key']}", SURVEY_TYPES[q["type"]], nullable=True) for q in questions
    )
    return (*columns[:at], *asked, *columns[at + 1 :])


def _ranking_checked(project: Project, query: ExportQuery) -> ExportQuery:
    """A `dpo` query of a ranking project with its `expand` (default `adjacent`); `expand`
    anywhere else, or a researcher's adjudication (of pairwise tasks) for rankings, is a 400."""
    filters = query.filters
    if filters.expand is not None and not project.is_ranking:
        raise ValidationFailed(
            f"Project {project.slug!r} is a {project.kind} project: expand turns rankings "
            "into pairs.",
            errors=[_error("expand", "applies to ranking projects only")],
        )
    if query.format != "dpo" or not project.is_ranking:
        return query
    if filters.label == "adjudicated":
        raise ValidationFailed(
            "Adjudications decide pairwise tasks; a ranking project's pairs are decided by "
            "their votes.",
            errors=[_error("label", "adjudicated applies to pairwise projects only")],
        )
    if filters.label == "hybrid":
        raise ValidationFailed(
            "label=hybrid fills pairwise tasks without a human judgment with the judges' "
            "verdicts; a ranking project's pairs are decided by their votes.",
            errors=[_error("label", "hybrid applies to pairwise projects only")],
        )
    return replace(query, filters=replace(filters, expand=filters.expand or "adjacent"))


def rubric_versions_of(
    *, project: Project, current: Sequence[Criterion] | None = None
) -> dict[int, tuple[Criterion, ...]]:
    """Every rubric version of the project with its criteria, oldest first: the archived
    ones (RubricVersion) and the current one (the project's criteria, or `current` when the
    caller has read them). Archived criteria are unsaved Criterion objects, so their level,
    range and labels read as the current ones do."""
    versions: dict[int, tuple[Criterion, ...]] = {}
    for archived in RubricVersion.objects.filter(project=project).order_by("version"):
        versions[archived.version] = tuple(
            Criterion(
                project=project,
                position=position,
                **{k: v for k, v in fields.items() if k in CRITERION_FIELDS},
            )
            for position, fields in enumerate(archived.criteria or [])
            if isinstance(fields, dict)
            and fields.get("key")
            and fields.get("type") != Criterion.Type.SPANS
        )
    if current is None:
        current = project.criteria.exclude(type=Criterion.Type.SPANS)
    versions[project.rubric_version] = tuple(current)
    return versions


def _rubric_versions_read(
    project: Project, current: tuple[Criterion, ...], wanted: int | None
) -> tuple[tuple[int, tuple[Criterion, ...]], ...]:
    """The versions a rubric export reads, newest first: the one asked for (an unknown one
    is a 400 naming `rubric_version`), else every version."""
    versions = rubric_versions_of(project=project, current=current)
    if wanted is None:
        return tuple(sorted(versions.items(), reverse=True))
    if wanted not in versions:
        known = ", ".join(str(v) for v in sorted(versions))
        raise ValidationFailed(
            f"Project {project.slug!r} has no rubric version {wanted}.",
            errors=[_error("rubric_version", f"unknown version; this project has {known}")],
        )
    return ((wanted, versions[wanted]),)


def _rubric_column_criteria(
    versions: Sequence[tuple[int, tuple[Criterion, ...]]],
) -> tuple[Criterion, ...]:
    """Every criterion key of the versions, once: the newest version's criteria in their
    order, then keys only older versions had."""
    seen: dict[str, Criterion] = {}
    for _, criteria in versions:
        for criterion in criteria:
            seen.setdefault(criterion.key, criterion)
    return tuple(seen.values())


def rubric_score_column(criterion_key: str) -> str:
    """A criterion's column in the rubric format; a key that would shadow a fixed column
    gets a `score_` prefix."""
    return f"score_{criterion_key}" if criterion_key in _RUBRIC_FIXED else criterion_key


_RUBRIC_FIXED = {
    "prompt",
    "response",
    "model",
    "item_id",
    "response_id",
    "rubric_version",
    "n_judgments",
    "agreement",
}


def column(name: str, column_type: pa.DataType, *, nullable: bool = False) -> pa.Field:
    """One column of an export: required (never null, so non-nullable in Parquet) unless
    said otherwise."""
    return pa.field(name, column_type, nullable=nullable)


def _answer_keys(project: Project, criteria: tuple[Criterion, ...]) -> list[str]:
    """The keys of a judgment's answers (`criteria` or `scores`): the current criteria, then
    those only earlier rubric versions had, so old judgments keep their answers."""
    versions = rubric_versions_of(project=project, current=criteria)
    return [c.key for c in _rubric_column_criteria(sorted(versions.items(), reverse=True))]


def _answers_type(
    project: Project, keys: Sequence[str], verdicts: frozenset[str] = frozenset()
) -> pa.DataType:
    """A struct of the answer keys (text for pairwise criteria, integers for rubric scores,
    booleans for verdicts), every key present and null when unanswered; null when the
    project asks for none."""
    if not keys:
        return pa.null()
    if project.is_pairwise:
        return pa.struct([column(key, pa.string(), nullable=True) for key in keys])
    return pa.struct(
        [column(key, pa.bool_() if key in verdicts else pa.int64(), nullable=True) for key in keys]
    )


def _rubric_columns(
    criteria: tuple[Criterion, ...],
    versions: Sequence[tuple[int, tuple[Criterion, ...]]],
    conversational: bool,
) -> tuple[pa.Field, ...]:
    """A rubric row: the response, its rubric version, then per criterion its value (an
    integer score for nominal and ordinal criteria, a float mean for interval ones; a key
    that is interval in any version read is a float) and, for a nominal one, the value's
    share; then the agreements."""
    levels: dict[str, set[str]] = defaultdict(set)
    for _, version_criteria in versions:
        for criterion in version_criteria:
            levels[criterion.key].add(criterion.level)
    text = pa.string()
    values: list[pa.Field] = []
    for criterion in criteria:
        kinds = levels[criterion.key] or {criterion.level}
        interval = Criterion.Level.INTERVAL in kinds
        value_type = pa.float64() if interval else pa.int64()
        values.append(column(rubric_score_column(criterion.key), value_type, nullable=True))
        if Criterion.Level.NOMINAL in kinds:
            values.append(column(f"share_{criterion.key}", pa.float64(), nullable=True))
    return (
        column("prompt", MESSAGES if conversational else text),
        column("response", text),
        column("model", text),
        column("item_id", text),
        column("response_id", text),
        column("rubric_version", pa.int64()),
        *values,
        column("n_judgments", pa.int64()),
        *(column(f"agreement_{c.key}", pa.float64(), nullable=True) for c in criteria),
        column("agreement", pa.float64(), nullable=True),
    )


def _columns(
    project: Project,
    export_format: str,
    criteria: tuple[Criterion, ...],
    conversational: bool,
    *,
    retractable: bool = False,
    uses: frozenset[str] = frozenset(),
) -> tuple[pa.Field, ...]:
    """The columns of a format other than `rubric`, from its declared fields
    (annotation/exports/fields.py) that apply to what the project `uses`. `retractable` (a
    `dpo` pull with `since`): a retraction row keeps only its keys, so the texts may be
    null."""
    columns = []
    for declared in fields_of(export_format, kind=project.task_kind, uses=uses):
        if declared.per_question:  # expanded by _with_survey_columns
            columns.append(column(declared.name, pa.null(), nullable=True))
        elif declared.type == "reasons":
            keys = [c.key for c in criteria if c.is_verdict]
            reasons = pa.struct([column(key, pa.string(), nullable=True) for key in keys])
            columns.append(column(declared.name, reasons))
        elif declared.type == "answers":
            verdicts = frozenset(c.key for c in criteria if c.is_verdict)
            answers = _answers_type(project, _answer_keys(project, criteria), verdicts)
            columns.append(column(declared.name, answers, nullable=pa.types.is_null(answers)))
        else:
            columns.append(declared.field(conversational=conversational, retractable=retractable))
    return tuple(columns)
