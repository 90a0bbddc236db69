"""Judgments over REST: incremental sync for pipelines, and import of outside judgments."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.models import ImportJob
from annotation.selectors.sync import judgments_since
from annotation.services.import_jobs import import_start
from api.parsers import JSONLinesParser, JSONParser, NDJSONParser
from api.permissions import IsResearcher, managed_project
from api.serializers import (
    ImportJobSerializer,
    JudgmentImportResultSerializer,
    JudgmentSyncPageSerializer,
)
from api.strict import StrictAPIView
from api.views.imports import import_answer

SYNC_PAGE = 1000


class JudgmentListView(StrictAPIView):
    """GET: every judgment of the project, oldest first, from a cursor: `since` is the
    `next_since` of the previous page, so a pipeline that polls sees each judgment once.
    POST: import judgments made elsewhere (historical labels, an LLM judge)."""

    permission_classes = [IsResearcher]
    parser_classes = [JSONParser, NDJSONParser, JSONLinesParser]
    query_parameters = {"GET": ("since",)}

    @extend_schema(
        parameters=[OpenApiParameter("since", str)], responses=JudgmentSyncPageSerializer
    )
    def get(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        page, next_since = judgments_since(
            project=project, since=request.query_params.get("since") or "0", limit=SYNC_PAGE
        )
        return Response(
            {"results": page, "next_since": next_since, "has_more": len(page) == SYNC_PAGE}
        )

    @extend_schema(
        request={
            "application/json": {"type": "array", "items": {"type": "object"}},
            "application/x-ndjson": {"type": "string"},
        },
        responses={201: JudgmentImportResultSerializer, 202: ImportJobSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        result = import_start(
            project=project,
            kind=ImportJob.Kind.JUDGMENTS,
            body=request.data,
            created_by=request.user,
        )
        return import_answer(request, result)
