"""The arena page (README, Arena): the prompt box and seed prompts, the panes polled while
the models answer with the vote disarmed, the vote and the reveal, the next turn; nothing
names a model before the vote, and no page carries an endpoint's key."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation.models import ArenaTurn, Judgment, ModelEndpoint, Project
from annotation.services.arena import arena_turn_generate
from annotation.services.endpoints import endpoint_create
from annotation.services.researchers import researcher_create
from tests.factories import CriterionFactory, ProjectFactory
from tests.llm_stub import stub_text

pytestmark = pytest.mark.django_db

KEY = "sk-page-71c3e0-never-on-a-page"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def arena(researcher, stub) -> Project:
    project = ProjectFactory(
        owner=researcher,
        slug="live",
        name="Live arena",
        kind=Project.Kind.ARENA,
        seed_prompts=["Write a haiku about tea."],
        arming_ms=0,
    )
    for name in ("model-x", "model-y"):
        endpoint_create(
            project=project, name=name, base_url=stub.base_url, model=f"{name}-anon", api_key=KEY
        )
    return project


@pytest.fixture
def page(annotator_user, arena) -> Client:
    client = Client()
    client.force_login(annotator_user)
    client.post("/annotate/live/consent/")
    return client


def html(response) -> str:
    return response.content.decode()


def buttons_disabled(body: str) -> list[bool]:
    return [
        "disabled" in tag for tag in re.findall(r'<button type="submit" name="choice"[^>]*>', body)
    ]


def test_the_task_page_of_an_arena_is_the_arena(page):
    response = page.get("/annotate/live/task/")

    assert response.status_code == 302 and response["Location"] == "/annotate/live/arena/"


def test_the_arena_offers_a_prompt_box_and_the_seed_prompts(page):
    body = html(page.get("/annotate/live/arena/"))

    assert 'name="prompt"' in body and "Your prompt" in body
    assert 'value="Write a haiku about tea."' in body


def test_while_the_models_answer_the_panes_poll_and_the_vote_is_disarmed(page, published):
    response = page.post("/annotate/live/arena/", {"prompt": "Name a river."}, **HTMX)

    body = html(response)
    turn = ArenaTurn.objects.get()
    assert response.status_code == 200
    assert f'hx-get="/annotate/live/arena/turns/{turn.pk}/"' in body and "every 300ms" in body
    assert buttons_disabled(body) == [True, True, True]  # A, B, tie: none armed
    arena_turn_generate(turn_id=turn.pk)

    ready = html(page.get(f"/annotate/live/arena/turns/{turn.pk}/", **HTMX))
    assert "hx-trigger" not in ready  # complete: the polling stops
    assert buttons_disabled(ready) == [False, False, False]
    texts = [stub_text(f"{name}-anon", "Name a river.") for name in ("model-x", "model-y")]
    assert all(text in ready for text in texts)
    assert "model-x" not in ready.replace("model-x-anon", "")  # no name before the vote


def test_the_vote_reveals_the_models_and_the_conversation_goes_on(page):
    first = html(page.post("/annotate/live/arena/", {"prompt": "Name a river."}, **HTMX))
    turn = ArenaTurn.objects.get()
    served = re.search(r'name="served" value="([^"]+)"', first).group(1)

    voted = page.post(
        f"/annotate/live/arena/turns/{turn.pk}/vote/",
        {"choice": "right", "served": served},
        **HTMX,
    )

    body = html(voted)
    judgment = Judgment.objects.get()
    left, right = judgment.task.response_a.model, judgment.task.response_b.model
    assert f"Response A was written by <strong>{left}</strong>" in body
    assert f"Response B by <strong>{right}</strong>" in body
    assert judgment.choice == "b" and judgment.source == "page"
    assert f'name="battle" value="{turn.battle_id}"' in body
    second = html(
        page.post(
            "/annotate/live/arena/",
            {"prompt": "Why?", "battle": str(turn.battle_id)},
            **HTMX,
        )
    )
    assert "Why?" in second and ArenaTurn.objects.filter(number=2).exists()


def test_a_refused_vote_says_why_and_stores_nothing(page):
    page.post("/annotate/live/arena/", {"prompt": "Name a river."}, **HTMX)
    turn = ArenaTurn.objects.get()

    refused = page.post(f"/annotate/live/arena/turns/{turn.pk}/vote/", {"choice": "up"}, **HTMX)

    assert refused.status_code in (400, 409)
    assert 'role="alert"' in html(refused) and not Judgment.objects.exists()


def test_fewer_than_two_models_is_a_polite_refusal(page, arena):
    ModelEndpoint.objects.filter(name="model-y").update(enabled=False)

    response = page.post("/annotate/live/arena/", {"prompt": "Hello?"}, **HTMX)

    assert response.status_code == 409
    body = html(response)
    assert "try again" in body and "model-x" not in body
    assert "Hello?" in body  # the prompt is kept in its box


def test_a_blocklisted_prompt_is_refused_on_the_page(page, arena):
    arena.prompt_blocklist = ["secret"]
    arena.save()

    response = page.post("/annotate/live/arena/", {"prompt": "Tell me the secret."}, **HTMX)

    assert response.status_code == 400 and not ArenaTurn.objects.exists()
    assert 'role="alert"' in html(response)


def test_no_page_carries_the_api_key(page, arena):
    pages = [page.get("/annotate/live/arena/")]
    pages.append(page.post("/annotate/live/arena/", {"prompt": "Hi"}, **HTMX))
    turn = ArenaTurn.objects.get()
    pages.append(page.get(f"/annotate/live/arena/turns/{turn.pk}/"))
    console = Client()
    researcher = researcher_create(username="console-owner")
    arena.owner = researcher
    arena.save()
    console.force_login(researcher)
    pages.append(console.get(f"/admin/annotation/project/{arena.pk}/change/"))
    for response in pages:
        assert response.status_code == 200
        assert KEY not in html(response)


def test_polling_the_panes_costs_a_fixed_number_of_queries(
    page, published, django_assert_num_queries
):
    for n in range(3):
        page.post("/annotate/live/arena/", {"prompt": f"Question {n}?"}, **HTMX)
    page.post("/annotate/live/arena/", {"prompt": "Name a river."}, **HTMX)
    turn = ArenaTurn.objects.order_by("-id").first()

    # session, user, the page language (annotator's, project's), annotator, project, turn
    with django_assert_num_queries(7):
        response = page.get(f"/annotate/live/arena/turns/{turn.pk}/", **HTMX)
    assert response.status_code == 200 and "every 300ms" in html(response)


def _armed_turn(page) -> tuple[ArenaTurn, str]:
    body = html(page.post("/annotate/live/arena/", {"prompt": "Name a river."}, **HTMX))
    return ArenaTurn.objects.get(), re.search(r'name="served" value="([^"]+)"', body).group(1)


@pytest.fixture
def asking(arena) -> Project:
    """The arena also asks which answer is more honest, how much better, and why."""
    CriterionFactory(
        project=arena, key="honesty", label="Honesty", description="Which one admits doubt?"
    )
    arena.strength_scale = 3
    arena.rationale = "required"
    arena.save()
    return arena


def test_the_vote_asks_the_criteria_the_strength_and_why(page, asking):
    turn, served = _armed_turn(page)
    body = html(page.get(f"/annotate/live/arena/turns/{turn.pk}/", **HTMX))

    assert "<legend>Honesty</legend>" in body and "Which one admits doubt?" in body
    assert body.count('name="criterion-honesty"') == 3  # A, B, same
    assert "How much better?" in body and body.count('name="strength"') == 3
    assert re.search(r'<textarea id="rationale" name="rationale"[^>]* required', body)

    voted = page.post(
        f"/annotate/live/arena/turns/{turn.pk}/vote/",
        {
            "choice": "right",
            "served": served,
            "criterion-honesty": "left",
            "strength": "2",
            "rationale": "B names a real river & its length.",
        },
        **HTMX,
    )

    assert voted.status_code == 200 and "data-reveal" in html(voted)
    judgment = Judgment.objects.get()
    assert (judgment.choice, judgment.strength) == ("b", 2)
    assert judgment.rationale == "B names a real river & its length."
    assert judgment.criteria == {"honesty": "a"}  # the left answer is response a


def test_a_vote_without_the_required_why_or_criterion_says_so_and_stores_nothing(page, asking):
    turn, served = _armed_turn(page)
    vote_url = f"/annotate/live/arena/turns/{turn.pk}/vote/"

    no_why = page.post(
        vote_url,
        {"choice": "left", "served": served, "criterion-honesty": "left", "strength": "1"},
        **HTMX,
    )
    no_criterion = page.post(
        vote_url, {"choice": "left", "served": served, "strength": "1", "rationale": "ok"}, **HTMX
    )

    for refused in (no_why, no_criterion):
        assert refused.status_code == 400
        body = html(refused)
        assert 'role="alert"' in body and "<p>" in body.split('role="alert"')[1]
        assert "data-reveal" not in body and 'name="criterion-honesty"' in body  # asked again
    assert "honesty" in html(no_criterion).split('role="alert"')[1].lower()
    assert not Judgment.objects.exists()


def test_models_that_fail_show_a_plain_message_naming_nobody(page, arena, stub, published):
    """Both endpoints fail on every call: the polled panes say the models could not answer
    and to try again, without an error page, a model name or the failure; the prompt box
    comes back."""
    ModelEndpoint.objects.filter(name="model-x").update(model="failing-x", aliases=["Acme"])
    ModelEndpoint.objects.filter(name="model-y").update(model="failing-y")
    page.post("/annotate/live/arena/", {"prompt": "Name a river."}, **HTMX)
    turn = ArenaTurn.objects.get()
    arena_turn_generate(turn_id=turn.pk)

    polled = page.get(f"/annotate/live/arena/turns/{turn.pk}/", **HTMX)
    whole = page.get("/annotate/live/arena/")

    for response in (polled, whole):
        body = html(response)
        assert response.status_code == 200
        assert "The models could not answer just now." in body
        assert "Please try again in a few minutes" in body and 'name="prompt"' in body
        for secret in ("model-x", "model-y", "failing", "Acme", "500", "Traceback", KEY):
            assert secret not in body, secret
        assert buttons_disabled(body) == []  # nothing to vote on
    assert ArenaTurn.objects.get().status == ArenaTurn.Status.FAILED
