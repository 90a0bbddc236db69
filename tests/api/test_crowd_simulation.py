"""A simulated crowd study through the annotator API: 40 annotators at once, with retries,
abandoned leases and a position clicker. Every task must end at exactly k judgments."""

from __future__ import annotations

import random
import threading
import time

import pytest
from django.db import connections
from rest_framework.test import APIClient

from annotation.models import AnnotatorStats, Judgment, Task
from annotation.services.quality import FLAG_ONE_SIDE
from tests.factories import AnnotatorUserFactory, ProjectFactory, import_items

K = 3
ANNOTATORS = 40
TASKS = 120


def _work(
    user,
    slug: str,
    behaviour: str,
    seed: int,
    acknowledged: list,
    errors: list,
    lock: threading.Lock,
    deadline: float,
) -> None:
    rng = random.Random(seed)
    client = APIClient()
    client.force_authenticate(user)
    abandoned_once = False
    try:
        while time.monotonic() < deadline:
            response = client.get(f"/api/v1/projects/{slug}/tasks/next/")
            if response.status_code == 204:
                return
            assert response.status_code == 200, response.content
            task = response.json()
            if behaviour == "abandons" and not abandoned_once:
                abandoned_once = True  # walks away holding the lease; it must expire
                continue
            if behaviour == "left":
                choice = "left"
            else:  # prefers the response that says "Answer 0", wherever it is shown
                good_left = "Answer 0" in task["left"]["text"]
                correct = rng.random() < 0.85
                choice = "left" if good_left == correct else "right"
            url = f"/api/v1/assignments/{task['assignment']}/judgment/"
            first = client.post(url, {"choice": choice}, format="json")
            retry = client.post(url, {"choice": choice}, format="json")  # a client retry
            if first.status_code == 410:
                continue  # the lease ran out: the task went back to the pool
            assert first.status_code == 201, first.content
            assert retry.status_code == 201 and retry.json()["id"] == first.json()["id"]
            with lock:
                acknowledged.append(first.json()["id"])
    except BaseException as exc:
        errors.append(exc)
    finally:
        connections.close_all()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_forty_annotators_end_with_every_task_at_exactly_k():
    project = ProjectFactory(
        slug="crowd",
        annotations_per_task=K,
        lease_seconds=10,
        flag_min_judgments=5,
        min_seconds_per_task=0,
    )
    import_items(project, TASKS)
    users = [AnnotatorUserFactory() for _ in range(ANNOTATORS)]
    behaviours = ["left"] + ["abandons"] * 5 + ["honest"] * (ANNOTATORS - 6)
    acknowledged: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 120

    def run_round(behaviours: list[str]) -> None:
        threads = [
            threading.Thread(
                target=_work,
                args=(user, "crowd", behaviour, seed, acknowledged, errors, lock, deadline),
            )
            for seed, (user, behaviour) in enumerate(zip(users, behaviours, strict=True))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=150)

    run_round(behaviours)
    # Tasks held by abandoned leases come back once the leases expire; a second round of
    # the same annotators finishes them.
    if Task.objects.filter(project=project, judgment_count__lt=K).exists():
        time.sleep(project.lease_seconds + 0.5)
        run_round([b if b == "left" else "honest" for b in behaviours])
    assert not errors, errors[:3]

    counts = list(Task.objects.filter(project=project).values_list("judgment_count", flat=True))
    assert counts == [K] * TASKS
    stored = Judgment.objects.filter(project=project)
    assert stored.count() == TASKS * K == len(acknowledged) == len(set(acknowledged))
    per_task = {}
    for task_id, annotator_id in stored.values_list("task_id", "annotator_id"):
        per_task.setdefault(task_id, set()).add(annotator_id)
    assert all(len(annotators) == K for annotators in per_task.values())

    clicker = AnnotatorStats.objects.get(project=project, annotator__user=users[0])
    assert clicker.left_rate == 1.0 and FLAG_ONE_SIDE in clicker.flags
    others_flagged = AnnotatorStats.objects.filter(project=project).exclude(pk=clicker.pk)
    assert sum(FLAG_ONE_SIDE in s.flags for s in others_flagged) <= 3
