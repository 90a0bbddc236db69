"""Importing and listing a project's items."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.models import Item
from annotation.services.importing import items_import, rows_from_body
from api.parsers import JSONLinesParser, JSONParser, NDJSONParser
from api.permissions import IsResearcher, managed_project
from api.serializers import ImportResultSerializer, ItemSerializer
from api.strict import StrictListAPIView


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
        responses={201: ImportResultSerializer},
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
        rows, read_errors = rows_from_body(request.data)
        result = items_import(project=project, rows=rows, read_errors=read_errors)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)
