"""Agreement reports and leaderboards, computed by Celery workers."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.services.groups import (
    agreement_by_current,
    group_by_parse,
    include_sensitive_param,
)
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


INCLUDE_SENSITIVE = OpenApiParameter(
    "include_sensitive",
    bool,
    description="Needed (true) to group by a sensitive survey question (`by=profile.<key>`).",
)


class AgreementView(StrictAPIView):
    permission_classes = [IsResearcher]
    query_parameters = {"GET": ("annotator_kind", "by", "include_sensitive")}

    @extend_schema(
        parameters=[
            ANNOTATOR_KIND,
            OpenApiParameter(
                "by",
                str,
                description="`profile.<key>` (a survey question with options) or "
                '`metadata.<key>`: `{"groups": {value: {"criteria", "n_annotators", '
                '"n_judgments"}}}`, each group\'s agreement over its judgments only; by profile '
                "also `cross_group` (how often two groups' majority labels agree). Groups with "
                "fewer than `min_group_annotators` annotators are merged into `other` (left out "
                "if still fewer); by metadata, groups under `min_group_votes` judgments are left "
                "out. Pairwise and rubric projects.",
            ),
            INCLUDE_SENSITIVE,
        ],
        responses=AgreementReportSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        kind, _ = report_params(request.query_params)
        include_sensitive = include_sensitive_param(request.query_params)
        by = request.query_params.get("by")
        if by is None:
            return Response(agreement_current(project=project, annotator_kind=kind))
        group_by = group_by_parse(project=project, by=by, include_sensitive=include_sensitive)
        return Response(
            agreement_by_current(project=project, annotator_kind=kind, group_by=group_by)
        )


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
    query_parameters = {
        "GET": ("annotator_kind", "exclude_flagged", "style_control", "by", "include_sensitive")
    }

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
                "than the project's `min_group_votes` votes are left out. `profile.<key>`: one "
                "per answer to a survey question (an annotator counts in each answer chosen), "
                "groups with fewer than `min_group_annotators` annotators merged into `other` "
                "(left out if still fewer). Without style control, `differences` gives each two "
                "groups' rating difference per model with a 95% interval. Pairwise projects.",
            ),
            INCLUDE_SENSITIVE,
        ],
        responses=LeaderboardSerializer,
    )
    def get(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        kind, exclude_flagged = report_params(request.query_params)
        options = leaderboard_options(request.query_params, project=project)
        return Response(
            leaderboard_current_with_options(
                project=project,
                annotator_kind=kind,
                exclude_flagged=exclude_flagged,
                options=options,
            )
        )
