"""Snapshots (README "Snapshots"): an export's query, built into an immutable file by a
worker, with its sha256 and dataset card."""

from __future__ import annotations

import hashlib
import io
import json
import time

import psycopg
import pyarrow.parquet as pq
import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotation import scheduling
from annotation.exports.query import export_query_from_params
from annotation.models import Judgment, Project, Snapshot
from annotation.services.exporting import SnapshotBusy, snapshot_build, snapshot_create
from annotation.services.judgment_import import judgments_import
from annotation.services.reports import report_compute
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db

SNAPSHOTS = "/api/v1/projects/pairs/snapshots/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def import_votes(project: Project, item: str, *choices: str, judge: str = "h") -> None:
    rows = [
        {"annotator": f"{judge}{n}", "item": item, "a": "r1", "b": "r2", "choice": choice}
        for n, choice in enumerate(choices)
    ]
    judgments_import(project=project, rows=list(enumerate(rows, start=1)))


def create(client, capture, body: dict) -> dict:
    with capture(execute=True):
        response = client.post(SNAPSHOTS, body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()


def download(client, snapshot: dict) -> bytes:
    response = client.get(snapshot["download_url"])
    assert response.status_code == 200
    assert response.streaming
    return b"".join(response.streaming_content)


@pytest.fixture
def voted(pairwise) -> Project:
    import_votes(pairwise, "q0", "a", "a", "b")
    import_votes(pairwise, "q1", "b", "b")
    import_votes(pairwise, "q2", "tie", "tie")
    return pairwise


def test_post_answers_202_pending_and_queues_the_build_after_commit(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = researcher_client.post(SNAPSHOTS, {"format": "dpo"}, format="json")

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert Snapshot.objects.get(pk=body["id"]).status == "pending"
    assert len(callbacks) == 1


def test_built_snapshot_is_ready_with_rows_and_the_sha256_of_its_file(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    created = create(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": "dpo", "filetype": "parquet", "min_agreement": 0.6},
    )

    snapshot = researcher_client.get(f"{SNAPSHOTS}{created['id']}/").json()

    assert set(snapshot) >= {
        "id",
        "status",
        "row_count",
        "sha256",
        "download_url",
        "card",
        "created_at",
        "query",
    }
    assert snapshot["status"] == "ready"
    assert snapshot["row_count"] == 2
    assert snapshot["query"]["min_agreement"] == 0.6
    content = download(researcher_client, snapshot)
    assert hashlib.sha256(content).hexdigest() == snapshot["sha256"]
    assert pq.read_table(io.BytesIO(content)).num_rows == 2


def test_download_is_named_and_typed_for_its_filetype(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    created = create(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})
    snapshot = researcher_client.get(f"{SNAPSHOTS}{created['id']}/").json()

    response = researcher_client.get(snapshot["download_url"])

    assert response["Content-Type"].startswith("application/x-ndjson")
    assert f"pairs-dpo-{created['id']}.jsonl" in response["Content-Disposition"]
    rows = [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]
    assert [row["item_id"] for row in rows] == ["q0", "q1"]


def test_the_card_describes_the_dataset(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    voted.instructions = "Pick the more helpful answer."
    voted.save()
    report_compute(project=voted, n_boot=20)

    created = create(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": "dpo", "filetype": "parquet", "min_judgments": 2},
    )
    card = researcher_client.get(f"{SNAPSHOTS}{created['id']}/").json()["card"]

    assert card.startswith("---\nlicense: unknown\n")
    assert voted.name in card
    assert "Pick the more helpful answer." in card
    assert "Krippendorff" in card
    assert "| min_judgments | 2 |" in card
    assert 'load_dataset("parquet", data_files="pairs-dpo-' in card


def test_a_snapshot_reads_the_judgments_that_existed_when_it_was_asked_for(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        created = researcher_client.post(SNAPSHOTS, {"format": "judgments"}, format="json")
    import_votes(voted, "q2", "a", judge="late")
    for callback in callbacks:
        callback()

    snapshot = researcher_client.get(f"{SNAPSHOTS}{created.json()['id']}/").json()

    assert snapshot["row_count"] == 7
    assert Judgment.objects.count() == 8


@pytest.mark.parametrize("filetype", ["jsonl", "csv", "parquet"])
def test_a_judgments_snapshot_counts_the_rows_of_its_file(
    researcher_client, voted, django_capture_on_commit_callbacks, filetype
):
    created = create(
        researcher_client,
        django_capture_on_commit_callbacks,
        {"format": "judgments", "filetype": filetype},
    )
    snapshot = researcher_client.get(f"{SNAPSHOTS}{created['id']}/").json()

    content = download(researcher_client, snapshot)
    assert snapshot["status"] == "ready" and snapshot["row_count"] == 7
    if filetype == "parquet":
        assert pq.read_table(io.BytesIO(content)).num_rows == 7
    else:
        assert len(content.decode().splitlines()) == 7 + (filetype == "csv")


def test_a_failed_build_shows_failed_with_the_error(
    researcher_client, voted, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("annotation.exports.encoders.export_rows", broken)
    created = create(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})

    snapshot = researcher_client.get(f"{SNAPSHOTS}{created['id']}/").json()

    assert snapshot["status"] == "failed"
    assert "disk on fire" in snapshot["error"]
    assert snapshot["download_url"] is None
    assert researcher_client.get(f"{SNAPSHOTS}{created['id']}/download/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "zip"}, "format"),
        ({"format": "dpo", "min_agreement": 2}, "min_agreement"),
        ({"format": "dpo", "min_judgments": True}, "min_judgments"),
        ({"format": "dpo", "include_gold": "maybe"}, "include_gold"),
        ({"format": "dpo", "colour": "blue"}, "colour"),
        ({"format": "rubric"}, "format"),
    ],
)
def test_a_bad_query_is_a_400_and_creates_nothing(researcher_client, voted, body, field):
    response = researcher_client.post(SNAPSHOTS, body, format="json")

    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not Snapshot.objects.exists()


def test_a_body_that_is_not_an_object_is_a_400(researcher_client, voted):
    response = researcher_client.post(SNAPSHOTS, ["dpo"], format="json")

    assert response.status_code == 400


def test_the_snapshot_keeps_the_protocol_of_its_moment(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    created = create(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})
    voted.annotations_per_task = 9
    voted.save()

    protocol = Snapshot.objects.get(pk=created["id"]).protocol

    assert protocol["project"]["annotations_per_task"] == 2
    assert protocol["project"]["kind"] == "pairwise"
    assert protocol["last_judgment_id"] == Judgment.objects.latest("pk").pk


def test_list_shows_the_projects_snapshots_with_a_cursor(
    researcher_client, voted, django_capture_on_commit_callbacks
):
    first = create(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})
    second = create(researcher_client, django_capture_on_commit_callbacks, {"format": "items"})

    page = researcher_client.get(SNAPSHOTS, {"page_size": 1}).json()
    following = researcher_client.get(page["next"]).json()

    assert [s["id"] for s in page["results"]] == [first["id"]]
    assert [s["id"] for s in following["results"]] == [second["id"]]
    assert following["results"][0]["status"] == "ready"


def test_another_projects_snapshot_is_a_404(
    researcher_client, researcher, voted, django_capture_on_commit_callbacks
):
    created = create(researcher_client, django_capture_on_commit_callbacks, {"format": "dpo"})
    ProjectFactory(owner=researcher, slug="other")

    other = f"/api/v1/projects/other/snapshots/{created['id']}/"

    assert researcher_client.get(other).status_code == 404
    assert researcher_client.get(f"{other}download/").status_code == 404


def test_snapshots_are_refused_to_annotators(annotator_client, pairwise):
    assert annotator_client.get(SNAPSHOTS).status_code == 403
    assert annotator_client.post(SNAPSHOTS, {"format": "dpo"}, format="json").status_code == 403
    assert annotator_client.get(f"{SNAPSHOTS}1/").status_code == 403
    assert annotator_client.get(f"{SNAPSHOTS}1/download/").status_code == 403


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_snapshot_is_built_by_a_real_celery_worker(researcher):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    project = ProjectFactory(owner=researcher, slug="pairs")
    import_items(project, 2)
    import_votes(project, "q0", "a", "a")
    client = APIClient()
    client.force_authenticate(researcher)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        created = client.post(SNAPSHOTS, {"format": "dpo"}, format="json").json()
        deadline = time.monotonic() + 60
        snapshot = {}
        while time.monotonic() < deadline:
            snapshot = client.get(f"{SNAPSHOTS}{created['id']}/").json()
            if snapshot["status"] != "pending":
                break
            time.sleep(0.2)
    assert snapshot["status"] == "ready", snapshot
    assert snapshot["row_count"] == 1
    content = b"".join(client.get(snapshot["download_url"]).streaming_content)
    assert hashlib.sha256(content).hexdigest() == snapshot["sha256"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_snapshot_another_worker_holds_is_tried_again_not_given_up(voted, monkeypatch):
    """A worker killed mid-build leaves the row locked until its session ends; the task
    delivered again must not find the snapshot locked, shrug, and leave it pending forever."""
    from annotation.tasks import snapshot_build as snapshot_build_task

    monkeypatch.setattr(scheduling, "_publish", lambda name, args, **options: None)
    snapshot = snapshot_create(
        project=voted, query=export_query_from_params({"format": "dpo"}), created_by=None
    )
    with psycopg.connect(**connection.get_connection_params()) as other:
        other.execute("SELECT id FROM annotation_snapshot WHERE id = %s FOR UPDATE", [snapshot.pk])
        with pytest.raises(SnapshotBusy):
            snapshot_build(snapshot=snapshot)
        snapshot.refresh_from_db()
        assert snapshot.status == Snapshot.Status.PENDING

        retried = []

        def retry(**kwargs):
            retried.append(kwargs)
            return RuntimeError("retry")

        monkeypatch.setattr(snapshot_build_task, "retry", retry)
        with pytest.raises(RuntimeError, match="retry"):
            snapshot_build_task(snapshot.pk)
        assert retried and retried[0]["countdown"] > 0
    # The other session is gone: the next try builds it.
    assert snapshot_build(snapshot=snapshot).status == Snapshot.Status.READY


def test_a_snapshot_asked_for_while_the_broker_is_down_is_built_later_by_beat(
    researcher_client, voted, django_capture_on_commit_callbacks, monkeypatch, settings
):
    from datetime import timedelta

    from django.utils import timezone

    from annotation.tasks import snapshot_build as snapshot_build_task
    from annotation.tasks import snapshots_requeue_pending

    def broker_down(name, args, **options):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(scheduling, "_publish", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = researcher_client.post(SNAPSHOTS, {"format": "dpo"}, format="json")
    assert response.status_code == 202
    snapshot = Snapshot.objects.get(pk=response.json()["id"])
    assert snapshot.status == Snapshot.Status.PENDING

    queued = []
    monkeypatch.setattr(scheduling, "_publish", lambda name, args, **options: queued.extend(args))
    assert snapshots_requeue_pending() == 0  # asked for just now: its build may be running
    Snapshot.objects.filter(pk=snapshot.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.SNAPSHOT_REQUEUE_AFTER_SECONDS + 1)
    )
    assert snapshots_requeue_pending() == 1
    assert queued == [snapshot.pk]
    snapshot_build_task(snapshot.pk)
    assert researcher_client.get(f"{SNAPSHOTS}{snapshot.pk}/").json()["status"] == "ready"


def _ago(seconds: float):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(seconds=seconds)


@pytest.fixture
def queued_builds(monkeypatch) -> list[int]:
    """The snapshot builds queued (not run): the broker's view of the snapshots queue."""
    from annotation import scheduling

    queued: list[int] = []
    monkeypatch.setattr(scheduling, "schedule_snapshot_build", queued.append)
    return queued


def test_a_build_whose_worker_died_is_queued_again_once_its_claim_is_old(
    voted, queued_builds, settings
):
    """A worker killed mid-build: the snapshot stays pending with the claim its build took
    and, once the claim is SNAPSHOT_CLAIM_TIMEOUT_SECONDS old, beat queues it again (not 10
    minutes later), once per window; the new build removes what the killed one wrote."""
    from annotation.tasks import snapshot_build as snapshot_build_task
    from annotation.tasks import snapshots_requeue_pending

    settings.SNAPSHOT_CLAIM_TIMEOUT_SECONDS = 120
    snapshot = snapshot_create(
        project=voted, query=export_query_from_params({"format": "dpo"}), created_by=None
    )
    folder = settings.MEDIA_ROOT / "snapshots" / voted.slug
    folder.mkdir(parents=True)
    final = f"{voted.slug}-dpo-{snapshot.pk}.jsonl"
    # What the killed build left: a half-written temporary file, and (killed between the
    # move and the commit) a whole file never recorded.
    (folder / f".partial-0123abcd-{final}").write_bytes(b'{"prompt": "half')
    (folder / final).write_bytes(b"a file the database never heard of\n")
    Snapshot.objects.filter(pk=snapshot.pk).update(claimed_at=_ago(60), created_at=_ago(60))
    queued_builds.clear()
    assert snapshots_requeue_pending() == 0  # its worker may still be building it

    Snapshot.objects.filter(pk=snapshot.pk).update(claimed_at=_ago(121))
    built = Snapshot.objects.create(project=voted, query={}, status=Snapshot.Status.READY)
    Snapshot.objects.filter(pk=built.pk).update(claimed_at=_ago(3600), created_at=_ago(3600))
    assert snapshots_requeue_pending() == 1
    assert queued_builds == [snapshot.pk]
    assert snapshots_requeue_pending() == 0  # queued again once, not at every beat

    snapshot_build_task(snapshot.pk)
    snapshot.refresh_from_db()
    assert snapshot.status == Snapshot.Status.READY
    assert sorted(p.name for p in folder.iterdir()) == [final]
    assert snapshot.file.name == f"snapshots/{voted.slug}/{final}"
    assert hashlib.sha256((folder / final).read_bytes()).hexdigest() == snapshot.sha256


def test_a_snapshot_never_taken_waits_the_longer_requeue_time(voted, queued_builds, settings):
    """A message waiting behind other builds is not queued again every claim window."""
    from annotation.tasks import snapshots_requeue_pending

    snapshot = snapshot_create(
        project=voted, query=export_query_from_params({"format": "dpo"}), created_by=None
    )
    Snapshot.objects.filter(pk=snapshot.pk).update(
        created_at=_ago(settings.SNAPSHOT_CLAIM_TIMEOUT_SECONDS + 1)
    )
    assert snapshots_requeue_pending() == 0
    Snapshot.objects.filter(pk=snapshot.pk).update(
        created_at=_ago(settings.SNAPSHOT_REQUEUE_AFTER_SECONDS + 1)
    )
    assert snapshots_requeue_pending() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_long_build_that_still_holds_its_snapshot_is_not_queued_again(voted, queued_builds):
    """Only a dead build's snapshot is queued again: one whose worker still holds the row
    lock is running, however old its claim, and a second build must not start beside it."""
    from annotation.tasks import snapshots_requeue_pending

    snapshot = snapshot_create(
        project=voted, query=export_query_from_params({"format": "dpo"}), created_by=None
    )
    Snapshot.objects.filter(pk=snapshot.pk).update(claimed_at=_ago(3600))
    with psycopg.connect(**connection.get_connection_params()) as building:
        building.execute(
            "SELECT id FROM annotation_snapshot WHERE id = %s FOR UPDATE", [snapshot.pk]
        )
        assert snapshots_requeue_pending() == 0
        with pytest.raises(SnapshotBusy):
            snapshot_build(snapshot=snapshot)
    Snapshot.objects.filter(pk=snapshot.pk).update(claimed_at=_ago(3600))
    queued_builds.clear()
    assert snapshots_requeue_pending() == 1  # the session ended: the build died with it
    assert queued_builds == [snapshot.pk]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_build_records_its_claim_past_a_lock_held_for_a_moment(voted, queued_builds):
    """Beat's look for dead builds locks pending rows for a moment: a build starting then
    must still record its claim, or its death would go unseen for SNAPSHOT_REQUEUE_AFTER."""
    import threading

    snapshot = snapshot_create(
        project=voted, query=export_query_from_params({"format": "dpo"}), created_by=None
    )
    with psycopg.connect(**connection.get_connection_params()) as beat:
        beat.execute("SELECT id FROM annotation_snapshot WHERE id = %s FOR UPDATE", [snapshot.pk])
        threading.Timer(0.5, beat.rollback).start()
        built = snapshot_build(snapshot=snapshot)
    assert built.status == Snapshot.Status.READY
    assert built.claimed_at is not None
