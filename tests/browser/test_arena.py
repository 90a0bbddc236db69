"""The arena in a real browser (README, Arena): an annotator writes a prompt (keyboard) or
picks a seed prompt (mouse), watches both answers stream in with the vote disarmed, votes once
both are complete, sees the models revealed, and goes on for a second turn with the same two
models; at 390 and 1440 px, axe-clean, no model name before the vote and no API key anywhere.
Screenshots go to artifacts/screenshots/arena-*.png."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from annotation.models import ArenaTurn, Judgment, Project
from annotation.services.endpoints import endpoint_create
from annotation.services.reports import report_compute
from tests.browser.cards import record_sources, serious_axe_violations, sign_in
from tests.factories import AnnotatorUserFactory, ProjectFactory
from tests.llm_stub import llm_stub

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

KEY = "sk-browser-3e9a51-never-in-a-page"
SEED = "Explain in one short paragraph why the sky looks blue at noon."
MODELS = ("falcon-east", "heron-west")


@pytest.fixture
def stub(settings):
    settings.ARENA_ALLOW_PRIVATE = True
    settings.ARENA_EAGER_THREAD = True  # no broker: the answers come from a background thread
    with llm_stub(drip_seconds=0.5) as server:  # `drip` models stream a word every 0.5 s
        yield server


def _arena(stub) -> Project:
    project = ProjectFactory(
        slug="live",
        name="Live arena",
        kind=Project.Kind.ARENA,
        seed_prompts=[SEED, "Write a limerick about a cat who codes."],
    )
    for name in MODELS:
        endpoint_create(
            project=project,
            name=name,
            base_url=stub.base_url,
            model=f"drip-anon-{name}",
            api_key=KEY,
        )
    return project


def _pane(page, side: str) -> str:
    return page.inner_text(f"[data-pane={side}]").strip()


def _watch_the_answers_stream_in(page, screenshot, name: str) -> dict[str, str]:
    """Wait for words in a pane while the turn is still being written: the vote is disarmed
    then; answers what the panes showed."""
    page.wait_for_function(
        "() => { const s = document.querySelector('.arena-turn');"
        " const l = document.querySelector('[data-pane=left]');"
        " const r = document.querySelector('[data-pane=right]');"
        " return s && s.dataset.status !== 'ready'"
        " && (l.textContent.trim().length > 0 || r.textContent.trim().length > 0); }",
        timeout=30_000,  # a loaded machine: the first words may take a while
    )
    partial = {side: _pane(page, side) for side in ("left", "right")}
    for choice in ("left", "right", "tie"):
        assert page.is_disabled(f"button[name=choice][value={choice}]")
    assert "every" in (page.get_attribute("#arena-body", "hx-trigger") or "")
    screenshot(page, name)
    return partial


def _wait_ready(page) -> None:
    page.wait_for_selector(".arena-turn[data-status=ready]", timeout=30_000)
    page.wait_for_function(
        "() => !document.querySelector('button[name=choice][value=left]').disabled"
    )
    page.wait_for_timeout(450)  # the project's arming_ms (400) after the answers came


def _assert_blind_and_keyless(page, sources: list[str]) -> None:
    assert KEY not in page.content()
    assert all(KEY not in source for source in sources)


@pytest.mark.parametrize("width", [390, 1440])
def test_an_arena_conversation_by_keyboard(live_server, page, screenshot, stub, width):
    project = _arena(stub)
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    sources = record_sources(page)
    AnnotatorUserFactory(username="writer")
    sign_in(page, live_server.url, "writer")
    page.goto(f"{live_server.url}/annotate/live/")
    page.click("form[action$='/consent/'] button[type=submit]")
    page.wait_for_selector("#prompt")
    assert serious_axe_violations(page) == []
    screenshot(page, f"arena-prompt-{width}")

    page.focus("#prompt")
    page.keyboard.type("Why is the sea salty? Answer in a few plain words for a child.")
    page.keyboard.press("Tab")  # to Send
    page.keyboard.press("Enter")
    partial = _watch_the_answers_stream_in(page, screenshot, f"arena-streaming-{width}")
    for side in ("left", "right"):
        assert not any(name in partial[side] for name in MODELS)
    _wait_ready(page)
    final = {side: _pane(page, side) for side in ("left", "right")}
    assert any(len(partial[s]) < len(final[s]) for s in final)  # seen before it was complete
    assert all(final[s].startswith(partial[s]) for s in final)
    assert not any(name in page.content() for name in MODELS)  # blind until the vote
    assert serious_axe_violations(page) == []
    screenshot(page, f"arena-ready-{width}")

    page.focus("button[name=choice][value=left]")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-reveal]")
    turn = ArenaTurn.objects.select_related("item").get()
    judgment = Judgment.objects.get(task__item=turn.item)
    left, right = judgment.task.response_a.model, judgment.task.response_b.model
    assert {left, right} == set(MODELS)
    assert page.inner_text("[data-reveal]") == (
        f"Response A was written by {left}, Response B by {right}."
    )
    assert judgment.choice == "a"
    assert serious_axe_violations(page) == []
    screenshot(page, f"arena-reveal-{width}")

    page.focus("#prompt")  # go on with the same two models
    page.keyboard.type("And why is it not sweet?")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    _watch_the_answers_stream_in(page, screenshot, f"arena-turn2-streaming-{width}")
    _wait_ready(page)
    page.focus("button[name=choice][value=right]")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-reveal]")
    assert page.inner_text("[data-reveal]") == (
        f"Response A was written by {left}, Response B by {right}."  # same models, same sides
    )
    second = ArenaTurn.objects.select_related("item").get(number=2)
    assert [m["role"] for m in second.item.prompt] == ["user", "assistant", "user"]
    assert second.item.prompt[1]["content"] == final["left"]  # the answer preferred
    assert Judgment.objects.count() == 2
    screenshot(page, f"arena-turn2-reveal-{width}")
    _assert_blind_and_keyless(page, sources)
    _assert_in_the_dpo_export_and_the_leaderboard(project, chosen=[final["left"], None])


def _assert_in_the_dpo_export_and_the_leaderboard(project: Project, chosen: list) -> None:
    """Both turns' votes are rows of the researcher's dpo export (in turn order; `chosen`
    the text each row must choose, None for any) and count in the leaderboard."""
    researcher = APIClient()
    researcher.force_authenticate(project.owner)
    export = researcher.get(f"/api/v1/projects/{project.slug}/export/", {"format": "dpo"})
    assert export.status_code == 200
    content = b"".join(export.streaming_content).decode()
    rows = [json.loads(line) for line in content.splitlines() if line.strip()]
    assert len(rows) == 2 and KEY not in content
    assert {row["chosen_model"] for row in rows} <= set(MODELS)
    for row, text in zip(sorted(rows, key=lambda r: r["pair_id"]), chosen, strict=True):
        completion = row["chosen"]  # conversational: the assistant's message
        assert completion == [{"role": "assistant", "content": completion[0]["content"]}]
        assert text is None or completion[0]["content"].strip() == text
    report_compute(project=project)
    board = researcher.get(f"/api/v1/projects/{project.slug}/leaderboard/")
    assert board.status_code == 200, board.content
    assert {row["model"] for row in board.json()["results"]} == set(MODELS)


@pytest.mark.parametrize("width", [390, 1440])
def test_an_arena_vote_with_the_mouse_on_a_seed_prompt(live_server, page, screenshot, stub, width):
    _arena(stub)
    page.set_viewport_size({"width": width, "height": 844 if width == 390 else 900})
    sources = record_sources(page)
    AnnotatorUserFactory(username="clicker")
    sign_in(page, live_server.url, "clicker")
    page.goto(f"{live_server.url}/annotate/live/")
    page.click("form[action$='/consent/'] button[type=submit]")

    page.click(f"button[name=prompt][value='{SEED}']")
    _watch_the_answers_stream_in(page, screenshot, f"arena-seed-streaming-{width}")
    _wait_ready(page)
    page.click("button[name=choice][value=tie]")
    page.wait_for_selector("[data-reveal]")

    judgment = Judgment.objects.get()
    assert judgment.choice == "tie" and judgment.task.item.prompt[0]["content"] == SEED
    assert "Tie" in page.inner_text(".reveal")
    assert serious_axe_violations(page) == []
    screenshot(page, f"arena-seed-reveal-{width}")
    page.click("a.new-conversation")
    page.wait_for_selector("button[name=prompt]")  # a fresh box with the seed prompts again
    _assert_blind_and_keyless(page, sources)
