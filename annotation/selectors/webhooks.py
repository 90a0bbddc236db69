"""Reads of webhooks for the console: each webhook with its latest attempts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Prefetch

from annotation.models import Project, Webhook, WebhookDelivery
from annotation.services.webhooks import webhooks_of

#: Attempts listed under each webhook on the console page (the API lists every one).
RECENT_DELIVERIES = 10


def webhooks_with_recent_deliveries(
    *, user: AbstractBaseUser, project: Project, recent: int = RECENT_DELIVERIES
) -> list[Webhook]:
    """The researcher's webhooks of `project`, newest first, each with `recent_deliveries`
    (its latest `recent` attempts, newest first) and `delivery_count`: two queries however
    many webhooks and attempts there are."""
    latest = WebhookDelivery.objects.order_by("-id")[:recent]
    return list(
        webhooks_of(user=user)
        .filter(project=project)
        .annotate(delivery_count=Count("deliveries"))
        .order_by("-id")
        .prefetch_related(Prefetch("deliveries", queryset=latest, to_attr="recent_deliveries"))
    )
