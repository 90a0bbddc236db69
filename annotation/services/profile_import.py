"""Profiles from a crowd platform's demographic export (README "Surveys", Importing
profiles): Prolific's CSV, one row per participant keyed by `Participant id`, its columns
mapped onto survey keys. The answers fill the survey of the project's Prolific annotators,
marked as imported; what an annotator answered themselves is kept unless the researcher
asks to overwrite it. Rows of no annotator of the project and values that fit no question
are reported, never stored.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.errors import ValidationFailed
from annotation.models import Annotator, Project, SurveyAnswers
from annotation.numbers import ascii_float, ascii_int
from annotation.surveys import MAX_TEXT_ANSWER, answer_errors

#: The column of Prolific's demographic export that names the participant (PROLIFIC_PID).
PARTICIPANT_COLUMN = "Participant id"
#: What Prolific writes where a participant's answer is not available to the study.
WITHHELD = frozenset({"", "DATA_EXPIRED", "CONSENT_REVOKED"})
IMPORT_CHUNK = 1000
#: How many unmatched participants and refused values the report lists (it counts them all).
MAX_REPORTED = 1000
_BAND = re.compile(r"^\s*(\d+)\s*[-\u2013]\s*(\d+)\s*$")
_BAND_UP = re.compile(r"^\s*(\d+)\s*\+\s*$")


@dataclass(frozen=True)
class ColumnMapping:
    """One column of the export and the survey question it answers; `values` maps the
    platform's values (case folded) onto the question's."""

    column: str
    question: dict[str, Any]
    values: dict[str, Any]

    @property
    def key(self) -> str:
        return self.question["key"]


@dataclass
class ProfileImportReport:
    """What an import did: rows read, participants matched, answers stored or kept (the
    annotator's own), values withheld by the platform; unmatched participants and refused
    values, listed up to MAX_REPORTED and counted in full."""

    rows: int = 0
    matched: int = 0
    answers_stored: int = 0
    answers_kept: int = 0
    withheld: int = 0
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    unmatched_count: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    refused_count: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "matched": self.matched,
            "answers_stored": self.answers_stored,
            "answers_kept": self.answers_kept,
            "withheld": self.withheld,
            "unmatched": {"count": self.unmatched_count, "rows": self.unmatched},
            "refused": {"count": self.refused_count, "values": self.refused},
        }

    def add_unmatched(self, row: int, participant: str) -> None:
        self.unmatched_count += 1
        if len(self.unmatched) < MAX_REPORTED:
            self.unmatched.append({"row": row, "participant": participant})

    def add_refused(self, entry: dict[str, Any]) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REPORTED:
            self.refused.append(entry)


# ---------------------------------------------------------------- the mapping


def profile_columns_clean(
    *, project: Project, columns: Any, header: Sequence[str]
) -> list[ColumnMapping]:
    """The researcher's mapping, `{"Column": "key"}` or `{"Column": {"key": ..., "values":
    {platform value: answer}}}`, checked against the survey and the file's header; every
    problem named (`columns.Sex.values`) in one 400."""
    if not project.survey:
        raise ValidationFailed(errors=[{"field": "columns", "error": "this project has no survey"}])
    errors: list[dict[str, str]] = []
    if PARTICIPANT_COLUMN not in header:
        errors.append(
            {"field": "file", "error": f"no {PARTICIPANT_COLUMN!r} column (Prolific's export)"}
        )
    if not isinstance(columns, dict) or not columns:
        errors.append({"field": "columns", "error": "map one or more columns to survey keys"})
        raise ValidationFailed("The column mapping is not valid.", errors=errors)
    by_key = {q["key"]: q for q in project.survey}
    mappings: list[ColumnMapping] = []
    seen: set[str] = set()
    for column, target in columns.items():
        where = f"columns.{column}"
        spec = target if isinstance(target, dict) else {"key": target}
        for name in sorted(set(spec) - {"key", "values"}):
            errors.append({"field": f"{where}.{name}", "error": "unknown field"})
        key, values = spec.get("key"), spec.get("values", {})
        if column not in header:
            errors.append({"field": where, "error": "no such column in the file"})
        if not isinstance(key, str) or key not in by_key:
            errors.append({"field": where, "error": f"no survey question {key!r}"})
            continue
        if key in seen:
            errors.append({"field": where, "error": f"{key!r} is mapped from two columns"})
        seen.add(key)
        question = by_key[key]
        if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
            errors.append({"field": f"{where}.values", "error": "must map values to answers"})
            continue
        for given, answer in values.items():
            if _fits(question, _as_answer(question, answer)) is not None:
                errors.append(
                    {
                        "field": f"{where}.values",
                        "error": f"{given!r}: {answer!r} is not an answer to {key!r}",
                    }
                )
        folded = {given.strip().casefold(): answer for given, answer in values.items()}
        mappings.append(ColumnMapping(column, question, folded))
    if errors:
        raise ValidationFailed("The column mapping is not valid.", errors=errors)
    return mappings


def _as_answer(question: dict[str, Any], answer: Any) -> Any:
    """A mapped value as the question takes it: an option's label of a scale is its point."""
    if question["type"] == "scale" and isinstance(answer, str) and answer in question["options"]:
        return question["options"].index(answer) + 1
    if question["type"] == "multiple" and isinstance(answer, str):
        return [answer]
    return answer


def _fits(question: dict[str, Any], value: Any) -> str | None:
    """Why `value` is no answer to the question, or None when it is one."""
    problems = answer_errors([question], {question["key"]: value}, required_for=set())
    if value is None or value == "" or value == []:
        return "no answer"
    return problems[0]["error"] if problems else None


# ---------------------------------------------------------------- values


def _option(question: dict[str, Any], mapping: ColumnMapping, raw: str) -> str | None:
    """One platform value as an option label: mapped, as written, or in another case; a
    number falls in an age band option ("25-34", "65+")."""
    folded = raw.casefold()
    if folded in mapping.values:
        mapped = mapping.values[folded]
        return mapped if isinstance(mapped, str) else None
    options = question["options"]
    if raw in options:
        return raw
    same = [o for o in options if o.casefold() == folded]
    if same:
        return same[0]
    number = ascii_float(raw)
    if number is not None:
        for option in options:
            band, up = _BAND.match(option), _BAND_UP.match(option)
            if band and int(band[1]) <= number <= int(band[2]) + 0.999:
                return option
            if up and number >= int(up[1]):
                return option
    return None


def profile_value(mapping: ColumnMapping, raw: str) -> Any:
    """A cell of the export as an answer to the mapped question, or None when it is none
    (the caller reports it). `multiple` cells are comma-separated (Prolific's `Fluent
    languages`)."""
    question, text = mapping.question, raw.strip()
    kind = question["type"]
    if kind == "single":
        return _option(question, mapping, text)
    if kind == "multiple":
        chosen = [_option(question, mapping, part.strip()) for part in text.split(",")]
        if any(c is None for c in chosen):
            return None
        return _as_answer(question, list(dict.fromkeys(chosen)))
    if kind == "scale":
        label = _option(question, mapping, text)
        if label is not None:
            return question["options"].index(label) + 1
        point = mapping.values.get(text.casefold(), ascii_int(text))
        return _as_answer(question, point)
    if text.casefold() in mapping.values:
        return mapping.values[text.casefold()]
    if kind == "number":
        number = ascii_float(text)
        return int(number) if number is not None and number.is_integer() else number
    return text[: MAX_TEXT_ANSWER + 1]


# ---------------------------------------------------------------- reading a file


def csv_header_and_rows(file: IO[bytes]) -> tuple[list[str], Iterator[dict[str, str]]]:
    """A CSV file (UTF-8, with or without a byte order mark) as its header and its rows,
    read as they are used: a big file is never held whole in memory."""
    text = codecs.getreader("utf-8-sig")(file)
    reader = csv.reader(_lines(text))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise ValidationFailed(errors=[{"field": "file", "error": "the file is empty"}]) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _unreadable(exc) from exc

    def rows() -> Iterator[dict[str, str]]:
        try:
            for cells in reader:
                if any(cell.strip() for cell in cells):
                    yield dict(zip(header, cells, strict=False))
        except (UnicodeDecodeError, csv.Error) as exc:
            raise _unreadable(exc) from exc

    return header, rows()


def _lines(text: Any) -> Iterator[str]:
    while line := text.readline():
        yield line


def _unreadable(exc: Exception) -> ValidationFailed:
    return ValidationFailed(
        "The file is not a UTF-8 CSV file; nothing was imported.",
        errors=[{"field": "file", "error": f"not a UTF-8 CSV file: {exc}"}],
    )


# ---------------------------------------------------------------- the import


def profiles_import(
    *,
    project: Project,
    header: Sequence[str],
    rows: Iterable[dict[str, Any]],
    columns: Any,
    overwrite: bool = False,
    now: datetime | None = None,
) -> ProfileImportReport:
    """Fill the survey answers (at the current survey version) of the project's Prolific
    annotators from the export's rows, in one transaction: a file that turns out unreadable
    halfway stores nothing. Answers the annotator gave themselves are kept unless
    `overwrite`; imported ones are replaced by a newer import. Read and written a chunk of
    rows at a time (three queries a chunk), so a big file streams."""
    mappings = profile_columns_clean(project=project, columns=columns, header=header)
    if not isinstance(overwrite, bool):
        raise ValidationFailed(errors=[{"field": "overwrite", "error": "must be true or false"}])
    now = now or timezone.now()
    report = ProfileImportReport()
    try:
        with transaction.atomic():
            chunk: list[tuple[int, dict[str, Any]]] = []
            for row in rows:
                report.rows += 1
                chunk.append((report.rows, row))
                if len(chunk) >= IMPORT_CHUNK:
                    _import_chunk(project, mappings, chunk, overwrite, now, report)
                    chunk = []
            if chunk:
                _import_chunk(project, mappings, chunk, overwrite, now, report)
    except IntegrityError:  # an annotator answered their first survey at that moment
        raise ValidationFailed(
            errors=[{"field": "file", "error": "an annotator answered meanwhile: import again"}]
        ) from None
    return report


def _import_chunk(
    project: Project,
    mappings: list[ColumnMapping],
    chunk: list[tuple[int, dict[str, Any]]],
    overwrite: bool,
    now: datetime,
    report: ProfileImportReport,
) -> None:
    participants = {str(row.get(PARTICIPANT_COLUMN) or "").strip() for _, row in chunk}
    annotator_of = dict(
        Annotator.objects.filter(
            source=Annotator.Source.PROLIFIC,
            external_id__in=participants - {""},
            crowd_sessions__project=project,
        )
        .values_list("external_id", "pk")
        .distinct()
    )
    records = {
        r.annotator_id: r
        for r in SurveyAnswers.objects.select_for_update().filter(
            project=project, version=project.survey_version, annotator_id__in=annotator_of.values()
        )
    }
    created: dict[int, SurveyAnswers] = {}
    changed: dict[int, SurveyAnswers] = {}
    for number, row in chunk:
        participant = str(row.get(PARTICIPANT_COLUMN) or "").strip()
        annotator_id = annotator_of.get(participant)
        if annotator_id is None:
            report.add_unmatched(number, participant)
            continue
        report.matched += 1
        record = records.get(annotator_id)
        if record is None:
            record = SurveyAnswers(
                project=project,
                annotator_id=annotator_id,
                version=project.survey_version,
                answers={},
                submitted=[],
                imported=[],
                answered_at=now,
                updated_at=now,
            )
            records[annotator_id] = created[annotator_id] = record
        if _import_row(record, mappings, row, number, participant, overwrite, report):
            record.updated_at = now
            if record.pk is not None:
                changed[annotator_id] = record
    SurveyAnswers.objects.bulk_create([r for r in created.values() if r.answers])
    SurveyAnswers.objects.bulk_update(list(changed.values()), ["answers", "imported", "updated_at"])


def _import_row(
    record: SurveyAnswers,
    mappings: list[ColumnMapping],
    row: dict[str, Any],
    number: int,
    participant: str,
    overwrite: bool,
    report: ProfileImportReport,
) -> bool:
    """Put one participant's mapped values into their record; whether it changed."""
    changed = False
    imported = set(record.imported or [])
    for mapping in mappings:
        raw = str(row.get(mapping.column) or "").strip()
        if raw in WITHHELD:
            report.withheld += 1
            continue
        value = profile_value(mapping, raw)
        problem = _fits(mapping.question, value) if value is not None else "no answer"
        if problem is not None:
            report.add_refused(
                {
                    "row": number,
                    "participant": participant,
                    "column": mapping.column,
                    "key": mapping.key,
                    "value": raw[:200],
                    "error": f"fits no answer to {mapping.key!r}"
                    if problem == "no answer"
                    else problem,
                }
            )
            continue
        own = mapping.key in record.answers and mapping.key not in imported
        if own and not overwrite:
            report.answers_kept += 1
            continue
        record.answers = {**record.answers, mapping.key: value}
        imported.add(mapping.key)
        report.answers_stored += 1
        changed = True
    record.imported = sorted(imported)
    return changed


def json_header_and_rows(rows: Any) -> tuple[list[str], list[dict[str, str]]]:
    """A JSON body's `rows` (objects of column to value, as the CSV's) as a header and rows
    of text; anything else is a 400 naming the row."""
    if not isinstance(rows, list):
        raise ValidationFailed(errors=[{"field": "rows", "error": "must be a list of objects"}])
    header: dict[str, None] = {}
    texts: list[dict[str, str]] = []
    errors = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not all(
            value is None or isinstance(value, str | int | float) for value in row.values()
        ):
            errors.append(
                {"field": f"rows[{number}]", "error": "must be an object of column to value"}
            )
            continue
        header.update(dict.fromkeys(row))
        texts.append({k: "" if v is None else str(v) for k, v in row.items()})
    if errors:
        raise ValidationFailed("The rows are not valid; nothing was imported.", errors=errors)
    return list(header), texts
