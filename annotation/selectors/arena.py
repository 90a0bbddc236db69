"""Reads of the arena (README, Arena): an annotator's own turns, as the API and the page
show them. Model names appear only in `reveal`, after the vote, when the project reveals."""

from __future__ import annotations

from typing import Any

from annotation.models import Annotator, ArenaTurn, Judgment, Project


def arena_turn_of(*, project: Project, annotator: Annotator, turn_id: int) -> ArenaTurn | None:
    """The turn, if it is this annotator's in this project (anyone else's is not found)."""
    return (
        ArenaTurn.objects.select_related("battle", "assignment")
        .filter(pk=turn_id, battle__project=project, battle__annotator=annotator)
        .first()
    )


def arena_turn_latest(*, project: Project, annotator: Annotator) -> ArenaTurn | None:
    """The annotator's newest turn in the project: the page resumes it."""
    return (
        ArenaTurn.objects.select_related("battle", "assignment")
        .filter(battle__project=project, battle__annotator=annotator)
        .order_by("-id")
        .first()
    )


def arena_turn_judgment(turn: ArenaTurn) -> Judgment | None:
    if turn.assignment_id is None:
        return None
    return Judgment.objects.filter(assignment_id=turn.assignment_id).first()


def arena_turn_payload(
    *, turn: ArenaTurn, reveal: dict[str, str] | None = None, poll: str | None = None
) -> dict[str, Any]:
    """What the API answers about a turn: its battle and number, the assignment to vote on
    once both answers are complete, each answer as far as it came, and `reveal` after the
    vote."""
    payload: dict[str, Any] = {
        "battle": turn.battle_id,
        "turn": turn.number,
        "status": turn.status,
        "assignment": turn.assignment_id,
        "prompt": turn.prompt,
        "left": {"text": turn.left_text, "done": turn.left_done},
        "right": {"text": turn.right_text, "done": turn.right_done},
    }
    if poll is not None:
        payload["poll"] = poll
    if reveal is not None:
        payload["reveal"] = reveal
    return payload
