"""Strict input over real HTTP (README "REST API"): what curl, requests or httpx send
against a running server. A form body is a 415 and creates nothing; an unknown field is a
400 naming it; a POST with no body needs no Content-Type."""

from __future__ import annotations

import json

import httpx
import pytest

from annotation.models import Judgment, Project
from annotation.services.annotators import annotator_for_user
from annotation.services.assignment import assignment_lease
from annotation.services.tokens import api_token_create
from tests.factories import ProjectFactory, import_items

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(live_server, researcher):
    """An httpx client of the live server with the researcher's token."""
    key = api_token_create(username=researcher.username)
    with httpx.Client(
        base_url=f"{live_server.url}/api/v1", headers={"Authorization": f"Token {key}"}
    ) as client:
        yield client


@pytest.fixture
def project(researcher) -> Project:
    project = ProjectFactory(owner=researcher, slug="live")
    import_items(project, 2)
    return project


def test_a_form_encoded_project_is_a_415_and_nothing_is_created(api):
    response = api.post(
        "/projects/", data={"slug": "formed", "name": "Formed", "criteria": "helpful"}
    )

    assert response.status_code == 415
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["errors"][0]["field"] == "Content-Type"
    assert not Project.objects.filter(slug="formed").exists()


def test_a_multipart_import_is_a_415(api, project):
    response = api.post("/projects/live/items/", files={"file": ("items.jsonl", b"{}\n")})

    assert response.status_code == 415
    assert "application/x-ndjson" in response.json()["errors"][0]["error"]


def test_a_body_without_a_content_type_is_a_415(api, project):
    response = api.request(
        "PATCH", "/projects/live/", content=b'{"name": "Renamed"}', headers={"Content-Type": ""}
    )

    assert response.status_code == 415
    assert Project.objects.get(slug="live").name != "Renamed"


def test_an_unknown_field_is_a_400_naming_it(api, project):
    response = api.patch("/projects/live/", json={"name": "Renamed", "colour": "red"})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "colour", "error": "unknown field"}]
    assert Project.objects.get(slug="live").name != "Renamed"


def test_an_unknown_query_parameter_is_a_400_naming_it(api, project):
    response = api.get("/projects/live/export/", params={"format": "dpo", "min_agrement": "0.9"})

    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "min_agrement", "error": "unknown parameter"}]


def test_a_json_body_is_taken(api, project):
    response = api.patch("/projects/live/", json={"name": "Renamed"})

    assert response.status_code == 200
    assert Project.objects.get(slug="live").name == "Renamed"


def test_json_lines_are_still_imported(api, project):
    lines = b'{"id": "n1", "prompt": "p", "responses": [{"model": "x"}, {"model": "y"}]}\n'

    response = api.post(
        "/projects/live/items/", content=lines, headers={"Content-Type": "application/x-ndjson"}
    )

    assert response.status_code == 201, response.text
    assert response.json()["items_created"] == 1


def test_a_post_with_no_body_needs_no_content_type(api, project, researcher):
    assignment = assignment_lease(project=project, annotator=annotator_for_user(user=researcher))

    renewed = api.post(f"/assignments/{assignment.pk}/renew/")
    refreshed = api.post("/projects/live/agreement/refresh/")

    assert "content-type" not in renewed.request.headers
    assert renewed.status_code == 200, renewed.text
    assert refreshed.status_code == 202, refreshed.text


def test_a_judgment_import_names_an_unknown_key_by_line_and_keeps_the_rationale(api, project):
    vote = {"annotator": "judge", "annotator_kind": "model", "a": "r1", "b": "r2", "choice": "a"}
    first = json.dumps(vote | {"item": "q0", "rationale": "A is right.", "seconds": 1.5})
    second = json.dumps(vote | {"item": "q1", "confidence": 0.9})
    headers = {"Content-Type": "application/x-ndjson"}

    refused = api.post("/projects/live/judgments/", content=f"{first}\n{second}\n", headers=headers)
    stored = api.post("/projects/live/judgments/", content=f"{first}\n", headers=headers)

    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"line": 2, "error": "confidence: unknown key"}]
    assert stored.status_code == 201, stored.text
    assert Judgment.objects.values_list("rationale", "seconds").get() == ("A is right.", 1.5)
