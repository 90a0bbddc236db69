"""Importing annotators' profiles from a crowd platform's demographic export (README
"Surveys", Importing profiles)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.errors import ValidationFailed
from annotation.services.profile_import import (
    csv_header_and_rows,
    json_header_and_rows,
    profiles_import,
)
from api.parsers import BodyTooLarge, JSONParser
from api.permissions import IsResearcher, managed_project
from api.serializers import StrictFieldsMixin
from api.strict import StrictAPIView


class ProfileImportInSerializer(StrictFieldsMixin, serializers.Serializer):
    columns = serializers.JSONField(
        help_text='Column to survey key, or to {"key", "values": {platform value: answer}}.'
    )
    overwrite = serializers.BooleanField(
        default=False, help_text="Replace answers the annotators gave themselves too."
    )
    rows = serializers.JSONField(
        required=False, help_text="JSON: the export's rows, objects of column to value."
    )
    file = serializers.FileField(required=False, help_text="Multipart: the export's CSV file.")


def _columns(value: Any) -> Any:
    """The mapping as given: an object in JSON, its JSON text in a multipart form."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValidationFailed(
                errors=[{"field": "columns", "error": "must be a JSON object"}]
            ) from None
    return value


class ProfileImportView(StrictAPIView):
    """Fill the project's Prolific annotators' survey answers from Prolific's demographic
    export: the answer reports what was stored, kept, unmatched and refused."""

    permission_classes = [IsResearcher]
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        request={
            "application/json": ProfileImportInSerializer,
            "multipart/form-data": ProfileImportInSerializer,
        },
        responses={200: {"type": "object"}},
        examples=[
            OpenApiExample(
                "age and sex",
                value={
                    "rows": [{"Participant id": "5f1e...", "Age": "31", "Sex": "Female"}],
                    "columns": {
                        "Age": "age_band",
                        "Sex": {"key": "gender", "values": {"Female": "Woman", "Male": "Man"}},
                    },
                },
            )
        ],
    )
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        given = ProfileImportInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        data = given.validated_data
        upload = data.get("file")
        if (upload is None) == ("rows" not in data):
            raise ValidationFailed(
                errors=[{"field": "file", "error": "give the export as a file or as rows"}]
            )
        if upload is not None:
            if upload.size > settings.MAX_IMPORT_BYTES:
                raise BodyTooLarge(limit=settings.MAX_IMPORT_BYTES, size=upload.size)
            header, rows = csv_header_and_rows(upload)
        else:
            header, rows = json_header_and_rows(data["rows"])
        report = profiles_import(
            project=project,
            header=header,
            rows=rows,
            columns=_columns(data["columns"]),
            overwrite=data["overwrite"],
        )
        return Response(report.as_json())
