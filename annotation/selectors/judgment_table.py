"""A project's judgments as numpy columns, the input of the statistics engine.

On PostgreSQL the rows are read with `COPY (SELECT ...) TO STDOUT` and parsed by pyarrow,
so a million judgments load in about the time of the COPY itself; elsewhere through the ORM.
Every column is numeric: codes are computed in SQL.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.db.models import Case, F, IntegerField, QuerySet, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import Exact

from annotation.models import Criterion, Judgment, Project

CHOICES = ("a", "b", "tie", "both_bad")
CRITERION_CHOICES = ("a", "b", "tie")
MISSING = -1


@dataclass
class JudgmentTable:
    """Parallel arrays, one entry per judgment; codes are -1 where absent."""

    judgment: npt.NDArray[np.int64]
    task: npt.NDArray[np.int64]
    item: npt.NDArray[np.int64]
    annotator: npt.NDArray[np.int64]
    is_model: npt.NDArray[np.bool_]
    choice: npt.NDArray[np.int64]
    strength: npt.NDArray[np.int64]
    left_is_a: npt.NDArray[np.int64]
    seconds: npt.NDArray[np.float64]
    is_gold: npt.NDArray[np.bool_]
    gold_correct: npt.NDArray[np.int64]
    model_a: npt.NDArray[np.int64]
    model_b: npt.NDArray[np.int64]
    models: list[str]
    criteria: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.judgment)

    def subset(self, mask: npt.NDArray[np.bool_]) -> JudgmentTable:
        """The rows where mask holds (models keep their codes)."""
        return JudgmentTable(
            **{
                name: getattr(self, name)[mask]
                for name in (
                    "judgment",
                    "task",
                    "item",
                    "annotator",
                    "is_model",
                    "choice",
                    "strength",
                    "left_is_a",
                    "seconds",
                    "is_gold",
                    "gold_correct",
                    "model_a",
                    "model_b",
                )
            },
            models=self.models,
            criteria={key: values[mask] for key, values in self.criteria.items()},
        )


def _code(expression: F | KT, labels: tuple[str, ...]) -> Case:
    """Map a text column to 0, 1, ... by label, in SQL; anything else is -1."""
    return Case(
        *(When(Exact(expression, Value(label)), then=Value(i)) for i, label in enumerate(labels)),
        default=Value(MISSING),
        output_field=IntegerField(),
    )


def _queryset(project: Project, criteria: list[Criterion]) -> tuple[QuerySet, list[str]]:
    annotations = {
        "c_choice": _code(F("choice"), CHOICES),
        "c_strength": Coalesce(F("strength"), Value(MISSING), output_field=IntegerField()),
        "c_left": Case(
            When(shown_left__isnull=True, then=Value(MISSING)),
            When(shown_left=F("task__response_a"), then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        ),
        "c_kind": Case(
            When(annotator__kind="model", then=Value(1)),
            default=Value(0),
            output_field=IntegerField(),
        ),
        "c_gold": Case(
            When(is_gold=True, then=Value(1)), default=Value(0), output_field=IntegerField()
        ),
        "c_gold_correct": Case(
            When(gold_correct=True, then=Value(1)),
            When(gold_correct=False, then=Value(0)),
            default=Value(MISSING),
            output_field=IntegerField(),
        ),
    }
    criterion_columns = []
    for index, criterion in enumerate(criteria):
        name = f"k{index}"
        if project.is_pairwise:
            annotations[name] = _code(KT(f"criteria__{criterion.key}"), CRITERION_CHOICES)
        else:
            annotations[name] = Coalesce(
                Cast(KT(f"scores__{criterion.key}"), IntegerField()),
                Value(MISSING),
                output_field=IntegerField(),
            )
        criterion_columns.append(name)
    columns = [
        "pk",
        "task_id",
        "task__item_id",
        "annotator_id",
        "c_kind",
        "c_choice",
        "c_strength",
        "c_left",
        "seconds",
        "c_gold",
        "c_gold_correct",
        "task__response_a__model",
        "task__response_b__model",
        *criterion_columns,
    ]
    queryset = (
        Judgment.objects.filter(project=project)
        .annotate(**annotations)
        .order_by("pk")
        .values_list(*columns)
    )
    return queryset, columns


def judgment_table(*, project: Project, up_to_id: int | None = None) -> JudgmentTable:
    """Every judgment of the project (up to a judgment id, so a report matches its cursor)."""
    criteria = list(project.criteria.all())
    queryset, columns = _queryset(project, criteria)
    if up_to_id is not None:
        queryset = queryset.filter(pk__lte=up_to_id)
    if connection.vendor == "postgresql":
        raw = _read_with_copy(queryset, len(columns))
    else:
        raw = _read_with_orm(queryset, len(columns))
    model_a, model_b, models = _encode_models(raw[11], raw[12])
    seconds = raw[8].astype(np.float64)
    return JudgmentTable(
        judgment=raw[0].astype(np.int64),
        task=raw[1].astype(np.int64),
        item=raw[2].astype(np.int64),
        annotator=raw[3].astype(np.int64),
        is_model=raw[4].astype(np.int64) == 1,
        choice=raw[5].astype(np.int64),
        strength=raw[6].astype(np.int64),
        left_is_a=raw[7].astype(np.int64),
        seconds=seconds,
        is_gold=raw[9].astype(np.int64) == 1,
        gold_correct=raw[10].astype(np.int64),
        model_a=model_a,
        model_b=model_b,
        models=models,
        criteria={c.key: raw[13 + i].astype(np.int64) for i, c in enumerate(criteria)},
    )


def _encode_models(
    model_a, model_b
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
    """Model names to codes 0..M-1 in name order (-1 where a task has no second response)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def as_array(values):
        return values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())

    both = pa.concat_arrays([as_array(model_a), as_array(model_b)])
    encoded = both.dictionary_encode()
    names = encoded.dictionary.to_pylist()
    order = sorted(range(len(names)), key=names.__getitem__)
    remap = np.empty(len(names) + 1, dtype=np.int64)
    remap[np.array(order, dtype=np.int64)] = np.arange(len(names))
    remap[-1] = MISSING
    indices = pc.fill_null(encoded.indices, len(names)).to_numpy(zero_copy_only=False)
    codes = remap[indices.astype(np.int64)]
    return codes[: len(model_a)], codes[len(model_a) :], sorted(names)


