"""Webhooks (README, Webhooks): a researcher subscribes a URL to a project's events; each
event is posted as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>", by a Celery task
that records every attempt and retries with exponential backoff for up to a day.

Events come from the worker side only (snapshot builds, report refreshes), never from the
vote path, so a vote costs no query here; judgments.batch and project.completed are found
when the report refresh that follows votes has stored its report."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from annotation import scheduling
from annotation.addresses import AddressRefused, connection_target, public_address_check
from annotation.errors import NotFound, ValidationFailed
from annotation.models import Judgment, Project, Task, Webhook, WebhookDelivery
from annotation.selectors.projects import projects_managed_by
from annotation.services.routing import human_need

EVENTS = tuple(Webhook.Event.values)
SIGNATURE_HEADER = "X-Prefpanel-Signature"
FIRST_RETRY_SECONDS = 30
LONGEST_RETRY_SECONDS = 3600
MAX_ERROR_LENGTH = 2000


class WebhookAddressRefused(AddressRefused):
    """The URL's host resolves to an address webhooks may not reach."""


def webhook_signature(*, secret: str, timestamp: int, body: str) -> str:
    """The header's value: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def webhook_address_check(url: str) -> str | None:
    """The address to post to (annotation.addresses), refused unless public or
    WEBHOOK_ALLOW_PRIVATE."""
    try:
        return public_address_check(url, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
    except AddressRefused as exc:
        raise WebhookAddressRefused(str(exc)) from exc


def _clean_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationFailed(
            "events must be a non-empty list.",
            errors=[{"field": "events", "error": f"a list of {', '.join(EVENTS)}"}],
        )
    unknown = [event for event in events if event not in EVENTS]
    if unknown:
        raise ValidationFailed(
            f"Unknown events: {', '.join(map(str, unknown))}.",
            errors=[{"field": "events", "error": f"each one of {', '.join(EVENTS)}"}],
        )
    return sorted(set(events), key=EVENTS.index)


def _clean_url(url: Any) -> str:
    try:
        if not isinstance(url, str):
            raise ValidationError("not a string")
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError as exc:
        raise ValidationFailed(
            "url must be an http or https URL.",
            errors=[{"field": "url", "error": "must be an http or https URL"}],
        ) from exc
    try:
        webhook_address_check(url)
    except WebhookAddressRefused as exc:
        raise ValidationFailed(
            f"url refused: {exc}.",
            errors=[{"field": "url", "error": "must resolve to a public address"}],
        ) from exc
    return url


def webhook_create(
    *, project: Project, created_by: AbstractBaseUser, url: Any, events: Any
) -> Webhook:
    """Subscribe `url` to `events` of `project`; the secret is made here and shown once."""
    webhook = Webhook(
        project=project,
        created_by=created_by,
        url=_clean_url(url),
        events=_clean_events(events),
        secret=secrets.token_hex(32),
    )
    webhook.full_clean()
    webhook.save()
    return webhook


def webhooks_of(*, user: AbstractBaseUser) -> Any:
    """The webhooks a researcher made on projects they still manage (another
    researcher's stay invisible)."""
    return Webhook.objects.filter(
        created_by=user, project__in=projects_managed_by(user=user).values("pk")
    ).select_related("project")


def webhook_of(*, user: AbstractBaseUser, webhook_id: int) -> Webhook:
    webhook = webhooks_of(user=user).filter(pk=webhook_id).first()
    if webhook is None:
        raise NotFound(f"No webhook {webhook_id}.")
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()


def webhook_event_emit(*, project: Project, event: str, payload: dict[str, Any]) -> None:
    """Queue `event` for every webhook of `project` that takes it, once the current
    transaction commits (a receiver never hears of rows it cannot read yet)."""
    assert event in EVENTS, event
    transaction.on_commit(
        lambda: _deliveries_queue(
            project_id=project.pk, slug=project.slug, event=event, payload=payload
        )
    )


def _event_body(*, slug: str, event: str, payload: dict[str, Any]) -> str:
    """The posted JSON: event, project (its slug), the event's ids and the time it happened."""
    now = timezone.now().isoformat().replace("+00:00", "Z")
    return json.dumps(
        {"event": event, "project": slug, **payload, "timestamp": now}, separators=(",", ":")
    )


def _deliveries_queue(*, project_id: int, slug: str, event: str, payload: dict[str, Any]) -> None:
    webhooks = [w for w in Webhook.objects.filter(project_id=project_id) if event in w.events]
    if not webhooks:
        return
    body = _event_body(slug=slug, event=event, payload=payload)
    event_id = uuid.uuid4().hex
    for webhook in webhooks:
        _attempt_queue(webhook=webhook, event=event, event_id=event_id, body=body)


def _attempt_queue(
    *,
    webhook: Webhook,
    event: str,
    event_id: str,
    body: str,
    attempt: int = 1,
    first_created_at: Any = None,
    countdown: float = 0,
) -> WebhookDelivery:
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event=event,
        event_id=event_id,
        body=body,
        attempt=attempt,
        first_created_at=first_created_at or now,
        scheduled_for=now + timedelta(seconds=countdown),
    )
    # A broker that is down must not lose the event nor fail the work that announced it: the
    # attempt is a row already, and beat queues it again (webhook_deliveries_orphaned).
    transaction.on_commit(
        lambda: scheduling.schedule_webhook_delivery(delivery.pk, countdown=countdown),
        robust=True,
    )
    return delivery


