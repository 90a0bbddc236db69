"""Snapshots: immutable, versioned exports built by a worker, with their dataset card."""

from __future__ import annotations

import os

from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.errors import NotFound, ValidationFailed
from annotation.exports.query import export_query_from_params
from annotation.models import Project, Snapshot
from annotation.services.exporting import snapshot_create, snapshot_folder_name, snapshot_folder_zip
from api.permissions import IsResearcher, managed_project
from api.renderers import CONTENT_TYPES
from api.serializers import ExportQuerySerializer, SnapshotCreatedSerializer, SnapshotSerializer
from api.strict import StrictAPIView, StrictListAPIView

ZIP_CONTENT_TYPE = "application/zip"


def _snapshot(project: Project, snapshot_id: int) -> Snapshot:
    snapshot = Snapshot.objects.filter(project=project, pk=snapshot_id).first()
    if snapshot is None:
        raise NotFound(f"No snapshot {snapshot_id} in project {project.slug!r}.")
    return snapshot


class SnapshotListView(StrictListAPIView):
    """GET: the project's snapshots, oldest first. POST: snapshot an export's query; the
    file is built by a worker (202, then poll the snapshot)."""

    permission_classes = [IsResearcher]
    serializer_class = SnapshotSerializer

    def get_queryset(self):
        project = managed_project(self.request.user, self.kwargs["slug"])
        return Snapshot.objects.filter(project=project).select_related("project")

    @extend_schema(request=ExportQuerySerializer, responses={202: SnapshotCreatedSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        if not isinstance(request.data, dict):
            raise ValidationFailed(
                "The body must be the export's query as a JSON object.",
                errors=[{"field": "", "error": "expected a JSON object"}],
            )
        query = export_query_from_params(request.data, strict=True)
        snapshot = snapshot_create(project=project, query=query, created_by=request.user)
        url = request.build_absolute_uri(
            reverse("api:snapshot-detail", kwargs={"slug": slug, "snapshot_id": snapshot.pk})
        )
        return Response(
            {"id": snapshot.pk, "status": Snapshot.Status.PENDING, "url": url},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )


class SnapshotDetailView(StrictAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=SnapshotSerializer)
    def get(self, request: Request, slug: str, snapshot_id: int) -> Response:
        snapshot = _snapshot(managed_project(request.user, slug), snapshot_id)
        return Response(SnapshotSerializer(snapshot, context={"request": request}).data)


DOWNLOAD_SHAPES = ("file", "folder")


class SnapshotDownloadView(StrictAPIView):
    """The snapshot's file, streamed from storage; with `as=folder`, a zip of a dataset
    repository's folder: the card as README.md and the file under data/."""

    permission_classes = [IsResearcher]
    query_parameters = {"GET": ("as",)}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "as",
                str,
                enum=list(DOWNLOAD_SHAPES),
                description="file (default): the data file; folder: a zip of README.md (the "
                "dataset card) and data/<file>, ready for datasets.load_dataset and "
                "huggingface-cli upload.",
            )
        ],
        responses={
            (200, content_type.split(";")[0]): OpenApiResponse(OpenApiTypes.BINARY)
            for content_type in [*CONTENT_TYPES.values(), ZIP_CONTENT_TYPE]
        },
    )
    def get(
        self, request: Request, slug: str, snapshot_id: int
    ) -> FileResponse | StreamingHttpResponse:
        snapshot = _snapshot(managed_project(request.user, slug), snapshot_id)
        shape = request.query_params.get("as", "file")
        if shape not in DOWNLOAD_SHAPES:
            raise ValidationFailed(
                "Unknown download shape.",
                errors=[{"field": "as", "error": f"must be one of {', '.join(DOWNLOAD_SHAPES)}"}],
            )
        if snapshot.status != Snapshot.Status.READY or not snapshot.file:
            raise NotFound(f"Snapshot {snapshot_id} is {snapshot.status}: it has no file.")
        try:
            handle = snapshot.file.open("rb")
        except FileNotFoundError as exc:
            raise NotFound(f"The file of snapshot {snapshot_id} is gone.") from exc
        if shape == "folder":
            response = StreamingHttpResponse(
                snapshot_folder_zip(snapshot=snapshot, handle=handle),
                content_type=ZIP_CONTENT_TYPE,
            )
            name = snapshot_folder_name(snapshot=snapshot)
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
        return FileResponse(
            handle,
            as_attachment=True,
            filename=os.path.basename(snapshot.file.name),
            content_type=CONTENT_TYPES[snapshot.query.get("filetype", "jsonl")],
        )
