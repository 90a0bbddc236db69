"""Arena safety over the API (README, Arena safety): votes on an answer that named its own
model are left out of the leaderboard and the exports unless asked for, and counted in the
agreement report; an arena vote posted twice is stored once."""

from __future__ import annotations

import json

import pytest
import yaml
from rest_framework.test import APIClient

from annotation.models import ArenaTurn, Judgment, ModelEndpoint, Project, Response
from annotation.services.arena_safety import response_identity_leak_flag
from annotation.services.endpoints import endpoint_create
from annotation.services.importing import items_import
from tests.api.test_arena import add_endpoints, post, vote
from tests.factories import AnnotatorUserFactory, ProjectFactory, import_items, picked_judgments

pytestmark = pytest.mark.django_db


@pytest.fixture
def arena(researcher) -> Project:
    """Four prompts answered by model-0 (r1) and model-1 (r2), three votes each: model-0
    wins the first, where its answer says "I am Falcon" (its alias), and loses the others."""
    project = ProjectFactory(owner=researcher, slug="arena")
    import_items(project, 4)
    picked_judgments(project, {"q0": "aaa", "q1": "bbb", "q2": "bbb", "q3": "bbb"})
    endpoint = ModelEndpoint.objects.create(
        project=project,
        name="model-0",
        base_url="http://127.0.0.1:9/v1",
        model="falcon-7b",
        aliases=["Falcon"],
    )
    leaking = Response.objects.get(item__project=project, item__external_id="q0", model="model-0")
    leaking.text = "I am Falcon, and here is my answer."
    leaking.save()
    assert response_identity_leak_flag(response=leaking, endpoint=endpoint)
    return project


def pull(client, **params) -> list[dict]:
    response = client.get("/api/v1/projects/arena/export/", {"filetype": "jsonl", **params})
    assert response.status_code == 200, response.content
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_votes_on_a_leaking_answer_are_left_out_of_the_judgments_export(researcher_client, arena):
    default = pull(researcher_client, format="judgments")
    everything = pull(researcher_client, format="judgments", include_identity_leak="true")

    assert sorted({row["item_id"] for row in default}) == ["q1", "q2", "q3"]
    assert len(default) == 9
    assert len(everything) == 12


def test_a_leaking_pair_is_not_a_dpo_pair_unless_asked(researcher_client, arena):
    default = pull(researcher_client, format="dpo")
    everything = pull(researcher_client, format="dpo", include_identity_leak="1")

    assert sorted(row["item_id"] for row in default) == ["q1", "q2", "q3"]
    assert sorted(row["item_id"] for row in everything) == ["q0", "q1", "q2", "q3"]


def test_the_labels_export_leaves_the_leaking_task_out(researcher_client, arena):
    assert sorted(row["item_id"] for row in pull(researcher_client, format="labels")) == [
        "q1",
        "q2",
        "q3",
    ]


def test_include_identity_leak_must_be_a_boolean_for_a_judgment_format(researcher_client, arena):
    bad = researcher_client.get(
        "/api/v1/projects/arena/export/", {"format": "judgments", "include_identity_leak": "x"}
    )
    elsewhere = researcher_client.get(
        "/api/v1/projects/arena/export/", {"format": "items", "include_identity_leak": "true"}
    )

    for response in (bad, elsewhere):
        assert response.status_code == 400
        assert [e["field"] for e in response.json()["errors"]] == ["include_identity_leak"]


def test_the_leaderboard_leaves_leaking_votes_out_and_the_report_counts_them(
    researcher_client, arena
):
    board = researcher_client.get("/api/v1/projects/arena/leaderboard/").json()
    report = researcher_client.get("/api/v1/projects/arena/agreement/").json()

    assert board["n_votes"] == 9
    assert [row["model"] for row in board["results"]] == ["model-1", "model-0"]
    assert board["win_rate"]["model-0"]["model-1"] == 0.0
    assert report["identity_leak_votes"] == 3


def test_the_style_controlled_leaderboard_leaves_leaking_votes_out(researcher_client, arena):
    board = researcher_client.get(
        "/api/v1/projects/arena/leaderboard/", {"style_control": "true"}
    ).json()

    assert board["n_votes"] == 9


def test_a_project_without_leaks_counts_none(researcher_client, researcher):
    project = ProjectFactory(owner=researcher, slug="plain")
    import_items(project, 1)
    picked_judgments(project, {"q0": "ab"})

    report = researcher_client.get("/api/v1/projects/plain/agreement/").json()

    assert report["identity_leak_votes"] == 0


def test_the_openapi_schema_declares_include_identity_leak():
    schema = yaml.safe_load(APIClient().get("/api/schema/").content)
    export = schema["paths"]["/api/v1/projects/{slug}/export/"]["get"]

    names = [parameter["name"] for parameter in export["parameters"]]
    assert "include_identity_leak" in names


# ---------------------------------------------------------------- duplicate votes