def _read_with_orm(queryset: QuerySet, width: int) -> list[npt.NDArray]:
    rows = list(queryset.iterator(chunk_size=5000))
    if not rows:
        return [[] if i in (11, 12) else np.empty(0) for i in range(width)]
    columns = list(zip(*rows, strict=True))
    out = []
    for position, column in enumerate(columns):
        if position == 8:
            out.append(np.array([np.nan if v is None else v for v in column], dtype=np.float64))
        elif position in (11, 12):
            out.append(list(column))
        else:
            out.append(np.array(column, dtype=np.int64))
    return out


def _read_with_copy(queryset: QuerySet, width: int) -> list[npt.NDArray]:
    import pyarrow as pa
    from pyarrow import csv as pa_csv

    sql, params = queryset.query.sql_with_params()
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        raw_cursor = cursor.cursor
        with raw_cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
            for block in copy:
                buffer.write(block)
    names = [f"c{i}" for i in range(width)]
    if buffer.tell() == 0:
        return [[] if i in (11, 12) else np.empty(0) for i in range(width)]
    buffer.seek(0)
    types = {name: pa.int64() for name in names}
    types["c8"] = pa.float64()
    types["c11"] = pa.string()
    types["c12"] = pa.string()
    table = pa_csv.read_csv(
        buffer,
        read_options=pa_csv.ReadOptions(column_names=names),
        convert_options=pa_csv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    out = []
    for i, name in enumerate(names):
        column = table.column(name)
        if i == 8:
            out.append(column.to_numpy(zero_copy_only=False).astype(np.float64))
        elif i in (11, 12):
            out.append(column.combine_chunks())
        else:
            out.append(column.to_numpy(zero_copy_only=False))
    return out
