"""Datasets for pipelines: the streamed export and incremental sync of judgments."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from annotation.errors import ValidationFailed
from annotation.selectors.exports import (
    export_filters_from_query,
    judgment_rows,
)
from api.permissions import IsResearcher, managed_project
from api.renderers import csv_stream, jsonl_stream

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
