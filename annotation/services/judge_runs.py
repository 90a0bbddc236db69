"""Judge runs (README, LLM judges; CONTRACT section 17): a judge over some tasks of its
project, in both orders when `swap` (Balanced Position Calibration), `samples` times each.

A run is started by the API (judge_run_start) and done by a Celery job (judge_run_execute)
that may be killed and queued again: each task is claimed by a JudgeVerdict row (unique per
run and task) before its calls, a finished verdict is never redone, and a claimed one whose
worker died is judged again (its answers were never stored). The HTTP calls go out from a
pool of `concurrency` threads, within the endpoint's limits across workers
(services.judge_throttle); the database is written from the job's own thread only.
`max_calls` is a ceiling: no task is begun whose calls could pass it.

A task's calibrated verdict is a judgment of the judge's model annotator (source `judge`),
which never counts towards the human judgments a task needs (Task.judgment_count)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotation import scheduling
from annotation.db import TRANSIENT_DATABASE_ERRORS
from annotation.errors import ValidationFailed
from annotation.judge_prompts import CriterionText, JudgeAnswer, Unparseable, answer_parse
from annotation.models import Judge, JudgeRun, JudgeVerdict, Judgment, Project, Task
from annotation.pg.locks import session_lock
from annotation.rankings import mean_places, screen_labels
from annotation.services.endpoints import (
    CallFailed,
    endpoint_api_key,
    endpoint_call,
    endpoint_outcome_record,
)
from annotation.services.judge_throttle import EndpointThrottle, endpoint_throttle
from annotation.services.judges import (
    DEFAULT_CONCURRENCY,
    criteria_texts,
    judge_kind,
    judge_prompt,
    task_responses_in_order,
)
from annotation.services.reports import report_refresh_soon
from annotation.services.routing import verdict_route

logger = logging.getLogger(__name__)

#: The first key of the PostgreSQL advisory lock held by the worker running a run.
LOCK_NAMESPACE = 15_0020
MAX_SAMPLES = 10
TASK_FILTERS = ("include_gold", "min_judgments", "since", "unjudged")
#: The order names of a verdict's outputs: the task's own order, and swapped.
FIRST, SWAPPED = "first", "swapped"
FLIP = {"a": "b", "b": "a"}


# ---------------------------------------------------------------- starting


def _refuse(field_name: str, error: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field_name}: {error}.", errors=[{"field": field_name, "error": error}]
    )


@dataclass(frozen=True)
class TaskSelection:
    """Which tasks a run judges: `include_gold`, at least `min_judgments` human judgments,
    created `since` (a moment, or after a task id), and only those the judge has no
    verdict on (`unjudged`)."""

    include_gold: bool = True
    min_judgments: int | None = None
    since: datetime | int | None = None
    unjudged: bool = False


def task_selection_read(value: Any) -> TaskSelection:
    """`"all"`, `"unjudged"`, or an object of export-style filters (TASK_FILTERS)."""
    if value in (None, "all"):
        return TaskSelection()
    if value == "unjudged":
        return TaskSelection(unjudged=True)
    if not isinstance(value, dict):
        raise _refuse("tasks", f'"all", "unjudged" or an object of {", ".join(TASK_FILTERS)}')
    unknown = sorted(set(value) - set(TASK_FILTERS))
    if unknown:
        raise _refuse(f"tasks.{unknown[0]}", "unknown filter")
    for name in ("include_gold", "unjudged"):
        if name in value and not isinstance(value[name], bool):
            raise _refuse(f"tasks.{name}", "must be true or false")
    min_judgments = value.get("min_judgments")
    if min_judgments is not None and (
        isinstance(min_judgments, bool) or not isinstance(min_judgments, int) or min_judgments < 0
    ):
        raise _refuse("tasks.min_judgments", "a whole number, 0 or more")
    return TaskSelection(
        include_gold=value.get("include_gold", False),
        min_judgments=min_judgments,
        since=_since(value.get("since")),
        unjudged=value.get("unjudged", False),
    )


def _since(value: Any) -> datetime | int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    try:
        moment = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:  # well formed but not a real moment (month 13)
        moment = None
    if moment is None:
        raise _refuse("tasks.since", "a task id or an ISO 8601 date and time")
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def tasks_selected(*, judge: Judge, selection: TaskSelection) -> list[int]:
    """The ids of the project's tasks a run with `selection` judges, in id order."""
    tasks = Task.objects.filter(project_id=judge.project_id)
    if not selection.include_gold:
        tasks = tasks.filter(is_gold=False)
    if selection.min_judgments is not None:
        tasks = tasks.filter(judgment_count__gte=selection.min_judgments)
    if isinstance(selection.since, int):
        tasks = tasks.filter(pk__gt=selection.since)
    elif selection.since is not None:
        tasks = tasks.filter(created_at__gte=selection.since)
    if selection.unjudged:
        judged = Judgment.objects.filter(
            project_id=judge.project_id, annotator_id=judge.annotator_id
        )
        tasks = tasks.exclude(pk__in=judged.values("task_id"))
    return list(tasks.order_by("pk").values_list("pk", flat=True))


