"""Log lines carry the request id (from X-Request-ID or made, echoed in the response), the
user and the project; JSON lines with LOG_FORMAT=json; queued tasks log their caller's id."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from ops.request_log import json_formatter
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The request log as LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter())
    log = logging.getLogger("ops.request_log")
    previous = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield stream
    log.removeHandler(handler)
    log.setLevel(previous)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_logs_a_json_line_with_the_callers_request_id(client: Client, json_log):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c21"})
    assert response["X-Request-ID"] == "lb-7f3a9c21"
    [line] = lines(json_log)
    assert line["request_id"] == "lb-7f3a9c21"
    assert line["path"] == "/healthz" and line["status"] == 200 and line["method"] == "GET"
    assert line["level"] == "info" and line["logger"] == "ops.request_log"


def test_a_request_without_an_id_gets_one_made_and_echoed(client: Client, json_log):
    response = client.get("/healthz")
    made = response["X-Request-ID"]
    assert len(made) == 32
    assert lines(json_log)[0]["request_id"] == made
    assert client.get("/healthz")["X-Request-ID"] != made


@pytest.mark.parametrize("header", ["has spaces", 'quo"te', "x" * 129, "", "-leading-dash"])
def test_an_insane_request_id_is_replaced(client: Client, header: str):
    response = client.get("/healthz", headers={"X-Request-ID": header})
    assert response["X-Request-ID"] != header
    assert len(response["X-Request-ID"]) == 32


def test_an_api_line_names_the_user_and_the_project(researcher, json_log):
    project = ProjectFactory(owner=researcher, slug="logged-study")
    client = APIClient()
    client.force_authenticate(researcher)
    response = client.get(f"/api/v1/projects/{project.slug}/", HTTP_X_REQUEST_ID="abc-1")
    assert response.status_code == 200
    [line] = lines(json_log)
    assert line["request_id"] == "abc-1"
    assert line["user_id"] == researcher.pk
    assert line["project"] == "logged-study"


def test_log_format_json_writes_json_lines():
    env = os.environ | {"DEBUG": "true", "LOG_FORMAT": "json"}
    code = "import logging; logging.getLogger('annotation.services.x').warning('disk %s', 'full')"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["event"] == "disk full"
    assert line["level"] == "warning" and line["logger"] == "annotation.services.x"
    assert "timestamp" in line


def test_an_unknown_log_format_stops_start_up():
    env = os.environ | {"DEBUG": "true", "LOG_FORMAT": "xml"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "LOG_FORMAT must be text or json" in result.stderr


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_task_queued_by_a_request_logs_the_callers_request_id(researcher, json_log):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    project = ProjectFactory(owner=researcher, slug="traced-study")
    client = APIClient()
    client.force_authenticate(researcher)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        response = client.post(
            f"/api/v1/projects/{project.slug}/agreement/refresh/",
            HTTP_X_REQUEST_ID="pipeline-run-42",
        )
        assert response.json() == {"status": "queued"}
        deadline = time.monotonic() + 30
        started: list[dict] = []
        while time.monotonic() < deadline and not started:
            time.sleep(0.1)
            # A task some earlier run left in the queue may come first: it has its own id.
            started = [
                line
                for line in lines(json_log)
                if line.get("task") and line["request_id"] == "pipeline-run-42"
            ]
    assert started, lines(json_log)
    assert started[0]["task"] == "annotation.tasks.report_refresh"
    assert started[0]["event"] == "task annotation.tasks.report_refresh started"
