"""Which snapshots beat queues again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.models import Snapshot
from annotation.selectors.snapshots import snapshots_pending_since
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_only_snapshots_still_pending_from_before_the_cutoff_are_queued_again():
    project = ProjectFactory()
    now = timezone.now()
    old, recent, built = (Snapshot.objects.create(project=project, query={}) for _ in range(3))
    Snapshot.objects.filter(pk__in=[old.pk, built.pk]).update(created_at=now - timedelta(hours=1))
    Snapshot.objects.filter(pk=built.pk).update(status=Snapshot.Status.READY)
    assert snapshots_pending_since(before=now - timedelta(minutes=5)) == [old.pk]
    assert snapshots_pending_since(before=now + timedelta(minutes=5)) == [old.pk, recent.pk]
