"""Computing a project's statistics report: agreement, annotators, model judges,
transitivity, the leaderboard and the aggregated label of every task.

Everything is read once into numpy columns (see selectors.judgment_table) and handed to
annotation.stats; the result is stored as a new AgreementReport row, so the last good
report stays in place if a computation dies half-way. The agreement reports (and the
leaderboard, when that thread is free first) are computed in a second thread while this one
labels the tasks and writes them: numpy releases the GIL, so a report over a million
judgments uses two cores.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotation.db import check_client_every_second
from annotation.errors import ValidationFailed
from annotation.models import (
    AgreementReport,
    Annotator,
    AnnotatorStats,
    Criterion,
    Judgment,
    Project,
    TaskLabel,
)
from annotation.selectors.judgment_table import CHOICES, JudgmentTable, judgment_table
from annotation.stats import (
    Ratings,
    agreement_reports,
    annotator_agreement,
    choice_criteria_conflicts,
    dawid_skene,
    leaderboard,
    majority_agreement,
    majority_vote,
    transitivity_global,
    transitivity_per_item,
)

N_BOOT = 1000
TIE, BOTH_BAD = CHOICES.index("tie"), CHOICES.index("both_bad")


def _overall_ratings(table: JudgmentTable, project: Project) -> tuple[Ratings, str]:
    """The pairwise choice as ratings: nominal a / b / tie (/ both bad), or, when strength
    is collected, ordinal from 'a much better' (-3) through tie (0) to 'b much better' (+3)."""
    if project.strength_scale:
        decided = table.choice <= 1
        signed = np.where(
            table.choice == 0, -np.maximum(table.strength, 1), np.maximum(table.strength, 1)
        )
        value = np.where(decided, signed, np.where(table.choice == TIE, 0, np.nan))
        keep = ~np.isnan(value)
        return (
            Ratings(
                table.task[keep],
                table.annotator[keep],
                value[keep].astype(np.int64) + project.strength_scale,
            ),
            "ordinal",
        )
    keep = table.choice >= 0
    return Ratings(
        table.task[keep],
        table.annotator[keep],
        table.choice[keep],
        n_categories=len(CHOICES) if project.allow_both_bad else 3,
    ), "nominal"


def _criterion_ratings(
    table: JudgmentTable, criterion: Criterion, project: Project
) -> tuple[Ratings, str]:
    values = table.criteria[criterion.key]
    keep = values >= (0 if project.is_pairwise else criterion.min)
    if not project.is_pairwise:
        keep &= values <= criterion.max
    level = "nominal" if project.is_pairwise else criterion.level
    n_categories = 3 if project.is_pairwise else criterion.max - criterion.min + 1
    return Ratings(
        table.task[keep], table.annotator[keep], values[keep], n_categories=n_categories
    ), level


def _per_annotator(
    table: JudgmentTable, overall: Ratings | None, project: Project
) -> list[dict[str, Any]]:
    """One row of figures per annotator, each figure one bincount over all judgments."""
    ids, index = np.unique(table.annotator, return_inverse=True)
    size = len(ids)

    def per_annotator(
        mask: npt.NDArray[np.bool_], weights: npt.NDArray | None = None
    ) -> npt.NDArray:
        return np.bincount(
            index[mask], weights=None if weights is None else weights[mask], minlength=size
        )

    judgments = np.bincount(index, minlength=size)
    timed = ~np.isnan(table.seconds)
    median_seconds = _group_medians(index[timed], table.seconds[timed], size)
    graded = table.gold_correct >= 0
    gold_judgments = per_annotator(graded)
    gold_correct = per_annotator(graded, table.gold_correct)
    # A decided vote chose the left side when the chosen response (0 = a) is not the one
    # flagged as shown left (1 = a was left).
    decided = (table.choice >= 0) & (table.choice <= 1) & (table.left_is_a >= 0)
    decided_votes = per_annotator(decided)
    left_votes = per_annotator(decided & (table.choice != table.left_is_a))

    agreement = {}
    if overall is not None and len(overall):
        agreement = {row["annotator"]: row["agreement"] for row in annotator_agreement(overall)}
    stats = {s.annotator_id: s for s in AnnotatorStats.objects.filter(project=project)}
    annotators = {a.pk: a for a in Annotator.objects.filter(pk__in=ids.tolist())}
    rows = []
    for position, annotator_id in enumerate(ids.tolist()):
        annotator = annotators.get(annotator_id)
        stat = stats.get(annotator_id)
        gold, decided_n = int(gold_judgments[position]), int(decided_votes[position])
        rows.append(
            {
                "annotator": annotator.public_id if annotator else str(annotator_id),
                "kind": annotator.kind if annotator else "human",
                "judgments": int(judgments[position]),
                "agreement_with_others": agreement.get(annotator_id),
                "gold_accuracy": float(gold_correct[position] / gold) if gold else None,
                "left_rate": float(left_votes[position] / decided_n) if decided_n else None,
                "median_seconds": (
                    None if np.isnan(median_seconds[position]) else float(median_seconds[position])
                ),
                "flags": list(stat.flags) if stat else [],
                "blocked": bool(stat.is_blocked) if stat else False,
            }
        )
    rows.sort(key=lambda r: (-r["judgments"], r["annotator"]))
    return rows


def _group_medians(
    group: npt.NDArray[np.int64], values: npt.NDArray[np.float64], n_groups: int
) -> npt.NDArray[np.float64]:
    """The median of each group's values as np.median gives it (nan for an empty group):
    one sort of (group, rank of the value) keys, then the middle one or two of each group."""
    distinct, rank = np.unique(values, return_inverse=True)
    ordered = distinct[np.sort(group * len(distinct) + rank.reshape(-1)) % max(len(distinct), 1)]
    counts = np.bincount(group, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    medians = np.full(n_groups, np.nan)
    has = counts > 0
    low = starts[has] + (counts[has] - 1) // 2
    high = starts[has] + counts[has] // 2
    medians[has] = (ordered[low] + ordered[high]) / 2
    return medians


def _model_judges(humans: Ratings, models_only: JudgmentTable) -> list[dict[str, Any]]:
    if len(models_only) == 0 or len(humans) == 0:
        return []
    keep = models_only.choice >= 0
    judge = Ratings(models_only.task[keep], models_only.annotator[keep], models_only.choice[keep])
    result = majority_agreement(humans, judge)
    names = {
        a.pk: a.public_id
        for a in Annotator.objects.filter(pk__in=[r["annotator"] for r in result["by_judge"]])
    }
    return [
        {
            "annotator": names.get(r["annotator"], str(r["annotator"])),
            "agreement_with_human_majority": r["agreement"],
            "n": r["n"],
        }
        for r in result["by_judge"]
    ]


def _outcomes(
    table: JudgmentTable,
) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray, npt.NDArray]:
    """Votes between two different models as (usable rows, model a, model b, outcome): a win
    1, a loss 0; a tie or 'both bad' is half a win each (the Bradley-Terry convention for
    ties, as in Chatbot Arena's notebook)."""
    usable = (table.choice >= 0) & (table.model_a >= 0) & (table.model_b >= 0)
    usable &= table.model_a != table.model_b
    outcome = np.select([table.choice == 0, table.choice == 1], [1.0, 0.0], default=0.5)
    return usable, table.model_a[usable], table.model_b[usable], outcome[usable]


def _leaderboard(table: JudgmentTable, n_boot: int) -> dict[str, Any] | None:
    _, model_a, model_b, outcome = _outcomes(table)
    if len(outcome) == 0:
        return None
    result = leaderboard(model_a, model_b, outcome, n_models=len(table.models), n_boot=n_boot)
    names = table.models
    rows = [
        {
            "model": names[r["model_index"]],
            "rating": r["rating"],
            "ci": r["ci"],
            "wins": r["wins"],
            "losses": r["losses"],
            "ties": r["ties"],
            "n": r["n"],
        }
        for r in result["leaderboard"]
    ]
    matrix = result["win_rate"]
    present = [r["model_index"] for r in result["leaderboard"]]
    win_rate = {
        names[i]: {
            names[j]: round(float(matrix[i, j]), 4)
            for j in present
            if i != j and not np.isnan(matrix[i, j])
        }
        for i in present
    }
    return {
        "results": rows,
        "win_rate": win_rate,
        "n_votes": int(result["n_votes"]),
        "n_boot": int(result["n_boot"]),
        "ties": "half a win each",
    }


def _transitivity(table: JudgmentTable) -> dict[str, int]:
    usable, model_a, model_b, outcome = _outcomes(table)
    global_ = transitivity_global(model_a, model_b, outcome, n_models=len(table.models))
    per_item = transitivity_per_item(table.item[usable], model_a, model_b, outcome)
    return {
        "cycles": int(global_["cycles"]),
        "triads_checked": int(global_["triads_checked"]),
        "item_cycles": int(per_item["cycles"]),
        "item_triads_checked": int(per_item["triads_checked"]),
        "items_checked": int(per_item["items_checked"]),
    }


class TaskLabels(NamedTuple):
    """The labels of the judged pairwise tasks, one entry per task; labels are codes into
    CHOICES, -1 for none (a tied majority)."""

    task: npt.NDArray[np.int64]
    n_judgments: npt.NDArray[np.int64]
    majority: npt.NDArray[np.int64]
    majority_share: npt.NDArray[np.float64]
    weighted: npt.NDArray[np.int64]
    weighted_confidence: npt.NDArray[np.float64]


def _task_labels(humans: JudgmentTable) -> TaskLabels | None:
    """Majority and Dawid-Skene label of every judged pairwise task."""
    keep = humans.choice >= 0
    task, annotator, label = humans.task[keep], humans.annotator[keep], humans.choice[keep]
    if len(task) == 0:
        return None
    task_ids, task_index = np.unique(task, return_inverse=True)
    annotator_ids, annotator_index = np.unique(annotator, return_inverse=True)
    majority, share = majority_vote(
        task_index, annotator_index, label, len(CHOICES), n_tasks=len(task_ids)
    )
    # Labels settle long before the log-likelihood stops moving at the sixth digit.
    model = dawid_skene(
        task_index,
        annotator_index,
        label,
        len(CHOICES),
        n_tasks=len(task_ids),
        n_annotators=len(annotator_ids),
        max_iter=30,
        tol=1e-5,
    )
    return TaskLabels(
        task=task_ids,
        n_judgments=np.bincount(task_index, minlength=len(task_ids)),
        majority=majority,
        majority_share=np.nan_to_num(share, nan=0.0),
        weighted=model.labels,
        weighted_confidence=model.posterior[np.arange(len(task_ids)), model.labels],
    )


# Changed labels are updated and new ones inserted by one statement (both parts see the
# labels as they were before it). A plain INSERT costs half of an INSERT ... ON CONFLICT (no
# speculative insertion), which matters for a project's first report, one label per task;
# reports of one project store their labels one after another (LABEL_LOCK), so no other
# report can insert the same task's label in between.
LABEL_UPSERT = """
WITH incoming AS (
    SELECT task_id, n_judgments, COALESCE((%(names)s::text[])[majority + 1], '') AS majority,
           majority_share, COALESCE((%(names)s::text[])[weighted + 1], '') AS weighted,
           weighted_confidence
    FROM report_labels
    WHERE EXISTS (SELECT FROM annotation_task t WHERE t.id = report_labels.task_id)
), changed AS (
    UPDATE annotation_tasklabel stored SET
        n_judgments = incoming.n_judgments, majority = incoming.majority,
        majority_share = incoming.majority_share, weighted = incoming.weighted,
        weighted_confidence = incoming.weighted_confidence, updated_at = now()
    FROM incoming
    WHERE stored.task_id = incoming.task_id
      AND ((stored.n_judgments, stored.majority, stored.weighted)
           IS DISTINCT FROM (incoming.n_judgments, incoming.majority, incoming.weighted)
           OR abs(stored.majority_share - incoming.majority_share) > 1e-9
           OR abs(stored.weighted_confidence - incoming.weighted_confidence) > 1e-6)
)
INSERT INTO annotation_tasklabel
    (task_id, n_judgments, majority, majority_share, weighted, weighted_confidence, updated_at)
SELECT incoming.*, now()
FROM incoming
WHERE NOT EXISTS (SELECT FROM annotation_tasklabel stored WHERE stored.task_id = incoming.task_id)
"""
LABEL_LOCK = "SELECT pg_advisory_xact_lock(hashtext('annotation_tasklabel'), %s::int4)"


def _lock_key(project_id: int) -> int:
    """A project's key for the two-int advisory locks (an int4; two projects sharing one
    would only wait for each other)."""
    return project_id % 2**31


# One row of the binary COPY format: the field count, then each field's length and value.
_LABEL_RECORD = np.dtype(
    [("fields", ">i2")]
    + [
        field
        for name, wire in (
            ("task", ">i8"),
            ("n_judgments", ">i4"),
            ("majority", ">i2"),
            ("majority_share", ">f8"),
            ("weighted", ">i2"),
            ("weighted_confidence", ">f8"),
        )
        for field in ((f"{name}_size", ">i4"), (name, wire))
    ]
)


def _label_copy(labels: TaskLabels) -> bytes:
    """The labels in PostgreSQL's binary COPY format, built by numpy in one go."""
    records = np.empty(len(labels.task), dtype=_LABEL_RECORD)
    records["fields"] = len(labels._fields)
    for name, values in labels._asdict().items():
        records[f"{name}_size"] = records.dtype[name].itemsize
        records[name] = values
    header = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, no extension
    return header + records.tobytes() + b"\xff\xff"  # the trailer: a field count of -1


def _store_task_labels(labels: TaskLabels | None, project_id: int) -> None:
    """Upsert the labels: on PostgreSQL through one binary COPY into a temporary table and
    one statement that updates the changed labels and inserts the new ones, of tasks that
    still exist (TaskLabel says why the database does not check that); elsewhere with the
    ORM."""
    if labels is None:
        return
    if connection.vendor != "postgresql":
        names = np.array([*CHOICES, ""], dtype=object)
        TaskLabel.objects.bulk_create(
            [
                TaskLabel(
                    task_id=task,
                    n_judgments=n,
                    majority=majority,
                    majority_share=share,
                    weighted=weighted,
                    weighted_confidence=confidence,
                )
                for task, n, majority, share, weighted, confidence in zip(
                    labels.task.tolist(),
                    labels.n_judgments.tolist(),
                    names[labels.majority].tolist(),
                    labels.majority_share.tolist(),
                    names[labels.weighted].tolist(),
                    labels.weighted_confidence.tolist(),
                    strict=True,
                )
            ],
            batch_size=5000,
            update_conflicts=True,
            unique_fields=["task"],
            update_fields=[
                "n_judgments",
                "majority",
                "majority_share",
                "weighted",
                "weighted_confidence",
                "updated_at",
            ],
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS report_labels (task_id bigint, n_judgments integer, "
            "majority smallint, majority_share double precision, weighted smallint, "
            "weighted_confidence double precision) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE report_labels")
        with cursor.cursor.copy("COPY report_labels FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(_label_copy(labels))
        cursor.execute(LABEL_LOCK, [_lock_key(project_id)])
        cursor.execute(LABEL_UPSERT, {"names": list(CHOICES)})


def report_compute(*, project: Project, n_boot: int = N_BOOT) -> AgreementReport:
    """Compute and store a new report from every judgment up to now."""
    started = time.perf_counter()
    last_id = (
        Judgment.objects.filter(project=project)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    ) or 0
    table = judgment_table(project=project, up_to_id=last_id)
    regular = table.subset(~table.is_gold)
    humans = regular.subset(~regular.is_model)
    models_only = regular.subset(regular.is_model)

    ratings: dict[str, tuple[Ratings, str]] = {}
    overall: Ratings | None = None
    choice: Ratings | None = None
    if project.is_pairwise:
        ratings["overall"] = _overall_ratings(humans, project)
        overall = ratings["overall"][0]
        if project.strength_scale:
            # The signed strength is ordinal; the bare choice (which side, or a tie) is
            # reported beside it, since chance-corrected kappas are read on it.
            decided = humans.choice >= 0
            choice = Ratings(
                humans.task[decided], humans.annotator[decided], humans.choice[decided]
            )
            ratings["choice"] = (choice, "nominal")
    for criterion in project.criteria.all():
        ratings[criterion.key] = _criterion_ratings(humans, criterion, project)
        if overall is None and not project.is_pairwise:
            overall = ratings[criterion.key][0]
    # The agreement reports and the leaderboard are numpy through and through (its loops
    # release the GIL): a second thread computes them beside the rest, which needs this
    # thread's database connection. The labels are stored first, in the report's
    # transaction, so the database works on them while both threads compute.
    with ThreadPoolExecutor(max_workers=1) as pool:
        agreement = pool.submit(agreement_reports, ratings, n_boot=n_boot)
        leaderboard = pool.submit(_leaderboard, regular, n_boot) if project.is_pairwise else None
        report: dict[str, Any] = {
            "criteria": {},
            "annotators": [],
            "model_judges": [],
            "n_judgments": len(table),
        }
        with transaction.atomic():
            if project.is_pairwise:
                _store_task_labels(_task_labels(humans), project.pk)
                report["transitivity"] = _transitivity(humans)
                if humans.criteria:
                    report["consistency"] = choice_criteria_conflicts(
                        humans.choice, np.column_stack(list(humans.criteria.values()))
                    )
                report["model_judges"] = _model_judges(
                    choice if project.strength_scale else overall, models_only
                )
            report["annotators"] = _per_annotator(table.subset(~table.is_model), overall, project)
            board = None
            if leaderboard is not None:
                # Whichever thread is free first computes the leaderboard: here, when the
                # other has not started on it yet.
                board = (
                    _leaderboard(regular, n_boot) if leaderboard.cancel() else leaderboard.result()
                )
            report["criteria"] = agreement.result()
            stored = AgreementReport.objects.create(
                project=project,
                computed_at=timezone.now(),
                last_judgment_id=last_id,
                n_judgments=len(table),
                report=report,
                leaderboard=board,
                duration_seconds=round(time.perf_counter() - started, 3),
            )
    return stored


# A session advisory lock, not a cache key with a timeout: PostgreSQL releases it when the
# session of a worker killed mid-computation ends (see check_client_every_second).
COMPUTING_LOCK = "SELECT pg_try_advisory_lock(hashtext('report_compute'), %s::int4)"
COMPUTING_UNLOCK = "SELECT pg_advisory_unlock(hashtext('report_compute'), %s::int4)"


class ReportBusy(Exception):
    """Another worker is computing this project's report right now (or a dead worker's
    session has not ended yet): try again in a few seconds."""


@contextmanager
def _computing_alone(project_id: int) -> Iterator[None]:
    """Keep other workers from computing this project's report until the block ends (raises
    ReportBusy if one is). Without PostgreSQL there are no concurrent workers to keep apart."""
    if connection.vendor != "postgresql":
        yield
        return
    key = [_lock_key(project_id)]
    check_client_every_second()
    with connection.cursor() as cursor:
        cursor.execute(COMPUTING_LOCK, key)
        (acquired,) = cursor.fetchone()
    if not acquired:
        raise ReportBusy(f"the report of project {project_id} is being computed")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(COMPUTING_UNLOCK, key)


def report_refresh(*, project_id: int, force: bool = False) -> AgreementReport | None:
    """The worker's refresh: compute a new report unless nothing changed since the last one
    (or forced). Returns the new report, or None when there was nothing to do; raises
    ReportBusy while another worker computes this project's report."""
    cache.delete(_pending_key(project_id))  # votes from now on schedule the next one
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return None
    if not force and not report_is_stale(project=project, report=report_latest(project=project)):
        return None
    with _computing_alone(project_id):
        return report_compute(project=project)


def report_latest(*, project: Project) -> AgreementReport | None:
    return AgreementReport.objects.filter(project=project).order_by("-computed_at", "-pk").first()


def report_is_stale(*, project: Project, report: AgreementReport | None) -> bool:
    """Stale when a judgment arrived after the report was computed."""
    if report is None:
        return True
    return Judgment.objects.filter(project=project, pk__gt=report.last_judgment_id).exists()


def projects_with_stale_reports() -> list[int]:
    """Active projects with a judgment newer than their latest report (or judged and never
    reported), in one query: what beat queues for recomputation."""
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


def report_current(*, project: Project) -> tuple[AgreementReport | None, bool]:
    """The newest report and whether it is stale. Without a worker (the embedded default,
    tasks run eagerly) a stale report is recomputed here, on demand."""
    report = report_latest(project=project)
    stale = report_is_stale(project=project, report=report)
    if stale and settings.CELERY_TASK_ALWAYS_EAGER and project.judgments.exists():
        report, stale = report_compute(project=project), False
    return report, stale


def leaderboard_current(*, project: Project) -> tuple[AgreementReport | None, bool, dict]:
    """The newest report, whether it is stale, and its leaderboard. Only pairwise projects
    rank models."""
    if not project.is_pairwise:
        raise ValidationFailed(
            "A leaderboard ranks models from pairwise judgments; "
            f"project {project.slug!r} is a rubric project."
        )
    report, stale = report_current(project=project)
    board = (report.leaderboard if report else None) or {"results": [], "win_rate": {}}
    return report, stale, board


def _pending_key(project_id: int) -> str:
    """The shared cache key saying when a project's scheduled refresh runs."""
    return f"report-pending:{project_id}"


# When the refresh scheduled for a project will run, as this process last learnt it: votes
# committed before then are covered by it, so they need not ask Redis again.
_refresh_due: dict[int, float] = {}
CLOCK_MARGIN_SECONDS = 1.0


def report_refresh_soon(*, project_id: int) -> bool:
    """Schedule a recomputation at most once per debounce window while votes arrive, so a
    busy project is recomputed every few seconds, not on every vote. Returns whether one
    was scheduled. Without a worker nothing is scheduled: reports are computed on demand.

    The shared key holds when the scheduled refresh runs; each process remembers it, so a
    vote costs a Redis round trip only once per window and process."""
    from annotation.tasks import report_refresh as report_refresh_task

    if settings.CELERY_TASK_ALWAYS_EAGER:
        return False
    now = time.time()
    if _refresh_due.get(project_id, 0.0) > now:
        return False
    window = settings.REPORT_DEBOUNCE_SECONDS
    key = _pending_key(project_id)
    due = now + window
    if not cache.add(key, due, timeout=window):
        _refresh_due[project_id] = float(cache.get(key) or 0.0) - CLOCK_MARGIN_SECONDS
        return False
    report_refresh_task.apply_async(args=[project_id], countdown=window)
    _refresh_due[project_id] = due - CLOCK_MARGIN_SECONDS
    return True
