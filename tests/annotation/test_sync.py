"""Incremental sync hands out every judgment exactly once, even when transactions commit
out of id order (PostgreSQL)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections, transaction

from annotation.models import Judgment
from annotation.selectors.sync import judgments_since
from annotation.services.judgment_import import judgments_import
from tests.factories import ProjectFactory, import_items


def _vote(project, annotator: str, item: str) -> None:
    judgments_import(
        project=project,
        rows=[(1, {"annotator": annotator, "item": item, "a": "r1", "b": "r2", "choice": "a"})],
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_slow_transaction_with_a_lower_id_is_not_skipped():
    project = ProjectFactory()
    import_items(project, 2)
    inserted, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                _vote(project, "slow", "q0")  # takes the lower id...
                inserted.set()
                release.wait(timeout=30)  # ...but commits last
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert inserted.wait(timeout=30)
    _vote(project, "fast", "q1")  # a higher id, committed first

    seen: list[int] = []
    page, cursor = judgments_since(project=project, since="0", limit=100)
    seen += [row["id"] for row in page]
    release.set()
    assert done.wait(timeout=30)
    thread.join()
    # Poll as a pipeline would: rows appear once no older transaction anywhere on the
    # server is still running (another client's long transaction only delays them).
    deadline = time.monotonic() + 60
    while len(seen) < 2 and time.monotonic() < deadline:
        page, cursor = judgments_since(project=project, since=cursor, limit=100)
        seen += [row["id"] for row in page]
        if not page:
            time.sleep(0.2)

    assert sorted(seen) == sorted(Judgment.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen)) == 2
