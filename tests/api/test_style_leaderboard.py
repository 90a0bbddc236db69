"""GET leaderboard/?style_control=true and ?by=metadata.<key> (README "Style control and
category leaderboards"): a model that wins by length alone, the coefficients against a
reference fit, category groups and their threshold, bad parameters."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from annotation.models import Response
from annotation.services import leaderboard_options
from annotation.services.importing import items_import
from annotation.stats import STYLE_COVARIATES, style_covariates, style_features
from tests.factories import ProjectFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cache_cleared")]

URL = "/api/v1/projects/arena/leaderboard/"
#: Model 'verbose' is model 'terse' saying everything three times over.
STRENGTH = {"terse": 0.0, "verbose": 0.0, "good": 0.4, "poor": -0.4}
LENGTH = {"terse": 40, "verbose": 120, "good": 50, "poor": 60}
LENGTH_EFFECT = 2.0


def _text(rng: np.random.Generator, model: str) -> str:
    words = max(1, round(LENGTH[model] * rng.lognormal(0, 0.5)))
    if model == "verbose":
        words = 3 * max(1, words // 3)
    return " ".join(["word"] * words)


def _arena(researcher, n_items: int = 900, seed: int = 0, topics=("coding", "writing")):
    """Items of one pair each and one vote per item, voters swayed by length."""
    rng = np.random.default_rng(seed)
    project = ProjectFactory(owner=researcher, slug="arena")
    names = list(STRENGTH)
    rows, votes = [], []
    for i in range(n_items):
        a, b = rng.choice(names, 2, replace=False)
        text_a, text_b = _text(rng, a), _text(rng, b)
        topic = topics[i % len(topics)] if i >= 20 else "rare"
        rows.append(
            {
                "id": f"q{i}",
                "prompt": "p",
                "metadata": {"topic": topic},
                "responses": [
                    {"id": "r1", "model": a, "text": text_a},
                    {"id": "r2", "model": b, "text": text_b},
                ],
            }
        )
        la, lb = len(text_a.split()), len(text_b.split())
        logit = STRENGTH[a] - STRENGTH[b] + LENGTH_EFFECT * (la - lb) / (la + lb + 1)
        a_wins = rng.random() < 1 / (1 + np.exp(-logit))
        votes.append(
            {
                "annotator": f"h{i % 30}",
                "item": f"q{i}",
                "a": "r1",
                "b": "r2",
                "choice": "a" if a_wins else "b",
            }
        )
    items_import(project=project, rows=list(enumerate(rows, 1)))
    return project, rows, votes


def _post_votes(client, votes):
    response = client.post("/api/v1/projects/arena/judgments/", votes, format="json")
    assert response.status_code == 201, response.json()


def test_a_model_winning_by_length_alone_rates_as_its_terse_twin_with_style_control(
    researcher_client, researcher
):
    _, _, votes = _arena(researcher)
    _post_votes(researcher_client, votes)
    plain = {r["model"]: r for r in researcher_client.get(URL).json()["results"]}
    body = researcher_client.get(URL, {"style_control": "true"}).json()
    styled = {r["model"]: r for r in body["results"]}
    assert plain["verbose"]["rating"] > plain["terse"]["ci"][1]
    assert styled["terse"]["ci"][0] <= styled["verbose"]["rating"] <= styled["terse"]["ci"][1]
    assert body["style_control"] is True and body["n_votes"] == len(votes)
    assert set(body["style_coefficients"]) == set(STYLE_COVARIATES)
    tokens = body["style_coefficients"]["tokens"]
    assert 0 < tokens["ci"][0] < tokens["value"] < tokens["ci"][1]
    assert set(styled["good"]) == {"model", "rating", "ci", "n"}


def test_style_coefficients_match_a_reference_fit_of_the_same_votes(researcher_client, researcher):
    _, rows, votes = _arena(researcher, n_items=400, seed=1)
    _post_votes(researcher_client, votes)
    body = researcher_client.get(URL, {"style_control": "true"}).json()
    # Reference: statsmodels' binomial GLM on every vote, the covariates unbinned.
    models = sorted(STRENGTH)
    features = [
        [[style_features(r["text"])[name] for name in STYLE_COVARIATES] for r in row["responses"]]
        for row in rows
    ]
    x, _ = style_covariates([f[0] for f in features], [f[1] for f in features])
    indicators = np.zeros((len(rows), len(models)))
    for i, row in enumerate(rows):
        indicators[i, models.index(row["responses"][0]["model"])] += 1
        indicators[i, models.index(row["responses"][1]["model"])] -= 1
    used = x.std(axis=0) > 0
    design = np.column_stack([indicators[:, 1:], x[:, used]])
    y = np.array([v["choice"] == "a" for v in votes], dtype=float)
    reference = sm.GLM(y, design, family=sm.families.Binomial()).fit().params
    fitted = [body["style_coefficients"][name]["value"] for name in STYLE_COVARIATES]
    assert np.array(fitted)[used] == pytest.approx(reference[len(models) - 1 :], abs=0.01)
    assert np.array(fitted)[~used] == pytest.approx(0.0, abs=1e-6)


def test_category_leaderboards_leave_out_groups_under_min_group_votes(
    researcher_client, researcher
):
    _, _, votes = _arena(researcher, n_items=300)
    _post_votes(researcher_client, votes)
    body = researcher_client.get(URL, {"by": "metadata.topic"}).json()
    assert body["by"] == "metadata.topic" and body["min_group_votes"] == 50
    assert set(body["groups"]) == {"coding", "writing"}  # 'rare' has 20 votes
    assert body["groups_left_out"] == 1
    assert body["groups"]["coding"]["n"] == 140 and body["groups"]["writing"]["n"] == 140
    coding = body["groups"]["coding"]
    assert {r["model"] for r in coding["results"]} == set(STRENGTH)
    assert all(r["ci"][0] <= r["rating"] <= r["ci"][1] for r in coding["results"])

    researcher_client.patch("/api/v1/projects/arena/", {"min_group_votes": 10}, format="json")
    body = researcher_client.get(URL, {"by": "metadata.topic", "style_control": "true"}).json()
    assert set(body["groups"]) == {"coding", "rare", "writing"}
    assert set(body["groups"]["rare"]["style_coefficients"]) == set(STYLE_COVARIATES)
    assert body["groups"]["rare"]["n"] == 20


def test_a_fitted_leaderboard_is_kept_for_its_report(researcher_client, researcher, monkeypatch):
    _, _, votes = _arena(researcher, n_items=100)
    _post_votes(researcher_client, votes)
    reads = []
    real = leaderboard_options.judgment_table
    monkeypatch.setattr(
        leaderboard_options, "judgment_table", lambda **kw: reads.append(1) or real(**kw)
    )
    first = researcher_client.get(URL, {"style_control": "true"}).json()
    second = researcher_client.get(URL, {"style_control": "true"}).json()
    assert first == second and len(reads) == 1
    _post_votes(researcher_client, [{**votes[0], "annotator": "late"}])
    researcher_client.get(URL, {"style_control": "true"})
    assert len(reads) == 2  # a new report: fitted again


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"style_control": "maybe"}, "style_control"),
        ({"by": "topic"}, "by"),
        ({"by": "metadata."}, "by"),
        ({"by": "annotator.age"}, "by"),
        ({"style": "true"}, "style"),
    ],
)
def test_a_bad_style_or_category_parameter_is_a_400_naming_it(
    researcher_client, researcher, params, field
):
    ProjectFactory(owner=researcher, slug="arena")
    response = researcher_client.get(URL, params)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_style_control_is_for_pairwise_projects(researcher_client, researcher):
    ProjectFactory(owner=researcher, slug="arena", kind="ranking")
    response = researcher_client.get(URL, {"style_control": "true"})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "style_control", "error": "pairwise only"}]


def test_responses_without_style_features_are_counted_when_first_needed(
    researcher_client, researcher
):
    _, rows, votes = _arena(researcher, n_items=60)
    _post_votes(researcher_client, votes)
    Response.objects.update(style={})  # e.g. made by a path that does not count them

    body = researcher_client.get(URL, {"style_control": "true"}).json()

    assert not Response.objects.filter(style={}).exists()
    stored = Response.objects.get(item__external_id="q0", external_id="r1").style
    assert stored == style_features(rows[0]["responses"][0]["text"])
    assert body["style_coefficients"]["tokens"]["value"] > 0
