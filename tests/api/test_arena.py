"""The arena over the API (README, Arena): a prompt, two blind answers from live endpoints,
the vote through the judgment endpoint with the reveal, more turns with the same models; a
failing endpoint is replaced without the annotator knowing; the API key shows nowhere."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import (
    ArenaTurn,
    Assignment,
    Judgment,
    ModelEndpoint,
    Project,
    Response,
    Task,
)
from annotation.services import arena as arena_service
from annotation.services.annotators import annotator_for_user
from annotation.services.arena import arena_turn_generate
from annotation.services.assignment import assignment_lease
from annotation.services.endpoints import endpoint_create
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute
from tests.factories import AnnotatorUserFactory, ProjectFactory, ResearcherFactory, import_items
from tests.llm_stub import llm_stub, stub_text

pytestmark = pytest.mark.django_db

KEY = "sk-arena-5d1f09aa7c-never-shown"
ARENA = "/api/v1/projects/arena/arena/"


@pytest.fixture
def stub(settings):
    settings.ARENA_ALLOW_PRIVATE = True
    settings.ARENA_EAGER_THREAD = False  # generate within the request: the test sees it
    settings.ENDPOINT_READ_TIMEOUT_SECONDS = 10.0
    with llm_stub() as server:
        yield server


def add_endpoints(project: Project, stub, *names: str) -> None:
    """Endpoints of the stub whose answers do not name their model (see answer_of)."""
    for name in names:
        endpoint_create(
            project=project, name=name, base_url=stub.base_url, model=f"{name}-anon", api_key=KEY
        )


def answer_of(name: str, prompt: str) -> str:
    return stub_text(f"{name}-anon", prompt)


@pytest.fixture
def arena(researcher, stub) -> Project:
    project = ProjectFactory(
        owner=researcher, slug="arena", kind=Project.Kind.ARENA, annotations_per_task=1
    )
    add_endpoints(project, stub, "model-x", "model-y")
    return project


def text_of(answer) -> str:
    if answer.streaming:
        return b"".join(answer.streaming_content).decode()
    return answer.content.decode()


def post(client, prompt="What is a prime number?", **extra):
    return client.post(ARENA, {"prompt": prompt, **extra}, format="json")


def vote(client, assignment: int, choice: str = "left"):
    return client.post(
        f"/api/v1/assignments/{assignment}/judgment/", {"choice": choice}, format="json"
    )


def test_a_prompt_gets_two_blind_answers_and_the_vote_reveals_the_models(annotator_client, arena):
    answer = post(annotator_client)

    assert answer.status_code == 201, answer.content
    body = answer.json()
    texts = {body["left"]["text"], body["right"]["text"]}
    assert texts == {
        answer_of("model-x", "What is a prime number?"),
        answer_of("model-y", "What is a prime number?"),
    }
    assert body["left"]["done"] and body["right"]["done"] and body["turn"] == 1
    assert set(body) == {"battle", "turn", "status", "assignment", "prompt", "left", "right"}
    voted = vote(annotator_client, body["assignment"])
    assert voted.status_code == 201, voted.content
    reveal = voted.json()["reveal"]
    writer = {answer_of(name, "What is a prime number?"): name for name in ("model-x", "model-y")}
    assert reveal == {"left": writer[body["left"]["text"]], "right": writer[body["right"]["text"]]}
    judgment = Judgment.objects.get()
    assert judgment.task.response_a.model == reveal["left"]  # the left answer won
    assert judgment.choice == "a" and judgment.source == "api"


def test_the_vote_hides_the_models_when_the_project_does_not_reveal(annotator_client, arena):
    arena.reveal_after_vote = False
    arena.save()
    body = post(annotator_client).json()

    voted = vote(annotator_client, body["assignment"], "right")

    assert voted.status_code == 201 and "reveal" not in voted.json()


def test_a_turn_is_an_ordinary_item_with_responses_task_and_a_lease_for_its_author(
    annotator_client, annotator_user, arena
):
    body = post(annotator_client, "Name a colour.").json()

    task = Task.objects.select_related("item", "response_a", "response_b").get()
    assert task.item.prompt == [{"role": "user", "content": "Name a colour."}]
    assert {task.response_a.model, task.response_b.model} == {"model-x", "model-y"}
    assert task.response_a.style["tokens"] == len(task.response_a.text.split())
    assignment = Assignment.objects.get()
    assert assignment.pk == body["assignment"]
    assert assignment.annotator.user == annotator_user
    assert assignment.left_response_id == task.response_a_id


def test_while_the_models_answer_the_post_is_202_and_the_poll_202_then_200(
    annotator_client, arena, published
):
    answer = post(annotator_client)

    assert answer.status_code == 202
    poll = answer.json()["poll"]
    turn = ArenaTurn.objects.get()
    assert poll.endswith(f"/api/v1/projects/arena/arena/turns/{turn.pk}/")
    assert [call["task"] for call in published] == ["annotation.tasks.arena_turn_generate"]
    assert annotator_client.get(poll).status_code == 202

    arena_turn_generate(turn_id=published[0]["args"][0])

    ready = annotator_client.get(poll)
    assert ready.status_code == 200
    assert ready.json()["assignment"] == Assignment.objects.get().pk
    assert ready.json()["left"]["done"] is True


def test_someone_elses_turn_cannot_be_polled(annotator_client, api_client_for, arena, published):
    poll = post(annotator_client).json()["poll"]

    other = api_client_for(AnnotatorUserFactory())
    assert other.get(poll).status_code == 404


def test_the_conversation_goes_on_with_the_same_models_on_the_same_sides(annotator_client, arena):
    first = post(annotator_client, "Name a fruit.").json()
    assert vote(annotator_client, first["assignment"], "right").status_code == 201

    second = post(annotator_client, "Why that one?", battle=first["battle"])

    assert second.status_code == 201, second.content
    body = second.json()
    assert (body["battle"], body["turn"]) == (first["battle"], 2)
    item = ArenaTurn.objects.get(battle=first["battle"], number=2).item
    assert item.prompt == [
        {"role": "user", "content": "Name a fruit."},
        {"role": "assistant", "content": first["right"]["text"]},  # the preferred answer
        {"role": "user", "content": "Why that one?"},
    ]
    reveal_first = Judgment.objects.get().task
    second_task = Task.objects.get(item=item)
    assert second_task.response_a.model == reveal_first.response_a.model  # left stays left
    assert second_task.response_b.model == reveal_first.response_b.model
    assert vote(annotator_client, body["assignment"]).json()["reveal"]["left"] == (
        reveal_first.response_a.model
    )


def test_a_conversation_goes_on_only_after_the_vote(annotator_client, arena):
    first = post(annotator_client).json()

    refused = post(annotator_client, "And then?", battle=first["battle"])

    assert refused.status_code == 409
    assert "Vote" in refused.json()["detail"]


def test_another_annotators_battle_cannot_be_continued(annotator_client, api_client_for, arena):
    first = post(annotator_client).json()
    vote(annotator_client, first["assignment"])

    other = api_client_for(AnnotatorUserFactory())
    assert post(other, "Mine now?", battle=first["battle"]).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 10_001}, "prompt"),
        ({}, "prompt"),
        ({"prompt": ["Hi"]}, "prompt"),
        ({"prompt": "Hi", "battle": "first"}, "battle"),
        ({"prompt": "Hi", "model": "model-x"}, "model"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_starts_nothing(
    annotator_client, arena, body, field
):
    answer = annotator_client.post(ARENA, body, format="json")

    assert answer.status_code == 400
    assert field in answer.content.decode()
    assert not ArenaTurn.objects.exists()


def test_a_pairwise_project_has_no_arena(annotator_client, pairwise):
    answer = annotator_client.post("/api/v1/projects/pairs/arena/", {"prompt": "Hi"}, format="json")

    assert answer.status_code == 400 and "not an arena" in answer.json()["detail"]


def test_fewer_than_two_healthy_endpoints_is_a_polite_409(annotator_client, arena):
    ModelEndpoint.objects.filter(name="model-y").update(enabled=False)

    answer = post(annotator_client)

    assert answer.status_code == 409
    assert "try again" in answer.json()["detail"]
    assert "model-x" not in answer.content.decode()
    assert not ArenaTurn.objects.exists()


def test_a_researcher_of_another_project_cannot_use_this_arena(api_client_for, arena):
    answer = post(api_client_for(ResearcherFactory()))

    assert answer.status_code == 403


@pytest.mark.django_db(transaction=True)
def test_a_failing_endpoint_is_replaced_and_nobody_sees_an_error_or_the_key(
    api_client_for, stub, caplog, monkeypatch
):
    project = ProjectFactory(slug="arena", kind=Project.Kind.ARENA)
    add_endpoints(project, stub, "failing-model", "model-x", "model-y")
    monkeypatch.setattr(
        arena_service, "sampling_models_pick", lambda **_: ("failing-model", "model-x")
    )
    client = api_client_for(AnnotatorUserFactory())

    answer = post(client, "Question?")

    assert answer.status_code == 201, answer.content
    assert "failing" not in answer.content.decode()
    assert answer.json()["left"]["text"] == answer_of("model-y", "Question?")
    task = Task.objects.select_related("response_a", "response_b").get()
    assert (task.response_a.model, task.response_b.model) == ("model-y", "model-x")
    assert ArenaTurn.objects.get().battle.left_endpoint.name == "model-y"  # for later turns
    assert ModelEndpoint.objects.get(name="failing-model").unhealthy_until is not None
    assert "failing-model" in caplog.text and "replaced by model-y" in caplog.text
    assert KEY not in caplog.text
    sent = [r.headers.get("Authorization") for r in stub.requests]
    assert sent and set(sent) == {f"Bearer {KEY}"}  # the key went to the models only


@pytest.mark.django_db(transaction=True)
def test_a_failing_endpoint_is_replaced_by_the_projects_sampling_rule(
    api_client_for, stub, monkeypatch
):
    """Actively sampled: model-0 has many votes against model-1, -2 and -3 and none against
    model-new, so a failing left side facing model-0 is replaced by model-new every time
    (a uniform draw would take it one time in four)."""
    project = ProjectFactory(
        slug="arena", kind=Project.Kind.ARENA, sampling="active", explore_share=0.0
    )
    import_items(project, 6, responses=4)
    rows = [
        {"annotator": f"h{n}", "item": f"q{i}", "a": "r1", "b": other, "choice": choice}
        for i in range(6)
        for other in ("r2", "r3", "r4")
        for n, choice in enumerate("aab")
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))
    add_endpoints(project, stub, "failing-model", "model-0", "model-1", "model-2", "model-3")
    add_endpoints(project, stub, "model-new")
    monkeypatch.setattr(
        arena_service, "sampling_models_pick", lambda **_: ("failing-model", "model-0")
    )
    for n in range(3):
        ModelEndpoint.objects.filter(name="failing-model").update(unhealthy_until=None)
        answer = post(api_client_for(AnnotatorUserFactory()), f"Question {n}?")
        assert answer.status_code == 201, answer.content
        body = answer.json()
        assert body["left"]["text"] == answer_of("model-new", f"Question {n}?"), body


@pytest.mark.django_db(transaction=True)
def test_a_battle_whose_model_fails_on_every_draw_ends_politely(api_client_for, stub, caplog):
    project = ProjectFactory(slug="arena", kind=Project.Kind.ARENA)
    add_endpoints(project, stub, "failing-one", "failing-two")
    client = api_client_for(AnnotatorUserFactory())

    answer = post(client)

    assert answer.status_code == 409
    assert "failing" not in answer.content.decode()
    assert ArenaTurn.objects.get().status == ArenaTurn.Status.FAILED
    assert "failing-one" in caplog.text and KEY not in caplog.text


def test_the_queue_never_serves_an_arena_task_to_anyone_else(annotator_client, arena):
    body = post(annotator_client).json()
    other = annotator_for_user(user=AnnotatorUserFactory())

    assert assignment_lease(project=arena, annotator=other) is None
    assert (
        annotator_client.get("/api/v1/projects/arena/tasks/next/").json()["assignment"]
        == (body["assignment"])
    )  # the author's own open vote
    vote(annotator_client, body["assignment"])
    assert annotator_client.get("/api/v1/projects/arena/tasks/next/").status_code == 204


def test_arena_votes_are_in_the_dpo_export_and_the_leaderboard(
    annotator_client, researcher_client, arena
):
    for n in range(4):
        body = post(annotator_client, f"Question {n}?").json()
        vote(annotator_client, body["assignment"], "left" if n % 2 else "right")
    report_compute(project=arena)

    export = researcher_client.get("/api/v1/projects/arena/export/?format=dpo")
    assert export.status_code == 200
    content = text_of(export)
    rows = [json.loads(line) for line in content.splitlines() if line.strip()]
    assert len(rows) == 4
    assert {row["chosen_model"] for row in rows} <= {"model-x", "model-y"}
    assert KEY not in content
    board = researcher_client.get("/api/v1/projects/arena/leaderboard/")
    assert board.status_code == 200, board.content
    assert {row["model"] for row in board.json()["results"]} == {"model-x", "model-y"}
    assert KEY not in board.content.decode()


def test_the_api_key_is_in_no_answer(annotator_client, researcher_client, arena):
    body = post(annotator_client).json()
    answers = [
        post(annotator_client, "Again?"),
        vote(annotator_client, body["assignment"]),
        researcher_client.get("/api/v1/projects/arena/"),
        researcher_client.get("/api/v1/projects/arena/endpoints/"),
        researcher_client.get("/api/v1/projects/arena/export/?format=judgments"),
        researcher_client.get("/api/v1/projects/arena/items/"),
    ]
    for answer in answers:
        assert answer.status_code < 300
        assert KEY not in text_of(answer)


def test_an_answer_that_names_its_model_is_flagged(annotator_client, arena, stub):
    endpoint_create(
        project=arena, name="chatty", base_url=stub.base_url, model="chatty", api_key=KEY
    )
    ModelEndpoint.objects.filter(name="model-y").update(enabled=False)

    post(annotator_client, "Who are you?")

    flags = dict(Response.objects.values_list("model", "identity_leak"))
    assert flags == {"chatty": True, "model-x": False}  # "chatty answers ..." gives it away


def test_a_blocklisted_prompt_is_refused_plainly_and_asks_no_model(annotator_client, arena, stub):
    arena.prompt_blocklist = ["forbidden"]
    arena.save()

    answer = post(annotator_client, "Tell me the forbidden thing.")

    assert answer.status_code == 400
    assert answer.json()["code"] == "blocked"
    assert not ArenaTurn.objects.exists() and stub.requests == []


def test_the_hourly_prompt_limit_holds(annotator_client, arena):
    arena.arena_prompts_per_hour = 1
    arena.save()
    assert post(annotator_client).status_code == 201

    answer = post(annotator_client, "Another?")

    assert answer.status_code == 429
    assert ArenaTurn.objects.count() == 1


def test_a_stalled_turn_is_queued_again_by_the_poll(annotator_client, arena, published):
    poll = post(annotator_client).json()["poll"]
    turn = ArenaTurn.objects.get()
    # The worker (or, without a broker, the web process) went away mid-answer.
    ArenaTurn.objects.filter(pk=turn.pk).update(
        status=ArenaTurn.Status.GENERATING,
        left_text="half an ans",
        updated_at=timezone.now() - timedelta(minutes=5),
    )

    assert annotator_client.get(poll).status_code == 202
    assert [call["args"] for call in published] == [[turn.pk], [turn.pk]]  # queued again
    turn.refresh_from_db()
    assert (turn.status, turn.left_text) == (ArenaTurn.Status.PENDING, "")
    arena_turn_generate(turn_id=turn.pk)
    assert annotator_client.get(poll).status_code == 200


def test_a_live_turn_is_not_queued_again(annotator_client, arena, published):
    poll = post(annotator_client).json()["poll"]

    for _ in range(3):
        annotator_client.get(poll)

    assert len(published) == 1


def test_polling_a_turn_costs_a_fixed_number_of_queries(
    annotator_client, arena, published, django_assert_num_queries
):
    for n in range(3):  # other battles and turns do not add queries
        post(annotator_client, f"Question {n}?")
    poll = post(annotator_client).json()["poll"]

    with django_assert_num_queries(2):  # the project, the turn (the client is signed in)
        assert annotator_client.get(poll).status_code == 202


def test_a_snapshot_of_arena_votes_builds_with_its_card(
    annotator_client,
    researcher_client,
    arena,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    settings.MEDIA_ROOT = tmp_path / "media"
    for n in range(2):
        body = post(annotator_client, f"Question {n}?").json()
        vote(annotator_client, body["assignment"])

    with django_capture_on_commit_callbacks(execute=True):
        created = researcher_client.post(
            "/api/v1/projects/arena/snapshots/", {"format": "dpo"}, format="json"
        )
    assert created.status_code == 202, created.content
    snapshot = researcher_client.get(f"/api/v1/projects/arena/snapshots/{created.json()['id']}/")

    assert snapshot.json()["status"] == "ready" and snapshot.json()["row_count"] == 2
    card = snapshot.json()["card"]
    assert "Arena: each annotator wrote a prompt" in card
    assert KEY not in card


def test_no_answer_to_the_annotator_names_a_model_before_the_vote(annotator_client, arena, stub):
    """Every route an annotator's token reaches, while a vote is open: the arena answer,
    its poll, the next task, a renewal, refused votes, the project, progress, and the
    researcher-only routes (refused) name no model, endpoint or vendor."""
    ModelEndpoint.objects.filter(name="model-x").update(aliases=["Acme Labs"])
    body = post(annotator_client).json()
    assignment, turn = body["assignment"], body["turn"]
    slug = "/api/v1/projects/arena"
    answers = {
        "arena": body,
        "poll": annotator_client.get(f"{slug}/arena/turns/{ArenaTurn.objects.get().pk}/"),
        "next": annotator_client.get(f"{slug}/tasks/next/"),
        "renew": annotator_client.post(f"/api/v1/assignments/{assignment}/renew/"),
        "bad vote": vote(annotator_client, assignment, "up"),
        "bad strength": annotator_client.post(
            f"/api/v1/assignments/{assignment}/judgment/",
            {"choice": "left", "strength": 99},
            format="json",
        ),
        "project": annotator_client.get(f"{slug}/"),
        "progress": annotator_client.get(f"{slug}/progress/"),
        "items": annotator_client.get(f"{slug}/items/"),
        "endpoints": annotator_client.get(f"{slug}/endpoints/"),
        "judgments": annotator_client.get(f"{slug}/judgments/"),
        "leaderboard": annotator_client.get(f"{slug}/leaderboard/"),
        "export": annotator_client.get(f"{slug}/export/", {"format": "dpo"}),
        "continue too early": post(annotator_client, "More?", battle=body["battle"]),
    }
    assert turn == 1 and not Judgment.objects.exists()
    for route, answer in answers.items():
        text = json.dumps(answer) if isinstance(answer, dict) else text_of(answer)
        for name in ("model-x", "model-y", "Acme"):
            assert name not in text, (route, text[:300])
        assert KEY not in text
