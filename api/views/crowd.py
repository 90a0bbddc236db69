"""Crowd sessions of a project, for researchers approving submissions on the platform."""

from __future__ import annotations

from django.db.models import QuerySet

from annotation.models import CrowdSession
from annotation.selectors.crowd import crowd_sessions_with_counts
from api.permissions import IsResearcher, managed_project
from api.serializers import CrowdSessionSerializer
from api.strict import StrictListAPIView


class CrowdSessionListView(StrictListAPIView):
    """Every visit of a crowd worker, oldest first: platform ids, when it started and
    ended, how it ended, and how many regular tasks were answered and skipped."""

    permission_classes = [IsResearcher]
    serializer_class = CrowdSessionSerializer

    def get_queryset(self) -> QuerySet[CrowdSession]:
        project = managed_project(self.request.user, self.kwargs["slug"])
        return crowd_sessions_with_counts(CrowdSession.objects.filter(project=project))
