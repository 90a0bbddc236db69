"""A project's model endpoints (README, Model endpoints): researchers of the project only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.selectors.endpoints import endpoint_of, endpoints_of
from annotation.services.endpoints import endpoint_create, endpoint_delete, endpoint_update
from api.permissions import IsResearcher, managed_project
from api.serializers import EndpointSerializer
from api.strict import StrictAPIView, StrictListAPIView, no_body


class EndpointListView(StrictListAPIView):
    """GET: the project's endpoints by name. POST: add one; its api_key is never shown."""

    permission_classes = [IsResearcher]
    serializer_class = EndpointSerializer

    def get_queryset(self):
        return endpoints_of(project=managed_project(self.request.user, self.kwargs["slug"]))

    @extend_schema(request=EndpointSerializer, responses={201: EndpointSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = managed_project(request.user, slug)
        given = EndpointSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        endpoint = endpoint_create(project=project, **given.validated_data)
        return Response(EndpointSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class EndpointDetailView(StrictAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=EndpointSerializer)
    def get(self, request: Request, slug: str, endpoint_id: int) -> Response:
        project = managed_project(request.user, slug)
        return Response(
            EndpointSerializer(endpoint_of(project=project, endpoint_id=endpoint_id)).data
        )

    @extend_schema(request=EndpointSerializer, responses=EndpointSerializer)
    def patch(self, request: Request, slug: str, endpoint_id: int) -> Response:
        endpoint = endpoint_of(project=managed_project(request.user, slug), endpoint_id=endpoint_id)
        given = EndpointSerializer(endpoint, data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        endpoint = endpoint_update(endpoint=endpoint, **given.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, endpoint_id: int) -> Response:
        no_body(request)
        endpoint = endpoint_of(project=managed_project(request.user, slug), endpoint_id=endpoint_id)
        endpoint_delete(endpoint=endpoint)
        return Response(status=status.HTTP_204_NO_CONTENT)
