"""Judge runs (README, LLM judges) against the local stub judges: Balanced Position
Calibration, unparseable and failed answers recorded as such, max_calls, and a run killed
half-way taken up again without judging a task twice."""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.test import TestCase
from django.utils import timezone

from annotation import tasks as annotation_tasks
from annotation.errors import JudgeBusy
from annotation.models import (
    Annotator,
    Judge,
    JudgeRun,
    JudgeVerdict,
    Judgment,
    ModelEndpoint,
    Project,
    Task,
)
from annotation.selectors.judges import judge_verdicts_current
from annotation.selectors.sync import judgments_since
from annotation.services import judge_runs
from annotation.services.assignment import assignment_lease
from annotation.services.endpoints import endpoint_create
from annotation.services.importing import items_import
from annotation.services.judge_runs import judge_run_execute, judge_run_start
from annotation.services.judges import judge_create, judge_delete, judge_update
from tests.factories import ProjectFactory, import_items, make_annotator, rubric_project
from tests.llm_stub import TRUTH_MARK, LLMStub, llm_stub
from tests.processes import python_process

pytestmark = pytest.mark.django_db

KEY = "sk-judge-7d1e2c9b4a60-never-shown"


@pytest.fixture
def stub(settings) -> Iterator[LLMStub]:
    settings.ARENA_ALLOW_PRIVATE = True
    settings.ENDPOINT_READ_TIMEOUT_SECONDS = 5
    with llm_stub() as server:
        yield server


def make_judge(stub: LLMStub, project: Project, model: str, **params) -> Judge:
    endpoint = endpoint_create(
        project=project, name=model, base_url=stub.base_url, model=model, api_key=KEY
    )
    return judge_create(project=project, name=f"{model}-judge", endpoint=endpoint.pk, params=params)