def retry_delay_seconds(attempt: int) -> int:
    """After the n-th failed attempt: 30 s, 60 s, 120 s, ... at most an hour."""
    return min(FIRST_RETRY_SECONDS * 2 ** (attempt - 1), LONGEST_RETRY_SECONDS)


def webhook_deliver(*, delivery_id: int) -> WebhookDelivery | None:
    """Post one pending attempt and record its answer; a failure queues the next attempt
    while the event is younger than WEBHOOK_RETRY_HOURS. An attempt already made is left
    alone, so the task may run twice; the attempt is taken atomically, so two copies of the
    task (one queued again by beat) never both post it, unless the first taker has been
    gone for WEBHOOK_REQUEUE_AFTER_SECONDS (a worker killed mid-post)."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    claimed = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .filter(Q(attempted_at__isnull=True) | Q(attempted_at__lt=stale))
        .update(attempted_at=now)
    )
    delivery = (
        WebhookDelivery.objects.select_related("webhook")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .first()
    )
    if not claimed or delivery is None:
        return None
    webhook = delivery.webhook
    started = time.perf_counter()
    status_code: int | None = None
    error = ""
    try:
        url, host, extensions = connection_target(webhook.url, webhook_address_check(webhook.url))
        timestamp = int(time.time())
        with httpx.Client(timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as client:
            request = client.build_request(
                "POST",
                url,
                content=delivery.body.encode(),
                headers={
                    **host,
                    "Content-Type": "application/json",
                    "User-Agent": "prefpanel-webhooks",
                    SIGNATURE_HEADER: webhook_signature(
                        secret=webhook.secret, timestamp=timestamp, body=delivery.body
                    ),
                },
                extensions=extensions,
            )
            response = client.send(request, follow_redirects=False)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except (WebhookAddressRefused, httpx.HTTPError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    delivery.status_code = status_code
    delivery.error = error[:MAX_ERROR_LENGTH]
    delivery.duration_ms = round((time.perf_counter() - started) * 1000)
    delivery.status = WebhookDelivery.Status.FAILED if error else WebhookDelivery.Status.SUCCEEDED
    delivery.save(update_fields=["status_code", "error", "duration_ms", "status"])
    if error:
        delay = retry_delay_seconds(delivery.attempt)
        window = timedelta(hours=settings.WEBHOOK_RETRY_HOURS)
        # Both the clock and the schedule must be inside the window: a task run early (an
        # eager test, a worker whose clock is off) does not retry for ever.
        scheduled = sum(retry_delay_seconds(n) for n in range(1, delivery.attempt + 1))
        in_window = timezone.now() + timedelta(seconds=delay) <= delivery.first_created_at + window
        if in_window and timedelta(seconds=scheduled) <= window:
            _attempt_queue(
                webhook=webhook,
                event=delivery.event,
                event_id=delivery.event_id,
                body=delivery.body,
                attempt=delivery.attempt + 1,
                first_created_at=delivery.first_created_at,
                countdown=delay,
            )
    return delivery


def webhook_deliveries_orphaned(*, now: datetime | None = None) -> list[int]:
    """Attempts whose Celery message is gone (a broker that was down when they were queued,
    a flushed Redis, a worker killed mid-post): still pending WEBHOOK_REQUEUE_AFTER_SECONDS
    after they were due, and not taken since then. They are due again now, so each is queued
    again at most once per that window; beat queues them."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    with transaction.atomic():
        orphaned = list(
            WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.PENDING, scheduled_for__lt=stale
            )
            .filter(Q(attempted_at__isnull=True) | Q(attempted_at__lt=stale))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        WebhookDelivery.objects.filter(pk__in=orphaned).update(scheduled_for=now)
    return orphaned


