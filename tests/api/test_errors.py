"""Every refusal is JSON {"detail": "...", "errors": [...]} with a 4xx status, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from annotation.models import Assignment
from tests.factories import AnnotatorUserFactory, rubric_project

pytestmark = pytest.mark.django_db


@dataclass
class Setting:
    researcher: APIClient
    annotator: APIClient
    assignment: int
    others_assignment: int
    rubric_assignment: int


@pytest.fixture
def setting(researcher, researcher_client, annotator_client, api_client_for, pairwise) -> Setting:
    pairwise.strength_scale = 3
    pairwise.allow_tie = False
    pairwise.save()
    rubric_project(owner=researcher, slug="rated")
    researcher_client.post(
        "/api/v1/projects/rated/items/",
        [{"id": "q0", "prompt": "Rate me", "responses": [{"model": "m", "text": "hi"}]}],
        format="json",
    )
    other = api_client_for(AnnotatorUserFactory())
    return Setting(
        researcher=researcher_client,
        annotator=annotator_client,
        assignment=annotator_client.get("/api/v1/projects/pairs/tasks/next/").json()["assignment"],
        others_assignment=other.get("/api/v1/projects/pairs/tasks/next/").json()["assignment"],
        rubric_assignment=annotator_client.get("/api/v1/projects/rated/tasks/next/").json()[
            "assignment"
        ],
    )


def judge(client: APIClient, assignment: int, body) -> object:
    return client.post(f"/api/v1/assignments/{assignment}/judgment/", body, format="json")


def _expired(s: Setting):
    Assignment.objects.filter(pk=s.assignment).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    return judge(s.annotator, s.assignment, {"choice": "left", "strength": 1})


def _answered_differently(s: Setting):
    judge(s.annotator, s.assignment, {"choice": "left", "strength": 1})
    return judge(s.annotator, s.assignment, {"choice": "right", "strength": 1})


def _paused(s: Setting):
    s.researcher.patch("/api/v1/projects/pairs/", {"status": "paused"}, format="json")
    return s.annotator.get("/api/v1/projects/pairs/tasks/next/")


def _over_max_import_bytes(s: Setting):
    with override_settings(MAX_IMPORT_BYTES=100):
        return s.researcher.post(
            "/api/v1/projects/pairs/items/", "x" * 200, content_type="application/json"
        )


CASES: dict[str, tuple[int, Callable[[Setting], object]]] = {
    "no-credentials": (401, lambda s: APIClient().get("/api/v1/projects/")),
    "no-credentials-annotator-api": (
        401,
        lambda s: APIClient().get("/api/v1/projects/pairs/tasks/next/"),
    ),
    "annotator-on-projects": (403, lambda s: s.annotator.get("/api/v1/projects/")),
    "annotator-on-export": (403, lambda s: s.annotator.get("/api/v1/projects/pairs/export/")),
    "someone-elses-assignment": (
        403,
        lambda s: judge(s.annotator, s.others_assignment, {"choice": "left", "strength": 1}),
    ),
    "paused-project": (403, _paused),
    "unknown-project": (404, lambda s: s.researcher.get("/api/v1/projects/nope/")),
    "unknown-project-items": (404, lambda s: s.researcher.get("/api/v1/projects/nope/items/")),
    "unknown-project-next-task": (
        404,
        lambda s: s.annotator.get("/api/v1/projects/nope/tasks/next/"),
    ),
    "unknown-assignment": (404, lambda s: judge(s.annotator, 10**9, {"choice": "left"})),
    "unknown-choice": (400, lambda s: judge(s.annotator, s.assignment, {"choice": "up"})),
    "tie-not-allowed": (400, lambda s: judge(s.annotator, s.assignment, {"choice": "tie"})),
    "strength-out-of-scale": (
        400,
        lambda s: judge(s.annotator, s.assignment, {"choice": "left", "strength": 9}),
    ),
    "score-out-of-range": (
        400,
        lambda s: judge(
            s.annotator, s.rubric_assignment, {"scores": {"helpfulness": 7, "correctness": 1}}
        ),
    ),
    "negative-seconds": (
        400,
        lambda s: judge(
            s.annotator, s.assignment, {"choice": "left", "strength": 1, "seconds": -2}
        ),
    ),
    "malformed-json": (
        400,
        lambda s: s.annotator.post(
            f"/api/v1/assignments/{s.assignment}/judgment/", "{", content_type="application/json"
        ),
    ),
    "bad-import-line": (
        400,
        lambda s: s.researcher.post(
            "/api/v1/projects/pairs/items/", "{}\n", content_type="application/x-ndjson"
        ),
    ),
    "rubric-without-criteria": (
        400,
        lambda s: s.researcher.post(
            "/api/v1/projects/", {"slug": "r", "name": "R", "kind": "rubric"}, format="json"
        ),
    ),
    "unknown-export-format": (
        400,
        lambda s: s.researcher.get("/api/v1/projects/pairs/export/", {"format": "zip"}),
    ),
    "bad-sync-cursor": (
        400,
        lambda s: s.researcher.get("/api/v1/projects/pairs/judgments/", {"since": "x"}),
    ),
    "json-nested-deeper-than-64": (
        400,
        lambda s: s.annotator.post(
            f"/api/v1/assignments/{s.assignment}/judgment/",
            "[" * 100_000 + "]" * 100_000,
            content_type="application/json",
        ),
    ),
    "strength-in-other-digits": (
        400,
        lambda s: judge(s.annotator, s.assignment, {"choice": "left", "strength": "²"}),
    ),
    "export-integer-beyond-the-database": (
        400,
        lambda s: s.researcher.get(
            "/api/v1/projects/pairs/export/", {"min_judgments": "2147483648"}
        ),
    ),
    "snapshot-format-a-list": (
        400,
        lambda s: s.researcher.post(
            "/api/v1/projects/pairs/snapshots/", {"format": ["dpo"]}, format="json"
        ),
    ),
    "unknown-api-path": (404, lambda s: s.researcher.get("/api/v1/nope/")),
    "body-over-max-import-bytes": (413, _over_max_import_bytes),
    "different-answer": (409, _answered_differently),
    "expired-lease": (410, _expired),
    "method-not-allowed": (405, lambda s: s.researcher.put("/api/v1/projects/pairs/", {})),
    "unsupported-media-type": (
        415,
        lambda s: s.annotator.post(
            f"/api/v1/assignments/{s.assignment}/judgment/", "left", content_type="text/plain"
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refusal_is_json_with_detail_and_errors(setting, case):
    expected_status, make_request = CASES[case]

    response = make_request(setting)

    assert response.status_code == expected_status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list)


def test_validation_errors_name_the_field(setting):
    response = judge(setting.annotator, setting.assignment, {"choice": "left", "strength": 9})

    assert response.json()["errors"] == [
        {"field": "strength", "error": "must be an integer from 1 to 3"}
    ]


def test_export_since_an_impossible_date_is_a_400(researcher_client, pairwise):
    response = researcher_client.get(
        "/api/v1/projects/pairs/export/", {"since": "2024-13-45T00:00:00"}
    )

    assert response.status_code == 400
