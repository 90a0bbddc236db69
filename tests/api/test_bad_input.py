"""Bad input is refused with JSON, never a 500 or an HTML page (README "REST API"):
nesting deeper than 64, digits that are not ASCII, integers beyond the database's range,
values of the wrong shape, bodies over MAX_IMPORT_BYTES, unknown paths under /api/."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import urlencode

import pytest
from django.test import Client
from rest_framework.exceptions import APIException
from rest_framework.test import APIClient

from annotation.models import Item, Project
from tests.factories import ProjectFactory, import_items, rubric_project

pytestmark = pytest.mark.django_db

DEEP = 100_000
ITEMS = "/api/v1/projects/pairs/items/"
JUDGMENTS = "/api/v1/projects/pairs/judgments/"
RATED_JUDGMENTS = "/api/v1/projects/rated/judgments/"
EXPORT = "/api/v1/projects/pairs/export/"
SNAPSHOTS = "/api/v1/projects/pairs/snapshots/"
BEYOND_BIGINT = str(2**63)
NOT_ASCII_DIGITS = ["²", "³", "٣"]
RESPONSES = [{"model": "x", "text": "a"}, {"model": "y", "text": "b"}]


def refusal(response, status: int) -> dict:
    """The JSON body of a refusal with that status, checked for the shape of every refusal."""
    assert response.status_code == status, (response.status_code, response.content[:400])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def fields_of(body: dict) -> list[str]:
    return [error.get("field") for error in body["errors"]]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.fixture
def pairs(pairwise) -> Project:
    pairwise.strength_scale = 3
    pairwise.save()
    return pairwise


@pytest.fixture
def rated(researcher) -> Project:
    project = rubric_project(owner=researcher, slug="rated")
    import_items(project, 1, responses=1)
    return project


@pytest.fixture
def assignment(annotator_client, pairs) -> int:
    return annotator_client.get("/api/v1/projects/pairs/tasks/next/").json()["assignment"]


@pytest.fixture
def rubric_assignment(annotator_client, rated) -> int:
    return annotator_client.get("/api/v1/projects/rated/tasks/next/").json()["assignment"]


def judge(client: APIClient, assignment: int, body: dict):
    return client.post(f"/api/v1/assignments/{assignment}/judgment/", body, format="json")


# ---------------------------------------------------------------- nesting deeper than 64


def _json_post(client: APIClient, path: str, text: str, method: str = "post"):
    return getattr(client, method)(path, text, content_type="application/json")


NESTED_BODIES = {
    "project-create": ("/api/v1/projects/", '{"slug": "n", "name": %s}', "post"),
    "project-patch": ("/api/v1/projects/pairs/", '{"instructions": %s}', "patch"),
    "items-json-list": (ITEMS, '[{"id": "n", "prompt": "p", "metadata": %s}]', "post"),
    "judgments-import-json": (JUDGMENTS, '[{"annotator": "x", "item": %s}]', "post"),
    "snapshot-create": (SNAPSHOTS, '{"format": %s}', "post"),
    "whole-body": (ITEMS, "%s", "post"),
}


@pytest.mark.parametrize("depth", [65, 100, DEEP])
@pytest.mark.parametrize("case", list(NESTED_BODIES))
def test_json_nested_deeper_than_64_is_a_400_naming_the_nesting(
    researcher_client, pairs, case, depth
):
    path, template, method = NESTED_BODIES[case]

    response = _json_post(researcher_client, path, template % nested(depth), method)

    body = refusal(response, 400)
    assert "nested deeper than 64" in body["detail"]
    assert fields_of(body) == [""]


@pytest.mark.parametrize("depth", [100, DEEP])
def test_judgment_nested_deeper_than_64_is_a_400(annotator_client, assignment, depth):
    response = _json_post(
        annotator_client,
        f"/api/v1/assignments/{assignment}/judgment/",
        '{"choice": "left", "strength": 1, "criteria": ' + nested(depth) + "}",
    )

    assert "nested deeper than 64" in refusal(response, 400)["detail"]


def test_json_nested_64_deep_is_read(researcher_client, pairs):
    # the list, the item and its metadata are three levels: 61 more make 64
    metadata = '{"deep": ' + nested(61) + "}"
    responses = json.dumps(RESPONSES)
    text = f'[{{"id": "n", "prompt": "p", "responses": {responses}, "metadata": {metadata}}}]'

    response = _json_post(researcher_client, ITEMS, text)

    assert response.status_code == 201, response.json()
    item = Item.objects.get(project=pairs, external_id="n")
    assert item.metadata["deep"] == json.loads(nested(61))


@pytest.mark.parametrize("path", [ITEMS, JUDGMENTS])
@pytest.mark.parametrize("depth", [65, DEEP])
def test_ndjson_line_nested_deeper_than_64_is_a_400_naming_its_line(
    researcher_client, pairs, path, depth
):
    good = json.dumps({"id": "ok", "prompt": "p", "responses": RESPONSES})
    text = good + "\n" + '{"id": "n", "metadata": ' + nested(depth) + "}\n"

    response = researcher_client.post(path, text, content_type="application/x-ndjson")

    body = refusal(response, 400)
    assert {"line": 2, "error": "invalid JSON: nested deeper than 64 levels"} in body["errors"]


# ---------------------------------------------------------------- what Python reads but is not JSON


def test_ndjson_nan_is_a_400_naming_its_line(researcher_client, pairs):
    text = '{"id": "n", "prompt": "p", "responses": ' + json.dumps(RESPONSES) + ", "
    text += '"metadata": {"x": NaN}}\n'

    response = researcher_client.post(ITEMS, text, content_type="application/x-ndjson")

    body = refusal(response, 400)
    assert body["errors"][0]["line"] == 1
    assert "NaN" in body["errors"][0]["error"]


def test_ndjson_integer_of_5000_digits_is_a_400_naming_its_line(researcher_client, pairs):
    text = '{"id": "n", "prompt": "p", "metadata": {"x": %s}}\n' % ("9" * 5000)

    response = researcher_client.post(ITEMS, text, content_type="application/x-ndjson")

    body = refusal(response, 400)
    assert body["errors"][0]["line"] == 1


def test_json_integer_of_5000_digits_is_a_400(annotator_client, assignment):
    text = '{"choice": "left", "strength": %s}' % ("9" * 5000)

    response = _json_post(annotator_client, f"/api/v1/assignments/{assignment}/judgment/", text)

    refusal(response, 400)


@pytest.mark.parametrize("seconds", ["1e400", "1" + "0" * 400, "NaN", "Infinity"])
def test_imported_judgment_with_seconds_no_float_holds_is_a_400_naming_its_line(
    researcher_client, pairs, seconds
):
    text = '{"annotator": "x", "item": "q0", "a": "r1", "b": "r2", "choice": "tie", '
    text += f'"seconds": {seconds}}}\n'

    response = researcher_client.post(JUDGMENTS, text, content_type="application/x-ndjson")

    body = refusal(response, 400)
    assert body["errors"][0]["line"] == 1


# ---------------------------------------------------------------- digits that are not ASCII


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
def test_strength_in_other_digits_is_a_400_naming_strength(annotator_client, assignment, digit):
    response = judge(annotator_client, assignment, {"choice": "left", "strength": digit})

    assert fields_of(refusal(response, 400)) == ["strength"]


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
def test_score_in_other_digits_is_a_400_naming_the_score(
    annotator_client, rubric_assignment, digit
):
    response = judge(
        annotator_client, rubric_assignment, {"scores": {"helpfulness": digit, "correctness": 1}}
    )

    assert fields_of(refusal(response, 400)) == ["scores.helpfulness"]


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
def test_seconds_in_other_digits_is_a_400_naming_seconds(annotator_client, assignment, digit):
    response = judge(
        annotator_client, assignment, {"choice": "left", "strength": 1, "seconds": digit}
    )

    assert fields_of(refusal(response, 400)) == ["seconds"]


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
def test_imported_score_in_other_digits_is_a_400_naming_its_line(researcher_client, rated, digit):
    row = {"annotator": "x", "item": "q0", "response": "r1"}
    row["scores"] = {"helpfulness": digit, "correctness": 1}

    response = researcher_client.post(RATED_JUDGMENTS, [row], format="json")

    body = refusal(response, 400)
    assert body["errors"] == [
        {"line": 1, "error": "scores.helpfulness: must be an integer from 0 to 4"}
    ]


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
def test_imported_strength_in_other_digits_is_a_400_naming_its_line(
    researcher_client, pairs, digit
):
    row = {"annotator": "x", "item": "q0", "a": "r1", "b": "r2", "choice": "a", "strength": digit}

    response = researcher_client.post(JUDGMENTS, [row], format="json")

    assert refusal(response, 400)["errors"][0]["line"] == 1


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
@pytest.mark.parametrize("name", ["since", "min_judgments"])
def test_export_number_in_other_digits_is_a_400_naming_it(researcher_client, pairs, name, digit):
    response = researcher_client.get(EXPORT, {name: digit})

    assert fields_of(refusal(response, 400)) == [name]


@pytest.mark.parametrize("value", ["\u0660.\u0665", "0.\u0665", "\u00bd"])
def test_export_min_agreement_in_other_digits_is_a_400_naming_it(researcher_client, pairs, value):
    response = researcher_client.get(EXPORT, {"format": "dpo", "min_agreement": value})

    assert fields_of(refusal(response, 400)) == ["min_agreement"]


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
def test_sync_cursor_in_other_digits_is_a_400_naming_since(researcher_client, pairs, digit):
    response = researcher_client.get(JUDGMENTS, {"since": digit})

    assert fields_of(refusal(response, 400)) == ["since"]


@pytest.mark.parametrize("digit", NOT_ASCII_DIGITS)
def test_page_size_in_other_digits_is_a_400_naming_it(researcher_client, pairs, digit):
    response = researcher_client.get("/api/v1/projects/", {"page_size": digit})

    assert fields_of(refusal(response, 400)) == ["page_size"]


def test_page_size_in_ascii_digits_still_pages(researcher_client, pairs):
    ProjectFactory(owner=pairs.owner, slug="second")

    response = researcher_client.get("/api/v1/projects/", {"page_size": "1"})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.parametrize("position", ["²", "٣", BEYOND_BIGINT, "x"])
def test_forged_cursor_is_a_400_naming_it(researcher_client, pairs, position):
    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()

    response = researcher_client.get("/api/v1/projects/", {"cursor": cursor})

    assert fields_of(refusal(response, 400)) == ["cursor"]


def test_cursor_the_api_gave_still_pages(researcher_client, pairs):
    ProjectFactory(owner=pairs.owner, slug="second")
    first = researcher_client.get("/api/v1/projects/", {"page_size": "1"}).json()

    second = researcher_client.get(first["next"])

    assert second.status_code == 200
    assert [p["slug"] for p in second.json()["results"]] == ["second"]


# ---------------------------------------------------------------- integers the database cannot hold


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_judgments", "2147483648"),
        ("min_judgments", "-1"),
        ("since", BEYOND_BIGINT),
        ("since", "-5"),
    ],
)
def test_export_integer_out_of_range_is_a_400_naming_it(researcher_client, pairs, name, value):
    response = researcher_client.get(EXPORT, {name: value})

    assert fields_of(refusal(response, 400)) == [name]


@pytest.mark.parametrize("since", [BEYOND_BIGINT, f"{BEYOND_BIGINT}-1", f"1-{BEYOND_BIGINT}"])
def test_sync_cursor_beyond_the_database_is_a_400_naming_since(researcher_client, pairs, since):
    response = researcher_client.get(JUDGMENTS, {"since": since})

    assert fields_of(refusal(response, 400)) == ["since"]


@pytest.mark.parametrize(("name", "value"), [("min_judgments", 2**31), ("since", 2**63)])
def test_snapshot_integer_out_of_range_is_a_400_naming_it(researcher_client, pairs, name, value):
    response = researcher_client.post(SNAPSHOTS, {name: value}, format="json")

    assert fields_of(refusal(response, 400)) == [name]


def test_judgment_on_an_assignment_id_beyond_the_database_is_a_404(annotator_client, pairs):
    response = judge(annotator_client, 2**64, {"choice": "left", "strength": 1})

    refusal(response, 404)


def test_snapshot_id_beyond_the_database_is_a_404(researcher_client, pairs):
    refusal(researcher_client.get(f"{SNAPSHOTS}{2**64}/"), 404)


# ---------------------------------------------------------------- values of the wrong shape


@pytest.mark.parametrize(
    "name",
    [
        "format",
        "filetype",
        "min_agreement",
        "min_judgments",
        "exclude_flagged",
        "include_gold",
        "since",
        "annotator_kind",
    ],
)
@pytest.mark.parametrize("value", [["dpo"], {"dpo": 1}])
def test_snapshot_query_value_that_is_a_list_or_object_is_a_400_naming_it(
    researcher_client, pairs, name, value
):
    response = researcher_client.post(SNAPSHOTS, {name: value}, format="json")

    assert name in fields_of(refusal(response, 400))


# ---------------------------------------------------------------- body size


def _items(count: int, text_size: int) -> list[dict]:
    return [
        {
            "id": f"big{i}",
            "prompt": "p",
            "responses": [
                {"model": "x", "text": "a" * text_size},
                {"model": "y", "text": "b" * text_size},
            ],
        }
        for i in range(count)
    ]


def test_json_item_list_over_django_memory_limit_is_imported(researcher_client, pairs, settings):
    rows = _items(40, 40_000)  # 3.2 MB, over DATA_UPLOAD_MAX_MEMORY_SIZE's 2.5 MB
    text = json.dumps(rows)
    assert len(text) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = researcher_client.post(ITEMS, text, content_type="application/json")

    assert response.status_code == 201, response.content[:300]
    assert response.json()["items_created"] == 40


@pytest.mark.parametrize("content_type", ["application/json", "application/x-ndjson"])
def test_body_over_max_import_bytes_is_a_json_413(researcher_client, pairs, settings, content_type):
    settings.MAX_IMPORT_BYTES = 10_000
    rows = _items(2, 10_000)
    text = (
        json.dumps(rows) if content_type == "application/json" else "\n".join(map(json.dumps, rows))
    )

    response = researcher_client.post(ITEMS, text, content_type=content_type)

    body = refusal(response, 413)
    assert body["errors"] == []
    assert "10000" in body["detail"]
    assert not Item.objects.filter(external_id="big0").exists()


def test_body_over_max_import_bytes_is_a_413_before_authentication(pairs, settings):
    settings.MAX_IMPORT_BYTES = 1_000

    response = APIClient().post(ITEMS, "x" * 2_000, content_type="application/json")

    refusal(response, 413)


def test_body_at_max_import_bytes_is_read(researcher_client, pairs, settings):
    text = json.dumps(_items(1, 100))
    settings.MAX_IMPORT_BYTES = len(text.encode())

    response = researcher_client.post(ITEMS, text, content_type="application/json")

    assert response.status_code == 201


class _Unsized(io.BytesIO):
    """A body read without a Content-Length (chunked)."""


@pytest.mark.parametrize("parser_name", ["JSONParser", "NDJSONParser"])
def test_parser_counts_a_body_without_content_length(parser_name, settings):
    from api import parsers

    parser = getattr(parsers, parser_name)()
    settings.MAX_IMPORT_BYTES = 1_000

    with pytest.raises(APIException) as raised:
        parser.parse(_Unsized(b"[" + b" " * 5_000 + b"]"), parser.media_type, {})

    assert raised.value.status_code == 413


# ---------------------------------------------------------------- unknown paths and server errors


@pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/nope", "/api/v1/projects/pairs/nope/"])
def test_unknown_path_under_api_is_a_json_404(researcher_client, pairs, path):
    body = refusal(researcher_client.get(path), 404)

    assert body == {"detail": "Not found.", "errors": []}


def test_unknown_page_outside_the_api_is_still_a_page(client):
    response = client.get("/nope/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def _broken(*args, **kwargs):
    raise RuntimeError("boom")


def test_unexpected_error_under_api_is_a_json_500(researcher, pairs, monkeypatch):
    monkeypatch.setattr("api.views.projects.project_progress", _broken)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(researcher)

    response = client.get("/api/v1/projects/pairs/progress/")

    body = refusal(response, 500)
    assert body["errors"] == []
    assert "boom" not in body["detail"]


def test_unexpected_error_on_a_page_is_still_a_page(researcher, pairs, monkeypatch):
    monkeypatch.setattr("annotation.views.task_for_preview", _broken)
    client = Client(raise_request_exception=False)
    client.force_login(researcher)

    response = client.get("/annotate/pairs/preview/")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


# ---------------------------------------------------------------- the researcher's preview page


@pytest.mark.parametrize("task", [*NOT_ASCII_DIGITS, BEYOND_BIGINT, "1e3", "-1"])
def test_preview_with_a_bad_task_id_is_not_a_500(researcher, pairs, task):
    client = Client()
    client.force_login(researcher)

    response = client.get("/annotate/pairs/preview/", {"task": task})

    assert response.status_code in (200, 400)


def test_form_body_over_djangos_memory_limit_is_a_json_415(researcher_client, pairs, settings):
    """Form bodies are never parsed under /api/ (JSON only), whatever their size."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000

    response = researcher_client.post(
        "/api/v1/projects/", "name=" + "x" * 2_000, content_type="application/x-www-form-urlencoded"
    )

    assert fields_of(refusal(response, 415)) == ["Content-Type"]


