"""The OpenAPI schema at /api/schema/ and its documentation at /api/docs/."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_a_valid_openapi_document(schema):
    validate(schema)

    assert schema["openapi"].startswith("3.")


def test_schema_documents_every_contract_endpoint(schema):
    assert set(schema["paths"]) >= {
        "/api/v1/projects/",
        "/api/v1/projects/{slug}/",
        "/api/v1/projects/{slug}/items/",
        "/api/v1/projects/{slug}/progress/",
        "/api/v1/projects/{slug}/judgments/",
        "/api/v1/projects/{slug}/export/",
        "/api/v1/projects/{slug}/tasks/next/",
        "/api/v1/assignments/{assignment_id}/judgment/",
    }


def test_schema_documents_token_authentication(schema):
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_schema_documents_the_sync_page(schema):
    answer = schema["paths"]["/api/v1/projects/{slug}/judgments/"]["get"]["responses"]["200"]

    assert "content" in answer


def test_schema_generates_without_warnings():
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())


def test_schema_as_json_on_request(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    validate(response.json())


def test_docs_page_is_served_without_a_cdn(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode().lower()
    assert "swagger-ui" in html
    for host in ("cdn", "jsdelivr", "unpkg"):
        assert host not in html
    assert "/static/" in html
