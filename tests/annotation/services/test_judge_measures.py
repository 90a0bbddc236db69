"""Measures of LLM judges and routing to people (README, LLM judges; issue 20.3-4) on a
simulated study: people of known accuracy, a judge that always prefers the first position
and one that follows the hidden truth 90% of the time (tests/llm_stub.py)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import numpy as np
import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.models import Annotator, Judge, JudgeRun, Judgment, Project, Task
from annotation.selectors.judgment_table import judgment_table
from annotation.selectors.progress import project_progress
from annotation.services.assignment import assignment_lease
from annotation.services.endpoints import endpoint_create
from annotation.services.importing import items_import
from annotation.services.judge_measures import judge_measures
from annotation.services.judge_runs import judge_run_start
from annotation.services.judges import judge_create
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute
from tests.factories import ProjectFactory, import_items, make_annotator
from tests.llm_stub import TRUTH_MARK, LLMStub, llm_stub
from tests.postgres import race

pytestmark = pytest.mark.django_db

KEY = "sk-measures-3b9f-never-shown"
MODELS = ("m0", "m1", "m2", "m3")  # m0 the best: it wins its pairs most often
HUMAN_ACCURACY = 0.9
JUDGE_ACCURACY = 0.9  # judge-truth follows the marked response on nine tasks in ten


@pytest.fixture
def stub(settings) -> Iterator[LLMStub]:
    settings.ARENA_ALLOW_PRIVATE = True
    settings.ENDPOINT_READ_TIMEOUT_SECONDS = 5
    with llm_stub() as server:
        yield server


def study(n_items: int, *, seed: int = 7, **settings) -> Project:
    """Pairs of models; the truly better response (marked for judge-truth) is the better
    model's with probability 0.85, shown first or second at random."""
    rng = random.Random(seed)
    project = ProjectFactory(annotations_per_task=3, **settings)
    rows = []
    for i in range(n_items):
        first, second = rng.sample(range(len(MODELS)), 2)
        better, worse = min(first, second), max(first, second)
        if rng.random() > 0.85:
            better, worse = worse, better
        texts = {better: f"Answer {i} by {MODELS[better]}. {TRUTH_MARK}", worse: f"Answer {i}."}
        rows.append(
            {
                "id": f"q{i}",
                "prompt": f"Question {i}?",
                "responses": [
                    {"id": f"r{j}", "model": MODELS[m], "text": texts[m]}
                    for j, m in enumerate((first, second))
                ],
            }
        )
    items_import(project=project, rows=list(enumerate(rows, 1)))
    return project


def truth_of(task: Task) -> str:
    return "a" if TRUTH_MARK in task.response_a.text else "b"


def people_vote(project: Project, tasks: list[Task], *, seed: int = 3, per_task: int = 3) -> None:
    rng = random.Random(seed)
    rows = []
    for task in tasks:
        truth = truth_of(task)
        for person in range(per_task):
            right = rng.random() < HUMAN_ACCURACY
            rows.append(
                {
                    "annotator": f"person-{person}",
                    "item": task.item.external_id,
                    "a": task.response_a.external_id,
                    "b": task.response_b.external_id,
                    "choice": truth if right else {"a": "b", "b": "a"}[truth],
                }
            )
    judgments_import(project=project, rows=list(enumerate(rows, 1)))


def judge_of(stub: LLMStub, project: Project, model: str) -> Judge:
    endpoint = endpoint_create(
        project=project, name=model, base_url=stub.base_url, model=model, api_key=KEY
    )
    return judge_create(project=project, name=model, endpoint=endpoint.pk)


def run(judge: Judge) -> JudgeRun:
    with TestCase.captureOnCommitCallbacks(execute=True):
        started = judge_run_start(judge=judge)
    return JudgeRun.objects.get(pk=started.pk)


def tasks_of(project: Project) -> list[Task]:
    return list(project.tasks.select_related("item", "response_a", "response_b").order_by("pk"))


def measures_of(project: Project, n_boot: int = 300) -> dict[str, dict]:
    report = report_compute(project=project, n_boot=n_boot).report
    return {entry["judge"]: entry for entry in report["model_judges"]}


def planted_kappa() -> float:
    """Cohen's kappa between a judge right with probability q and the majority of three
    people each right with probability p, on balanced labels (a and b equally often)."""
    p, q = HUMAN_ACCURACY, JUDGE_ACCURACY
    majority_right = p**3 + 3 * p**2 * (1 - p)
    agree = q * majority_right + (1 - q) * (1 - majority_right)
    return (agree - 0.5) / 0.5


