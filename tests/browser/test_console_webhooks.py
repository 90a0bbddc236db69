"""A researcher subscribes a receiver to a project's events on the console's webhooks page,
in a real browser, sees an attempt fail and sends it again."""

from __future__ import annotations

import pytest

from annotation.exports.query import export_query_from_params
from annotation.models import Webhook
from annotation.services.exporting import snapshot_create
from annotation.services.researchers import researcher_create
from tests.api.test_webhooks import Receiver
from tests.browser.test_accessibility import _serious
from tests.browser.test_console_datasets import PASSWORD, sign_in
from tests.factories import ProjectFactory, import_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.WEBHOOK_ALLOW_PRIVATE = True


def test_researcher_subscribes_a_receiver_and_sends_a_failed_attempt_again(
    live_server, page, screenshot
):
    lead = researcher_create(username="lead", password=PASSWORD)
    project = ProjectFactory(owner=lead, slug="pairs", name="Helpfulness pairs")
    import_items(project, 2)
    receiver = Receiver([])
    try:
        sign_in(page, live_server.url)
        page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/change/")
        page.click("a.button:text('Webhooks')")
        page.wait_for_selector("text=No webhook yet")
        page.fill("#webhook-url", receiver.url)
        page.check("input[value='snapshot.ready']")
        page.click("button:text('Create webhook')")
        page.wait_for_selector("#new-webhook-secret")
        webhook = Webhook.objects.get()
        assert page.inner_text("#new-webhook-secret") == webhook.secret

        # The snapshot's event: the receiver answers 503 twice, then 200 (eager Celery runs
        # each retry at once).
        receiver.answers = [503, 503]
        snapshot_create(
            project=project, query=export_query_from_params({"format": "dpo"}), created_by=None
        )
        page.goto(f"{live_server.url}/admin/annotation/project/{project.pk}/webhooks/")
        page.wait_for_selector("tr.delivery-failed")
        assert "HTTP 503" in page.inner_text(f"#webhook-{webhook.pk}")
        assert page.locator("tr[data-delivery]").count() == len(receiver.received) == 3
        page.locator("tr.delivery-failed button:text('Send again')").first.click()
        page.wait_for_selector("text=is sent again")
        assert len(receiver.received) == 4
        assert page.locator("tr.delivery-succeeded").count() == 2
        assert _serious(page) == []
        screenshot(page, "console-webhooks")

        page.click("button:text('Delete this webhook')")
        page.wait_for_selector("text=No webhook yet")
        assert not Webhook.objects.exists()
    finally:
        receiver.close()
