"""Researchers' project endpoints: list, create, read, change, progress."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.selectors.progress import project_progress
from annotation.selectors.projects import projects_managed_by
from annotation.services.projects import project_create, project_update
from api.permissions import IsResearcher, managed_project
from api.serializers import ProgressSerializer, ProjectSerializer
from api.strict import StrictAPIView, StrictListAPIView


class ProjectListView(StrictListAPIView):
    permission_classes = [IsResearcher]
    serializer_class = ProjectSerializer

    def get_queryset(self):
        return (
            projects_managed_by(user=self.request.user)
            .select_related("owner")
            .prefetch_related("criteria", "rubric_versions")
        )

    @extend_schema(request=ProjectSerializer, responses={201: ProjectSerializer})
    def post(self, request: Request) -> Response:
        serializer = ProjectSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        criteria = [dict(c) for c in data.pop("criteria", [])]
        project = project_create(owner=request.user, criteria=criteria, **data)
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(StrictAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=ProjectSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(ProjectSerializer(managed_project(request.user, slug)).data)

    @extend_schema(request=ProjectSerializer, responses=ProjectSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        serializer = ProjectSerializer(project, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(serializer.validated_data)
        criteria = data.pop("criteria", None)
        project = project_update(
            project=project,
            criteria=[dict(c) for c in criteria] if criteria is not None else None,
            **data,
        )
        return Response(ProjectSerializer(project).data)


class ProjectProgressView(StrictAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=ProgressSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(project_progress(project=managed_project(request.user, slug)))