def test_the_first_position_judge_shows_its_bias_and_the_truthful_judge_its_kappa(stub):
    project = study(80)
    people_vote(project, tasks_of(project))
    run(judge_of(stub, project, "judge-first"))
    run(judge_of(stub, project, "judge-truth"))

    measures = measures_of(project)

    first, truthful = measures["judge-first"], measures["judge-truth"]
    assert first["position_bias"]["value"] == 1.0 and first["position_bias"]["n"] == 160
    assert first["swap_consistency"] == 0.0
    first_choices = Judgment.objects.filter(annotator__judges__name="judge-first")
    assert set(first_choices.values_list("choice", flat=True)) == {"tie"}
    assert truthful["swap_consistency"] == 1.0
    assert 0.3 < truthful["position_bias"]["value"] < 0.7
    low, high = truthful["cohen_kappa"]["ci"]
    assert low <= planted_kappa() <= high
    assert truthful["cohen_kappa"]["value"] > 0.5
    # The truthful judge's leaderboard orders the models as people's does.
    assert truthful["kendall_tau"]["value"] > 0.6
    assert truthful["kendall_tau"]["ci"][0] is not None
    assert truthful["kendall_tau"]["n_models"] == len(MODELS)


def test_kappa_matches_statsmodels_on_the_judges_table(stub):
    from statsmodels.stats.inter_rater import cohens_kappa

    project = study(40, seed=11)
    tasks = tasks_of(project)
    people_vote(project, tasks, seed=5)
    run(judge_of(stub, project, "judge-truth"))

    (measures,) = measures_of(project, n_boot=50).values()

    votes: dict[int, list[str]] = {}
    for task_id, choice in Judgment.objects.filter(annotator__kind="human").values_list(
        "task_id", "choice"
    ):
        votes.setdefault(task_id, []).append(choice)
    verdicts = dict(
        Judgment.objects.filter(annotator__kind="model").values_list("task_id", "choice")
    )
    codes = {"a": 0, "b": 1}
    table = np.zeros((2, 2))
    for task_id, choices in votes.items():
        majority = max(set(choices), key=choices.count)
        table[codes[majority], codes[verdicts[task_id]]] += 1
    assert measures["cohen_kappa"]["value"] == pytest.approx(cohens_kappa(table).kappa)
    assert measures["percent_agreement"] == pytest.approx(np.trace(table) / table.sum())


def test_routing_serves_the_first_judges_tasks_to_people_and_spot_checks_the_truthful_ones(
    stub,
):
    project = study(20, route=Project.Route.UNCERTAIN, route_human_k=1)
    run(judge_of(stub, project, "judge-first"))
    assert set(Task.objects.filter(project=project).values_list("route", flat=True)) == {
        Task.Route.TO_PEOPLE
    }
    run(judge_of(stub, project, "judge-truth"))
    routes = list(Task.objects.filter(project=project).values_list("route", flat=True))
    assert routes.count(Task.Route.SPOT_CHECK) == 20  # consistent and confident on each

    measures = measures_of(project, n_boot=20)
    assert measures["judge-first"]["routing"]["routed"] == 20
    assert measures["judge-truth"]["routing"]["routed"] == 0
    assert measures["judge-truth"]["routing"]["spot_checked"] == 20


def test_routed_tasks_come_first_and_settled_ones_take_route_human_k(stub):
    project = study(6, route=Project.Route.UNCERTAIN, route_human_k=1)
    run(judge_of(stub, project, "judge-truth"))
    uncertain = tasks_of(project)[4:]
    Task.objects.filter(pk__in=[t.pk for t in uncertain]).update(route=Task.Route.TO_PEOPLE)

    served: list[int] = []
    for _ in range(6):
        person = make_annotator()
        while (assignment := assignment_lease(project=project, annotator=person)) is not None:
            served.append(assignment.task_id)
            assignment.status = "submitted"
            assignment.finished_at = timezone.now()
            assignment.save()
            Task.objects.filter(pk=assignment.task_id).update(
                judgment_count=served.count(assignment.task_id)
            )

    # The uncertain tasks first, each to annotations_per_task people; the rest once.
    assert set(served[:2]) == {t.pk for t in uncertain}
    counts = {t.pk: served.count(t.pk) for t in tasks_of(project)}
    assert {counts[t.pk] for t in uncertain} == {3}
    assert [counts[t.pk] for t in tasks_of(project)[:4]] == [1, 1, 1, 1]