def _positive(value: Any, field_name: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise _refuse(field_name, f"an integer from 1 to {high}")
    return value


def judge_run_start(
    *,
    judge: Judge,
    tasks: Any = "all",
    swap: Any = True,
    samples: Any = 1,
    max_calls: Any = None,
    created_by: AbstractBaseUser | None = None,
) -> JudgeRun:
    """A pending run of `judge` over the selected tasks (fixed now), queued for a worker
    once committed. `swap` applies to pairwise and ranking tasks (a rubric task shows one
    response: there is no order to swap)."""
    selection = task_selection_read(tasks)
    if not isinstance(swap, bool):
        raise _refuse("swap", "must be true or false")
    samples = _positive(samples, "samples", MAX_SAMPLES)
    if max_calls is not None:
        max_calls = _positive(max_calls, "max_calls", 2**31 - 1)
    task_ids = tasks_selected(judge=judge, selection=selection)
    with transaction.atomic():
        # Locked as judge_delete locks it: a judge being deleted gets no new run.
        if not Judge.objects.select_for_update().filter(pk=judge.pk).exists():
            raise _refuse("judge", "no such judge (it was deleted)")
        run = JudgeRun.objects.create(
            project_id=judge.project_id,
            judge=judge,
            tasks=tasks if tasks is not None else "all",
            swap=swap and judge_kind(judge.project) != Project.Kind.RUBRIC,
            samples=samples,
            max_calls=max_calls,
            task_ids=task_ids,
            total=len(task_ids),
            created_by=created_by,
        )
        # A broker that is down leaves the run pending; beat queues it again.
        transaction.on_commit(lambda: scheduling.schedule_judge_run(run.pk), robust=True)
    return run


def judge_runs_orphaned_claim(*, now: datetime | None = None) -> list[int]:
    """Runs not ended that no worker is doing and that should be queued again: one claimed
    (taken, a task recorded, or queued again by beat) more than
    JUDGE_RUN_CLAIM_TIMEOUT_SECONDS ago (its worker died), or one never claimed
    SNAPSHOT_REQUEUE_AFTER_SECONDS after it was started (its message was lost). Their claim is
    renewed, so each is queued again at most once a window. A run queued twice is safe: the
    second job finds it locked by a live worker, or ended, or judges only what is left."""
    now = now or timezone.now()
    claim_cutoff = now - timedelta(seconds=settings.JUDGE_RUN_CLAIM_TIMEOUT_SECONDS)
    asked_cutoff = now - timedelta(seconds=settings.SNAPSHOT_REQUEUE_AFTER_SECONDS)
    unfinished = (JudgeRun.Status.PENDING, JudgeRun.Status.RUNNING)
    with transaction.atomic():
        orphaned = list(
            JudgeRun.objects.select_for_update(skip_locked=True)
            .filter(status__in=unfinished)
            .filter(
                Q(claimed_at__lt=claim_cutoff)
                | Q(claimed_at__isnull=True, created_at__lt=asked_cutoff)
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        JudgeRun.objects.filter(pk__in=orphaned).update(claimed_at=now)
    return orphaned


# ---------------------------------------------------------------- one task


@dataclass
class Output:
    """One call's outcome, as a verdict's `outputs` keeps it."""

    order: str
    sample: int
    raw: str = ""
    parsed: dict[str, Any] | None = None
    error: str = ""
    failed: bool = False
    tokens: int = 0
    answer: JudgeAnswer | None = field(default=None, repr=False)
    shown: list[int] = field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        return {
            "order": self.order,
            "sample": self.sample,
            "shown": self.shown,
            "raw": self.raw,
            "parsed": self.parsed,
            "error": self.error,
            "failed": self.failed,
            "tokens": self.tokens,
        }


@dataclass
class TaskWork:
    """What the threads need to judge one task: the prompts, in order, and nothing that
    touches the database."""

    verdict: JudgeVerdict
    task: Task
    calls: list[tuple[str, int, list[int], str]]  # (order, sample, shown ids, prompt)


def _task_work(run: JudgeRun, verdict: JudgeVerdict, criteria: list[CriterionText]) -> TaskWork:
    task = verdict.task
    orders = [FIRST, SWAPPED] if run.swap else [FIRST]
    calls = []
    for sample in range(run.samples):
        for order in orders:
            swapped = order == SWAPPED
            shown = [r.pk for r in task_responses_in_order(task, swapped=swapped)]
            prompt = judge_prompt(judge=run.judge, task=task, swapped=swapped, criteria=criteria)
            calls.append((order, sample, shown, prompt))
    return TaskWork(verdict=verdict, task=task, calls=calls)


def _judge_calls(
    work: TaskWork,
    *,
    endpoint: Any,
    key: str,
    params: dict[str, Any],
    kind: str,
    criteria: list[CriterionText],
    throttle: EndpointThrottle,
) -> list[Output]:
    """Make a task's calls (in a worker thread: no database); the first failed call ends
    the task's calls."""
    outputs = []
    for order, sample, shown, prompt in work.calls:
        output = Output(order=order, sample=sample, shown=shown)
        outputs.append(output)
        messages = [{"role": "user", "content": prompt}]
        try:
            result = throttle.call(
                lambda m=messages: endpoint_call(endpoint, m, key=key, params=params)
            )
        except CallFailed as failed:
            output.error, output.failed = failed.summary, True
            break
        output.raw = result.text
        output.tokens = (result.usage or {}).get("total_tokens", 0)
        try:
            output.answer = answer_parse(
                result.text, kind=kind, criteria=criteria, count=len(shown)
            )
        except Unparseable as exc:
            output.error = f"unparseable: {exc}"
        else:
            output.parsed = output.answer.as_dict()
    return outputs


# ---------------------------------------------------------------- calibration


def _canonical_choice(choice: str, shown: Sequence[int], task: Task) -> str:
    """A screen choice (A shown first) as the task's response a or b; tie, both_bad stay."""
    if choice not in ("A", "B"):
        return choice
    picked = shown[0] if choice == "A" else shown[1]
    return "a" if picked == task.response_a_id else "b"


def _majority(values: list[str]) -> str:
    """The most frequent value; a draw between the most frequent is a tie."""
    counts = Counter(values).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "tie"
    return counts[0][0]


@dataclass
class Calibrated:
    """A task's verdict from its outputs (see JudgeVerdict)."""

    status: str
    choice: str = ""
    choice_first: str = ""
    choice_swapped: str = ""
    consistent: bool | None = None
    criteria: dict[str, str] = field(default_factory=dict)
    scores: dict[str, int | bool] = field(default_factory=dict)
    ranking: list[list[int]] | None = None
    shown_order: list[int] | None = None
    confidence: float | None = None
    agreement: float | None = None
    first_position_wins: int = 0
    decisive_outputs: int = 0
    rationale: str = ""


def calibrate(task: Task, kind: str, outputs: list[Output], swap: bool) -> Calibrated:
    """Balanced Position Calibration: each order's majority answer; with `swap` the two
    orders must agree, or the verdict is a tie marked inconsistent (never the first order's
    answer). A call that failed fails the verdict; an order without one readable answer
    leaves it unparseable (never guessed)."""
    if any(o.failed for o in outputs):
        return Calibrated(status=JudgeVerdict.Status.FAILED)
    read = [o for o in outputs if o.answer is not None]
    orders = [FIRST, SWAPPED] if swap else [FIRST]
    if any(not [o for o in read if o.order == order] for order in orders):
        return Calibrated(status=JudgeVerdict.Status.UNPARSEABLE)
    stated = [o.answer.confidence for o in read if o.answer.confidence is not None]
    result = Calibrated(
        status=JudgeVerdict.Status.DONE,
        confidence=sum(stated) / len(stated) if stated else None,
        rationale=next((o.answer.rationale for o in read if o.answer.rationale), ""),
    )
    if kind == Project.Kind.PAIRWISE:
        _calibrate_pairwise(task, read, swap, result)
    elif kind == Project.Kind.RUBRIC:
        _calibrate_rubric(read, result)
    else:
        _calibrate_ranking(task, read, swap, result)
    return result


def _calibrate_pairwise(task: Task, read: list[Output], swap: bool, result: Calibrated) -> None:
    choices: dict[str, list[str]] = {FIRST: [], SWAPPED: []}
    per_criterion: dict[str, dict[str, list[str]]] = {}
    for output in read:
        answer = output.answer
        choices[output.order].append(_canonical_choice(answer.choice, output.shown, task))
        if answer.choice in ("A", "B"):
            result.decisive_outputs += 1
            result.first_position_wins += answer.choice == "A"
        for key, side in answer.criteria.items():
            canonical = _canonical_choice(side, output.shown, task)
            per_criterion.setdefault(key, {FIRST: [], SWAPPED: []})[output.order].append(canonical)
    result.choice_first = _majority(choices[FIRST])
    if swap:
        result.choice_swapped = _majority(choices[SWAPPED])
        result.consistent = result.choice_first == result.choice_swapped
        result.choice = result.choice_first if result.consistent else "tie"
    else:
        result.choice = result.choice_first
    every = choices[FIRST] + choices[SWAPPED]
    result.agreement = sum(c == result.choice for c in every) / len(every)
    for key, by_order in per_criterion.items():
        if not by_order[FIRST] or (swap and not by_order[SWAPPED]):
            continue
        first = _majority(by_order[FIRST])
        if swap and _majority(by_order[SWAPPED]) != first:
            first = "tie"
        result.criteria[key] = first


def _lower_median(values: list[Any]) -> Any:
    ordered = sorted(values)
    return ordered[(len(ordered) - 1) // 2]


def _calibrate_rubric(read: list[Output], result: Calibrated) -> None:
    """Each criterion's score: the lower median of the samples (a score one of them gave)."""
    keys = {key for o in read for key in o.answer.scores}
    for key in sorted(keys):
        values = [o.answer.scores[key] for o in read if key in o.answer.scores]
        result.scores[key] = _lower_median(values)


def _calibrate_ranking(task: Task, read: list[Output], swap: bool, result: Calibrated) -> None:
    """Mean places over every output of both orders, equal means tied."""

    def in_ids(output: Output) -> list[list[int]]:
        mapping = dict(zip(screen_labels(len(output.shown)), output.shown, strict=True))
        return [sorted(mapping[label] for label in group) for group in output.answer.ranking]

    def grouped(rankings: list[list[list[int]]]) -> list[list[int]]:
        groups: list[list[int]] = []
        last = None
        for response_id, place in mean_places(rankings):
            if last is not None and abs(place - last) < 1e-9:
                groups[-1].append(response_id)
            else:
                groups.append([response_id])
            last = place
        return [sorted(group) for group in groups]

    by_order = {order: [in_ids(o) for o in read if o.order == order] for order in (FIRST, SWAPPED)}
    result.ranking = grouped(by_order[FIRST] + by_order[SWAPPED])
    result.shown_order = read[0].shown if read[0].order == FIRST else read[0].shown[::-1]
    if swap:
        result.consistent = grouped(by_order[FIRST]) == grouped(by_order[SWAPPED])


# ---------------------------------------------------------------- recording


def _record(run: JudgeRun, work: TaskWork, outputs: list[Output]) -> Calibrated:
    """Store a task's outputs and verdict, its judgment when there is one, and the run's
    counts (its claim renewed), in one transaction; nothing when the run is gone (its judge
    was deleted meanwhile: RunGone), so no judgment is left without its judge."""
    task = work.task
    calibrated = calibrate(task, judge_kind(run.project), outputs, run.swap)
    verdict = work.verdict
    with transaction.atomic():
        if not JudgeRun.objects.select_for_update().filter(pk=run.pk).exists():
            raise RunGone(f"judge run {run.pk} was deleted")
        judgment = None
        if calibrated.status == JudgeVerdict.Status.DONE:
            judgment = _judgment_write(run, task, calibrated)
        tokens = sum(o.tokens for o in outputs)
        JudgeVerdict.objects.filter(pk=verdict.pk).update(
            status=calibrated.status,
            outputs=[o.stored() for o in outputs],
            choice=calibrated.choice,
            choice_first=calibrated.choice_first,
            choice_swapped=calibrated.choice_swapped,
            consistent=calibrated.consistent,
            first_position_wins=calibrated.first_position_wins,
            decisive_outputs=calibrated.decisive_outputs,
            scores=calibrated.scores,
            ranking=calibrated.ranking,
            confidence=calibrated.confidence,
            agreement=calibrated.agreement,
            tokens=tokens,
            judgment=judgment,
            finished_at=timezone.now(),
        )
        route = verdict_route(
            status=calibrated.status,
            consistent=calibrated.consistent,
            confidence=calibrated.confidence,
            agreement=calibrated.agreement,
        )
        Task.objects.filter(pk=task.pk).exclude(route=route).update(route=route)
        JudgeRun.objects.filter(pk=run.pk).update(
            done=F("done") + 1,
            calls=F("calls") + len(outputs),
            tokens=F("tokens") + tokens,
            failures=F("failures") + int(calibrated.status == JudgeVerdict.Status.FAILED),
            unparseable=F("unparseable")
            + int(calibrated.status == JudgeVerdict.Status.UNPARSEABLE),
            claimed_at=timezone.now(),
        )
    return calibrated


def _judgment_write(run: JudgeRun, task: Task, calibrated: Calibrated) -> Judgment:
    """The calibrated verdict as the judge's judgment of the task. It is written directly,
    not voted: a task's count of human judgments is untouched. A later run replaces it by a
    new row, the earlier one deleted in the same transaction: the incremental sync hands out
    each row once (by insert), so a judgment updated in place would never reach a client
    again; a sync client reads a judgment of a task and annotator it has as replacing it."""
    project = run.project
    Judgment.objects.filter(task=task, annotator_id=run.judge.annotator_id).delete()
    return Judgment.objects.create(
        task=task,
        annotator_id=run.judge.annotator_id,
        project=project,
        source=Judgment.Source.JUDGE,
        choice=calibrated.choice,
        criteria=calibrated.criteria,
        scores=calibrated.scores,
        ranking=calibrated.ranking,
        shown_order=calibrated.shown_order,
        rationale=calibrated.rationale,
        is_gold=task.is_gold,
        rubric_version=project.rubric_version,
    )


# ---------------------------------------------------------------- the job


class JudgeRunBusy(Exception):
    """Another worker runs this run (or its session, if the worker died, is still ending)."""


class RunGone(Exception):
    """The run was deleted (with its judge) while a worker was doing it."""


def judge_run_execute(*, run_id: int) -> JudgeRun | None:
    """Do a run, or what is left of it. Safe to call twice: an ended run is left alone, a
    run another worker holds raises JudgeRunBusy, and a run taken up again judges only the
    tasks without a finished verdict."""
    with session_lock(LOCK_NAMESPACE, run_id) as taken:
        if not taken:
            raise JudgeRunBusy(f"judge run {run_id} is being run by another worker")
        run = (
            JudgeRun.objects.select_related("judge__endpoint", "project").filter(pk=run_id).first()
        )
        if run is None or run.status in (JudgeRun.Status.DONE, JudgeRun.Status.FAILED):
            return run
        run.claimed_at = timezone.now()
        if run.status == JudgeRun.Status.PENDING:
            run.status, run.started_at = JudgeRun.Status.RUNNING, run.claimed_at
        run.save(update_fields=["status", "started_at", "claimed_at"])
        try:
            stopped = _judge_tasks(run)
        except RunGone:
            logger.info("judge run %s was deleted while running; it stops", run.pk)
            return None
        except TRANSIENT_DATABASE_ERRORS:
            raise  # the task is retried; the run goes on where it stopped
        except Exception as exc:
            logger.exception("judge run %s failed", run.pk)
            _finish(run, JudgeRun.Status.FAILED, error=type(exc).__name__)
            raise
        status = (
            JudgeRun.Status.FAILED if stopped == JudgeRun.Stop.FAILURES else JudgeRun.Status.DONE
        )
        _finish(run, status, stopped=stopped)
        transaction.on_commit(lambda: report_refresh_soon(project_id=run.project_id), robust=True)
        run.refresh_from_db()
        return run


def _finish(run: JudgeRun, status: str, *, stopped: str = "", error: str = "") -> None:
    JudgeRun.objects.filter(pk=run.pk).update(
        status=status, stopped=stopped, error=error, finished_at=timezone.now()
    )


def _pending_tasks(run: JudgeRun) -> list[int]:
    """The run's tasks still to judge, in order: those claimed by a worker that died
    first, then those never claimed (a task deleted since is skipped)."""
    claimed = dict(run.verdicts.values_list("task_id", "status"))
    stale = [t for t, status in claimed.items() if status == JudgeVerdict.Status.CLAIMED]
    fresh = [t for t in run.task_ids if t not in claimed]
    return sorted(stale) + fresh


def _claim(run: JudgeRun, task_id: int) -> JudgeVerdict | None:
    """The verdict row of this run and task, claimed now (or left by a dead worker); None
    when the task is gone or its verdict finished."""
    task = (
        Task.objects.select_related("item", "response_a", "response_b", "project")
        .prefetch_related("item__responses")
        .filter(pk=task_id, project_id=run.project_id)
        .first()
    )
    if task is None:
        return None
    version = run.judge.template_version
    verdict, created = JudgeVerdict.objects.get_or_create(
        run=run, task=task, defaults={"judge_id": run.judge_id, "template_version": version}
    )
    if verdict.status != JudgeVerdict.Status.CLAIMED:
        return None
    if not created and verdict.template_version != version:  # the judge changed since
        JudgeVerdict.objects.filter(pk=verdict.pk).update(template_version=version)
    verdict.task = task
    return verdict


def _judge_tasks(run: JudgeRun) -> str:
    """Judge the pending tasks with up to `concurrency` at once; the reason the run
    stopped early (JudgeRun.Stop), or none."""
    judge, project = run.judge, run.project
    judge.project = project
    endpoint = judge.endpoint
    params = {k: v for k, v in judge.params.items() if k in ("temperature", "max_tokens")}
    concurrency = judge.params.get("concurrency", DEFAULT_CONCURRENCY)
    throttle = endpoint_throttle(endpoint.pk)
    throttle.configure(
        concurrency=concurrency, calls_per_minute=judge.params.get("calls_per_minute")
    )
    key = endpoint_api_key(endpoint)
    criteria = criteria_texts(project=project)
    pending = _pending_tasks(run)
    run.refresh_from_db(fields=["calls", "done", "failures"])
    calls_made, in_flight_calls = run.calls, 0
    failures_in_a_row = 0
    stopped = JudgeRun.Stop.NONE
    running: dict[Future, TaskWork] = {}

    def judge_one(work: TaskWork) -> list[Output]:
        return _judge_calls(
            work,
            endpoint=endpoint,
            key=key,
            params=params,
            kind=judge_kind(project),
            criteria=criteria,
            throttle=throttle,
        )

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="judge") as pool:
        while pending or running:
            while pending and len(running) < concurrency and not stopped:
                if run.max_calls is not None and (
                    calls_made + in_flight_calls + run.calls_per_task > run.max_calls
                ):
                    stopped = JudgeRun.Stop.MAX_CALLS
                    break
                verdict = _claim(run, pending.pop(0))
                if verdict is None:
                    continue
                work = _task_work(run, verdict, criteria)
                running[pool.submit(judge_one, work)] = work
                in_flight_calls += len(work.calls)
            if stopped and not running:
                break
            if not running:
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                work = running.pop(future)
                in_flight_calls -= len(work.calls)
                outputs = future.result()
                calls_made += len(outputs)
                calibrated = _record(run, work, outputs)
                failed = calibrated.status == JudgeVerdict.Status.FAILED
                endpoint_outcome_record(endpoint, failure=outputs[-1].error if failed else None)
                failures_in_a_row = failures_in_a_row + 1 if failed else 0
                if failures_in_a_row >= settings.JUDGE_MAX_FAILURES_IN_A_ROW and not stopped:
                    stopped = JudgeRun.Stop.FAILURES
            if stopped == JudgeRun.Stop.FAILURES:
                pending = []
    return stopped
