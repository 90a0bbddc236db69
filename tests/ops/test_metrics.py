"""/metrics: Prometheus text that prometheus-client's parser reads, with the domain's figures,
to allowed addresses or the token holder only."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from annotation.models import Assignment, Project, Snapshot
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from annotation.services.reports import report_compute
from tests.factories import ProjectFactory, import_items, make_annotator

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def scraper(settings) -> Client:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_count_votes_leases_reports_and_snapshots(scraper: Client, settings):
    settings.REDIS_URL = ""
    project = ProjectFactory(slug="metered")
    import_items(project, 3)
    leases_before = scrape(scraper).get(
        ("prefpanel_leases_handed_out_total", (("project", "metered"),)), 0.0
    )
    for _ in range(2):
        annotator = make_annotator()
        for _ in range(2):
            assignment = assignment_lease(project=project, annotator=annotator)
            judgment_submit(assignment=assignment, annotator=annotator, choice="left")
    waiting = make_annotator()
    stale = assignment_lease(project=project, annotator=waiting)
    Assignment.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(1))
    assignment_lease(project=project, annotator=make_annotator())
    report = report_compute(project=project, n_boot=10)
    report.computed_at = timezone.now() - timedelta(seconds=600)
    report.save(update_fields=["computed_at"])
    ProjectFactory(slug="closed", status=Project.Status.PAUSED)
    Snapshot.objects.create(project=project, status=Snapshot.Status.READY)
    Snapshot.objects.create(project=project, status=Snapshot.Status.FAILED)
    Snapshot.objects.create(project=project, status=Snapshot.Status.READY)

    samples = scrape(scraper)

    metered = (("project", "metered"),)
    assert samples[("prefpanel_judgments_stored", metered)] == 4
    assert samples[("prefpanel_leases_handed_out_total", metered)] == leases_before + 6
    assert samples[("prefpanel_leases_expired", metered)] == 1
    assert samples[("prefpanel_leases_open", metered)] == 1
    assert 600 <= samples[("prefpanel_report_age_seconds", metered)] < 700
    assert samples[("prefpanel_snapshot_builds_total", (("status", "ready"),))] == 2
    assert samples[("prefpanel_snapshot_builds_total", (("status", "failed"),))] == 1
    assert samples[("prefpanel_snapshot_builds_total", (("status", "pending"),))] == 0
    assert not any(name == "prefpanel_celery_queue_length" for name, _ in samples)
    # django-prometheus: requests, latencies and database queries.
    names = {name for name, _ in samples}
    assert "django_http_requests_latency_seconds_by_view_method_count" in names
    assert "django_http_responses_total_by_status_total" in names
    assert "django_db_execute_total" in names


def test_report_age_leaves_out_projects_that_are_not_active(scraper: Client, settings):
    settings.REDIS_URL = ""
    project = ProjectFactory(slug="shelved")
    import_items(project, 1)
    report_compute(project=project, n_boot=10)
    Project.objects.filter(pk=project.pk).update(status=Project.Status.PAUSED)
    samples = scrape(scraper)
    assert ("prefpanel_report_age_seconds", (("project", "shelved"),)) not in samples


@pytest.mark.redis
def test_metrics_read_celery_queue_lengths_from_redis(scraper: Client, settings):
    from config.celery import app

    settings.REDIS_URL = settings.CELERY_BROKER_URL = os.environ["REDIS_URL"]
    queue = f"metrics-test-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        client.rpush(queue, "one", "two", "three")
        samples = scrape(scraper)
    finally:
        app.conf.task_default_queue = previous
        client.delete(queue)
    assert samples[("prefpanel_celery_queue_length", (("queue", queue),))] == 3


def test_metrics_are_off_without_addresses_or_token(client: Client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    assert client.get("/metrics").status_code == 404


def test_metrics_refuse_a_wrong_token_and_other_addresses(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/metrics").status_code == 403
    assert Client(REMOTE_ADDR="192.0.2.7").get("/metrics").status_code == 403


def test_metrics_answer_an_allowed_network(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "192.0.2.9"]
    settings.REDIS_URL = ""
    assert Client(REMOTE_ADDR="10.1.2.3").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.9").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="192.0.2.10").get("/metrics").status_code == 403


def test_metrics_use_the_client_address_behind_trusted_proxies(settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.5"]
    settings.TRUSTED_PROXY_COUNT = 1
    settings.REDIS_URL = ""
    proxied = Client(REMOTE_ADDR="172.16.0.1", HTTP_X_FORWARDED_FOR="10.0.0.5")
    assert proxied.get("/metrics").status_code == 200
    forged = Client(REMOTE_ADDR="172.16.0.1", HTTP_X_FORWARDED_FOR="10.0.0.5, 192.0.2.1")
    assert forged.get("/metrics").status_code == 403


def test_metrics_and_probes_survive_the_anonymous_throttle(scraper: Client, settings):
    """Scrapes every few seconds must not meet the API's per-address throttle or a CSP error."""
    settings.REDIS_URL = ""
    for _ in range(130):
        assert scraper.get("/metrics").status_code == 200
    assert Client().get("/healthz").status_code == 200


def test_counters_add_up_across_processes_in_multiprocess_mode(tmp_path):
    """Under several gunicorn workers each process writes its counters to
    PROMETHEUS_MULTIPROC_DIR and whichever answers the scrape reports their sum."""
    env = os.environ | {"DEBUG": "true", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    bump = "from ops.metrics import LEASES_HANDED_OUT as c; c.labels(project='multi').inc({})"
    read = (
        "import prometheus_client; from ops.metrics import process_registry;"
        "print(prometheus_client.generate_latest(process_registry()).decode())"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for code in (bump.format(3), bump.format(2), read)
    ]
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(outputs[-1].split("\n", 1)[-1])
        for sample in family.samples
    }
    assert samples[("prefpanel_leases_handed_out_total", (("project", "multi"),))] == 5