def test_routing_is_a_validated_project_setting(researcher_client, researcher):
    project = ProjectFactory(owner=researcher, annotations_per_task=3)
    url = f"/api/v1/projects/{project.slug}/"

    assert researcher_client.get(url).json()["route"] == "off"
    assert researcher_client.get(url).json()["route_human_k"] == 1
    bad = researcher_client.patch(url, {"route": "sometimes"}, format="json")
    assert bad.status_code == 400 and "route" in json.dumps(bad.json())
    too_many = researcher_client.patch(url, {"route_human_k": 4}, format="json")
    assert too_many.status_code == 400 and "route_human_k" in json.dumps(too_many.json())
    ok = researcher_client.patch(url, {"route": "uncertain", "route_human_k": 2}, format="json")
    assert ok.status_code == 200, ok.content
    project.refresh_from_db()
    assert (project.route, project.route_human_k) == ("uncertain", 2)


def test_hybrid_dpo_export_takes_people_where_they_judged_and_loads_with_datasets(
    stub, researcher_client, researcher, tmp_path
):
    datasets = pytest.importorskip("datasets")
    project = study(10, seed=3)
    project.owner = researcher
    project.save()
    tasks = tasks_of(project)
    people_vote(project, tasks[:4])
    run(judge_of(stub, project, "judge-truth"))
    url = f"/api/v1/projects/{project.slug}/export/"

    response = researcher_client.get(url, {"format": "dpo", "label": "hybrid"})
    assert response.status_code == 200, response.content
    content = b"".join(response.streaming_content)
    rows = [json.loads(line) for line in content.decode().splitlines()]

    sources = {row["pair_id"]: row["label_source"] for row in rows}
    assert {sources[t.pk] for t in tasks[:4] if t.pk in sources} == {"human"}
    assert {sources[t.pk] for t in tasks[4:]} == {"judge"}
    judged = {t.pk: t for t in tasks[4:]}
    for row in rows:
        if row["pair_id"] in judged:
            verdict = Judgment.objects.get(task_id=row["pair_id"], annotator__kind="model")
            task = judged[row["pair_id"]]
            chosen = task.response_a if verdict.choice == "a" else task.response_b
            assert row["chosen_id"] == chosen.external_id
    path = tmp_path / "hybrid.jsonl"
    path.write_bytes(content)
    dataset = datasets.load_dataset(
        "json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert set(dataset["label_source"]) == {"human", "judge"}

    plain = researcher_client.get(url, {"format": "dpo"})
    plain_rows = b"".join(plain.streaming_content).decode().splitlines()
    assert plain_rows and all("label_source" not in json.loads(line) for line in plain_rows)
    refused = researcher_client.get(
        url, {"format": "dpo", "label": "hybrid", "annotator_kind": "human"}
    )
    assert refused.status_code == 400 and "annotator_kind" in json.dumps(refused.json())


def test_model_judges_report_needs_no_more_queries_per_judge(stub, django_assert_num_queries):
    project = study(8)
    people_vote(project, tasks_of(project))
    run(judge_of(stub, project, "judge-first"))

    table = judgment_table(project=project)
    humans, models = table.subset(~table.is_model), table.subset(table.is_model)

    def measure() -> list:
        return judge_measures(
            project=project, humans=None, human_rows=humans, model_rows=models, n_boot=10
        )

    with django_assert_num_queries(2):
        measure()
    run(judge_of(stub, project, "judge-truth"))
    table = judgment_table(project=project)
    humans, models = table.subset(~table.is_model), table.subset(table.is_model)
    with django_assert_num_queries(2):
        assert len(measure()) == 2
    assert Annotator.objects.filter(kind="model").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_annotators_leave_routed_tasks_at_k_and_settled_ones_at_route_human_k():
    """16 threads, each with its own connection, lease and vote until nothing is left: the
    tasks a judge left uncertain end with annotations_per_task votes, the settled ones with
    route_human_k, none with more."""
    project = ProjectFactory(
        annotations_per_task=3, route=Project.Route.UNCERTAIN, route_human_k=2, lease_seconds=60
    )
    import_items(project, 12)
    tasks = list(Task.objects.filter(project=project).order_by("pk"))
    uncertain = {t.pk for t in tasks[::3]}
    Task.objects.filter(pk__in=uncertain).update(route=Task.Route.TO_PEOPLE)
    Task.objects.exclude(pk__in=uncertain).filter(project=project).update(
        route=Task.Route.SPOT_CHECK
    )
    annotators = [make_annotator() for _ in range(16)]

    def work(annotator) -> None:
        while True:
            assignment = assignment_lease(project=project, annotator=annotator)
            if assignment is None:
                return
            judgment_submit(assignment=assignment, annotator=annotator, choice="left")

    failures = race(work, annotators)
    assert not failures, failures
    assert connection.vendor == "postgresql"
    counts = dict(Task.objects.filter(project=project).values_list("pk", "judgment_count"))
    assert {counts[pk] for pk in uncertain} == {3}
    assert {n for pk, n in counts.items() if pk not in uncertain} == {2}
    assert Judgment.objects.filter(project=project).count() == 4 * 3 + 8 * 2
    assert project_progress(project=project)["tasks_complete"] == 12


def test_routing_costs_the_lease_no_extra_query():
    def lease_queries(route: str) -> int:
        project = ProjectFactory(annotations_per_task=2, route=route)
        import_items(project, 3)
        Task.objects.filter(project=project).update(route=Task.Route.SPOT_CHECK)
        person = make_annotator()
        with CaptureQueriesContext(connection) as queries:
            assert assignment_lease(project=project, annotator=person) is not None
        return len(queries)

    assert lease_queries(Project.Route.UNCERTAIN) == lease_queries(Project.Route.OFF)


def test_the_dataset_card_of_a_hybrid_pull_shows_the_judges_measures_and_routing(
    stub, researcher_client, researcher, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    project = study(12, seed=5, route=Project.Route.UNCERTAIN, route_human_k=1)
    project.owner = researcher
    project.save()
    people_vote(project, tasks_of(project)[:6])
    run(judge_of(stub, project, "judge-first"))
    report_compute(project=project, n_boot=20)
    snapshots = f"/api/v1/projects/{project.slug}/snapshots/"

    with django_capture_on_commit_callbacks(execute=True):
        started = researcher_client.post(
            snapshots, {"format": "dpo", "label": "hybrid"}, format="json"
        )
    assert started.status_code == 202, started.content
    card = researcher_client.get(f"{snapshots}{started.json()['id']}/").json()["card"]

    assert "`label_source`" in card and "LLM judges' calibrated verdicts" in card
    judge_row = next(line for line in card.splitlines() if line.startswith("| judge-first |"))
    assert "1.000 [1.000, 1.000]" in judge_row  # position bias
    assert "12 of 12" in judge_row  # every task routed to people
    assert "routing to people" in card and "wanted 1 (spot checks)" in card
    assert KEY not in card


def test_hybrid_judgments_keep_people_and_the_judges_verdicts_on_tasks_nobody_judged(
    stub, researcher_client, researcher
):
    project = study(6, seed=9)
    project.owner = researcher
    project.save()
    tasks = tasks_of(project)
    people_vote(project, tasks[:2])
    run(judge_of(stub, project, "judge-truth"))
    url = f"/api/v1/projects/{project.slug}/export/"

    answer = researcher_client.get(url, {"format": "judgments", "label": "hybrid"})
    assert answer.status_code == 200, answer.content
    rows = [json.loads(line) for line in b"".join(answer.streaming_content).splitlines()]

    by_source = {(row["task"], row["label_source"]) for row in rows}
    assert {task for task, source in by_source if source == "human"} == {t.pk for t in tasks[:2]}
    assert {task for task, source in by_source if source == "judge"} == {t.pk for t in tasks[2:]}
    assert all(
        (row["annotator_kind"] == "human") == (row["label_source"] == "human") for row in rows
    )
    refused = researcher_client.get(url, {"format": "judgments", "label": "majority"})
    assert refused.status_code == 400 and "label" in json.dumps(refused.json())


@pytest.mark.parametrize("filetype", ["jsonl", "parquet"])
def test_hybrid_judgments_are_the_same_by_copy_and_by_rows(stub, filetype):
    from annotation.exports.plan import export_plan
    from annotation.exports.query import ExportFilters, ExportQuery
    from tests.api.test_task_type_studies import assert_copy_and_row_paths_agree

    project = study(5, seed=2)
    people_vote(project, tasks_of(project)[:2])
    run(judge_of(stub, project, "judge-first"))
    query = ExportQuery("judgments", filetype, ExportFilters(annotator_kind="all", label="hybrid"))
    plan = export_plan(project=project, query=query)
    assert "label_source" in plan.column_names

    assert_copy_and_row_paths_agree(plan)
