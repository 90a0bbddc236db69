"""/metrics in Prometheus text (README, Observability).

django-prometheus counts requests, latencies and database queries in each process. The
domain's figures are read from the database (and Redis) at scrape time, so every gunicorn
process and every machine answers the same numbers, including what the Celery workers did
(snapshot builds, imported judgments), and nothing is lost on a restart. The one event that
leaves no row behind, a lease handed out again after it expired, is a counter incremented in
the lease service; under several gunicorn processes it adds up across them when
PROMETHEUS_MULTIPROC_DIR is set (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterator

import prometheus_client
import redis
from django.conf import settings
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from config.client_ip import client_address

logger = logging.getLogger(__name__)

LEASES_HANDED_OUT = prometheus_client.Counter(
    "prefpanel_leases_handed_out",
    "Leases of a task to an annotator handed out (new ones and expired ones renewed).",
    ["project"],
)

REDIS_TIMEOUT_SECONDS = 0.5


def celery_queue_names() -> list[str]:
    """The queues the Celery app routes to: its default queue and any configured ones."""
    from config.celery import app

    names = [app.conf.task_default_queue]
    for queue in app.conf.task_queues or ():
        name = getattr(queue, "name", queue)
        if name not in names:
            names.append(name)
    return names


class DomainCollector(Collector):
    """The domain's figures, read when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        from annotation.models import AgreementReport, Assignment, Judgment, Project, Snapshot

        now = timezone.now()
        judgments = GaugeMetricFamily(
            "prefpanel_judgments_stored", "Judgments stored, per project.", labels=["project"]
        )
        for slug, count in (
            Judgment.objects.values_list("project__slug").annotate(count=Count("id")).order_by()
        ):
            judgments.add_metric([slug], count)
        yield judgments

        leases = Assignment.objects.filter(status=Assignment.Status.LEASED)
        expired = GaugeMetricFamily(
            "prefpanel_leases_expired",
            "Leases past their expiry that nobody finished (their tasks are free again).",
            labels=["project"],
        )
        open_ = GaugeMetricFamily(
            "prefpanel_leases_open", "Leases not yet expired, per project.", labels=["project"]
        )
        for slug, expired_count, open_count in (
            leases.values_list("project__slug")
            .annotate(
                expired=Count("id", filter=Q(expires_at__lte=now)),
                open=Count("id", filter=Q(expires_at__gt=now)),
            )
            .order_by()
        ):
            expired.add_metric([slug], expired_count)
            open_.add_metric([slug], open_count)
        yield expired
        yield open_

        age = GaugeMetricFamily(
            "prefpanel_report_age_seconds",
            "Seconds since the latest agreement report of each active project was computed.",
            labels=["project"],
        )
        latest = (
            AgreementReport.objects.filter(project__status=Project.Status.ACTIVE)
            .values_list("project__slug")
            .annotate(latest=Max("computed_at"))
            .order_by()
        )
        for slug, computed_at in latest:
            age.add_metric([slug], max((now - computed_at).total_seconds(), 0.0))
        yield age

        builds = CounterMetricFamily(
            "prefpanel_snapshot_builds",
            "Snapshot builds by outcome (pending ones are still queued or building).",
            labels=["status"],
        )
        by_status = dict(
            Snapshot.objects.values_list("status").annotate(count=Count("id")).order_by()
        )
        for status in Snapshot.Status.values:
            builds.add_metric([status], by_status.get(status, 0))
        yield builds

        if settings.REDIS_URL:
            yield self._queue_lengths()

    def _queue_lengths(self) -> Metric:
        queues = GaugeMetricFamily(
            "prefpanel_celery_queue_length",
            "Tasks waiting in each Celery queue (the broker's Redis list lengths).",
            labels=["queue"],
        )
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            names = celery_queue_names()
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.llen(name)
            for name, length in zip(names, pipe.execute(), strict=True):
                queues.add_metric([name], length)
        except redis.RedisError as error:
            logger.warning("metrics: Celery queue lengths unreadable: %s", error)
        finally:
            client.close()
        return queues


def process_registry() -> CollectorRegistry:
    """This process's metrics, or every process's under prometheus-client's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


def metrics_allowed(request: HttpRequest) -> bool | None:
    """True for an allowed address or the right bearer token, False otherwise; None when
    neither METRICS_ALLOWED_IPS nor METRICS_TOKEN is set (the endpoint is off)."""
    networks: list[str] = settings.METRICS_ALLOWED_IPS
    token: str = settings.METRICS_TOKEN
    if not networks and not token:
        return None
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return True
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text: 404 while unconfigured, 403 to anyone not allowed."""
    allowed = metrics_allowed(request)
    if allowed is None:
        raise Http404("Metrics are not enabled.")
    if not allowed:
        return HttpResponseForbidden("Not allowed.", content_type="text/plain")
    domain = CollectorRegistry(auto_describe=False)
    domain.register(DomainCollector())
    body = prometheus_client.generate_latest(process_registry())
    body += prometheus_client.generate_latest(domain)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
