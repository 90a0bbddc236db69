"""A project's LLM judges and judge runs (README, LLM judges): researchers of the project only."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.selectors.judges import judge_of, judge_run_of, judge_runs_of, judges_of
from annotation.services.judge_runs import judge_run_start
from annotation.services.judges import judge_create, judge_delete, judge_update
from api.permissions import IsResearcher, managed_project
from api.serializers import (
    JudgeRunRequestSerializer,
    JudgeRunSerializer,
    JudgeSerializer,
    SnapshotCreatedSerializer,
)
from api.strict import StrictAPIView, StrictListAPIView, no_body


class JudgeListView(StrictListAPIView):
    """GET: the project's judges by name. POST: add one (the kind's default template
    unless one is given)."""

    permission_classes = [IsResearcher]
    serializer_class = JudgeSerializer

    def get_queryset(self):
        return judges_of(project=managed_project(self.request.user, self.kwargs["slug"]))

    @extend_schema(request=JudgeSerializer, responses={201: JudgeSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        given = JudgeSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        judge = judge_create(project=project, **given.validated_data)
        return Response(JudgeSerializer(judge).data, status=status.HTTP_201_CREATED)


class JudgeDetailView(StrictAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=JudgeSerializer)
    def get(self, request: Request, slug: str, judge_id: int) -> Response:
        project = managed_project(request.user, slug)
        return Response(JudgeSerializer(judge_of(project=project, judge_id=judge_id)).data)

    @extend_schema(request=JudgeSerializer, responses=JudgeSerializer)
    def patch(self, request: Request, slug: str, judge_id: int) -> Response:
        judge = judge_of(project=managed_project(request.user, slug), judge_id=judge_id)
        given = JudgeSerializer(judge, data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        judge = judge_update(judge=judge, **given.validated_data)
        return Response(JudgeSerializer(judge).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, judge_id: int) -> Response:
        no_body(request)
        judge = judge_of(project=managed_project(request.user, slug), judge_id=judge_id)
        judge_delete(judge=judge)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JudgeRunListView(StrictListAPIView):
    """GET: the project's judge runs, oldest first. POST: start one (202; a worker judges
    the tasks: poll the run)."""

    permission_classes = [IsResearcher]
    serializer_class = JudgeRunSerializer

    def get_queryset(self):
        return judge_runs_of(project=managed_project(self.request.user, self.kwargs["slug"]))

    @extend_schema(request=JudgeRunRequestSerializer, responses={202: SnapshotCreatedSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        given = JudgeRunRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        values = dict(given.validated_data)
        judge = judge_of(project=project, judge_id=values.pop("judge"))
        run = judge_run_start(judge=judge, created_by=request.user, **values)
        url = request.build_absolute_uri(
            reverse("api:judge-run-detail", kwargs={"slug": slug, "run_id": run.pk})
        )
        return Response(
            {"id": run.pk, "status": run.status, "url": url},
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": url},
        )


class JudgeRunDetailView(StrictAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=JudgeRunSerializer)
    def get(self, request: Request, slug: str, run_id: int) -> Response:
        run = judge_run_of(project=managed_project(request.user, slug), run_id=run_id)
        return Response(JudgeRunSerializer(run).data)