def webhook_delivery_resend(*, webhook: Webhook, delivery_id: int) -> WebhookDelivery:
    """Post an attempt's event again (same body, fresh signature), as a new series of
    attempts."""
    delivery = webhook.deliveries.filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound(f"No delivery {delivery_id} of webhook {webhook.pk}.")
    return _attempt_queue(
        webhook=webhook, event=delivery.event, event_id=delivery.event_id, body=delivery.body
    )


def webhook_events_after_report(*, project: Project, report_id: int, failed: bool) -> None:
    """What a stored report announces: report.updated (a good one), judgments.batch when
    judgments arrived since the last batch (at most once per WEBHOOK_BATCH_SECONDS per
    webhook; a batch held back is queued for when the minute is up) and project.completed
    once every regular task has its k judgments. One query when nobody listens."""
    webhooks = list(Webhook.objects.filter(project=project))
    if not webhooks:
        return
    if not failed:
        webhook_event_emit(
            project=project, event=Webhook.Event.REPORT_UPDATED, payload={"report": report_id}
        )
    webhook_batch_emit(project=project, webhooks=webhooks)
    listening = [w for w in webhooks if Webhook.Event.PROJECT_COMPLETED in w.events]
    if any(w.completed_sent_at is None for w in listening) and _project_completed(project):
        Webhook.objects.filter(pk__in=[w.pk for w in listening]).update(
            completed_sent_at=timezone.now()
        )
        webhook_event_emit(project=project, event=Webhook.Event.PROJECT_COMPLETED, payload={})


def _project_completed(project: Project) -> bool:
    """Every regular (non-gold) task has its k judgments (route_human_k for a task an LLM
    judge settled, when the project routes), and there is at least one."""
    regular = Task.objects.filter(project=project, is_gold=False)
    wanting = regular.alias(need=human_need(project)).filter(judgment_count__lt=F("need"))
    return regular.exists() and not wanting.exists()


def webhook_batch_emit(
    *, project: Project, webhooks: list[Webhook] | None = None, hold: bool = True
) -> None:
    """judgments.batch for each listening webhook with judgments newer than its last batch:
    `since` is the sync cursor to pull them from (GET .../judgments/?since=...), `last_id`
    the newest judgment announced. A batch held back queues one later try, which does not
    queue another (`hold=False`): the refresh after the next votes does."""
    if webhooks is None:
        webhooks = list(Webhook.objects.filter(project=project))
    listening = [w for w in webhooks if Webhook.Event.JUDGMENTS_BATCH in w.events]
    if not listening:
        return
    last_id = Judgment.objects.filter(project=project).aggregate(last=Max("id"))["last"]
    now = timezone.now()
    wait = timedelta(seconds=settings.WEBHOOK_BATCH_SECONDS)
    held_back: list[float] = []
    for webhook in listening:
        if not last_id or last_id <= webhook.batch_last_judgment_id:
            continue
        if webhook.batch_sent_at and now - webhook.batch_sent_at < wait:
            held_back.append((webhook.batch_sent_at + wait - now).total_seconds())
            continue
        sent = Webhook.objects.filter(
            pk=webhook.pk, batch_last_judgment_id=webhook.batch_last_judgment_id
        ).update(batch_sent_at=now, batch_last_judgment_id=last_id)
        if sent:
            transaction.on_commit(
                lambda webhook=webhook: _deliveries_queue_one(
                    webhook=webhook,
                    event=Webhook.Event.JUDGMENTS_BATCH,
                    payload={"since": str(webhook.batch_last_judgment_id), "last_id": last_id},
                )
            )
    if held_back and hold:
        transaction.on_commit(
            lambda: scheduling.schedule_webhook_batch(project.pk, countdown=min(held_back) + 1)
        )


def _deliveries_queue_one(*, webhook: Webhook, event: str, payload: dict[str, Any]) -> None:
    body = _event_body(slug=webhook.project.slug, event=event, payload=payload)
    _attempt_queue(webhook=webhook, event=event, event_id=uuid.uuid4().hex, body=body)
