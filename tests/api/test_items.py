"""Importing items through the API (a JSON list or a JSONL body) and listing them."""

from __future__ import annotations

import json

import pytest

from annotation.models import Item, Task
from tests.factories import ProjectFactory, item_rows

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/fresh/items/"


@pytest.fixture
def project(researcher):
    return ProjectFactory(owner=researcher, slug="fresh")


def jsonl(rows: list) -> str:
    return "\n".join(json.dumps(row) for row in rows) + "\n"


def test_json_list_is_imported_with_counts(researcher_client, project):
    response = researcher_client.post(URL, item_rows(2, responses=3), format="json")

    assert response.status_code == 201
    assert response.json() == {
        "items_created": 2,
        "items_updated": 0,
        "items_unchanged": 0,
        "responses_created": 6,
        "tasks_created": 6,
    }
    assert project.items.count() == 2


def test_jsonl_body_is_imported(researcher_client, project):
    response = researcher_client.post(URL, jsonl(item_rows(3)), content_type="application/x-ndjson")

    assert response.status_code == 201
    assert response.json()["items_created"] == 3
    assert project.items.count() == 3


def test_bad_lines_are_a_400_naming_each_line_and_nothing_is_imported(researcher_client, project):
    rows = item_rows(4)
    body = jsonl(rows[:1]) + "{not json\n" + jsonl(rows[1:2]) + json.dumps({"prompt": "x"}) + "\n"

    response = researcher_client.post(URL, body, content_type="application/x-ndjson")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [e["line"] for e in errors] == [2, 4]
    assert "invalid JSON" in errors[0]["error"]
    assert "responses" in errors[1]["error"]
    assert project.items.count() == 0


def test_bad_row_in_a_json_list_names_its_position(researcher_client, project):
    rows = item_rows(2)
    rows[1]["responses"][0]["id"] = "r2"  # duplicate response id

    response = researcher_client.post(URL, rows, format="json")

    assert response.status_code == 400
    assert [e["line"] for e in response.json()["errors"]] == [2]
    assert project.items.count() == 0


def test_unknown_response_id_in_pairs_is_a_400(researcher_client, project):
    rows = item_rows(1)
    rows[0]["pairs"] = [["r1", "r9"]]

    response = researcher_client.post(URL, rows, format="json")

    assert response.status_code == 400
    assert "r9" in response.json()["errors"][0]["error"]


def test_importing_the_same_items_twice_keeps_one_copy(researcher_client, project):
    rows = item_rows(3)
    researcher_client.post(URL, rows, format="json")

    again = researcher_client.post(URL, rows, format="json")

    assert again.status_code == 201
    assert again.json() == {
        "items_created": 0,
        "items_updated": 0,
        "items_unchanged": 3,
        "responses_created": 0,
        "tasks_created": 0,
    }
    assert Item.objects.filter(project=project).count() == 3
    assert Task.objects.filter(project=project).count() == 3


def test_empty_list_is_a_400(researcher_client, project):
    response = researcher_client.post(URL, [], format="json")

    assert response.status_code == 400
    assert response.json()["errors"]


def test_listing_shows_items_with_responses_and_their_models(researcher_client, project):
    researcher_client.post(URL, item_rows(2), format="json")

    response = researcher_client.get(URL)

    assert response.status_code == 200
    results = response.json()["results"]
    assert [item["id"] for item in results] == ["q0", "q1"]
    assert results[0]["prompt"] == "Question 0?"
    assert results[0]["responses"] == [
        {"id": "r1", "model": "model-0", "text": "Answer 0 to 0."},
        {"id": "r2", "model": "model-1", "text": "Answer 1 to 0."},
    ]


def test_listing_is_paginated_with_a_cursor(researcher_client, project):
    researcher_client.post(URL, item_rows(3), format="json")

    first = researcher_client.get(URL, {"page_size": 2}).json()
    second = researcher_client.get(first["next"]).json()

    assert [i["id"] for i in first["results"]] == ["q0", "q1"]
    assert [i["id"] for i in second["results"]] == ["q2"]
    assert second["next"] is None


def test_importing_into_another_researchers_project_is_a_404(researcher_client):
    ProjectFactory(slug="theirs")

    response = researcher_client.post("/api/v1/projects/theirs/items/", item_rows(1), format="json")

    assert response.status_code == 404


def test_an_items_export_reimports_unchanged(researcher_client, project):
    rows = item_rows(3)
    rows[0] |= {"metadata": {"source": "mt-bench"}, "reference": {"preferred": "r2"}}
    rows[1] |= {"gold": {"preferred": "r1"}, "pairs": [["r2", "r1"]]}
    rows[2]["prompt"] = [{"role": "user", "content": "Hi"}]
    researcher_client.post(URL, rows, format="json")
    exported = researcher_client.get(
        "/api/v1/projects/fresh/export/", {"format": "items", "include_gold": "true"}
    )
    lines = b"".join(exported.streaming_content)

    again = researcher_client.post(URL, lines, content_type="application/x-ndjson")

    assert again.status_code == 201, again.content
    assert again.json()["items_updated"] == 0
    assert again.json()["items_unchanged"] == 3
