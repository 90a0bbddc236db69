"""Measures of a model judge on a ranking project (README, LLM judges: Measures of a judge):
position bias and swap consistency from a judge run here, Kendall's tau per item and
between the Plackett-Luce leaderboards, checked against scipy on what the report read."""

from __future__ import annotations

import random
from collections.abc import Iterator

import numpy as np
import pytest
from django.test import TestCase
from scipy import stats as scipy_stats

from annotation.models import Judge, JudgeVerdict, Judgment, Project
from annotation.rankings import mean_places
from annotation.selectors.ranking_table import ranking_table
from annotation.services.endpoints import endpoint_create
from annotation.services.importing import items_import
from annotation.services.judge_measures import ranking_judge_measures
from annotation.services.judge_runs import judge_run_start
from annotation.services.judges import judge_create
from annotation.services.reports import report_compute
from annotation.stats.listwise import plackett_luce
from tests.factories import ProjectFactory, ranked_judgments
from tests.llm_stub import TRUTH_MARK, LLMStub, llm_stub

pytestmark = pytest.mark.django_db

MODELS = ("m0", "m1", "m2", "m3")  # m0 the best


@pytest.fixture
def stub(settings) -> Iterator[LLMStub]:
    settings.ARENA_ALLOW_PRIVATE = True
    settings.ENDPOINT_READ_TIMEOUT_SECONDS = 5
    with llm_stub() as server:
        yield server


def ranking_study(n_items: int, *, seed: int = 4) -> Project:
    """Items of three responses by three of the four models, the best model's marked (for
    judge-truth), shown in a random order; three people rank each, the better model first
    most of the time."""
    rng = random.Random(seed)
    project = ProjectFactory(kind=Project.Kind.RANKING, annotations_per_task=3)
    rows, people = [], []
    for i in range(n_items):
        chosen = rng.sample(range(len(MODELS)), 3)
        best = min(chosen)
        responses = [
            {
                "id": f"r{m}",
                "model": MODELS[m],
                "text": f"Answer {i} by {MODELS[m]}." + (f" {TRUTH_MARK}" if m == best else ""),
            }
            for m in chosen
        ]
        rows.append({"id": f"q{i}", "prompt": f"Question {i}?", "responses": responses})
        for person in range(3):
            order = sorted(chosen, key=lambda m: m + rng.gauss(0, 1.2))
            people.append(
                {
                    "annotator": f"person-{person}",
                    "item": f"q{i}",
                    "ranking": [[f"r{m}"] for m in order],
                }
            )
    items_import(project=project, rows=list(enumerate(rows, 1)))
    ranked_judgments(project, people)
    return project


def run_judge(stub: LLMStub, project: Project, model: str) -> Judge:
    endpoint = endpoint_create(
        project=project, name=model, base_url=stub.base_url, model=model, api_key="sk-x"
    )
    judge = judge_create(project=project, name=model, endpoint=endpoint.pk)
    with TestCase.captureOnCommitCallbacks(execute=True):
        judge_run_start(judge=judge)
    return judge


