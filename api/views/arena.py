"""The arena for custom front ends (README, Arena): post a prompt, poll the turn until both
answers are complete, then vote with the ordinary judgment endpoint."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.errors import ArenaUnavailable, NotFound
from annotation.models import ArenaTurn
from annotation.selectors.arena import arena_turn_judgment, arena_turn_of, arena_turn_payload
from annotation.services.annotators import annotator_for_user
from annotation.services.arena import (
    arena_reveal,
    arena_turn_revive_if_stalled,
    arena_turn_start,
)
from api.serializers import ArenaPromptInSerializer, ArenaTurnOutSerializer
from api.strict import StrictAPIView
from api.views.annotating import _project
from config.client_ip import client_address


def _turn_answer(request: Request, turn: ArenaTurn, *, created: bool = False) -> Response:
    """200 (201 for a new turn) with the turn once both answers are complete, 202 with the
    poll URL until then; a turn no two models could answer is a 409."""
    if turn.status == ArenaTurn.Status.FAILED:
        raise ArenaUnavailable()
    if turn.status != ArenaTurn.Status.READY:
        poll = request.build_absolute_uri(
            reverse("api:arena-turn", kwargs={"slug": turn.battle.project.slug, "turn_id": turn.pk})
        )
        return Response(arena_turn_payload(turn=turn, poll=poll), status=status.HTTP_202_ACCEPTED)
    judgment = arena_turn_judgment(turn)
    reveal = arena_reveal(judgment=judgment) if judgment is not None else None
    return Response(
        arena_turn_payload(turn=turn, reveal=reveal),
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


class ArenaView(StrictAPIView):
    """POST a prompt (annotator token): two models answer it; `battle` continues a
    conversation whose last answers were voted on."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=ArenaPromptInSerializer,
        responses={
            201: ArenaTurnOutSerializer,
            202: OpenApiResponse(
                ArenaTurnOutSerializer, description="Still answering: GET `poll`."
            ),
            409: OpenApiResponse(description="Fewer than two models available."),
        },
    )
    def post(self, request: Request, slug: str) -> Response:
        project = _project(slug)
        given = ArenaPromptInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        turn = arena_turn_start(
            project=project,
            annotator=annotator_for_user(user=request.user),
            prompt=given.validated_data["prompt"],
            address=client_address(request),
            battle_id=given.validated_data.get("battle"),
        )
        turn.battle.project = project
        return _turn_answer(request, turn, created=True)


class ArenaTurnView(StrictAPIView):
    """GET one of your turns: 202 while the models answer (with the text so far), then 200."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={
            200: ArenaTurnOutSerializer,
            202: OpenApiResponse(ArenaTurnOutSerializer, description="Still answering."),
            409: OpenApiResponse(description="No two models could answer."),
        },
    )
    def get(self, request: Request, slug: str, turn_id: int) -> Response:
        project = _project(slug)
        turn = arena_turn_of(
            project=project, annotator=annotator_for_user(user=request.user), turn_id=turn_id
        )
        if turn is None:
            raise NotFound("No such arena turn.")
        turn = arena_turn_revive_if_stalled(turn=turn)
        turn.battle.project = project
        return _turn_answer(request, turn)