def run(judge: Judge, **options) -> JudgeRun:
    """Start a run; with eager Celery its job runs once the start commits."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        started = judge_run_start(judge=judge, **options)
    return JudgeRun.objects.get(pk=started.pk)


def test_first_position_judge_is_calibrated_to_ties_with_both_orders_kept(stub):
    project = ProjectFactory(annotations_per_task=3)
    import_items(project, 4)
    judge = make_judge(stub, project, "judge-first")

    done = run(judge)

    assert (done.status, done.done, done.total, done.calls, done.failures) == ("done", 4, 4, 8, 0)
    assert done.tokens > 0
    verdicts = list(JudgeVerdict.objects.filter(run=done))
    assert len(verdicts) == 4
    for verdict in verdicts:
        # The response shown first wins in each order: a, then b once swapped.
        assert (verdict.choice_first, verdict.choice_swapped) == ("a", "b")
        assert verdict.consistent is False and verdict.choice == "tie"
        assert (verdict.first_position_wins, verdict.decisive_outputs) == (2, 2)
        assert [o["order"] for o in verdict.outputs] == ["first", "swapped"]
        assert all('"choice": "A"' in o["raw"] for o in verdict.outputs)
        assert verdict.template_version == 1
    judgments = Judgment.objects.filter(annotator=judge.annotator)
    assert sorted(j.choice for j in judgments) == ["tie"] * 4
    assert {j.source for j in judgments} == {Judgment.Source.JUDGE}
    # Model verdicts leave the tasks' human count (exactly-k) untouched.
    assert set(Task.objects.values_list("judgment_count", flat=True)) == {0}


def test_verdicts_are_judgments_of_a_model_annotator_named_after_the_judge(stub):
    project = ProjectFactory()
    import_items(project, 1)
    judge = make_judge(stub, project, "judge-first")
    run(judge)

    annotator = Judgment.objects.get().annotator
    assert annotator.kind == Annotator.Kind.MODEL
    assert annotator.public_id == "judge-first-judge"


def test_a_truthful_judge_agrees_in_both_orders(stub):
    project = ProjectFactory()
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"id": "r1", "model": "m1", "text": f"Answer one {i}."},
                {"id": "r2", "model": "m2", "text": f"Answer two {i}. {TRUTH_MARK}"},
            ],
        }
        for i in range(20)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    done = run(make_judge(stub, project, "judge-truth"))

    verdicts = JudgeVerdict.objects.filter(run=done)
    assert all(v.consistent for v in verdicts)
    picks = Counter(v.choice for v in verdicts)
    assert picks["b"] >= 15 and picks["a"] >= 1  # the truth, and one task in ten not


def test_without_swap_the_first_order_decides_and_one_call_is_made(stub):
    project = ProjectFactory()
    import_items(project, 2)
    done = run(make_judge(stub, project, "judge-first"), swap=False)

    assert (done.calls, done.done) == (2, 2)
    assert set(JudgeVerdict.objects.values_list("choice", "consistent")) == {("a", None)}


def longer_second(project: Project, count: int) -> None:
    """Items whose second response is the longer one."""
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"id": "r1", "model": "m1", "text": f"Short {i}."},
                {"id": "r2", "model": "m2", "text": f"A much longer answer to question {i}."},
            ],
        }
        for i in range(count)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))


def test_samples_repeat_each_order(stub):
    project = ProjectFactory()
    longer_second(project, 1)
    done = run(make_judge(stub, project, "judge-longer"), samples=3)

    verdict = JudgeVerdict.objects.get(run=done)
    assert done.calls == 6 and len(verdict.outputs) == 6
    assert verdict.agreement == 1.0 and verdict.consistent is True


def test_an_answer_in_prose_and_a_fence_is_read(stub):
    project = ProjectFactory()
    import_items(project, 1)
    done = run(make_judge(stub, project, "judge-fenced"))

    verdict = JudgeVerdict.objects.get(run=done)
    assert verdict.status == JudgeVerdict.Status.DONE
    assert [o["parsed"]["choice"] for o in verdict.outputs] == ["A", "A"]


def test_a_malformed_answer_is_recorded_as_unparseable_never_guessed(stub):
    project = ProjectFactory()
    import_items(project, 2)
    done = run(make_judge(stub, project, "judge-malformed"))

    assert (done.status, done.done, done.unparseable, done.failures) == ("done", 2, 2, 0)
    for verdict in JudgeVerdict.objects.filter(run=done):
        assert verdict.status == JudgeVerdict.Status.UNPARSEABLE
        assert verdict.choice == "" and verdict.judgment is None
        assert verdict.outputs[0]["raw"].startswith("I think")
        assert verdict.outputs[0]["error"].startswith("unparseable")
    assert not Judgment.objects.exists()


def test_a_failing_endpoint_counts_failures_and_stops_after_too_many(stub, settings, caplog):
    settings.JUDGE_MAX_FAILURES_IN_A_ROW = 3
    project = ProjectFactory()
    import_items(project, 6)
    judge = make_judge(stub, project, "failing", concurrency=1)

    with caplog.at_level(logging.DEBUG):
        done = run(judge)

    assert (done.status, done.stopped, done.failures, done.done) == ("failed", "failures", 3, 3)
    assert done.calls == 3  # one call a task: its swapped call is not made after a failure
    assert len(stub.requests) == 6  # each call retried once
    assert not Judgment.objects.exists()
    assert ModelEndpoint.objects.get().unhealthy_until is not None
    assert KEY not in caplog.text
    assert all(KEY not in str(v.outputs) for v in JudgeVerdict.objects.all())


def test_max_calls_stops_the_run_cleanly_before_passing_it(stub):
    project = ProjectFactory()
    import_items(project, 5)
    done = run(make_judge(stub, project, "judge-first", concurrency=2), max_calls=5)

    assert (done.status, done.stopped) == ("done", "max_calls")
    assert done.calls == 4 and done.done == 2 and done.total == 5
    assert len(stub.requests) == 4


def test_unjudged_takes_only_tasks_without_the_judges_verdict(stub):
    project = ProjectFactory()
    import_items(project, 3)
    judge = make_judge(stub, project, "judge-first")
    run(judge, max_calls=2)

    again = run(judge, tasks="unjudged")

    assert again.total == 2 and again.calls == 4
    assert Judgment.objects.filter(annotator=judge.annotator).count() == 3


class Killed(BaseException):
    """A worker killed mid-run (not an Exception: nothing catches it on the way out)."""


def test_a_run_killed_half_way_resumes_without_judging_a_task_twice(stub, monkeypatch):
    project = ProjectFactory()
    import_items(project, 6)
    judge = make_judge(stub, project, "judge-longer", concurrency=1)
    second = judge_run_start(judge=judge, tasks="all")  # queued once committed: not yet
    record = judge_runs._record
    recorded = []

    def record_then_die(run, work, outputs):
        if len(recorded) == 3:
            raise Killed
        recorded.append(work.task.pk)
        return record(run, work, outputs)

    monkeypatch.setattr(judge_runs, "_record", record_then_die)
    with pytest.raises(Killed):
        judge_run_execute(run_id=second.pk)
    second.refresh_from_db()
    assert (second.status, second.done) == ("running", 3)
    claimed = JudgeVerdict.objects.filter(run=second, status="claimed")
    assert claimed.count() == 1  # the task in flight when the worker died
    in_flight = claimed.get().task_id
    before = len(stub.requests)
    # The judge is changed before the run is taken up: what is judged from now on says so.
    judge_update(judge=judge, params={"temperature": 0})

    monkeypatch.setattr(judge_runs, "_record", record)
    judge_run_execute(run_id=second.pk)

    second.refresh_from_db()
    assert (second.status, second.done, second.calls) == ("done", 6, 12)
    verdicts = JudgeVerdict.objects.filter(run=second)
    assert Counter(verdicts.values_list("task_id", flat=True)) == Counter(second.task_ids)
    assert set(verdicts.values_list("status", flat=True)) == {"done"}
    assert len(stub.requests) - before == 2 * 3  # the 2 left and the 1 in flight, 2 calls each
    versions = dict(verdicts.values_list("task_id", "template_version"))
    assert versions[in_flight] == 2 and sorted(versions.values()) == [1, 1, 1, 2, 2, 2]
    assert Judgment.objects.filter(annotator=judge.annotator).count() == 6


def test_a_finished_run_queued_again_does_nothing(stub):
    project = ProjectFactory()
    import_items(project, 2)
    done = run(make_judge(stub, project, "judge-first"))
    calls = len(stub.requests)

    judge_run_execute(run_id=done.pk)

    assert len(stub.requests) == calls


def test_rubric_scores_are_the_lower_median_of_samples_and_take_no_swap(stub):
    project = rubric_project()
    rows = [
        {
            "id": "q0",
            "prompt": "Say hi.",
            "responses": [{"id": "r1", "model": "m1", "text": f"Hi {TRUTH_MARK}"}],
        }
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    done = run(make_judge(stub, project, "judge-truth"), samples=2)

    assert done.swap is False and done.calls == 2
    judgment = Judgment.objects.get()
    assert judgment.scores == {"helpfulness": 4, "correctness": 4}


def test_a_ranking_is_calibrated_over_both_orders(stub):
    project = ProjectFactory(kind=Project.Kind.RANKING)
    import_items(project, 1, responses=3)
    done = run(make_judge(stub, project, "judge-first"))

    verdict = JudgeVerdict.objects.get(run=done)
    # First position wins in each order: r1 > r2 > r3, then r3 > r2 > r1; mean places tie.
    assert verdict.consistent is False
    ids = sorted(Task.objects.get().item.responses.values_list("pk", flat=True))
    assert verdict.ranking == [ids]
    assert Judgment.objects.get().ranking == [ids]


def test_calls_go_out_at_most_concurrency_at_once(settings):
    settings.ARENA_ALLOW_PRIVATE = True
    project = ProjectFactory()
    import_items(project, 6)
    with llm_stub(slow_seconds=0.3) as slow:
        done = run(make_judge(slow, project, "slow-judge-first", concurrency=2))

        assert done.done == 6 and done.calls == 12
        assert slow.max_in_flight == 2  # two at once, never more


def test_calls_per_minute_spaces_the_calls(stub):
    project = ProjectFactory()
    import_items(project, 3)
    started = time.monotonic()
    run(make_judge(stub, project, "judge-first", concurrency=4, calls_per_minute=600))

    # Six calls, one every 0.1 s: the last leaves at least 0.5 s after the first.
    assert time.monotonic() - started >= 0.5
    assert len(stub.requests) == 6


def test_judge_verdicts_leave_the_human_queue_as_it_was(stub):
    project = ProjectFactory(annotations_per_task=1)
    import_items(project, 2)
    run(make_judge(stub, project, "judge-longer"))
    person = make_annotator()

    leased = {assignment_lease(project=project, annotator=person).task_id}
    other = make_annotator()
    leased.add(assignment_lease(project=project, annotator=other).task_id)

    # Each task still wants its one human judgment: both are served to people.
    assert leased == set(Task.objects.values_list("pk", flat=True))


def test_beat_queues_again_the_runs_not_ended(stub, published):
    project = ProjectFactory()
    import_items(project, 1)
    judge = make_judge(stub, project, "judge-first")
    pending = judge_run_start(judge=judge)
    running = judge_run_start(judge=judge)
    JudgeRun.objects.filter(pk=running.pk).update(status="running")
    ended = judge_run_start(judge=judge)
    JudgeRun.objects.filter(pk=ended.pk).update(status="done")
    later = timezone.now() + timedelta(hours=1)

    assert judge_runs.judge_runs_orphaned_claim(now=later) == [pending.pk, running.pk]
    assert judge_runs.judge_runs_orphaned_claim(now=timezone.now()) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_another_worker_holds_is_left_to_it(stub):
    project = ProjectFactory()
    import_items(project, 2)
    judge = make_judge(stub, project, "judge-first")
    started = judge_run_start(judge=judge)  # committed: eager Celery ran it; run it again
    JudgeRun.objects.filter(pk=started.pk).update(status="running")
    calls = len(stub.requests)
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [judge_runs.LOCK_NAMESPACE, started.pk])
        with pytest.raises(judge_runs.JudgeRunBusy):
            judge_run_execute(run_id=started.pk)
        annotation_tasks.judge_run(started.pk)  # the Celery task ends quietly
    assert len(stub.requests) == calls


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_process_killed_mid_run_is_taken_up_without_judging_a_task_twice(
    settings, tmp_path, published
):
    """A real worker process, SIGKILLed while it waits for the model: its finished tasks
    are kept, the one in flight is judged again, none is judged twice."""
    settings.ARENA_ALLOW_PRIVATE = True
    project = ProjectFactory()
    import_items(project, 6)
    with llm_stub(slow_seconds=0.4) as slow:
        judge = make_judge(slow, project, "slow-judge-longer", concurrency=1)
        started = judge_run_start(judge=judge)  # queued (recorded), not run
        database = connection.settings_dict
        url = (
            f"postgres://{database['USER']}:{database['PASSWORD'] or ''}@{database['HOST']}:"
            f"{database['PORT'] or 5432}/{database['NAME']}"
        )
        code = (
            "import django; django.setup(); from annotation.services.judge_runs import "
            f"judge_run_execute; judge_run_execute(run_id={started.pk})"
        )
        env = {
            "DATABASE_URL": url,
            "ARENA_ALLOW_PRIVATE": "true",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        with python_process("-c", code, log=tmp_path / "worker.log", **env) as worker:
            deadline = time.monotonic() + 60
            while JudgeRun.objects.get(pk=started.pk).done < 2:
                assert worker.poll() is None, (tmp_path / "worker.log").read_text()
                assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
                time.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        killed = JudgeRun.objects.get(pk=started.pk)
        assert killed.status == "running" and 2 <= killed.done < 6
        asked_before = len(slow.requests)

        deadline = time.monotonic() + 10
        while True:  # the killed worker's session (and its lock) ends a moment later
            try:
                resumed = judge_run_execute(run_id=started.pk)
                break
            except judge_runs.JudgeRunBusy:
                assert time.monotonic() < deadline
                time.sleep(0.1)

        assert (resumed.status, resumed.done, resumed.total) == ("done", 6, 6)
        verdicts = JudgeVerdict.objects.filter(run=started)
        assert sorted(verdicts.values_list("task_id", flat=True)) == sorted(started.task_ids)
        assert set(verdicts.values_list("status", flat=True)) == {"done"}
        # Only the tasks without a finished verdict were asked about again, two calls each.
        assert len(slow.requests) - asked_before == 2 * (6 - killed.done)
        assert Judgment.objects.filter(annotator=judge.annotator).count() == 6


def test_the_current_verdicts_are_each_tasks_latest_finished_one(stub):
    project = ProjectFactory()
    import_items(project, 3)
    judge = make_judge(stub, project, "judge-first")
    first = run(judge)
    second = run(judge, tasks={"since": Task.objects.order_by("pk")[1].pk})  # the third only

    current = judge_verdicts_current(judge=judge)

    by_task = {v.task_id: v.run_id for v in current}
    tasks = list(Task.objects.order_by("pk").values_list("pk", flat=True))
    assert by_task == {tasks[0]: first.pk, tasks[1]: first.pk, tasks[2]: second.pk}


# ---------------------------------------------------------------- replaced judgments reach sync


def _sync_all(project: Project, since: str) -> tuple[list[dict], str]:
    """Poll the sync as a pipeline would until a page comes back empty (on PostgreSQL a
    row appears once no older transaction on the server is still running)."""
    seen: list[dict] = []
    deadline = time.monotonic() + 30
    while True:
        page, since = judgments_since(project=project, since=since, limit=100)
        seen += page
        if page:
            continue
        if seen or time.monotonic() > deadline:
            return seen, since
        time.sleep(0.2)


def _a_judgment_a_later_run_replaces_reaches_sync_clients(stub) -> None:
    project = ProjectFactory()
    longer_second(project, 2)
    judge = make_judge(stub, project, "judge-first")
    run(judge)
    first, cursor = _sync_all(project, "0")
    assert {row["choice"] for row in first} == {"tie"}  # first position wins in both orders

    # The judge changes its endpoint's model: its new verdicts replace the old judgments.
    truthful = make_judge(stub, project, "judge-longer")
    judge_update(judge=judge, endpoint=truthful.endpoint_id)
    run(judge)
    replaced, _ = _sync_all(project, cursor)

    # Each task's new judgment comes again, of the same task and annotator, a new row:
    # a sync client replaces what it had for that task and annotator.
    by_task = {row["task"]: row for row in first}
    assert sorted(row["task"] for row in replaced) == sorted(by_task)
    for row in replaced:
        earlier = by_task[row["task"]]
        assert row["annotator"] == earlier["annotator"] == judge.name
        assert row["id"] > earlier["id"] and row["choice"] == "b"
    assert Judgment.objects.filter(annotator=judge.annotator).count() == 2
    assert not Judgment.objects.filter(pk__in=[row["id"] for row in first]).exists()


def test_a_judgment_a_later_run_replaces_reaches_sync_clients(stub):
    _a_judgment_a_later_run_replaces_reaches_sync_clients(stub)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_judgment_a_later_run_replaces_reaches_sync_clients_across_transactions(stub):
    _a_judgment_a_later_run_replaces_reaches_sync_clients(stub)


# ---------------------------------------------------------------- deleting a judge


@pytest.mark.parametrize("status", ["pending", "running"])
def test_a_judge_with_a_run_not_ended_cannot_be_deleted(stub, status):
    project = ProjectFactory()
    import_items(project, 2)
    judge = make_judge(stub, project, "judge-first")
    run(judge)
    unfinished = judge_run_start(judge=judge)  # queued once committed: not yet
    JudgeRun.objects.filter(pk=unfinished.pk).update(status=status)

    with pytest.raises(JudgeBusy) as refused:
        judge_delete(judge=judge)

    assert refused.value.status == 409
    assert refused.value.errors == [{"field": "judge", "error": f"run {unfinished.pk} is {status}"}]
    assert Judge.objects.filter(pk=judge.pk).exists()
    assert Judgment.objects.filter(annotator=judge.annotator).count() == 2
    assert JudgeRun.objects.filter(judge=judge).count() == 2


def test_a_judge_whose_runs_ended_is_deleted_with_its_judgments(stub):
    project = ProjectFactory()
    import_items(project, 2)
    judge = make_judge(stub, project, "judge-first")
    run(judge)

    judge_delete(judge=judge)

    assert not Judge.objects.exists() and not JudgeRun.objects.exists()
    assert not Judgment.objects.filter(annotator=judge.annotator).exists()


def test_a_run_whose_judge_was_deleted_meanwhile_writes_no_judgment(stub, monkeypatch):
    """A worker that was past the check when the judge went (its run row gone) leaves no
    orphan judgment."""
    project = ProjectFactory()
    import_items(project, 2)
    judge = make_judge(stub, project, "judge-first")
    started = judge_run_start(judge=judge)
    record = judge_runs._record

    def judge_gone_then_record(run, work, outputs):
        JudgeRun.objects.filter(pk=run.pk).delete()
        return record(run, work, outputs)

    monkeypatch.setattr(judge_runs, "_record", judge_gone_then_record)
    judge_run_execute(run_id=started.pk)

    assert not Judgment.objects.filter(annotator=judge.annotator).exists()


# ---------------------------------------------------------------- beat and dead workers


def test_beat_queues_a_running_run_whose_claim_is_stale_once_and_it_resumes(
    stub, settings, monkeypatch, published
):
    settings.JUDGE_RUN_CLAIM_TIMEOUT_SECONDS = 300
    project = ProjectFactory()
    import_items(project, 4)
    judge = make_judge(stub, project, "judge-longer", concurrency=1)
    started = judge_run_start(judge=judge)
    record = judge_runs._record

    def record_then_die(run, work, outputs):
        if JudgeRun.objects.get(pk=run.pk).done == 2:
            raise Killed
        return record(run, work, outputs)

    monkeypatch.setattr(judge_runs, "_record", record_then_die)
    with pytest.raises(Killed):
        judge_run_execute(run_id=started.pk)
    monkeypatch.setattr(judge_runs, "_record", record)
    killed = JudgeRun.objects.get(pk=started.pk)
    assert (killed.status, killed.done) == ("running", 2)
    assert killed.claimed_at is not None

    # A worker claimed it a moment ago: it is left to it.
    assert annotation_tasks.judge_runs_requeue_pending() == 0
    # Its claim is older than the threshold: queued again, once a window.
    stale = timezone.now() - timedelta(seconds=301)
    JudgeRun.objects.filter(pk=started.pk).update(claimed_at=stale)
    assert annotation_tasks.judge_runs_requeue_pending() == 1
    assert annotation_tasks.judge_runs_requeue_pending() == 0
    assert [call["args"] for call in published] == [[started.pk]]

    asked_before = len(stub.requests)
    annotation_tasks.judge_run(*published[0]["args"])

    resumed = JudgeRun.objects.get(pk=started.pk)
    assert (resumed.status, resumed.done) == ("done", 4)
    assert len(stub.requests) - asked_before == 2 * 2  # the 2 tasks left, both orders
    verdicts = JudgeVerdict.objects.filter(run=started)
    assert sorted(verdicts.values_list("task_id", flat=True)) == sorted(started.task_ids)


def test_beat_queues_a_pending_run_never_claimed_after_the_requeue_delay(stub, settings, published):
    settings.SNAPSHOT_REQUEUE_AFTER_SECONDS = 600
    project = ProjectFactory()
    import_items(project, 1)
    judge = make_judge(stub, project, "judge-first")
    lost = judge_run_start(judge=judge)  # its message was lost: never claimed

    assert annotation_tasks.judge_runs_requeue_pending() == 0
    JudgeRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert annotation_tasks.judge_runs_requeue_pending() == 1
    assert annotation_tasks.judge_runs_requeue_pending() == 0  # claimed by the requeue
    assert [call["args"] for call in published] == [[lost.pk]]
