"""Arena generation runs (services.arena): a revived turn's earlier run writes nothing."""

from __future__ import annotations

import pytest

from annotation.models import ArenaTurn, Item, Project
from annotation.services import arena
from annotation.services.endpoints import endpoint_create
from tests.factories import ProjectFactory, make_annotator
from tests.llm_stub import llm_stub

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
