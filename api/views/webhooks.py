"""Webhooks: a researcher's subscriptions to a project's events, and their deliveries."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotation.services.webhooks import (
    webhook_create,
    webhook_delete,
    webhook_delivery_resend,
    webhook_of,
    webhooks_of,
)
from api.permissions import IsResearcher, managed_project
from api.serializers import (
    WebhookCreatedSerializer,
    WebhookDeliverySerializer,
    WebhookInSerializer,
    WebhookSerializer,
)
from api.strict import StrictAPIView, StrictListAPIView, no_body


class WebhookListView(StrictListAPIView):
    """GET: this researcher's webhooks. POST: subscribe a URL to a managed project's
    events; the answer holds the signing secret, shown only this once."""

    permission_classes = [IsResearcher]
    serializer_class = WebhookSerializer

    def get_queryset(self):
        return webhooks_of(user=self.request.user)

    @extend_schema(request=WebhookInSerializer, responses={201: WebhookCreatedSerializer})
    def post(self, request: Request) -> Response:
        given = WebhookInSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        webhook = webhook_create(
            project=managed_project(request.user, given.validated_data["project"]),
            created_by=request.user,
            url=given.validated_data["url"],
            events=given.validated_data["events"],
        )
        data = WebhookCreatedSerializer(webhook, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class WebhookDetailView(StrictAPIView):
    permission_classes = [IsResearcher]

    @extend_schema(responses=WebhookSerializer)
    def get(self, request: Request, webhook_id: int) -> Response:
        webhook = webhook_of(user=request.user, webhook_id=webhook_id)
        return Response(WebhookSerializer(webhook, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, webhook_id: int) -> Response:
        no_body(request)
        webhook_delete(webhook=webhook_of(user=request.user, webhook_id=webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookDeliveryListView(StrictListAPIView):
    """Every attempt to post an event to this webhook, oldest first, with its answer."""

    permission_classes = [IsResearcher]
    serializer_class = WebhookDeliverySerializer

    def get_queryset(self):
        webhook = webhook_of(user=self.request.user, webhook_id=self.kwargs["webhook_id"])
        return webhook.deliveries.all()


class WebhookDeliveryResendView(StrictAPIView):
    """Post an attempt's event again (202): a new attempt, retried like the first."""

    permission_classes = [IsResearcher]

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request: Request, webhook_id: int, delivery_id: int) -> Response:
        no_body(request)
        webhook = webhook_of(user=request.user, webhook_id=webhook_id)
        delivery = webhook_delivery_resend(webhook=webhook, delivery_id=delivery_id)
        data = WebhookDeliverySerializer(delivery, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)
