"""Measures of a model judge on a rubric project (README, LLM judges: Measures of a judge):
per scored criterion its agreement with people's scores, per verdict criterion with people's
majority, checked against statsmodels and scipy on the numbers the report was fed."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from scipy import stats as scipy_stats

from annotation.models import Criterion, Project
from annotation.selectors.judgment_table import judgment_table
from annotation.services.judge_measures import rubric_judge_measures
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute
from tests.factories import CriterionFactory, ProjectFactory, import_items

pytestmark = pytest.mark.django_db

N_ITEMS = 30
MODELS = 3  # import_items names them model-0, model-1, model-2; model-0 the best


def scored_study(seed: int = 1, **settings) -> tuple[Project, dict, dict]:
    """Three people and one imported judge score every response on `quality` (1..5) and say
    whether it is `safe`; people's scores follow each model's quality with noise, the
    judge's too, a little noisier. Returns the project, people's scores and the judge's by
    (item, response)."""
    rng = np.random.default_rng(seed)
    project = ProjectFactory(kind=Project.Kind.RUBRIC, **settings)
    CriterionFactory(project=project, key="quality", min=1, max=5)
    CriterionFactory(project=project, key="safe", type=Criterion.Type.VERDICT)
    import_items(project, N_ITEMS, responses=MODELS)
    people: dict[tuple[str, str], list[tuple[int, bool]]] = {}
    judge: dict[tuple[str, str], tuple[int, bool]] = {}
    rows = []
    for i in range(N_ITEMS):
        for j in range(MODELS):
            key = (f"q{i}", f"r{j + 1}")
            quality = 4 - j + rng.normal(0, 0.8)
            safe = rng.random() < 0.7
            for person in range(3):
                score = int(np.clip(np.rint(quality + rng.normal(0, 0.7)), 1, 5))
                verdict = bool(safe if rng.random() < 0.9 else not safe)
                people.setdefault(key, []).append((score, verdict))
                rows.append(_row(f"person-{person}", key, score, verdict, "human"))
            score = int(np.clip(np.rint(quality + rng.normal(0, 1.0)), 1, 5))
            verdict = bool(safe if rng.random() < 0.85 else not safe)
            judge[key] = (score, verdict)
            rows.append(_row("imported-judge", key, score, verdict, "model"))
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    return project, people, judge


def _row(annotator: str, key: tuple[str, str], score: int, safe: bool, kind: str) -> dict:
    return {
        "annotator": annotator,
        "annotator_kind": kind,
        "item": key[0],
        "response": key[1],
        "scores": {"quality": score, "safe": safe},
    }


def test_a_rubric_judge_gets_kappa_and_correlations_per_criterion_like_the_references():
    from statsmodels.stats.inter_rater import cohens_kappa

    project, people, judge = scored_study()

    report = report_compute(project=project, n_boot=100).report
    (entry,) = report["model_judges"]
    quality, safe = entry["criteria"]["quality"], entry["criteria"]["safe"]

    keys = sorted(judge)
    judged = np.array([judge[k][0] for k in keys])
    means = np.array([np.mean([s for s, _ in people[k]]) for k in keys])
    medians = np.array([np.median([s for s, _ in people[k]]) for k in keys]).astype(int)
    table = np.zeros((5, 5))
    np.add.at(table, (judged - 1, medians - 1), 1)
    assert quality["n"] == N_ITEMS * MODELS
    assert quality["quadratic_kappa"]["value"] == pytest.approx(
        cohens_kappa(table, wt="quadratic").kappa
    )
    assert quality["spearman"]["value"] == pytest.approx(
        scipy_stats.spearmanr(judged, means).statistic
    )
    assert quality["pearson"]["value"] == pytest.approx(
        scipy_stats.pearsonr(judged, means).statistic
    )
    assert quality["quadratic_kappa"]["value"] > 0.5
    low, high = quality["spearman"]["ci"]
    assert low < quality["spearman"]["value"] < high

    majority = np.array([sum(v for _, v in people[k]) >= 2 for k in keys])
    verdicts = np.array([judge[k][1] for k in keys])
    agree = np.zeros((2, 2))
    np.add.at(agree, (majority.astype(int), verdicts.astype(int)), 1)
    assert safe["percent_agreement"] == pytest.approx(np.trace(agree) / agree.sum())
    assert safe["cohen_kappa"]["value"] == pytest.approx(cohens_kappa(agree).kappa)
    assert safe["n"] == N_ITEMS * MODELS

    # The judge orders the three models by mean quality as people do.
    per_model = [[k for k in keys if k[1] == f"r{j + 1}"] for j in range(MODELS)]
    expected_tau = scipy_stats.kendalltau(
        [np.mean([judge[k][0] for k in ks]) for ks in per_model],
        [np.mean([s for k in ks for s, _ in people[k]]) for ks in per_model],
    ).statistic
    assert quality["kendall_tau"]["value"] == pytest.approx(expected_tau) == 1.0
    assert quality["kendall_tau"]["n_models"] == MODELS
    assert entry["n"] == N_ITEMS * MODELS and entry["judge"]


def test_rubric_judge_measures_take_no_query_per_judge(django_assert_num_queries):
    project, _, _ = scored_study(seed=2)
    rows = [
        {**_row(f"judge-{n}", (f"q{i}", "r1"), 3, True, "model")}
        for n in range(3)
        for i in range(5)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, 1)))
    table = judgment_table(project=project)
    criteria = list(project.criteria.all())

    with django_assert_num_queries(2):
        measures = rubric_judge_measures(
            project=project,
            criteria=criteria,
            human_rows=table.subset(~table.is_model),
            model_rows=table.subset(table.is_model),
            n_boot=10,
        )
    assert len(measures) == 4
    assert {m["criteria"]["quality"]["n"] for m in measures} == {N_ITEMS * MODELS, 5}


def test_console_and_card_show_a_rubric_judges_measures_per_criterion(
    console,
    lead,
    researcher_client,
    researcher,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    settings.MEDIA_ROOT = tmp_path / "media"
    project, _, _ = scored_study(seed=3, owner=lead)
    report = report_compute(project=project, n_boot=50).report
    quality = report["model_judges"][0]["criteria"]["quality"]

    html = console.get(reverse("admin:annotation_project_judges", args=[project.pk])).content
    page = html.decode()
    row = page.split("Quadratic-weighted kappa on <code>quality</code>", 1)[1].split("</tr>")[0]
    assert f"<td>{quality['quadratic_kappa']['value']:.2f} [" in row
    assert "Spearman&#x27;s rho on <code>quality</code>" in page
    assert "Cohen&#x27;s kappa on <code>safe</code>" in page

    project.owner = researcher
    project.save()
    snapshots = f"/api/v1/projects/{project.slug}/snapshots/"
    with django_capture_on_commit_callbacks(execute=True):
        started = researcher_client.post(snapshots, {"format": "rubric"}, format="json")
    assert started.status_code == 202, started.content
    card = researcher_client.get(f"{snapshots}{started.json()['id']}/").json()["card"]
    line = next(
        line for line in card.splitlines() if line.startswith("| imported-judge | quality |")
    )
    assert f"{quality['spearman']['value']:.3f} [" in line
    assert f"| {N_ITEMS * MODELS} |" in line


def test_a_rubric_judge_run_here_reports_how_it_routed_its_tasks(console, lead, settings):
    from django.test import TestCase

    from annotation.services.endpoints import endpoint_create
    from annotation.services.importing import items_import
    from annotation.services.judge_runs import judge_run_start
    from annotation.services.judges import judge_create
    from tests.llm_stub import TRUTH_MARK, llm_stub

    settings.ARENA_ALLOW_PRIVATE = True
    project = ProjectFactory(kind=Project.Kind.RUBRIC, owner=lead)
    CriterionFactory(project=project, key="quality", min=1, max=5)
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "responses": [
                {"id": "r1", "model": f"m{i % 3}", "text": f"Answer {i}." + TRUTH_MARK * (i % 2)}
            ],
        }
        for i in range(12)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    people = [
        {
            "annotator": f"person-{p}",
            "item": f"q{i}",
            "response": "r1",
            "scores": {"quality": 5 if i % 2 else 1 + (p == 0)},
        }
        for i in range(12)
        for p in range(3)
    ]
    judgments_import(project=project, rows=list(enumerate(people, 1)))

    def measure_queries() -> int:
        table = judgment_table(project=project)
        with CaptureQueriesContext(connection) as queries:
            rubric_judge_measures(
                project=project,
                criteria=list(project.criteria.all()),
                human_rows=table.subset(~table.is_model),
                model_rows=table.subset(table.is_model),
                n_boot=10,
            )
        return len(queries) - 1  # the criteria

    counts = []
    with llm_stub() as stub:
        for model in ("judge-truth", "judge-longer"):
            endpoint = endpoint_create(
                project=project, name=model, base_url=stub.base_url, model=model, api_key="k"
            )
            judge = judge_create(project=project, name=model, endpoint=endpoint.pk)
            with TestCase.captureOnCommitCallbacks(execute=True):
                judge_run_start(judge=judge)
            counts.append(measure_queries())
    assert counts[0] == counts[1] == 2  # the judges, their verdicts

    entries = report_compute(project=project, n_boot=50).report["model_judges"]
    entry = next(e for e in entries if e["judge"] == "judge-truth")

    assert entry["judge"] == "judge-truth"
    assert entry["criteria"]["quality"]["quadratic_kappa"]["value"] == 1.0
    assert entry["routing"]["judged"] == 12
    assert entry["routing"]["spot_check_agreement"] is None
    html = console.get(reverse("admin:annotation_project_judges", args=[project.pk]))
    assert "settled; see the figures above)" in html.content.decode()