def test_body_that_is_not_utf8_is_a_400(annotator_client, assignment):
    response = annotator_client.post(
        f"/api/v1/assignments/{assignment}/judgment/",
        '{"choice": "left"}'.encode("utf-16"),
        content_type="application/json",
    )

    refusal(response, 400)


def _chunked(client: APIClient, path: str, body: bytes, content_type: str):
    """A POST whose body has no Content-Length (Transfer-Encoding: chunked)."""
    return client.generic(
        "POST",
        path,
        content_type=content_type,
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
        **{"wsgi.input": io.BytesIO(body)},
    )


def test_chunked_body_within_max_import_bytes_is_imported(researcher_client, pairs):
    body = "\n".join(json.dumps(row) for row in _items(3, 100)).encode()

    response = _chunked(researcher_client, ITEMS, body, "application/x-ndjson")

    assert response.status_code == 201, response.content
    assert response.json()["items_created"] == 3


def test_chunked_body_over_max_import_bytes_is_a_json_413(researcher_client, pairs, settings):
    settings.MAX_IMPORT_BYTES = 1_000
    body = json.dumps(_items(3, 1_000)).encode()

    response = _chunked(researcher_client, ITEMS, body, "application/json")

    assert refusal(response, 413)["errors"] == []
    assert not Item.objects.filter(external_id="big0").exists()


def test_a_forged_host_under_api_is_a_json_400(client):
    response = client.get("/api/v1/projects/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "errors": []}


def test_a_forged_host_outside_the_api_is_still_a_page(client):
    response = client.get("/accounts/login/", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")
