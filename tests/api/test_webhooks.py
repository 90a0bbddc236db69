"""Webhooks (README "Webhooks"): a receiver started here gets signed events,
retried after a failure, with every attempt listed."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.utils import timezone

from annotation.models import Project, Webhook, WebhookDelivery
from annotation.services.annotators import annotator_for_user
from annotation.services.assignment import assignment_lease
from annotation.services.judging import judgment_submit
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_refresh
from annotation.services.webhooks import connection_target
from tests.factories import AnnotatorUserFactory, ProjectFactory, ResearcherFactory

pytestmark = pytest.mark.django_db

WEBHOOKS = "/api/v1/webhooks/"
README = Path(__file__).resolve().parents[2] / "README.md"


class Receiver:
    """A local HTTP server answering each POST with the next status of `answers` (then
    200), keeping what it was sent."""

    def __init__(self, answers: list[int]) -> None:
        self.answers = list(answers)
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    server = Receiver([500])
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def readme_verify_signature():
    """The README's verification snippet, run as written."""
    text = README.read_text()
    section = text[text.index("### Webhooks") :]
    snippet = re.search(r"```python\n(.*?)```", section, re.S)[1]
    namespace: dict = {}
    exec(snippet, namespace)
    return namespace["verify_signature"]


def subscribe(client, url: str, events: list[str], project: str = "pairs") -> dict:
    response = client.post(
        WEBHOOKS, {"url": url, "events": events, "project": project}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def import_votes(project: Project, item: str, *choices: str) -> None:
    rows = [
        {"annotator": f"h{n}", "item": item, "a": "r1", "b": "r2", "choice": choice}
        for n, choice in enumerate(choices)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


def test_snapshot_ready_arrives_signed_after_one_failed_attempt(
    researcher_client, pairwise, receiver, django_capture_on_commit_callbacks
):
    hook = subscribe(researcher_client, receiver.url, ["snapshot.ready"])
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = researcher_client.post(
            f"/api/v1/projects/{pairwise.slug}/snapshots/", {"format": "dpo"}, format="json"
        ).json()

    assert len(receiver.received) == 2  # the first answered 500, the retry 200
    headers, body = receiver.received[-1]
    verify_signature = readme_verify_signature()
    assert verify_signature(hook["secret"], headers["X-Prefpanel-Signature"], body)
    assert not verify_signature("another secret", headers["X-Prefpanel-Signature"], body)
    assert not verify_signature(hook["secret"], headers["X-Prefpanel-Signature"], body + b" ")
    payload = json.loads(body)
    assert payload["event"] == "snapshot.ready"
    assert payload["project"] == "pairs"
    assert payload["snapshot"] == snapshot["id"]
    assert payload["timestamp"].endswith("Z")

    deliveries = researcher_client.get(hook["deliveries_url"]).json()["results"]
    first, retry = deliveries  # oldest first
    assert (first["attempt"], first["status"], first["status_code"]) == (1, "failed", 500)
    assert first["error"] == "HTTP 500"
    assert (retry["attempt"], retry["status"], retry["status_code"]) == (2, "succeeded", 200)
    assert retry["event_id"] == first["event_id"]
    assert retry["duration_ms"] is not None and first["attempted_at"] is not None
    first_retry_wait = WebhookDelivery.objects.get(pk=retry["id"]).scheduled_for - (
        WebhookDelivery.objects.get(pk=first["id"]).attempted_at
    )
    assert first_retry_wait <= timedelta(seconds=60)


def test_a_delivery_is_resent_on_request(
    researcher_client, pairwise, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = []
    hook = subscribe(researcher_client, receiver.url, ["snapshot.ready"])
    with django_capture_on_commit_callbacks(execute=True):
        researcher_client.post(
            f"/api/v1/projects/{pairwise.slug}/snapshots/", {"format": "dpo"}, format="json"
        )
    (delivery,) = researcher_client.get(hook["deliveries_url"]).json()["results"]
    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(f"{hook['deliveries_url']}{delivery['id']}/resend/")
    assert response.status_code == 202
    assert len(receiver.received) == 2
    assert receiver.received[0][1] == receiver.received[1][1]
    assert len(researcher_client.get(hook["deliveries_url"]).json()["results"]) == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.7/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
    ],
)
def test_private_addresses_are_refused_at_creation(researcher_client, pairwise, url):
    response = researcher_client.post(
        WEBHOOKS, {"url": url, "events": ["snapshot.ready"], "project": "pairs"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "url"
    assert not Webhook.objects.exists()


def test_an_address_that_became_private_is_refused_at_delivery(
    researcher_client, pairwise, receiver, settings, django_capture_on_commit_callbacks
):
    """DNS rebinding: the name was checked when the webhook was made, and is again."""
    hook = subscribe(researcher_client, receiver.url, ["snapshot.ready"])
    settings.WEBHOOK_ALLOW_PRIVATE = False
    settings.WEBHOOK_RETRY_HOURS = 0
    with django_capture_on_commit_callbacks(execute=True):
        researcher_client.post(
            f"/api/v1/projects/{pairwise.slug}/snapshots/", {"format": "dpo"}, format="json"
        )
    assert receiver.received == []
    (delivery,) = researcher_client.get(hook["deliveries_url"]).json()["results"]
    assert delivery["status"] == "failed"
    assert "WebhookAddressRefused" in delivery["error"]


def test_bad_input_is_named(researcher_client, pairwise, receiver):
    cases = [
        ({"url": receiver.url, "events": ["snapshot.done"], "project": "pairs"}, "events"),
        ({"url": receiver.url, "events": [], "project": "pairs"}, "events"),
        ({"url": "ftp://example.com/", "events": ["snapshot.ready"], "project": "pairs"}, "url"),
        ({"url": receiver.url, "events": ["snapshot.ready"], "project": "pairs", "x": 1}, "x"),
    ]
    for body, field in cases:
        response = researcher_client.post(WEBHOOKS, body, format="json")
        assert response.status_code == 400, body
        assert field in json.dumps(response.json()), body
    response = researcher_client.get(WEBHOOKS, {"project": "pairs"})
    assert response.status_code == 400
    assert not Webhook.objects.exists()


def test_only_managed_projects_take_webhooks(researcher_client, receiver, api_client_for):
    ProjectFactory(slug="theirs")
    response = researcher_client.post(
        WEBHOOKS,
        {"url": receiver.url, "events": ["snapshot.ready"], "project": "theirs"},
        format="json",
    )
    assert response.status_code == 404


def test_another_researcher_cannot_see_or_delete_the_webhook(
    researcher_client, pairwise, receiver, api_client_for
):
    hook = subscribe(researcher_client, receiver.url, ["report.updated"])
    other = api_client_for(ResearcherFactory())
    assert other.get(WEBHOOKS).json()["results"] == []
    assert other.get(f"{WEBHOOKS}{hook['id']}/").status_code == 404
    assert other.get(hook["deliveries_url"]).status_code == 404
    assert other.delete(f"{WEBHOOKS}{hook['id']}/").status_code == 404
    assert Webhook.objects.filter(pk=hook["id"]).exists()

    listed = researcher_client.get(WEBHOOKS).json()["results"]
    assert [(w["id"], w["project"]) for w in listed] == [(hook["id"], "pairs")]
    assert "secret" not in listed[0]
    assert researcher_client.delete(f"{WEBHOOKS}{hook['id']}/").status_code == 204
    assert not Webhook.objects.exists()


def test_judgments_batch_at_most_once_a_minute(
    researcher_client, pairwise, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = []
    subscribe(researcher_client, receiver.url, ["judgments.batch", "report.updated"])

    def votes_then_refresh(item: str) -> list[dict]:
        before = len(receiver.received)
        with django_capture_on_commit_callbacks(execute=True):
            import_votes(pairwise, item, "a", "b")
            report_refresh(project_id=pairwise.pk)
        return [json.loads(body) for _, body in receiver.received[before:]]

    first = votes_then_refresh("q0")
    batches = [event for event in first if event["event"] == "judgments.batch"]
    assert [batch["since"] for batch in batches] == ["0"]
    pulled = researcher_client.get(
        "/api/v1/projects/pairs/judgments/", {"since": batches[0]["since"]}
    ).json()
    assert [row["id"] for row in pulled["results"]][-1] == batches[0]["last_id"]

    second = votes_then_refresh("q1")  # within the minute: the report, but no batch
    assert [event["event"] for event in second] == ["report.updated"]

    Webhook.objects.update(batch_sent_at=timezone.now() - timedelta(seconds=61))
    third = votes_then_refresh("q2")
    (batch,) = [event for event in third if event["event"] == "judgments.batch"]
    assert batch["since"] == str(batches[0]["last_id"])  # the second minute's votes too
    assert batch["last_id"] > batches[0]["last_id"]


def vote_live(project: Project, annotator_user, tasks: int) -> None:
    """An annotator leases and answers `tasks` tasks, as the pages and the API do."""
    annotator = annotator_for_user(user=annotator_user)
    for _ in range(tasks):
        assignment = assignment_lease(project=project, annotator=annotator)
        judgment_submit(assignment=assignment, annotator=annotator, choice="left")


def test_project_completed_is_sent_once(
    researcher_client, pairwise, receiver, django_capture_on_commit_callbacks
):
    """pairwise: three tasks, k = 2."""
    receiver.answers = []
    subscribe(researcher_client, receiver.url, ["project.completed"])
    first, second = AnnotatorUserFactory(), AnnotatorUserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        vote_live(pairwise, first, 3)
        vote_live(pairwise, second, 2)
        report_refresh(project_id=pairwise.pk)
    assert receiver.received == []  # one task still waits for its second judgment
    with django_capture_on_commit_callbacks(execute=True):
        vote_live(pairwise, second, 1)
        report_refresh(project_id=pairwise.pk)
        import_votes(pairwise, "q2", "a", "tie")
        report_refresh(project_id=pairwise.pk)
    events = [json.loads(body)["event"] for _, body in receiver.received]
    assert events == ["project.completed"]


def test_a_delivery_connects_to_the_address_that_was_checked():
    """DNS rebinding: the name is resolved once per attempt and the connection goes to that
    address, with the name kept in the Host header and the TLS server name."""
    url, host, extensions = connection_target(
        "https://hooks.example.com:8443/in?x=1", "93.184.216.34"
    )
    assert url == "https://93.184.216.34:8443/in?x=1"
    assert host == {"Host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}
    assert connection_target("http://example.com/", "2606:2800::1")[0] == "http://[2606:2800::1]/"


def test_a_slow_receiver_is_a_failed_attempt(
    researcher_client, pairwise, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    settings.WEBHOOK_RETRY_HOURS = 0
    slow = Receiver([])
    original = slow.server.RequestHandlerClass.do_POST

    def late(handler) -> None:
        time.sleep(1)
        original(handler)

    slow.server.RequestHandlerClass.do_POST = late
    try:
        hook = subscribe(researcher_client, slow.url, ["snapshot.ready"])
        with django_capture_on_commit_callbacks(execute=True):
            researcher_client.post(
                f"/api/v1/projects/{pairwise.slug}/snapshots/", {"format": "dpo"}, format="json"
            )
    finally:
        slow.close()
    (delivery,) = researcher_client.get(hook["deliveries_url"]).json()["results"]
    assert delivery["status"] == "failed"
    assert delivery["status_code"] is None
    assert "Timeout" in delivery["error"]
    assert delivery["duration_ms"] < 1000


def test_a_snapshot_that_fails_on_a_full_disk_sends_snapshot_failed(
    researcher_client, pairwise, receiver, settings, django_capture_on_commit_callbacks
):
    receiver.answers = []
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.annotation.services.test_snapshot_files.FullDiskStorage"},
    }
    subscribe(researcher_client, receiver.url, ["snapshot.ready", "snapshot.failed"])
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = researcher_client.post(
            f"/api/v1/projects/{pairwise.slug}/snapshots/", {"format": "dpo"}, format="json"
        ).json()
    (event,) = [json.loads(body) for _, body in receiver.received]
    assert (event["event"], event["snapshot"]) == ("snapshot.failed", snapshot["id"])


def _lost_message(delivery_id, *, countdown=0):
    """Accepted by the broker, then gone (a FLUSHALL, a Redis restarted without
    persistence)."""


def _broker_down(delivery_id, *, countdown=0):
    raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


@pytest.mark.parametrize("lose", [_broker_down, _lost_message], ids=["broker-down", "flushed"])
def test_a_delivery_whose_message_was_lost_is_queued_again_from_the_database(
    researcher_client,
    pairwise,
    receiver,
    settings,
    monkeypatch,
    lose,
    django_capture_on_commit_callbacks,
):
    """The attempt is a row before it is a Celery message: when the message never reaches a
    worker, beat finds the attempt still pending once WEBHOOK_REQUEUE_AFTER_SECONDS past due
    and queues it again; the receiver gets the event, signed, once."""
    from annotation import scheduling
    from annotation.tasks import webhooks_requeue_pending

    receiver.answers = []
    hook = subscribe(researcher_client, receiver.url, ["snapshot.ready"])
    eager = scheduling.schedule_webhook_delivery
    monkeypatch.setattr(scheduling, "schedule_webhook_delivery", lose)
    with django_capture_on_commit_callbacks(execute=True):
        snapshot = researcher_client.post(
            f"/api/v1/projects/{pairwise.slug}/snapshots/", {"format": "dpo"}, format="json"
        ).json()
    assert (
        researcher_client.get(
            f"/api/v1/projects/{pairwise.slug}/snapshots/{snapshot['id']}/"
        ).json()["status"]
        == "ready"
    )  # a broker that is down does not fail the build
    (delivery,) = researcher_client.get(hook["deliveries_url"]).json()["results"]
    assert delivery["status"] == "pending" and receiver.received == []

    monkeypatch.setattr(scheduling, "schedule_webhook_delivery", eager)
    assert webhooks_requeue_pending() == 0  # just queued: its message may be on its way
    WebhookDelivery.objects.filter(pk=delivery["id"]).update(
        scheduled_for=timezone.now() - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS + 1)
    )
    assert webhooks_requeue_pending() == 1

    ((headers, body),) = receiver.received
    assert readme_verify_signature()(hook["secret"], headers["X-Prefpanel-Signature"], body)
    assert json.loads(body)["snapshot"] == snapshot["id"]
    (delivery,) = researcher_client.get(hook["deliveries_url"]).json()["results"]
    assert (delivery["status"], delivery["status_code"]) == ("succeeded", 200)
    assert webhooks_requeue_pending() == 0


def test_an_attempt_another_worker_is_posting_is_not_posted_twice(
    researcher_client, pairwise, receiver, settings, monkeypatch
):
    """Beat may queue an attempt again while its first message is being run: the attempt is
    taken atomically, so the second copy does nothing, unless the first taker has been gone
    for WEBHOOK_REQUEUE_AFTER_SECONDS (then it was killed mid-post)."""
    from annotation.services.webhooks import webhook_deliver

    receiver.answers = []
    hook = subscribe(researcher_client, receiver.url, ["snapshot.ready"])
    webhook = Webhook.objects.get(pk=hook["id"])
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event="snapshot.ready",
        event_id="e" * 32,
        body='{"event":"snapshot.ready"}',
        first_created_at=now,
        scheduled_for=now,
        attempted_at=now,  # a worker took it a moment ago
    )
    assert webhook_deliver(delivery_id=delivery.pk) is None
    assert receiver.received == []
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempted_at=now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS + 1)
    )
    assert webhook_deliver(delivery_id=delivery.pk).status == WebhookDelivery.Status.SUCCEEDED
    assert len(receiver.received) == 1