def test_a_first_position_ranking_judge_shows_its_bias_and_the_truthful_one_its_tau(stub):
    project = ranking_study(30)
    run_judge(stub, project, "judge-first")
    run_judge(stub, project, "judge-truth")

    report = report_compute(project=project, n_boot=100).report
    measures = {entry["judge"]: entry for entry in report["model_judges"]}
    first, truthful = measures["judge-first"], measures["judge-truth"]

    # Both orders put the response shown first on top: 60 answers, 1/3 expected.
    assert first["position_bias"]["value"] == 1.0 and first["position_bias"]["n"] == 60
    assert first["position_bias"]["expected"] == pytest.approx(1 / 3)
    assert first["swap_consistency"] == 0.0 and first["n_swapped"] == 30
    assert truthful["swap_consistency"] == 1.0
    assert 0.1 < truthful["position_bias"]["value"] < 0.6
    assert first["routing"]["routed"] == 30

    # Per item: scipy's tau between the judge's calibrated places and people's mean places.
    judge_rankings = dict(
        Judgment.objects.filter(annotator__judges__name="judge-truth").values_list(
            "task__item_id", "ranking"
        )
    )
    people: dict[int, list] = {}
    for item, ranking in Judgment.objects.filter(annotator__kind="human").values_list(
        "task__item_id", "ranking"
    ):
        people.setdefault(item, []).append(ranking)
    taus = []
    for item, ranking in judge_rankings.items():
        mine = dict(mean_places([ranking]))
        theirs = dict(mean_places(people[item]))
        keys = sorted(mine)
        taus.append(
            scipy_stats.kendalltau([mine[k] for k in keys], [theirs[k] for k in keys]).statistic
        )
    tau = truthful["item_kendall_tau"]
    assert tau["value"] == pytest.approx(np.mean(taus)) and tau["n_items"] == 30
    assert tau["value"] > 0.3
    low, high = tau["ci"]
    assert low < tau["value"] < high
    # judge-first's calibrated rankings tie everything: no item has a tau.
    assert first["item_kendall_tau"]["value"] is None

    # Leaderboards: Plackett-Luce of the judge's rankings against people's.
    table = ranking_table(project=project)

    def fit(mask: np.ndarray) -> np.ndarray:
        return plackett_luce(
            table.judgment[mask], table.model[mask], table.group[mask], len(MODELS)
        )

    truth_id = Judge.objects.get(name="judge-truth").annotator_id
    expected = scipy_stats.kendalltau(
        fit(~table.is_model), fit(table.annotator == truth_id)
    ).statistic
    assert truthful["kendall_tau"]["value"] == pytest.approx(expected)
    assert truthful["kendall_tau"]["n_models"] == len(MODELS)
    assert JudgeVerdict.objects.filter(status="done").count() == 60


def test_ranking_judge_measures_take_no_query_per_judge(stub, django_assert_num_queries):
    project = ranking_study(4)
    run_judge(stub, project, "judge-first")
    ranks = ranking_table(project=project)
    with django_assert_num_queries(2):
        assert len(ranking_judge_measures(project=project, ranks=ranks, n_boot=10)) == 1
    run_judge(stub, project, "judge-truth")
    run_judge(stub, project, "judge-longer")
    ranks = ranking_table(project=project)
    with django_assert_num_queries(2):
        assert len(ranking_judge_measures(project=project, ranks=ranks, n_boot=10)) == 3


def test_console_and_card_show_a_ranking_judges_tau_per_item_and_bias_against_chance(
    stub, console, lead, settings, tmp_path, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    settings.MEDIA_ROOT = tmp_path / "media"
    project = ranking_study(8, seed=2)
    project.owner = lead
    project.save()
    run_judge(stub, project, "judge-first")
    run_judge(stub, project, "judge-truth")
    report = report_compute(project=project, n_boot=50).report
    truthful = next(e for e in report["model_judges"] if e["judge"] == "judge-truth")

    page = console.get(reverse("admin:annotation_project_judges", args=[project.pk]))
    html = page.content.decode()
    row = html.split("Kendall&#x27;s tau per item", 1)[1].split("</tr>", 1)[0]
    assert f"{truthful['item_kendall_tau']['value']:.2f} [" in row
    bias = html.split("Position bias: first shown wins", 1)[1].split("</tr>", 1)[0]
    assert "<td>1.00 [1.00, 1.00] (chance 0.33)</td>" in bias

    snapshots = f"/api/v1/projects/{project.slug}/snapshots/"
    with django_capture_on_commit_callbacks(execute=True):
        started = console.post(snapshots, {"format": "dpo"}, content_type="application/json")
    assert started.status_code == 202, started.content
    card = console.get(f"{snapshots}{started.json()['id']}/").json()["card"]
    line = next(line for line in card.splitlines() if line.startswith("- judge-truth:"))
    assert f"{truthful['item_kendall_tau']['value']:.3f} [" in line
    assert f"over {truthful['item_kendall_tau']['n_items']} items" in line
    assert "first shown on top 0.333" in line


def test_the_measures_read_each_output_without_its_raw_text(stub):
    from annotation.services.judge_measures import _answers_of_outputs

    project = ranking_study(2)
    run_judge(stub, project, "judge-first")

    read = JudgeVerdict.objects.annotate(answers=_answers_of_outputs())
    for answers, outputs in read.values_list("answers", "outputs"):
        assert len(answers) == len(outputs) == 2
        assert all("raw" not in a and "error" not in a for a in answers)
        assert sorted(a["order"] for a in answers) == ["first", "swapped"]
        assert all(a["parsed"]["ranking"] and len(a["shown"]) == 3 for a in answers)
        assert all(o["raw"] for o in outputs)
