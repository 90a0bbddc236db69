"""Arena generation runs (services.arena): a revived turn's earlier run writes nothing."""

from __future__ import annotations

import time

import pytest

from annotation.errors import EndpointFailed
from annotation.models import ArenaTurn, Item, ModelEndpoint, Project, Response
from annotation.services import arena
from annotation.services.endpoints import endpoint_create
from tests.factories import ProjectFactory, make_annotator
from tests.llm_stub import llm_stub, stub_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def stub(settings):
    settings.ARENA_ALLOW_PRIVATE = True
    with llm_stub() as server:
        yield server


def test_a_run_superseded_by_a_revival_writes_nothing(stub, published):
    project = ProjectFactory(kind=Project.Kind.ARENA)
    for name in ("model-x", "model-y"):
        endpoint_create(project=project, name=name, base_url=stub.base_url, model=f"{name}-anon")
    turn = arena.arena_turn_start(
        project=project, annotator=make_annotator(), prompt="Hello?", address="203.0.113.9"
    )
    first = arena._claim(turn.pk)
    ArenaTurn.objects.filter(pk=turn.pk).update(status=ArenaTurn.Status.PENDING)  # revived

    arena.arena_turn_generate(turn_id=turn.pk)  # the second run answers it
    with pytest.raises(arena._Superseded):
        arena._generate(turn.pk, first)  # the first run wakes up late

    turn.refresh_from_db()
    assert (turn.status, turn.attempt) == (ArenaTurn.Status.READY, 2)
    assert Item.objects.count() == 1


@pytest.fixture
def three_models(stub, monkeypatch) -> Project:
    """An arena of model-x, model-y and model-z whose battles pit model-x (left) against
    model-y (right)."""
    project = ProjectFactory(kind=Project.Kind.ARENA, arena_prompts_per_hour=1000)
    for name in ("model-x", "model-y", "model-z"):
        endpoint_create(project=project, name=name, base_url=stub.base_url, model=f"{name}-anon")
    monkeypatch.setattr(arena, "sampling_models_pick", lambda **_: ("model-x", "model-y"))
    return project


def _answer_slowly(monkeypatch, name: str, seconds: float, *, fails: bool) -> None:
    """`name`'s answers take `seconds`, then fail (as endpoint_chat does after its retry)
    or go on as the stub answers; the others answer at once."""
    answer = arena._answer_stream

    def slowly(endpoint, messages, parts):
        if endpoint.name == name:
            time.sleep(seconds)
            if fails:
                raise EndpointFailed(f"Model endpoint '{name}' failed: HTTP 500")
        return answer(endpoint, messages, parts)

    monkeypatch.setattr(arena, "_answer_stream", slowly)


def test_a_side_failing_after_the_other_finished_is_replaced_every_time(
    three_models, monkeypatch, published
):
    """The right answer is complete while the left one is still failing: the failure is
    always seen and the side replaced, never taken for an empty complete answer."""
    _answer_slowly(monkeypatch, "model-x", 0.05, fails=True)
    for n in range(10):
        ModelEndpoint.objects.update(unhealthy_until=None)
        turn = arena.arena_turn_start(
            project=three_models, annotator=make_annotator(), prompt=f"Q{n}?", address="10.0.0.1"
        )
        arena.arena_turn_generate(turn_id=turn.pk)
        turn.refresh_from_db()
        assert turn.status == ArenaTurn.Status.READY
        assert turn.left_text == stub_text("model-z-anon", f"Q{n}?"), n
    assert not Response.objects.filter(model="model-x").exists()


def test_waiting_for_the_slower_answer_does_not_spin(three_models, monkeypatch, published):
    """Once one answer is complete the run waits for the other FLUSH_SECONDS at a time
    (it used to loop without waiting, a CPU busy for the length of the slower answer)."""
    _answer_slowly(monkeypatch, "model-x", 0.6, fails=False)
    waits = []
    real_wait = arena.wait
    monkeypatch.setattr(arena, "wait", lambda *a, **k: waits.append(1) or real_wait(*a, **k))
    turn = arena.arena_turn_start(
        project=three_models, annotator=make_annotator(), prompt="Hi?", address="10.0.0.1"
    )

    arena.arena_turn_generate(turn_id=turn.pk)

    turn.refresh_from_db()
    assert turn.status == ArenaTurn.Status.READY
    assert turn.left_text == stub_text("model-x-anon", "Hi?")
    assert len(waits) <= 0.6 / arena.FLUSH_SECONDS + 4
