"""An annotator's own survey answers in a project, for custom front ends (README "Surveys")."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.models import SurveyAnswers
from annotation.services.annotators import annotator_for_user
from annotation.services.surveys import survey_answers_own, survey_answers_record
from api.serializers import StrictFieldsMixin
from api.strict import StrictAPIView
from api.views.annotating import _project


class SurveyAnswersInSerializer(StrictFieldsMixin, serializers.Serializer):
    answers = serializers.JSONField(help_text="Question key to answer; null clears an answer.")


class SurveyAnswersOutSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The survey version the answers were given to.")
    answers = serializers.JSONField()
    submitted = serializers.ListField(child=serializers.CharField())
    questions = serializers.JSONField(help_text="The project's current survey questions.")


def _payload(record: SurveyAnswers | None, *, version: int, questions: list) -> dict[str, Any]:
    return {
        "version": record.version if record else version,
        "answers": record.answers if record else {},
        "submitted": record.submitted if record else [],
        "questions": questions,
    }


class SurveyAnswersView(StrictAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=SurveyAnswersOutSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = _project(slug)
        annotator = annotator_for_user(user=request.user)
        record = survey_answers_own(project=project, annotator=annotator)
        return Response(_payload(record, version=project.survey_version, questions=project.survey))

    @extend_schema(request=SurveyAnswersInSerializer, responses={200: SurveyAnswersOutSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = _project(slug)
        given = SurveyAnswersInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        record = survey_answers_record(
            project=project,
            annotator=annotator_for_user(user=request.user),
            answers=given.validated_data["answers"],
        )
        return Response(
            _payload(record, version=project.survey_version, questions=project.survey),
            status=status.HTTP_200_OK,
        )
