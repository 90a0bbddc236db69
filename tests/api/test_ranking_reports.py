"""A ranking project's agreement and leaderboard over REST: rankings imported by response
id (a model judge among the people), then Kendall's W, alpha and Plackett-Luce."""

from __future__ import annotations

import pytest

from annotation.models import Annotator, AnnotatorStats
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db

PEOPLE = {
    "h0": [["r1"], ["r2"], ["r3"]],
    "h1": [["r1"], ["r3"], ["r2"]],
    "h2": [["r2"], ["r1"], ["r3"]],
}


@pytest.fixture
def ranked(researcher, researcher_client):
    project = ProjectFactory(owner=researcher, slug="ranked", kind="ranking", allow_tie=True)
    import_items(project, 10, responses=3)
    rows = [
        {"annotator": who, "item": f"q{i}", "ranking": ranking}
        for i in range(10)
        for who, ranking in PEOPLE.items()
    ]
    rows += [
        {
            "annotator": "llm",
            "annotator_kind": "model",
            "item": f"q{i}",
            "ranking": [["r3"], ["r1", "r2"]],
        }
        for i in range(10)
    ]
    answer = researcher_client.post("/api/v1/projects/ranked/judgments/", rows, format="json")
    assert answer.status_code == 201, answer.json()
    return project


def test_agreement_of_a_ranking_project_is_kendalls_w_and_alpha_over_ranks(
    researcher_client, ranked
):
    body = researcher_client.get("/api/v1/projects/ranked/agreement/").json()

    overall = body["criteria"]["overall"]
    assert set(overall) >= {"kendall_w", "krippendorff_alpha", "n_items", "n_annotators"}
    assert overall["krippendorff_alpha"]["level"] == "ordinal"
    assert overall["n_annotators"] == 3 and overall["n_judgments"] == 30
    everyone = researcher_client.get(
        "/api/v1/projects/ranked/agreement/", {"annotator_kind": "all"}
    ).json()
    # The judge ranks r3 first against two people of three: agreement drops.
    assert everyone["criteria"]["overall"]["kendall_w"]["value"] < overall["kendall_w"]["value"]
    assert body["position_bias"]["n_rankings"] == 0  # imports have no shown order


def test_leaderboard_of_a_ranking_project(researcher_client, ranked):
    url = "/api/v1/projects/ranked/leaderboard/"
    body = researcher_client.get(url).json()

    assert body["method"] == "plackett_luce"
    assert [r["model"] for r in body["results"]] == ["model-0", "model-1", "model-2"]
    assert body["n_votes"] == 30
    assert body["bradley_terry"]["n_votes"] == 90
    assert [r["model"] for r in body["bradley_terry"]["results"]] == [
        "model-0",
        "model-1",
        "model-2",
    ]
    judges = researcher_client.get(url, {"annotator_kind": "model"}).json()
    assert judges["results"][0]["model"] == "model-2" and judges["n_votes"] == 10


def test_a_ranking_leaderboard_leaves_flagged_annotators_out_unless_asked(
    researcher_client, ranked
):
    AnnotatorStats.objects.create(
        project=ranked, annotator=Annotator.objects.get(external_id="h0"), flags=["too_fast"]
    )
    url = "/api/v1/projects/ranked/leaderboard/"

    assert researcher_client.get(url).json()["n_votes"] == 20
    assert researcher_client.get(url, {"exclude_flagged": "false"}).json()["n_votes"] == 30
