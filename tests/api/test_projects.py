"""Researchers' project endpoints: list, create, read, change, progress; who may call them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.errors import ValidationFailed
from annotation.models import Project
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from annotation.services.projects import project_create
from annotation.services.tokens import api_token_create
from tests.factories import ProjectFactory, ResearcherFactory, make_annotator

pytestmark = pytest.mark.django_db

RUBRIC_BODY = {
    "slug": "helpsteer",
    "name": "HelpSteer",
    "kind": "rubric",
    "criteria": [
        {"key": "helpfulness", "label": "Helpfulness", "min": 0, "max": 4},
        {"key": "verbosity", "min": 1, "max": 3, "level_labels": {"1": "terse", "3": "wordy"}},
    ],
}

RESEARCHER_ENDPOINTS = [
    ("get", "/api/v1/projects/"),
    ("post", "/api/v1/projects/"),
    ("get", "/api/v1/projects/pairs/"),
    ("patch", "/api/v1/projects/pairs/"),
    ("get", "/api/v1/projects/pairs/progress/"),
    ("get", "/api/v1/projects/pairs/items/"),
    ("post", "/api/v1/projects/pairs/items/"),
    ("get", "/api/v1/projects/pairs/judgments/"),
    ("get", "/api/v1/projects/pairs/export/"),
]


def test_researcher_lists_their_projects(researcher_client, pairwise):
    response = researcher_client.get("/api/v1/projects/")

    assert response.status_code == 200
    assert [p["slug"] for p in response.json()["results"]] == ["pairs"]


def test_researcher_creates_a_rubric_project_with_criteria_inline(researcher_client, researcher):
    response = researcher_client.post("/api/v1/projects/", RUBRIC_BODY, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "helpsteer"
    assert body["owner"] == researcher.username
    assert [c["key"] for c in body["criteria"]] == ["helpfulness", "verbosity"]
    assert body["criteria"][1]["level_labels"] == {"1": "terse", "3": "wordy"}
    assert Project.objects.get(slug="helpsteer").criteria.count() == 2


def test_created_project_has_the_contract_defaults(researcher_client):
    body = {"slug": "pairs-new", "name": "Pairs", "kind": "pairwise"}

    created = researcher_client.post("/api/v1/projects/", body, format="json").json()

    assert created["annotations_per_task"] == 3
    assert created["lease_seconds"] == 900
    assert created["allow_tie"] is True
    assert created["allow_both_bad"] is False
    assert created["gold_rate"] == 0.1
    assert created["access"] == "open"
    assert created["criteria"] == []


def test_rubric_project_without_criteria_is_a_400_naming_criteria(researcher_client):
    body = {"slug": "empty-rubric", "name": "Empty", "kind": "rubric"}

    response = researcher_client.post("/api/v1/projects/", body, format="json")

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["criteria"]
    assert not Project.objects.filter(slug="empty-rubric").exists()


def test_duplicate_slug_is_a_400(researcher_client, pairwise):
    body = {"slug": "pairs", "name": "Again", "kind": "pairwise"}

    response = researcher_client.post("/api/v1/projects/", body, format="json")

    assert response.status_code == 400
    assert "slug" in [e["field"] for e in response.json()["errors"]]


def test_researcher_reads_one_project(researcher_client, pairwise):
    response = researcher_client.get("/api/v1/projects/pairs/")

    assert response.status_code == 200
    assert response.json()["name"] == pairwise.name


def test_researcher_patches_a_project(researcher_client, pairwise):
    response = researcher_client.patch(
        "/api/v1/projects/pairs/", {"status": "paused", "allow_tie": False}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "paused"
    pairwise.refresh_from_db()
    assert (pairwise.status, pairwise.allow_tie) == ("paused", False)


def test_patch_with_an_out_of_range_value_is_a_400(researcher_client, pairwise):
    response = researcher_client.patch(
        "/api/v1/projects/pairs/", {"strength_scale": 5}, format="json"
    )

    assert response.status_code == 400
    pairwise.refresh_from_db()
    assert pairwise.strength_scale == 0


@pytest.mark.parametrize(("method", "path"), RESEARCHER_ENDPOINTS)
def test_annotator_is_refused_every_researcher_endpoint(annotator_client, pairwise, method, path):
    response = getattr(annotator_client, method)(path, {}, format="json")

    assert response.status_code == 403
    assert set(response.json()) == {"detail", "errors"}


@pytest.mark.parametrize(("method", "path"), RESEARCHER_ENDPOINTS)
def test_no_credentials_is_a_401_asking_for_a_token(pairwise, method, path):
    response = getattr(APIClient(), method)(path, {}, format="json")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")
    assert set(response.json()) == {"detail", "errors"}


def test_unknown_project_is_a_404_json(researcher_client):
    response = researcher_client.get("/api/v1/projects/nope/")

    assert response.status_code == 404
    assert response.json()["detail"]


def test_researcher_cannot_see_another_researchers_project(researcher_client):
    ProjectFactory(slug="theirs", owner=ResearcherFactory())

    assert researcher_client.get("/api/v1/projects/theirs/").status_code == 404
    assert researcher_client.get("/api/v1/projects/").json()["results"] == []


def test_researcher_added_to_a_project_sees_it(researcher_client, researcher):
    theirs = ProjectFactory(slug="theirs", owner=ResearcherFactory())
    theirs.researchers.add(researcher)

    assert researcher_client.get("/api/v1/projects/theirs/").status_code == 200
    listed = researcher_client.get("/api/v1/projects/").json()["results"]
    assert [p["slug"] for p in listed] == ["theirs"]


def test_token_from_api_token_create_authenticates(researcher, pairwise):
    key = api_token_create(username=researcher.username)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = client.get("/api/v1/projects/pairs/")

    assert response.status_code == 200


def test_a_bad_token_is_a_401(pairwise):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")

    assert client.get("/api/v1/projects/pairs/").status_code == 401


def test_progress_has_the_contract_shape(researcher_client, pairwise):
    response = researcher_client.get("/api/v1/projects/pairs/progress/")

    assert response.status_code == 200
    assert response.json() == {
        "items": 3,
        "tasks_total": 3,
        "tasks_complete": 0,
        "judgments": 0,
        "judgments_last_hour": 0,
        "active_annotators": 0,
    }


def test_progress_counts_judgments_and_annotators(researcher_client, pairwise):
    # k = 2: two annotators judging the same first task completes it.
    for _ in range(2):
        annotator = make_annotator()
        assignment = assignment_lease(project=pairwise, annotator=annotator)
        judgment_submit(assignment=assignment, annotator=annotator, choice="left")

    progress = researcher_client.get("/api/v1/projects/pairs/progress/").json()

    assert progress == {
        "items": 3,
        "tasks_total": 3,
        "tasks_complete": 1,
        "judgments": 2,
        "judgments_last_hour": 2,
        "active_annotators": 2,
    }


def test_level_labels_given_as_a_list_are_stored_by_score(researcher_client):
    body = RUBRIC_BODY | {
        "criteria": [{"key": "tone", "min": 1, "max": 3, "level_labels": ["a", "b", "c"]}]
    }

    created = researcher_client.post("/api/v1/projects/", body, format="json").json()

    assert created["criteria"][0]["level_labels"] == {"1": "a", "2": "b", "3": "c"}


@pytest.mark.parametrize("labels", ["great", 4, {"0": 1}, [None]])
def test_level_labels_that_are_not_labels_are_a_400(researcher_client, labels):
    body = RUBRIC_BODY | {"criteria": [{"key": "tone", "level_labels": labels}]}

    response = researcher_client.post("/api/v1/projects/", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "criteria.0.level_labels"
    assert not Project.objects.filter(slug="helpsteer").exists()


def test_project_service_refuses_level_labels_that_are_not_an_object(researcher):
    with pytest.raises(ValidationFailed):
        project_create(
            owner=researcher,
            slug="odd",
            name="Odd",
            kind=Project.Kind.RUBRIC,
            criteria=[{"key": "tone", "level_labels": "great"}],
        )


def test_a_project_can_start_from_a_preset(researcher_client):
    response = researcher_client.post(
        "/api/v1/projects/", {"slug": "hs2", "name": "HS2", "preset": "helpsteer2"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "rubric" and len(body["criteria"]) == 5
    assert "preset" not in body


def test_preset_is_refused_on_patch(researcher_client):
    researcher_client.post("/api/v1/projects/", {"slug": "p", "name": "P"}, format="json")
    response = researcher_client.patch("/api/v1/projects/p/", {"preset": "likert-7"}, format="json")
    assert response.status_code == 400


def test_a_level_label_keyed_by_a_non_ascii_digit_is_a_400(researcher_client):
    criterion = {"key": "quality", "min": 1, "max": 5, "level_labels": {"٣": "fine"}}

    response = researcher_client.post(
        "/api/v1/projects/",
        {"slug": "digits", "name": "Digits", "kind": "rubric", "criteria": [criterion]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "criteria[0].level_labels"


def test_the_crowd_settings_are_read_and_written_over_the_api(researcher_client, pairwise):
    response = researcher_client.patch(
        f"/api/v1/projects/{pairwise.slug}/",
        {
            "completion_min_answers": 5,
            "screenout_code": "OUT-1",
            "screenout_url": "https://app.prolific.com/submissions/complete?cc=OUT-1",
            "prolific_study_id": "65a1b2c3d4e5f60718293a4b",
            "crowd_new_per_hour": 50,
            "media_hosts": ["cdn.example.org", "*.example.org"],
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["completion_min_answers"] == 5 and body["crowd_new_per_hour"] == 50
    assert body["media_hosts"] == ["cdn.example.org", "*.example.org"]


def test_media_hosts_must_be_host_names(researcher_client, pairwise):
    response = researcher_client.patch(
        f"/api/v1/projects/{pairwise.slug}/",
        {"media_hosts": ["https://cdn.example.org/path"]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "media_hosts"


def test_sampling_defaults_to_uniform_and_switches_to_active(researcher_client, pairwise):
    shown = researcher_client.get("/api/v1/projects/pairs/").json()
    assert (shown["sampling"], shown["explore_share"]) == ("uniform", 0.2)

    response = researcher_client.patch(
        "/api/v1/projects/pairs/", {"sampling": "active", "explore_share": 0.1}, format="json"
    )

    assert response.status_code == 200, response.json()
    pairwise.refresh_from_db()
    assert (pairwise.sampling, pairwise.explore_share) == ("active", 0.1)


@pytest.mark.parametrize(
    "body",
    [{"sampling": "greedy"}, {"explore_share": 1.5}, {"explore_share": -0.1}],
)
def test_bad_sampling_settings_are_a_400_naming_the_field(researcher_client, pairwise, body):
    response = researcher_client.patch("/api/v1/projects/pairs/", body, format="json")

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == list(body)
    pairwise.refresh_from_db()
    assert (pairwise.sampling, pairwise.explore_share) == ("uniform", 0.2)


def test_active_sampling_is_refused_outside_pairwise_projects(researcher_client, rubric):
    response = researcher_client.patch(
        "/api/v1/projects/rated/", {"sampling": "active"}, format="json"
    )

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["sampling"]
    rubric.refresh_from_db()
    assert rubric.sampling == "uniform"


def test_the_model_leaderboard_preset_samples_actively(researcher_client):
    body = {"slug": "board", "name": "Board", "kind": "pairwise", "preset": "model-leaderboard"}

    created = researcher_client.post("/api/v1/projects/", body, format="json")

    assert created.status_code == 201, created.json()
    assert (created.json()["sampling"], created.json()["explore_share"]) == ("active", 0.2)


def test_arena_safety_settings_default_and_change(researcher_client, pairwise):
    shown = researcher_client.get("/api/v1/projects/pairs/").json()
    assert (shown["arena_prompts_per_hour"], shown["prompt_blocklist"]) == (60, [])

    response = researcher_client.patch(
        "/api/v1/projects/pairs/",
        {"arena_prompts_per_hour": 10, "prompt_blocklist": ["bomb", "credit card"]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    pairwise.refresh_from_db()
    assert pairwise.arena_prompts_per_hour == 10
    assert pairwise.prompt_blocklist == ["bomb", "credit card"]


@pytest.mark.parametrize(
    "body",
    [
        {"arena_prompts_per_hour": -1},
        {"arena_prompts_per_hour": "many"},
        {"arena_prompts_per_hour": 100_001},
        {"prompt_blocklist": "bomb"},
        {"prompt_blocklist": ["bomb", ""]},
        {"prompt_blocklist": ["bomb", 3]},
        {"prompt_blocklist": ["x" * 201]},
        {"prompt_blocklist": [f"term{n}" for n in range(1001)]},
    ],
)
def test_bad_arena_safety_settings_are_a_400_naming_the_field(researcher_client, pairwise, body):
    response = researcher_client.patch("/api/v1/projects/pairs/", body, format="json")

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == list(body)
    pairwise.refresh_from_db()
    assert (pairwise.arena_prompts_per_hour, pairwise.prompt_blocklist) == (60, [])


def test_an_arena_project_takes_seed_prompts_and_reveals_by_default(researcher_client):
    response = researcher_client.post(
        "/api/v1/projects/",
        {
            "slug": "live",
            "name": "Live arena",
            "kind": "arena",
            "seed_prompts": ["Write a haiku about rain.", "Explain recursion to a child."],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    shown = researcher_client.get("/api/v1/projects/live/").json()
    assert shown["kind"] == "arena" and shown["reveal_after_vote"] is True
    assert shown["seed_prompts"] == ["Write a haiku about rain.", "Explain recursion to a child."]
    hidden = researcher_client.patch(
        "/api/v1/projects/live/", {"reveal_after_vote": False}, format="json"
    )
    assert hidden.status_code == 200 and hidden.json()["reveal_after_vote"] is False


@pytest.mark.parametrize(
    "seed_prompts",
    [["fine", ""], ["fine", 3], "one prompt", ["x" * 10_001], [["nested"]]],
)
def test_bad_seed_prompts_are_a_400_naming_the_field(researcher_client, seed_prompts):
    researcher_client.post(
        "/api/v1/projects/", {"slug": "live", "name": "Live", "kind": "arena"}, format="json"
    )

    response = researcher_client.patch(
        "/api/v1/projects/live/", {"seed_prompts": seed_prompts}, format="json"
    )

    assert response.status_code == 400
    assert "seed_prompts" in response.content.decode()
    assert researcher_client.get("/api/v1/projects/live/").json()["seed_prompts"] == []


def test_seed_prompts_are_for_arena_projects_only(researcher_client, pairwise):
    response = researcher_client.patch(
        "/api/v1/projects/pairs/", {"seed_prompts": ["Hi"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "seed_prompts"
