"""How long an import's request takes before (synchronous, 201) and after import jobs (202),
and how long the job takes in a real Celery worker, for item and judgment files of 20,000 and
50,000 rows on PostgreSQL.

Run:  .venv/bin/python bench/bench_import_jobs.py [--sizes 20000 50000] [--redis-db 9]

Each request goes through the API view in-process (APIClient, as gunicorn would call it);
the worker is a separate `celery worker --pool solo` process on the local Redis, started and
stopped by this script. Works in its own database `prefpanel_bench_import_jobs`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import ROOT, database_recreate, database_url, server_versions, today
from bench.bench_import import jsonl_lines

DB_NAME = "prefpanel_bench_import_jobs"


def setup(redis_db: int) -> None:
    database_recreate(DB_NAME)
    os.environ["DATABASE_URL"] = database_url(DB_NAME)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{redis_db}"
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def start_worker() -> subprocess.Popen:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    from config.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1):
            return worker
    worker.terminate()
    raise SystemExit("the Celery worker did not answer")


def researcher_client():
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    client = APIClient()
    client.force_authenticate(user)
    return client, user


def judgment_lines(n_rows: int) -> list[str]:
    """Two judges per item of jsonl_lines(n_rows // 2)."""
    return [
        json.dumps(
            {
                "annotator": f"judge-{k}",
                "item": f"item-{i:07d}",
                "a": "r1",
                "b": "r2",
                "choice": "a" if (i + k) % 3 else "b",
            }
        )
        for i in range(n_rows // 2)
        for k in range(2)
    ]


def timed_post(client, url: str, payload: bytes) -> tuple[float, int, dict]:
    started = time.perf_counter()
    response = client.post(url, payload, content_type="application/x-ndjson")
    return time.perf_counter() - started, response.status_code, response.json()


def wait_for(job_id: int) -> tuple[str, float, float]:
    """The job's end: (status, created -> finished, started -> finished) in seconds."""
    from annotation.models import ImportJob

    while True:
        job = ImportJob.objects.defer("content").get(pk=job_id)
        if job.finished:
            return (
                job.status,
                (job.finished_at - job.created_at).total_seconds(),
                (job.finished_at - job.started_at).total_seconds(),
            )
        time.sleep(0.1)


def run(kind: str, n_rows: int, client, user) -> None:
    from django.conf import settings

    from annotation.models import Project
    from annotation.services.importing import items_import

    items = "\n".join(jsonl_lines(n_rows if kind == "items" else n_rows // 2)).encode()
    payload = items if kind == "items" else "\n".join(judgment_lines(n_rows)).encode()
    results = {}
    for mode, threshold in (("before", 10**9), ("after", 5000)):
        slug = f"{kind}-{n_rows}-{mode}"
        project = Project.objects.create(slug=slug, name=slug, kind="pairwise", owner=user)
        if kind == "judgments":
            items_import(project=project, content=items)
        settings.IMPORT_ASYNC_ROWS = threshold
        seconds, status, body = timed_post(client, f"/api/v1/projects/{slug}/{kind}/", payload)
        results[mode] = (seconds, status, body)
    before, after = results["before"], results["after"]
    assert before[1] == 201 and after[1] == 202, (before[1], after[1], after[2])
    status, total, running = wait_for(after[2]["id"])
    print(
        f"{kind:9} {n_rows:>6} rows ({len(payload) / 1e6:5.1f} MB): "
        f"request before {before[0]:6.2f} s (201) | after {after[0]:5.2f} s "
        f"(202, {before[0] / after[0]:5.1f}x shorter)"
        f" | job {status}: {total:6.2f} s from upload to end ({running:6.2f} s running;"
        f" {total / before[0]:4.2f}x the synchronous request)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 50000])
    parser.add_argument("--redis-db", type=int, default=9)
    args = parser.parse_args()
    setup(args.redis_db)
    print(f"{today()}: {server_versions()}, worker: celery --pool solo on Redis db {args.redis_db}")
    worker = start_worker()
    try:
        client, user = researcher_client()
        for kind in ("items", "judgments"):
            for n_rows in args.sizes:
                run(kind, n_rows, client, user)
    finally:
        worker.terminate()
        worker.wait(timeout=60)


if __name__ == "__main__":
    main()
