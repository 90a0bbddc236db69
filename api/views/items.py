"""Importing and listing a project's items."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.models import ImportJob, Item
from annotation.services.import_jobs import import_start
from api.parsers import JSONLinesParser, JSONParser, NDJSONParser
from api.permissions import IsResearcher, managed_project
from api.serializers import ImportJobSerializer, ImportResultSerializer, ItemSerializer
from api.strict import StrictListAPIView
from api.views.imports import import_answer


class ItemListView(StrictListAPIView):
    permission_classes = [IsResearcher]
    serializer_class = ItemSerializer
    parser_classes = [JSONParser, NDJSONParser, JSONLinesParser]

    def get_queryset(self):
        project = managed_project(self.request.user, self.kwargs["slug"])
        return Item.objects.filter(project=project).prefetch_related("responses")

    @extend_schema(
        request={
            "application/json": {"type": "array", "items": {"type": "object"}},
            "application/x-ndjson": {"type": "string"},
        },
        responses={201: ImportResultSerializer, 202: ImportJobSerializer},
        examples=[
            OpenApiExample(
                "one item",
                value=[
                    {
                        "id": "q17",
                        "prompt": "Explain TCP slow start.",
                        "responses": [
                            {"id": "r1", "model": "model-x", "text": "..."},
                            {"id": "r2", "model": "model-y", "text": "..."},
                        ],
                    }
                ],
            )
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        result = import_start(
            project=project, kind=ImportJob.Kind.ITEMS, body=request.data, created_by=request.user
        )
        return import_answer(request, result)
