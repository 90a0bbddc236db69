"""Agreement reports and leaderboards, computed by Celery workers."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.services.leaderboard_options import (
    leaderboard_current_with_options,
    leaderboard_options,
)
from annotation.services.reports import (
    ANNOTATOR_KINDS,
    agreement_current,
    report_params,
    report_refresh_request,
)
from api.permissions import IsResearcher, managed_project
from api.serializers import AgreementReportSerializer, LeaderboardSerializer
from api.strict import StrictAPIView, no_body

ANNOTATOR_KIND = OpenApiParameter(
    "annotator_kind",
    str,
    enum=list(ANNOTATOR_KINDS),
    description="Whose judgments count: people (default), imported model judges, or all.",
)


class AgreementView(StrictAPIView):
    permission_classes = [IsResearcher]
    query_parameters = {"GET": ("annotator_kind",)}

    @extend_schema(parameters=[ANNOTATOR_KIND], responses=AgreementReportSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        kind, _ = report_params(request.query_params)
        return Response(agreement_current(project=project, annotator_kind=kind))


class AgreementRefreshView(StrictAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(request=None, responses={202: None})
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        no_body(request)
        report_refresh_request(project=project)
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)


class LeaderboardView(StrictAPIView):
    permission_classes = [IsResearcher]
    query_parameters = {"GET": ("annotator_kind", "exclude_flagged", "style_control", "by")}

    @extend_schema(
        parameters=[
            ANNOTATOR_KIND,
            OpenApiParameter(
                "exclude_flagged",
                bool,
                description="Leave out flagged and blocked annotators (default true).",
            ),
            OpenApiParameter(
                "style_control",
                bool,
                description="Bradley-Terry with the responses' length and Markdown differences "
                "as covariates (Chatbot Arena's style control): ratings and "
                "`style_coefficients` with bootstrap intervals. Pairwise projects.",
            ),
            OpenApiParameter(
                "by",
                str,
                description="`metadata.<key>`: one leaderboard per value of the items' metadata "
                'key, `{"groups": {value: {"results", "n", ...}}}`; groups with fewer '
                "than the project's `min_group_votes` votes are left out. Pairwise projects.",
            ),
        ],
        responses=LeaderboardSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        kind, exclude_flagged = report_params(request.query_params)
        options = leaderboard_options(request.query_params)
        return Response(
            leaderboard_current_with_options(
                project=project,
                annotator_kind=kind,
                exclude_flagged=exclude_flagged,
                options=options,
            )
        )
