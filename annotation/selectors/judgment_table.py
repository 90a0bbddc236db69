"""A project's judgments as numpy columns, the input of the statistics engine.

On PostgreSQL every column comes as one binary array (`array_send(array_agg(...))`): a
million judgments cross the wire as a few dozen values instead of a million rows, and numpy
reads them without parsing; a large project is read in two halves at once (see
_arrays_fetched). The task-level columns (item, the response shown first,
the models) come once per task and are joined to the judgments in numpy. Elsewhere the rows
come through the ORM. Every column is numeric: codes are computed in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

import numpy as np
import numpy.typing as npt
import psycopg
import psycopg.sql
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import BigIntegerField, Case, F, IntegerField, Q, QuerySet, Value, When
from django.db.models.fields.json import KT, KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import Exact

from annotation import pg
from annotation.db import read_connection
from annotation.models import Annotator, Criterion, Item, Judgment, Project, Response, Task
from annotation.pg.arrays import binary_row, unpack_array

CHOICES = ("a", "b", "tie", "both_bad")
REFERENCE_CHOICES = ("a", "b", "tie")
CRITERION_CHOICES = ("a", "b", "tie")
MISSING = -1
#: A rubric score not given (a criterion added after the judgment): far below any score a
#: criterion can take (its min is a 32-bit integer), so it can never be read as one, even
#: on a range below zero where -1 is a real score.
MISSING_SCORE = -(2**62)


@dataclass
class JudgmentTable:
    """Parallel arrays, one entry per judgment; codes are -1 where absent, rubric scores
    (in `criteria` of a rubric project) MISSING_SCORE."""

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
    #: The task shows a response that names its own model (Response.identity_leak).
    identity_leak: npt.NDArray[np.bool_]
    models: list[str]
    criteria: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.judgment)

    def subset(self, mask: npt.NDArray[np.bool_]) -> JudgmentTable:
        """The rows where mask holds (models keep their codes); the table itself when every
        row does (tables are never changed in place), which is the usual case."""
        if mask.all():
            return self
        return JudgmentTable(
            **{name: getattr(self, name)[mask] for name in COLUMNS},
            models=self.models,
            criteria={key: values[mask] for key, values in self.criteria.items()},
        )


#: The per-judgment arrays of a JudgmentTable (its criteria aside).
COLUMNS = tuple(f.name for f in fields(JudgmentTable) if f.name not in ("models", "criteria"))


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
        "c_leak": Case(
            When(
                Q(task__response_a__identity_leak=True) | Q(task__response_b__identity_leak=True),
                then=Value(1),
            ),
            default=Value(0),
            output_field=IntegerField(),
        ),
    }
    criterion_columns = []
    for index, criterion in enumerate(criteria):
        name = f"k{index}"
        if project.is_pairwise:
            annotations[name] = _code(KT(f"criteria__{criterion.key}"), CRITERION_CHOICES)
        elif criterion.is_verdict:
            # A verdict is a JSON boolean: bad 0, good 1 (a cast of the text would read 0).
            annotations[name] = Case(
                When(**{f"scores__{criterion.key}": True}, then=Value(1)),
                When(**{f"scores__{criterion.key}": False}, then=Value(0)),
                default=Value(MISSING_SCORE),
                output_field=BigIntegerField(),
            )
        else:
            annotations[name] = Coalesce(
                Cast(KT(f"scores__{criterion.key}"), BigIntegerField()),
                Value(MISSING_SCORE),
                output_field=BigIntegerField(),
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
        "c_leak",
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
    # A spans criterion is answered by marks, not by a side or a score (selectors.span_table).
    criteria = list(project.criteria.exclude(type=Criterion.Type.SPANS))
    if read_connection().vendor == "postgresql":
        return _read_with_arrays(project, criteria, up_to_id)
    return _read_with_orm(project, criteria, up_to_id)


def _read_with_orm(
    project: Project, criteria: list[Criterion], up_to_id: int | None
) -> JudgmentTable:
    queryset, columns = _queryset(project, criteria)
    if up_to_id is not None:
        queryset = queryset.filter(pk__lte=up_to_id)
    rows = list(queryset.iterator(chunk_size=5000))
    raw = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    model_a, model_b, models = _encode_models(raw[11], raw[12])

    def integers(position: int) -> npt.NDArray[np.int64]:
        return np.array(raw[position], dtype=np.int64)

    return JudgmentTable(
        judgment=integers(0),
        task=integers(1),
        item=integers(2),
        annotator=integers(3),
        is_model=integers(4) == 1,
        choice=integers(5),
        strength=integers(6),
        left_is_a=integers(7),
        seconds=np.array([np.nan if v is None else v for v in raw[8]], dtype=np.float64),
        is_gold=integers(9) == 1,
        gold_correct=integers(10),
        model_a=model_a,
        model_b=model_b,
        identity_leak=integers(13) == 1,
        models=models,
        criteria={c.key: integers(14 + i) for i, c in enumerate(criteria)},
    )


def _encode_models(
    model_a: tuple[str, ...], model_b: tuple[str | None, ...]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
    """Model names to codes 0..M-1 in name order (-1 where a task has no second response)."""
    names = sorted({*model_a, *model_b} - {None})
    code = {name: i for i, name in enumerate(names)}
    return (
        np.array([code.get(name, MISSING) for name in model_a], dtype=np.int64),
        np.array([code.get(name, MISSING) for name in model_b], dtype=np.int64),
        names,
    )


def _case(expression: str, labels: tuple[str, ...], first: int = 0) -> tuple[str, list[str]]:
    """SQL mapping a text expression to first, first + 1, ... by label (first - 1 otherwise),
    and its params."""
    whens = " ".join(f"WHEN %s::text THEN {first + i}" for i in range(len(labels)))
    return f"CASE {expression} {whens} ELSE {first - 1} END", list(labels)


# The small codes of a judgment travel packed in one bigint, each stored plus one so that a
# missing one is 0: the choice in bits 0-2, gold_correct in bits 3-4, is_gold in bit 5 and the
# strength from bit 6; pairwise criteria two bits each, 31 to a bigint. A column fewer is an
# array_agg fewer over every judgment (about a tenth of a second per million).
_CHOICE_BITS, _GOLD_CORRECT_SHIFT, _IS_GOLD_SHIFT, _STRENGTH_SHIFT = 3, 3, 5, 6
CRITERIA_PER_COLUMN = 31


def _judgment_columns(project: Project, criteria: list[Criterion]) -> tuple[list[str], list]:
    """The array_agg of each column read from the judgment row (id, task, annotator, the
    response shown left, seconds, the packed codes, then the criteria: packed for a pairwise
    project, one column each for rubric scores) and the query parameters they take."""
    choice, params = _case("j.choice", CHOICES, first=1)
    codes = (
        f"(({choice})::int8"
        f" | ((CASE WHEN j.gold_correct THEN 2 WHEN NOT j.gold_correct THEN 1 ELSE 0 END)::int8"
        f" << {_GOLD_CORRECT_SHIFT})"
        f" | ((j.is_gold::int)::int8 << {_IS_GOLD_SHIFT})"
        f" | ((COALESCE(j.strength, -1) + 1)::int8 << {_STRENGTH_SHIFT}))"
    )
    columns = [
        "array_agg(j.id)",
        "array_agg(j.task_id)",
        "array_agg(j.annotator_id)",
        f"array_agg(COALESCE(j.shown_left_id, {MISSING}))",
        "array_agg(COALESCE(j.seconds, 'NaN'))",
        f"array_agg({codes})",
    ]
    if project.is_pairwise:
        for start in range(0, len(criteria), CRITERIA_PER_COLUMN):
            packed = []
            for position, criterion in enumerate(criteria[start : start + CRITERIA_PER_COLUMN]):
                code, labels = _case("j.criteria ->> %s::text", CRITERION_CHOICES, first=1)
                packed.append(f"(({code})::int8 << {2 * position})")
                params += [criterion.key, *labels]
            columns.append(f"array_agg({' | '.join(packed)})")
    else:
        for criterion in criteria:
            if criterion.is_verdict:  # a JSON boolean: bad 0, good 1
                columns.append(
                    "array_agg(CASE j.scores ->> %s::text WHEN 'true' THEN 1::int8 "
                    f"WHEN 'false' THEN 0::int8 ELSE {MISSING_SCORE}::int8 END)"
                )
            else:
                columns.append(
                    f"array_agg(COALESCE((j.scores ->> %s::text)::int8, {MISSING_SCORE}::int8))"
                )
            params.append(criterion.key)
    return columns, params


def _criteria_codes(
    project: Project, criteria: list[Criterion], columns: list[npt.NDArray[np.int64]]
) -> dict[str, npt.NDArray[np.int64]]:
    """Each criterion's codes from the criteria columns _judgment_columns asked for."""
    if not project.is_pairwise:
        return {c.key: column for c, column in zip(criteria, columns, strict=True)}
    return {
        c.key: ((columns[i // CRITERIA_PER_COLUMN] >> (2 * (i % CRITERIA_PER_COLUMN))) & 3) - 1
        for i, c in enumerate(criteria)
    }


#: The tables the statements below read, named by annotation.pg.
_TABLES = {
    name: pg.text(pg.table(model))
    for name, model in (
        ("annotator", Annotator),
        ("item", Item),
        ("judgment", Judgment),
        ("response", Response),
        ("task", Task),
    )
}

# Tasks come once each; models as one row per distinct name with the ids of its responses,
# so no text crosses the wire per task.
TASKS_SQL = """
SELECT
    array_send(array_agg(t.id)),
    array_send(array_agg(t.item_id)),
    array_send(array_agg(t.response_a_id)),
    array_send(array_agg(COALESCE(t.response_b_id, -1)))
FROM {task} t
WHERE t.project_id = %s
""".format(**_TABLES)
MODELS_SQL = """
SELECT array_agg(model), array_agg(responses)
FROM (
    SELECT r.model, array_send(array_agg(r.id)) AS responses
    FROM {response} r
    JOIN {item} i ON i.id = r.item_id
    WHERE i.project_id = %s
    GROUP BY r.model
) AS by_model
""".format(**_TABLES)
MODEL_ANNOTATORS_SQL = (
    f"SELECT array_send(array_agg(id)) FROM {_TABLES['annotator']} WHERE kind = 'model'"
)
# The project's responses flagged identity_leak: few, read through their partial index.
LEAKED_RESPONSES_SQL = """
SELECT array_send(array_agg(r.id))
FROM {response} r
JOIN {item} i ON i.id = r.item_id
WHERE r.identity_leak AND i.project_id = %s
""".format(**_TABLES)

#: Below this many judgment ids between a project's first and last judgment, the judgments
#: are read by one statement; above it, by two halves on two connections at once.
SPLIT_MIN_SPAN = 50_000
#: The share of the id range read by this connection, which also reads the tasks and models
#: (as long as about a third of a half of the judgments, measured on 200k tasks x 5).
LOWER_SHARE = 0.42


def _read_with_arrays(
    project: Project, criteria: list[Criterion], up_to_id: int | None
) -> JudgmentTable:
    """PostgreSQL: judgments, tasks, models and model judges as arrays, in one snapshot
    (_arrays_fetched), joined in numpy."""
    columns, params = _judgment_columns(project, criteria)
    row, upper_row = _arrays_fetched(project, columns, params, up_to_id)
    width = len(columns)
    task_id, task_item, task_response_a, task_response_b = map(unpack_array, row[width : width + 4])
    judgment, task = _judgments_on_tasks(row[:width], upper_row, task_id)
    model_a, model_b, models = _task_models(
        row[width + 4] or [], row[width + 5] or [], task_response_a, task_response_b, task
    )
    shown_left, codes = judgment[3], judgment[5]
    leaked = unpack_array(row[width + 7])
    task_leaks = np.isin(task_response_a, leaked) | np.isin(task_response_b, leaked)
    return JudgmentTable(
        judgment=judgment[0],
        task=judgment[1],
        item=task_item[task],
        annotator=judgment[2],
        is_model=np.isin(judgment[2], unpack_array(row[width + 6])),
        choice=(codes & (2**_CHOICE_BITS - 1)) - 1,
        strength=(codes >> _STRENGTH_SHIFT) - 1,
        left_is_a=np.where(
            shown_left == MISSING, MISSING, shown_left == task_response_a[task]
        ).astype(np.int64),
        seconds=judgment[4].astype(np.float64, copy=False),
        is_gold=((codes >> _IS_GOLD_SHIFT) & 1) == 1,
        gold_correct=((codes >> _GOLD_CORRECT_SHIFT) & 3) - 1,
        model_a=model_a,
        model_b=model_b,
        identity_leak=task_leaks[task],
        models=models,
        criteria=_criteria_codes(project, criteria, judgment[6:]),
    )


def _arrays_fetched(
    project: Project, columns: list[str], params: list, up_to_id: int | None
) -> tuple[tuple, tuple | None]:
    """The row of judgment arrays (the lower half of the ids), tasks, models and model
    judges, and the row of the upper half's judgment arrays (None when read in one).

    Aggregating a million judgments keeps a PostgreSQL backend busy for about a second while
    this process waits, so a large project is read in two halves of its judgment ids at once:
    the second on its own connection, in the same snapshot (pg_export_snapshot, as pg_dump's
    parallel jobs do). Inside an outer transaction the other connection would not see this
    one's uncommitted rows, so there it is one statement.
    """
    judgments_sql = (
        f"SELECT {', '.join(f'array_send({column})' for column in columns)} "
        f"FROM {_TABLES['judgment']} j WHERE j.project_id = %s AND j.id > %s AND j.id <= %s"
    )
    rest_sql = (
        f"SELECT * FROM ({TASKS_SQL}) AS tasks, ({MODELS_SQL}) AS models, "
        f"({MODEL_ANNOTATORS_SQL}) AS model_annotators, ({LEAKED_RESPONSES_SQL}) AS leaked"
    )
    last = up_to_id if up_to_id is not None else 2**63 - 1
    connection = read_connection()
    connection.ensure_connection()
    split = not connection.in_atomic_block
    # One snapshot for every statement; binary results need psycopg's own (server-side
    # binding) cursor, Django's is a client-side one.
    with (
        transaction.atomic(using=connection.alias),
        psycopg.Cursor(connection.connection) as cursor,
    ):
        if split:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        _jit_for_one_pass(cursor)
        halves = _id_halves(*_judgment_id_range(cursor, project, last), split=split)
        with ThreadPoolExecutor(max_workers=1) as pool:
            upper = None
            if len(halves) == 2:
                cursor.execute("SELECT pg_export_snapshot()")
                (snapshot,) = cursor.fetchone()
                upper = pool.submit(
                    _fetch_in_snapshot,
                    connection,
                    snapshot,
                    judgments_sql,
                    [*params, project.pk, *halves[1]],
                )
            cursor.execute(
                f"SELECT * FROM ({judgments_sql}) AS judgments, ({rest_sql}) AS rest",
                [*params, project.pk, *halves[0], project.pk, project.pk, project.pk],
                binary=True,
            )
            row = cursor.fetchone()
            return row, upper.result() if upper is not None else None


def _id_halves(first: int, last: int, *, split: bool) -> list[tuple[int, int]]:
    """The judgment id ranges (exclusive start, inclusive end) read at once: two when
    `split` allows it and the project is large, else one."""
    if not split or last - first < SPLIT_MIN_SPAN:
        return [(first - 1, last)]
    middle = first + int((last - first) * LOWER_SHARE)
    return [(first - 1, middle), (middle, last)]


def _judgments_on_tasks(
    lower: Sequence[bytes | None], upper: Sequence[bytes | None] | None, task_id: npt.NDArray
) -> tuple[list[npt.NDArray], npt.NDArray[np.int64]]:
    """The judgment columns (both halves) in id order, and each judgment's position among the
    project's tasks; a judgment filed under another project's task is left out."""
    judgment = [unpack_array(blob) for blob in lower]
    if upper is not None:
        judgment = [
            np.concatenate([column, unpack_array(blob)])
            for column, blob in zip(judgment, upper, strict=True)
        ]
    ids = judgment[0]
    if not np.all(ids[1:] > ids[:-1]):  # the scan order is nearly, not always, id order
        judgment = [column[np.argsort(ids, kind="stable")] for column in judgment]
    task, found = _positions(judgment[1], task_id)
    if not found.all():
        judgment = [column[found] for column in judgment]
        task = task[found]
    return judgment, task


def _task_models(
    model_names: list[str],
    model_responses: list[bytes],
    response_a: npt.NDArray[np.int64],
    response_b: npt.NDArray[np.int64],
    task: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
    """The model codes of each judgment's two responses (MISSING for none), found once per
    task (`response_a`, `response_b`) and spread to the judgments by their `task` positions,
    numbered over the models shown, in code point order (as Python sorts them)."""
    names = sorted(model_names)
    by_name = dict(zip(model_names, model_responses, strict=True))
    responses = [unpack_array(by_name[name]) for name in names]
    response_ids = np.concatenate([np.empty(0, np.int64), *responses])
    response_code = np.repeat(np.arange(len(names)), [len(r) for r in responses])

    def model_of(response: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        position, known = _positions(response, response_ids)
        return np.where(known, response_code[position], MISSING)

    return _used_models(model_of(response_a)[task], model_of(response_b)[task], names)


def _jit_for_one_pass(cursor: psycopg.Cursor) -> None:
    """JIT-compiled expressions pay off over a million rows; inlining and optimising them,
    which a large project's cost estimate would switch on, take longer than the one pass
    they would speed up."""
    cursor.execute("SET LOCAL jit_inline_above_cost = -1")
    cursor.execute("SET LOCAL jit_optimize_above_cost = -1")


def _judgment_id_range(cursor: psycopg.Cursor, project: Project, last: int) -> tuple[int, int]:
    """The first and last judgment id of the project up to last ((1, 0) when none)."""
    cursor.execute(
        f"SELECT min(id), max(id) FROM {_TABLES['judgment']} WHERE project_id = %s AND id <= %s",
        [project.pk, last],
    )
    first, last_found = cursor.fetchone()
    return (1, 0) if first is None else (first, last_found)


def _fetch_in_snapshot(
    connection: BaseDatabaseWrapper, snapshot: str, statement: str, params: list
) -> tuple:
    """One row of a statement on a connection of its own (to the database `connection`
    reads), in the exported snapshot."""
    with psycopg.connect(**connection.get_connection_params()) as own:
        own.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with psycopg.Cursor(own) as cursor:
            cursor.execute(
                psycopg.sql.SQL("SET TRANSACTION SNAPSHOT {}").format(psycopg.sql.Literal(snapshot))
            )
            _jit_for_one_pass(cursor)
            cursor.execute(statement, params, binary=True)
            return cursor.fetchone()


def _positions(
    keys: npt.NDArray[np.int64], ids: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Where each key is in ids (any order), and whether it is there at all."""
    if len(ids) == 0:
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    order = np.argsort(ids, kind="stable")
    position = order[np.minimum(np.searchsorted(ids, keys, sorter=order), len(ids) - 1)]
    return position, ids[position] == keys


def _used_models(
    model_a: npt.NDArray[np.int64], model_b: npt.NDArray[np.int64], names: list[str]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
    """Codes renumbered over the models the judged tasks show (as the ORM path numbers them)."""
    shown = np.zeros(len(names) + 1, dtype=bool)  # the last slot catches MISSING
    shown[model_a] = True
    shown[model_b] = True
    used = np.flatnonzero(shown[:-1])
    renumber = np.full(len(names) + 1, MISSING, dtype=np.int64)
    renumber[used] = np.arange(len(used))
    return renumber[model_a], renumber[model_b], [names[i] for i in used]


REFERENCES_SQL = """
SELECT array_send(array_agg(t.id)), array_send(array_agg(
    CASE i.reference ->> 'preferred' WHEN ra.external_id THEN 0 WHEN rb.external_id THEN 1
    WHEN 'tie' THEN 2 ELSE -1 END))
FROM {item} i
JOIN {task} t ON t.item_id = i.id
JOIN {response} ra ON ra.id = t.response_a_id
JOIN {response} rb ON rb.id = t.response_b_id
WHERE i.project_id = %s AND t.project_id = %s AND i.reference ? 'preferred'
""".format(**_TABLES)


def task_references(*, project: Project) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The original dataset's label of each pairwise task whose item carries one
    (`{"preferred": "<response id>" | "tie"}`, as imports of HH-RLHF or TRL rows keep it):
    task ids in order and codes into REFERENCE_CHOICES, -1 when it names neither of the
    task's two responses (another pair of a prompt with more responses). On PostgreSQL two
    binary arrays (no row per task crosses the wire), elsewhere through the ORM."""
    connection = read_connection()
    if connection.vendor == "postgresql":
        row = binary_row(REFERENCES_SQL, [project.pk, project.pk])
        task, code = (unpack_array(blob) for blob in row)
        order = np.argsort(task, kind="stable")
        return task[order], code[order]
    preferred = KeyTextTransform("preferred", "item__reference")
    codes = Case(
        When(Exact(preferred, F("response_a__external_id")), then=Value(0)),
        When(Exact(preferred, F("response_b__external_id")), then=Value(1)),
        When(Exact(preferred, Value("tie")), then=Value(2)),
        default=Value(MISSING),
        output_field=IntegerField(),
    )
    rows = list(
        Task.objects.filter(
            project=project, item__reference__has_key="preferred", response_b__isnull=False
        )
        .annotate(code=codes)
        .order_by("pk")
        .values_list("pk", "code")
    )
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    task, code = np.array(rows, dtype=np.int64).T
    return task, code
