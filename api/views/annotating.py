"""The annotator API for custom front ends: lease the next task, renew the lease, post a
judgment, skip."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.errors import NotFound
from annotation.models import Assignment, Judgment, Project
from annotation.selectors.tasks import (
    assignment_for_vote,
    assignment_public_payload,
    criteria_of,
    project_by_slug,
)
from annotation.services.annotators import annotator_for_user
from annotation.services.arena import arena_reveal
from annotation.services.assignment import assignment_lease, assignment_renew, assignment_skip
from annotation.services.judging import judgment_submit
from api.serializers import (
    JudgmentInSerializer,
    JudgmentOutSerializer,
    LeaseRenewedSerializer,
    SkipInSerializer,
    TaskOutSerializer,
)
from api.strict import StrictAPIView, no_body


def _project(slug: str) -> Project:
    project = project_by_slug(slug=slug)
    if project is None:
        raise NotFound(f"No project {slug!r}.")
    return project


def _assignment(assignment_id: int) -> Assignment:
    assignment = assignment_for_vote(assignment_id=assignment_id)
    if assignment is None:
        raise NotFound("No such assignment.")
    return assignment


class NextTaskView(StrictAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses={200: TaskOutSerializer, 204: OpenApiResponse(description="Nothing left.")}
    )
    def get(self, request: Request, slug: str) -> Response:
        project = _project(slug)
        annotator = annotator_for_user(user=request.user)
        assignment = assignment_lease(project=project, annotator=annotator)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        payload = assignment_public_payload(
            assignment=assignment, criteria=criteria_of(project=project)
        )
        return Response(payload)


class JudgmentSubmitView(StrictAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=JudgmentInSerializer, responses={201: JudgmentOutSerializer})
    def post(self, request: Request, assignment_id: int) -> Response:
        assignment = _assignment(assignment_id)
        serializer = JudgmentInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        judgment: Judgment = judgment_submit(
            assignment=assignment,
            annotator=annotator_for_user(user=request.user),
            choice=data.get("choice"),
            strength=data.get("strength"),
            rationale=data.get("rationale"),
            criteria=data.get("criteria"),
            scores=data.get("scores"),
            ranking=data.get("ranking"),
            spans=data.get("spans"),
            reasons=data.get("reasons"),
            rewrite=data.get("rewrite"),
            rewrite_of=data.get("rewrite_of"),
            seconds=data.get("seconds"),
            source=Judgment.Source.API,
        )
        reveal = arena_reveal(judgment=judgment)
        if reveal is not None:
            judgment.reveal = reveal  # type: ignore[attr-defined]
        return Response(JudgmentOutSerializer(judgment).data, status=status.HTTP_201_CREATED)


class AssignmentSkipView(StrictAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=SkipInSerializer, responses={204: None})
    def post(self, request: Request, assignment_id: int) -> Response:
        serializer = SkipInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assignment_skip(
            assignment=_assignment(assignment_id),
            annotator=annotator_for_user(user=request.user),
            reason=serializer.validated_data.get("reason", ""),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class AssignmentRenewView(StrictAPIView):
    """Keep a lease while the annotator is still at it: 200 with the new `expires_at`, 410
    once it has lapsed (the task may be someone else's by then)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=None,
        responses={
            200: LeaseRenewedSerializer,
            410: OpenApiResponse(description="The lease lapsed or the task is finished."),
        },
    )
    def post(self, request: Request, assignment_id: int) -> Response:
        no_body(request)
        expires_at = assignment_renew(
            assignment=_assignment(assignment_id),
            annotator=annotator_for_user(user=request.user),
        )
        return Response(LeaseRenewedSerializer({"expires_at": expires_at}).data)
