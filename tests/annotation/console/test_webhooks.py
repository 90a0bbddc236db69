"""The console's webhooks page (README, Webhooks): a project's webhooks with their latest
attempts, made, deleted and sent again through the webhook services, scoped to the
researcher as the API scopes them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from annotation.models import Project, Webhook, WebhookDelivery
from annotation.services.researchers import researcher_create
from annotation.services.webhooks import webhook_create
from tests.api.test_webhooks import Receiver
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_receivers(settings) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def pairs(lead) -> Project:
    project = ProjectFactory(owner=lead, slug="pairs")
    import_items(project, 2)
    return project


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver([])
    yield server
    server.close()


def page_url(project: Project) -> str:
    return reverse("admin:annotation_project_webhooks", args=[project.pk])


def attempts(webhook: Webhook, n: int, status: str = "failed", code: int | None = 503) -> None:
    now = timezone.now()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            webhook=webhook,
            event="snapshot.ready",
            event_id=f"{i:032x}",
            body=json.dumps({"event": "snapshot.ready", "snapshot": i}),
            attempt=i + 1,
            status=status,
            status_code=code,
            error=f"HTTP {code}" if code else "",
            first_created_at=now,
            scheduled_for=now + timedelta(seconds=i),
            attempted_at=now + timedelta(seconds=i),
        )
        for i in range(n)
    )


def test_the_project_page_links_to_the_webhooks_page(console, pairs):
    project_page = console.get(reverse("admin:annotation_project_change", args=[pairs.pk]))
    assert page_url(pairs) in project_page.content.decode()


def test_the_page_lists_each_webhook_with_its_latest_attempts(console, lead, pairs):
    hook = webhook_create(
        project=pairs,
        created_by=lead,
        url="http://127.0.0.1:9/hook",
        events=["snapshot.ready", "report.updated"],
    )
    attempts(hook, 12)
    WebhookDelivery.objects.filter(webhook=hook, attempt=12).update(
        status="succeeded", status_code=200, error=""
    )

    page = console.get(page_url(pairs)).content.decode()

    assert "http://127.0.0.1:9/hook" in page
    assert "<code>snapshot.ready</code>, <code>report.updated</code>" in page
    assert "12 attempts in all" in page
    assert page.count("data-delivery=") == 10  # the latest ten
    newest = page.index('class="delivery-succeeded"')
    assert newest < page.index('class="delivery-failed"')  # newest first
    assert "HTTP 200" in page and "HTTP 503" in page
    assert hook.secret not in page  # shown once, when made


def test_the_page_costs_the_same_queries_with_many_webhooks_and_attempts(console, lead, pairs):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert console.get(page_url(pairs)).status_code == 200
        return len(captured)

    first = webhook_create(
        project=pairs, created_by=lead, url="http://127.0.0.1:9/a", events=["snapshot.ready"]
    )
    attempts(first, 1)
    few = queries()
    for n in range(4):
        hook = webhook_create(
            project=pairs, created_by=lead, url=f"http://127.0.0.1:9/{n}", events=["report.updated"]
        )
        attempts(hook, 30)
    assert queries() == few


def test_a_webhook_made_on_the_page_shows_its_secret_once(console, lead, pairs):
    response = console.post(
        reverse("admin:annotation_project_webhook_new", args=[pairs.pk]),
        {"url": "http://127.0.0.1:9/new", "events": ["snapshot.ready", "snapshot.failed"]},
    )

    assert response.status_code == 200
    (webhook,) = Webhook.objects.all()
    assert (webhook.project, webhook.created_by) == (pairs, lead)
    assert webhook.events == ["snapshot.ready", "snapshot.failed"]
    assert webhook.secret in response.content.decode()
    assert webhook.secret not in console.get(page_url(pairs)).content.decode()


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"url": "not a url", "events": ["snapshot.ready"]}, "must be an http or https URL"),
        ({"url": "http://127.0.0.1:9/hook"}, "a list of snapshot.ready"),
        ({"url": "http://127.0.0.1:9/hook", "events": ["snapshot.eaten"]}, "each one of"),
    ],
)
def test_a_refused_webhook_is_named_on_the_form_and_nothing_is_stored(console, pairs, form, error):
    response = console.post(reverse("admin:annotation_project_webhook_new", args=[pairs.pk]), form)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert not Webhook.objects.exists()


def test_a_private_address_is_refused_on_the_page_as_in_the_api(console, pairs, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = console.post(
        reverse("admin:annotation_project_webhook_new", args=[pairs.pk]),
        {"url": "http://127.0.0.1:9/hook", "events": ["snapshot.ready"]},
    )
    assert response.status_code == 400
    assert "must resolve to a public address" in response.content.decode()
    assert not Webhook.objects.exists()


def test_a_webhook_is_deleted_from_the_page(console, lead, pairs):
    hook = webhook_create(
        project=pairs, created_by=lead, url="http://127.0.0.1:9/a", events=["snapshot.ready"]
    )
    attempts(hook, 3)
    response = console.post(
        reverse("admin:annotation_project_webhook_delete", args=[pairs.pk, hook.pk])
    )
    assert response.status_code == 302
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()
    assert "No webhook yet" in console.get(page_url(pairs)).content.decode()


def test_an_attempt_is_sent_again_from_the_page(
    console, lead, pairs, receiver, django_capture_on_commit_callbacks
):
    hook = webhook_create(
        project=pairs, created_by=lead, url=receiver.url, events=["snapshot.ready"]
    )
    attempts(hook, 1)
    failed = WebhookDelivery.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = console.post(
            reverse("admin:annotation_project_webhook_resend", args=[pairs.pk, hook.pk, failed.pk]),
            follow=True,
        )

    assert response.status_code == 200
    ((headers, body),) = receiver.received
    assert body.decode() == failed.body
    assert headers["X-Prefpanel-Signature"].startswith("t=")
    again = WebhookDelivery.objects.exclude(pk=failed.pk).get()
    assert (again.event_id, again.status, again.status_code) == (failed.event_id, "succeeded", 200)
    assert "is sent again" in response.content.decode()
    assert f'data-delivery="{again.pk}"' in response.content.decode()


def test_another_researcher_gets_404_and_changes_nothing(lead, pairs):
    hook = webhook_create(
        project=pairs,
        created_by=lead,
        url="http://127.0.0.1:9/secret-hook",
        events=["snapshot.ready"],
    )
    attempts(hook, 1)
    delivery = WebhookDelivery.objects.get()
    other_user = researcher_create(username="other")
    own = ProjectFactory(owner=other_user)
    other = Client()
    other.force_login(other_user)

    assert other.get(page_url(pairs)).status_code == 404
    new = reverse("admin:annotation_project_webhook_new", args=[pairs.pk])
    assert (
        other.post(new, {"url": "http://127.0.0.1:9/x", "events": ["snapshot.ready"]}).status_code
        == 404
    )
    # Through a project of their own, the other researcher's webhook is still not theirs.
    for project in (pairs, own):
        delete = reverse("admin:annotation_project_webhook_delete", args=[project.pk, hook.pk])
        resend = reverse(
            "admin:annotation_project_webhook_resend", args=[project.pk, hook.pk, delivery.pk]
        )
        assert other.post(delete).status_code == 404
        assert other.post(resend).status_code == 404
    assert "secret-hook" not in other.get(page_url(own)).content.decode()
    assert list(Webhook.objects.values_list("pk", flat=True)) == [hook.pk]
    assert WebhookDelivery.objects.count() == 1
