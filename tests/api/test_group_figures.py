"""GET leaderboard/?by=profile.<key> and agreement/?by=... (README "Figures by group"): the
issue's simulation (two groups of annotators with opposite preferences between two models and
a neutral third), k-anonymity of small groups, multiple-choice answers, sensitive questions
and bad parameters."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotation.models import Annotator
from annotation.services import groups as group_service
from annotation.services.importing import items_import
from annotation.services.judgment_import import judgments_import
from annotation.services.projects import project_update
from annotation.services.surveys import survey_answers_record
from tests.factories import (
    CriterionFactory,
    ProjectFactory,
    import_items,
    profiled_annotators,
    ranking_project,
    rubric_project,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("cache_cleared")]

SLUG = "plural"
LEADERBOARD = f"/api/v1/projects/{SLUG}/leaderboard/"
AGREEMENT = f"/api/v1/projects/{SLUG}/agreement/"
SURVEY = [
    {"key": "region", "text": "Where do you live?", "type": "single",
     "options": ["north", "south", "east", "west", "other"]},
    {"key": "languages", "text": "Languages you speak", "type": "multiple",
     "options": ["en", "fr", "ar"]},
    {"key": "faith", "text": "Your religion", "type": "single",
     "options": ["yes", "no"], "sensitive": True},
    {"key": "age", "text": "Your age", "type": "number"},
    {"key": "liked", "text": "Did you like it?", "type": "single",
     "options": ["yes", "no"], "when": "post"},
]  # fmt: skip
PAIRS = [("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")]
#: How often each region's annotators prefer the first model of a pair: north likes alpha
#: over beta, south the reverse, both are indifferent to gamma; east is as undecided.
PREFERS_FIRST = {
    "north": {("alpha", "beta"): 0.85},
    "south": {("alpha", "beta"): 0.15},
}


def _project(researcher, n_items: int = 60, slug: str = SLUG):
    project = ProjectFactory(owner=researcher, slug=slug)
    project_update(project=project, survey=SURVEY)
    rows = [
        {
            "id": f"q{i}",
            "prompt": f"Question {i}?",
            "metadata": {"topic": "maths" if i % 2 else "poems"},
            "responses": [
                {"id": "r1", "model": PAIRS[i % 3][0], "text": f"First answer to {i}."},
                {"id": "r2", "model": PAIRS[i % 3][1], "text": f"Second answer to {i}."},
            ],
        }
        for i in range(n_items)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    return project, rows


def _votes(project, rows, voters: dict[str, str], seed: int = 0) -> None:
    """Every voter votes on every item, as their region prefers."""
    rng = np.random.default_rng(seed)
    votes = []
    for name, region in voters.items():
        for i, row in enumerate(rows):
            pair = PAIRS[i % 3]
            first = PREFERS_FIRST.get(region, {}).get(pair, 0.5)
            choice = "a" if rng.random() < first else "b"
            votes.append({"annotator": name, "item": row["id"], "a": "r1", "b": "r2",
                          "choice": choice})  # fmt: skip
    judgments_import(project=project, rows=list(enumerate(votes, 1)))


def plural_project(
    researcher, *, tiny: int = 3, westerners: int = 0, silent: int = 0, slug: str = SLUG
):
    """Ten northerners, ten southerners, `tiny` easterners and `westerners`, and `silent`
    undecided voters who answered no survey question."""
    project, rows = _project(researcher, slug=slug)
    regions = {f"n{i}": "north" for i in range(10)}
    regions |= {f"s{i}": "south" for i in range(10)}
    regions |= {f"e{i}": "east" for i in range(tiny)}
    regions |= {f"w{i}": "west" for i in range(westerners)}
    people = {
        name: {"region": region, "languages": ["en"], "faith": "no", "age": 30}
        for name, region in regions.items()
    }
    profiled_annotators(project, people)
    _votes(project, rows, regions | {f"q{i}": "east" for i in range(silent)})
    return project


def _board(group: dict) -> dict[str, dict]:
    return {row["model"]: row for row in group["results"]}


def test_opposite_groups_show_opposite_orders_while_the_pooled_board_is_a_tie(
    researcher_client, researcher
):
    plural_project(researcher, westerners=2)
    body = researcher_client.get(LEADERBOARD, {"by": "profile.region"}).json()
    assert body["by"] == "profile.region" and body["min_group_annotators"] == 5
    # East (3 people) and west (2) are never shown alone: together they are other.
    assert list(body["groups"]) == ["north", "south", "other"]
    assert body["groups"]["other"]["n_annotators"] == 5
    north, south = _board(body["groups"]["north"]), _board(body["groups"]["south"])
    assert north["alpha"]["ci"][0] > north["beta"]["ci"][1]
    assert south["beta"]["ci"][0] > south["alpha"]["ci"][1]
    assert body["groups"]["north"]["n"] == 600 and body["groups"]["north"]["n_annotators"] == 10

    (difference,) = [d for d in body["differences"] if d["groups"] == ["north", "south"]]
    by_model = {row["model"]: row for row in difference["models"]}
    assert by_model["alpha"]["ci"][0] > 0 > by_model["beta"]["ci"][1]
    assert by_model["gamma"]["ci"][0] < 0 < by_model["gamma"]["ci"][1]

    pooled = _board(researcher_client.get(LEADERBOARD).json())
    alpha, beta = pooled["alpha"], pooled["beta"]
    assert alpha["ci"][0] < beta["rating"] < alpha["ci"][1]
    assert beta["ci"][0] < alpha["rating"] < beta["ci"][1]


def test_groups_agreement_within_and_across(researcher_client, researcher):
    plural_project(researcher, westerners=2)
    body = researcher_client.get(AGREEMENT, {"by": "profile.region"}).json()
    assert body["by"] == "profile.region"
    assert list(body["groups"]) == ["north", "south", "other"]
    north = body["groups"]["north"]
    alpha = north["criteria"]["overall"]["krippendorff_alpha"]
    assert alpha["ci"][0] <= alpha["value"] <= alpha["ci"][1]
    assert north["n_annotators"] == 10 and north["n_judgments"] == 600
    assert "annotators" not in north  # no row per person inside a group

    (across,) = [a for a in body["cross_group"]["overall"] if a["groups"] == ["north", "south"]]
    assert across["n_tasks"] > 0
    # They disagree on every alpha-beta task and on about half of the others.
    assert across["ci"][0] <= across["value"] <= across["ci"][1] < 0.6


def test_small_groups_are_merged_into_other_and_never_shown_alone(researcher_client, researcher):
    project, rows = _project(researcher, n_items=12)
    regions = {f"n{i}": "north" for i in range(6)}
    regions |= {f"e{i}": "east" for i in range(3)} | {f"w{i}": "west" for i in range(3)}
    regions |= {"o0": "other"}  # an answer named "other" joins the merged group
    profiled_annotators(project, {name: {"region": region} for name, region in regions.items()})
    _votes(project, rows, regions)

    for url in (LEADERBOARD, AGREEMENT):
        body = researcher_client.get(url, {"by": "profile.region"}).json()
        assert list(body["groups"]) == ["north", "other"]
        assert body["groups"]["other"]["n_annotators"] == 7

    settings = f"/api/v1/projects/{SLUG}/"
    researcher_client.patch(settings, {"min_group_annotators": 8}, format="json")
    body = researcher_client.get(LEADERBOARD, {"by": "profile.region"}).json()
    assert {name: g["n_annotators"] for name, g in body["groups"].items()} == {"other": 13}
    researcher_client.patch(settings, {"min_group_annotators": 14}, format="json")
    body = researcher_client.get(LEADERBOARD, {"by": "profile.region"}).json()
    assert body["groups"] == {} and body["min_group_annotators"] == 14


def test_the_pooled_figures_minus_the_groups_shown_never_leave_a_small_group(
    researcher_client, researcher
):
    # Three easterners beside ten northerners and ten southerners: showing north and south
    # and leaving east out would give east's votes as the pooled ones minus theirs.
    plural_project(researcher, tiny=3)
    pooled = researcher_client.get(LEADERBOARD).json()
    for url in (LEADERBOARD, AGREEMENT):
        groups = researcher_client.get(url, {"by": "profile.region"}).json()["groups"]

        assert list(groups) == ["south", "other"]  # north, the smallest, joins east
        assert groups["other"]["n_annotators"] == 13
        assert sum(g["n_annotators"] for g in groups.values()) == 23
    votes = researcher_client.get(LEADERBOARD, {"by": "profile.region"}).json()["groups"]
    assert sum(g["n"] for g in votes.values()) == pooled["n_votes"]


def test_annotators_who_did_not_answer_cannot_be_read_as_the_pooled_figures_minus_the_groups(
    researcher_client, researcher
):
    # Ten northerners and ten southerners answered; three others voted without answering.
    # Showing north and south alone would give the three's votes as pooled minus theirs.
    plural_project(researcher, tiny=0, silent=3)
    pooled = researcher_client.get(LEADERBOARD).json()
    assert pooled["n_votes"] == 23 * 60
    for url in (LEADERBOARD, AGREEMENT):
        groups = researcher_client.get(url, {"by": "profile.region"}).json()["groups"]

        assert list(groups) == ["south", "other"]  # north, the smallest, joins the three
        assert groups["other"]["n_annotators"] == 13
        assert sum(g["n_annotators"] for g in groups.values()) == 23
    votes = researcher_client.get(LEADERBOARD, {"by": "profile.region"}).json()["groups"]
    assert sum(g["n"] for g in votes.values()) == pooled["n_votes"]  # nothing left to subtract


def test_an_annotator_counts_in_each_answer_chosen(researcher_client, researcher):
    project, rows = _project(researcher, n_items=6)
    people = {f"b{i}": {"languages": ["en", "fr"]} for i in range(5)}
    people |= {f"e{i}": {"languages": ["en"]} for i in range(2)}
    profiled_annotators(project, people)
    _votes(project, rows, dict.fromkeys(people, "east"))

    body = researcher_client.get(LEADERBOARD, {"by": "profile.languages"}).json()
    assert {name: g["n_annotators"] for name, g in body["groups"].items()} == {"en": 7, "fr": 5}
    assert body["groups"]["fr"]["n"] == 30


def test_a_sensitive_question_needs_include_sensitive(researcher_client, researcher):
    plural_project(researcher, tiny=0)
    for url in (LEADERBOARD, AGREEMENT):
        refused = researcher_client.get(url, {"by": "profile.faith"})
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["field"] == "include_sensitive"
        allowed = researcher_client.get(url, {"by": "profile.faith", "include_sensitive": "true"})
        assert allowed.status_code == 200 and list(allowed.json()["groups"]) == ["no"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"by": "profile.nope"}, "by"),
        ({"by": "profile.age"}, "by"),  # a number is not a group
        ({"by": "region"}, "by"),
        ({"by": "profile."}, "by"),
        ({"by": "profile.region", "include_sensitive": "maybe"}, "include_sensitive"),
    ],
)
def test_a_bad_by_is_a_400_naming_it(researcher_client, researcher, params, field):
    _project(researcher, n_items=3)
    for url in (LEADERBOARD, AGREEMENT):
        response = researcher_client.get(url, params)
        assert response.status_code == 400, response.json()
        assert response.json()["errors"][0]["field"] == field


def test_agreement_by_item_category(researcher_client, researcher):
    plural_project(researcher, tiny=0)
    researcher_client.patch(f"/api/v1/projects/{SLUG}/", {"min_group_votes": 10}, format="json")
    body = researcher_client.get(AGREEMENT, {"by": "metadata.topic"}).json()
    assert body["by"] == "metadata.topic" and set(body["groups"]) == {"maths", "poems"}
    assert body["groups"]["maths"]["n_judgments"] == 600
    assert "cross_group" not in body  # the groups judged different items


def test_figures_by_profile_are_computed_once_per_report_and_answers(
    researcher_client, researcher, monkeypatch
):
    project = plural_project(researcher, tiny=0)
    cache.clear()
    reads = []
    real = group_service.judgment_table
    monkeypatch.setattr(group_service, "judgment_table", lambda **kw: reads.append(1) or real(**kw))
    for _ in range(2):
        assert researcher_client.get(AGREEMENT, {"by": "profile.region"}).status_code == 200
    assert len(reads) == 1

    # A changed answer is new figures (the post-survey stays open after voting).
    annotator = Annotator.objects.get(external_id="n0")
    survey_answers_record(project=project, annotator=annotator, answers={"liked": "yes"})
    assert researcher_client.get(AGREEMENT, {"by": "profile.region"}).status_code == 200
    assert len(reads) == 2


def test_min_group_annotators_under_two_is_a_400_and_changes_nothing(researcher_client, researcher):
    project, _ = _project(researcher, n_items=1)
    response = researcher_client.patch(
        f"/api/v1/projects/{SLUG}/", {"min_group_annotators": 1}, format="json"
    )
    assert response.status_code == 400
    assert "min_group_annotators" in str(response.json())
    project.refresh_from_db()
    assert project.min_group_annotators == 5


def test_a_rubric_projects_groups_agree_or_not_per_criterion(researcher_client, researcher):
    project = rubric_project(owner=researcher, slug=SLUG)
    project_update(project=project, survey=SURVEY)
    import_items(project, 8, responses=1)
    people = {f"n{i}": "north" for i in range(5)} | {f"s{i}": "south" for i in range(5)}
    profiled_annotators(project, {name: {"region": region} for name, region in people.items()})
    # North gives helpfulness 4 and south 0 on every item; both give correctness 2.
    rows = [
        {"annotator": name, "item": f"q{i}", "response": "r1",
         "scores": {"helpfulness": 4 if region == "north" else 0, "correctness": 2}}
        for name, region in people.items()
        for i in range(8)
    ]  # fmt: skip
    judgments_import(project=project, rows=list(enumerate(rows, 1)))

    body = researcher_client.get(AGREEMENT, {"by": "profile.region"}).json()
    assert list(body["groups"]) == ["north", "south"]
    assert set(body["groups"]["north"]["criteria"]) == {"helpfulness", "correctness"}
    (helpfulness,) = body["cross_group"]["helpfulness"]
    (correctness,) = body["cross_group"]["correctness"]
    assert helpfulness["value"] == 0.0 and correctness["value"] == 1.0
    assert helpfulness["n_tasks"] == correctness["n_tasks"] == 8
    refused = researcher_client.get(LEADERBOARD, {"by": "profile.region"})
    assert refused.status_code == 400  # a rubric project ranks no models


def test_a_ranking_projects_agreement_by_group_is_a_400(researcher_client, researcher):
    ranking_project(owner=researcher, slug=SLUG)
    response = researcher_client.get(AGREEMENT, {"by": "metadata.topic"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "by"


def test_no_cache_key_names_a_group(researcher_client, researcher, monkeypatch):
    plural_project(researcher)
    keys: list[str] = []
    for name in ("get", "set", "get_or_set", "add"):
        real = getattr(cache, name)
        monkeypatch.setattr(
            cache, name, lambda key, *a, real=real, **kw: keys.append(key) or real(key, *a, **kw)
        )
    for url in (LEADERBOARD, AGREEMENT):
        assert researcher_client.get(url, {"by": "profile.region"}).status_code == 200
    assert any("agreement-by" in key for key in keys)
    named = [key for key in keys if any(g in key for g in ("north", "south", "east", "region"))]
    assert named == []


def test_figures_by_profile_read_a_fixed_number_of_queries(researcher_client, researcher):
    plural_project(researcher, tiny=0)
    counts = []
    for slug, tiny in ((SLUG, 0), ("plural-2", 9)):
        if slug != SLUG:
            plural_project(researcher, tiny=tiny, slug=slug)
        url = f"/api/v1/projects/{slug}/leaderboard/"
        researcher_client.get(url, {"by": "profile.region"})  # fitted once
        with CaptureQueriesContext(connection) as read:
            body = researcher_client.get(url, {"by": "profile.region"}).json()
        counts.append(len(read))
    assert "east" in body["groups"]  # nine easterners: a third group
    assert counts[0] == counts[1]


def test_a_score_missing_on_a_range_below_zero_is_no_groups_majority(researcher_client, researcher):
    """Tone (-2..2) was added after the south had judged: the south has no tone majority, so
    no task compares the groups on tone (a missing score is not a -1)."""
    project = rubric_project(owner=researcher, slug=SLUG)
    project_update(project=project, survey=SURVEY)
    import_items(project, 8, responses=1)
    people = {f"n{i}": "north" for i in range(5)} | {f"s{i}": "south" for i in range(5)}
    profiled_annotators(project, {name: {"region": region} for name, region in people.items()})
    scores = {"helpfulness": 4, "correctness": 2}

    def judged(region: str, extra: dict) -> list[dict]:
        return [
            {"annotator": name, "item": f"q{i}", "response": "r1", "scores": scores | extra}
            for name, where in people.items()
            if where == region
            for i in range(8)
        ]

    judgments_import(project=project, rows=list(enumerate(judged("south", {}), 1)))
    CriterionFactory(project=project, key="tone", min=-2, max=2)
    judgments_import(project=project, rows=list(enumerate(judged("north", {"tone": -1}), 1)))

    body = researcher_client.get(AGREEMENT, {"by": "profile.region"}).json()
    (helpfulness,) = body["cross_group"]["helpfulness"]
    assert helpfulness["value"] == 1.0 and helpfulness["n_tasks"] == 8
    (tone,) = body["cross_group"]["tone"]
    assert tone["n_tasks"] == 0