@pytest.fixture
def arena_turn(researcher) -> Project:
    """One arena turn as the arena stores it: an item created live, answered by two
    endpoints (the responses' models are the endpoint names), one task."""
    project = ProjectFactory(owner=researcher, slug="turns", annotations_per_task=1)
    items_import(
        project=project,
        rows=[
            (
                1,
                {
                    "id": "turn-1",
                    "prompt": "Write a haiku about rain.",
                    "responses": [
                        {"id": "left", "model": "falcon-west", "text": "Rain on the roof."},
                        {"id": "right", "model": "otter-east", "text": "Drops in puddles."},
                    ],
                },
            )
        ],
    )
    return project


def test_an_arena_vote_posted_twice_is_stored_once(api_client_for, arena_turn):
    client = api_client_for(AnnotatorUserFactory())
    task = client.get("/api/v1/projects/turns/tasks/next/").json()
    url = f"/api/v1/assignments/{task['assignment']}/judgment/"

    first = client.post(url, {"choice": "left"}, format="json")
    again = client.post(url, {"choice": "left"}, format="json")
    changed = client.post(url, {"choice": "right"}, format="json")

    assert first.status_code == 201
    assert 200 <= again.status_code < 300 and again.json()["id"] == first.json()["id"]
    assert changed.status_code == 409
    assert Judgment.objects.filter(project=arena_turn).count() == 1
    # The pair is done for this annotator: no second vote on it through a new lease.
    assert client.get("/api/v1/projects/turns/tasks/next/").status_code == 204


# ---------------------------------------------------------------- through the arena itself


@pytest.fixture
def live_arena(researcher, stub) -> Project:
    """An arena of two endpoints of the local model server (the `stub` fixture, conftest)."""
    project = ProjectFactory(owner=researcher, slug="arena", kind="arena", annotations_per_task=1)
    add_endpoints(project, stub, "model-x", "model-y")
    return project


def test_prompts_from_one_address_are_limited_whoever_sends_them(api_client_for, live_arena):
    live_arena.arena_prompts_per_hour = 1
    live_arena.save()
    first = post(api_client_for(AnnotatorUserFactory()))

    answer = post(api_client_for(AnnotatorUserFactory()), "Another one?")

    assert first.status_code == 201
    assert answer.status_code == 429
    assert answer.json()["code"] == "address_limit"
    assert 3500 <= int(answer["Retry-After"]) <= 3600
    assert answer.json()["retry_after"] == int(answer["Retry-After"])
    assert ArenaTurn.objects.count() == 1


def test_a_live_arena_vote_posted_twice_is_stored_once(annotator_client, live_arena):
    turn = post(annotator_client).json()

    first = vote(annotator_client, turn["assignment"])
    again = vote(annotator_client, turn["assignment"])
    changed = vote(annotator_client, turn["assignment"], "right")

    assert first.status_code == 201
    assert 200 <= again.status_code < 300 and again.json()["id"] == first.json()["id"]
    assert changed.status_code == 409
    assert Judgment.objects.filter(project=live_arena).count() == 1


def test_a_vote_on_a_live_answer_naming_its_model_leaves_the_board_and_the_export(
    annotator_client, researcher_client, live_arena, stub
):
    # The stub's "chatty" model says its name in every answer; model-y steps aside.
    endpoint_create(
        project=live_arena, name="chatty", base_url=stub.base_url, model="chatty", api_key="k"
    )
    ModelEndpoint.objects.filter(name="model-y").update(enabled=False)
    leaking = post(annotator_client, "Who are you?").json()
    vote(annotator_client, leaking["assignment"])
    ModelEndpoint.objects.filter(name="chatty").update(enabled=False)
    ModelEndpoint.objects.filter(name="model-y").update(enabled=True)
    blind = post(annotator_client, "What is rain?").json()
    vote(annotator_client, blind["assignment"])

    board = researcher_client.get("/api/v1/projects/arena/leaderboard/").json()
    report = researcher_client.get("/api/v1/projects/arena/agreement/").json()
    rows = researcher_client.get("/api/v1/projects/arena/export/", {"format": "judgments"})
    exported = [json.loads(line) for line in b"".join(rows.streaming_content).splitlines()]

    assert board["n_votes"] == 1
    assert {row["model"] for row in board["results"]} == {"model-x", "model-y"}
    assert report["identity_leak_votes"] == 1
    assert [{row["a_model"], row["b_model"]} for row in exported] == [{"model-x", "model-y"}]


def test_a_snapshot_keeps_whether_it_took_the_leaking_votes(
    researcher_client, arena, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    snapshots = "/api/v1/projects/arena/snapshots/"
    made = {}
    for include in (False, True):
        with django_capture_on_commit_callbacks(execute=True):
            body = {"format": "judgments", "include_identity_leak": include}
            made[include] = researcher_client.post(snapshots, body, format="json").json()

    shown = {key: researcher_client.get(f"{snapshots}{s['id']}/").json() for key, s in made.items()}

    assert (shown[False]["row_count"], shown[True]["row_count"]) == (9, 12)
    assert shown[False]["query"]["include_identity_leak"] is False
    assert shown[True]["query"]["include_identity_leak"] is True
