"""Agreement reports and leaderboards, computed by Celery workers."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.services.reports import leaderboard_current, report_current
from annotation.tasks import report_refresh
from api.permissions import IsResearcher, managed_project
from api.serializers import AgreementReportSerializer, LeaderboardSerializer


def _timestamp(report: Any) -> str | None:
    return report.computed_at.isoformat() if report else None


class AgreementView(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=AgreementReportSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        report, stale = report_current(project=project)
        body = {"computed_at": _timestamp(report), "stale": stale}
        if report is None:
            body.update({"criteria": {}, "annotators": [], "model_judges": []})
        else:
            body.update(report.report)
        return Response(body)


class AgreementRefreshView(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(request=None, responses={202: None})
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        transaction.on_commit(lambda: report_refresh.delay(project.pk, force=True))
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)


class LeaderboardView(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=LeaderboardSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        report, stale, board = leaderboard_current(project=project)
        return Response({"computed_at": _timestamp(report), "stale": stale, **board})
