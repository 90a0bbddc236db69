"""Agreement, leaderboard and judgment import over REST; a refresh on a real worker."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from annotation.models import Judgment, Project
from annotation.services.importing import items_import
from tests.annotation.services.test_reports import (
    KRIPPENDORFF_2011,
    fleiss_rows,
    krippendorff_rows,
)
from tests.factories import CriterionFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _rubric(researcher, n_units: int, level: str = "nominal") -> Project:
    project = ProjectFactory(owner=researcher, kind=Project.Kind.RUBRIC, slug="coded")
    CriterionFactory(project=project, key="code", min=1, max=5, level=level)
    rows = [
        {"id": f"u{i + 1}", "prompt": "p", "responses": [{"model": "m", "text": "x"}]}
        for i in range(n_units)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    return project


def test_judgments_import_then_agreement_gives_krippendorffs_alpha(researcher_client, researcher):
    _rubric(researcher, 12)
    response = researcher_client.post(
        "/api/v1/projects/coded/judgments/", krippendorff_rows(), format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["judgments_created"] == sum(
        v is not None for values in KRIPPENDORFF_2011.values() for v in values
    )
    body = researcher_client.get("/api/v1/projects/coded/agreement/").json()
    assert body["stale"] is False and body["computed_at"]
    assert body["criteria"]["code"]["krippendorff_alpha"]["value"] == pytest.approx(0.743, abs=5e-4)


def test_fleiss_example_through_the_api(researcher_client, researcher):
    _rubric(researcher, 10)
    researcher_client.post("/api/v1/projects/coded/judgments/", fleiss_rows(), format="json")
    body = researcher_client.get("/api/v1/projects/coded/agreement/").json()
    assert body["criteria"]["code"]["fleiss_kappa"]["value"] == pytest.approx(0.210, abs=5e-4)


def test_bad_judgment_rows_are_named_by_line_and_nothing_is_stored(researcher_client, researcher):
    _rubric(researcher, 2)
    rows = [
        {"annotator": "x", "item": "u1", "response": "r1", "scores": {"code": 3}},
        {"annotator": "x", "item": "u9", "response": "r1", "scores": {"code": 3}},
        {"annotator": "y", "item": "u1", "response": "r1", "scores": {"code": 9}},
        {"annotator": "x", "item": "u1", "response": "r1", "scores": {"code": 2}},
    ]
    response = researcher_client.post("/api/v1/projects/coded/judgments/", rows, format="json")
    assert response.status_code == 400
    assert [e["line"] for e in response.json()["errors"]] == [2, 3, 4]
    assert not Judgment.objects.exists()


def test_judgments_import_accepts_jsonl(researcher_client, researcher):
    _rubric(researcher, 1)
    body = b'{"annotator": "a", "item": "u1", "response": "r1", "scores": {"code": 1}}\n'
    response = researcher_client.post(
        "/api/v1/projects/coded/judgments/", body, content_type="application/x-ndjson"
    )
    assert response.status_code == 201


def test_pairwise_import_flips_a_pair_given_in_the_other_order(researcher_client, researcher):
    project = ProjectFactory(owner=researcher, slug="pairs")
    items_import(
        project=project,
        rows=[
            (
                1,
                {
                    "id": "q",
                    "prompt": "p",
                    "responses": [
                        {"id": "r1", "model": "x", "text": "1"},
                        {"id": "r2", "model": "y", "text": "2"},
                    ],
                },
            )
        ],
    )
    rows = [
        {
            "annotator": "j",
            "annotator_kind": "model",
            "item": "q",
            "a": "r2",
            "b": "r1",
            "choice": "a",
        }
    ]
    assert (
        researcher_client.post("/api/v1/projects/pairs/judgments/", rows, format="json").status_code
        == 201
    )
    judgment = Judgment.objects.get()
    assert judgment.choice == "b"  # r2 is response b of the task
    assert judgment.annotator.kind == "model"


def test_leaderboard_shape(researcher_client, researcher):
    project = ProjectFactory(owner=researcher, slug="arena")
    rows = [
        {
            "id": f"q{i}",
            "prompt": "p",
            "responses": [
                {"id": "r1", "model": "strong", "text": "1"},
                {"id": "r2", "model": "weak", "text": "2"},
            ],
        }
        for i in range(10)
    ]
    items_import(project=project, rows=list(enumerate(rows, 1)))
    votes = [
        {
            "annotator": f"h{k}",
            "item": f"q{i}",
            "a": "r1",
            "b": "r2",
            "choice": "a" if (i + k) % 4 else "b",
        }
        for i in range(10)
        for k in range(3)
    ]
    researcher_client.post("/api/v1/projects/arena/judgments/", votes, format="json")
    body = researcher_client.get("/api/v1/projects/arena/leaderboard/").json()
    assert [r["model"] for r in body["results"]] == ["strong", "weak"]
    first = body["results"][0]
    assert set(first) >= {"model", "rating", "ci", "wins", "losses", "ties", "n"}
    assert first["rating"] > 1000 > body["results"][1]["rating"]
    assert 0.5 < body["win_rate"]["strong"]["weak"] < 1


def test_rubric_project_has_no_leaderboard(researcher_client, researcher):
    _rubric(researcher, 1)
    assert researcher_client.get("/api/v1/projects/coded/leaderboard/").status_code == 400


def test_agreement_without_judgments_is_empty_and_stale(researcher_client, researcher):
    _rubric(researcher, 1)
    body = researcher_client.get("/api/v1/projects/coded/agreement/").json()
    assert body == {
        "computed_at": None,
        "stale": True,
        "criteria": {},
        "annotators": [],
        "model_judges": [],
    }


def test_annotators_may_not_read_reports(annotator_client, researcher):
    _rubric(researcher, 1)
    assert annotator_client.get("/api/v1/projects/coded/agreement/").status_code == 403
    assert annotator_client.post("/api/v1/projects/coded/agreement/refresh/").status_code == 403


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("n_units", "rows", "metric", "expected"),
    [
        (12, krippendorff_rows, "krippendorff_alpha", 0.743),  # Krippendorff (2011)
        (10, fleiss_rows, "fleiss_kappa", 0.210),  # Fleiss (1971)
    ],
)
def test_refresh_is_computed_by_a_real_celery_worker(researcher, n_units, rows, metric, expected):
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    _rubric(researcher, n_units)
    client = APIClient()
    client.force_authenticate(researcher)
    assert (
        client.post("/api/v1/projects/coded/judgments/", rows(), format="json").status_code == 201
    )
    assert client.get("/api/v1/projects/coded/agreement/").json()["computed_at"] is None
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        assert client.post("/api/v1/projects/coded/agreement/refresh/").status_code == 202
        deadline = time.monotonic() + 60
        body = {}
        while time.monotonic() < deadline:
            body = client.get("/api/v1/projects/coded/agreement/").json()
            if body["computed_at"]:
                break
            time.sleep(0.2)
    assert body["stale"] is False
    assert body["criteria"]["code"][metric]["value"] == pytest.approx(expected, abs=5e-4)
