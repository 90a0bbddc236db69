"""Datasets for pipelines: the streamed export and incremental sync of judgments."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.errors import ValidationFailed
from annotation.selectors.exports import (
    ExportFilters,
    export_filters_from_query,
    judgment_rows,
)
from api.permissions import IsResearcher, managed_project
from api.renderers import csv_stream, jsonl_stream
from api.serializers import JudgmentSyncPageSerializer

EXPORT_FORMATS = {"judgments"}
STREAMED_FILETYPES = {
    "jsonl": ("application/x-ndjson; charset=utf-8", jsonl_stream),
    "csv": ("text/csv; charset=utf-8", csv_stream),
}
SYNC_PAGE = 1000


class ExportView(APIView):
    permission_classes = [IsResearcher]

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=sorted(EXPORT_FORMATS), default="judgments"),
            OpenApiParameter("filetype", str, enum=sorted(STREAMED_FILETYPES), default="jsonl"),
            OpenApiParameter("exclude_flagged", bool, default=True),
            OpenApiParameter("include_gold", bool, default=False),
            OpenApiParameter("since", str, description="A judgment id or an ISO datetime."),
            OpenApiParameter("annotator_kind", str, enum=["human", "model"]),
            OpenApiParameter("min_judgments", int),
        ],
        responses={(200, "application/x-ndjson"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project = managed_project(request.user, slug)
        export_format = request.query_params.get("format", "judgments")
        filetype = request.query_params.get("filetype", "jsonl")
        if export_format not in EXPORT_FORMATS:
            raise ValidationFailed(
                f"Unknown format {export_format!r}.",
                errors=[{"field": "format", "error": f"must be one of {sorted(EXPORT_FORMATS)}"}],
            )
        if filetype not in STREAMED_FILETYPES:
            raise ValidationFailed(
                f"Unknown filetype {filetype!r}.",
                errors=[
                    {"field": "filetype", "error": f"must be one of {sorted(STREAMED_FILETYPES)}"}
                ],
            )
        filters = export_filters_from_query(request.query_params)
        content_type, encoder = STREAMED_FILETYPES[filetype]
        response = StreamingHttpResponse(
            encoder(judgment_rows(project=project, filters=filters)), content_type=content_type
        )
        filename = f"{project.slug}-{export_format}.{filetype}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class JudgmentSyncView(APIView):
    """Every judgment of the project, oldest first, from a cursor: `since` is the `next_since`
    of the previous page (a judgment id), so a pipeline that polls sees each judgment once."""

    permission_classes = [IsResearcher]

    @extend_schema(
        parameters=[OpenApiParameter("since", str)], responses=JudgmentSyncPageSerializer
    )
    def get(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        raw = request.query_params.get("since", "") or "0"
        if not raw.isdigit():
            raise ValidationFailed(errors=[{"field": "since", "error": "must be a cursor"}])
        filters = ExportFilters(exclude_flagged=False, include_gold=True, since=int(raw))
        page = list(judgment_rows(project=project, filters=filters, limit=SYNC_PAGE))
        next_since = str(page[-1]["id"]) if page else raw
        return Response(
            {"results": page, "next_since": next_since, "has_more": len(page) == SYNC_PAGE}
        )
