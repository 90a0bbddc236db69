"""Import jobs: the imports too large to run within their request, as a worker runs them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.models import ImportJob
from annotation.services.import_jobs import import_job_for
from api.permissions import IsResearcher
from api.serializers import ImportJobSerializer
from api.strict import StrictAPIView


def import_answer(request: Request, result) -> Response:
    """201 with what a synchronous import wrote, or 202 with the import job (and its URL as
    the Location) when the import went to a worker."""
    if not isinstance(result, ImportJob):
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)
    data = ImportJobSerializer(result, context={"request": request}).data
    return Response(data, status=status.HTTP_202_ACCEPTED, headers={"Location": data["url"]})


class ImportJobDetailView(StrictAPIView):
    """GET: an import job of a project this researcher manages (404 for any other)."""

    permission_classes = [IsResearcher]

    @extend_schema(responses=ImportJobSerializer)
    def get(self, request: Request, job_id: int) -> Response:
        job = import_job_for(user=request.user, job_id=job_id)
        return Response(ImportJobSerializer(job, context={"request": request}).data)
