"""Strict input (README "REST API"): a query parameter an endpoint does not take, a body
field it does not take (or may not be written) and a body that is not JSON are refused,
naming what was wrong; nothing is silently ignored."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.exports.query import export_query_from_params
from annotation.models import (
    ArenaBattle,
    ArenaTurn,
    ImportJob,
    JudgeRun,
    Judgment,
    ModelEndpoint,
    Project,
    Snapshot,
    Webhook,
    WebhookDelivery,
)
from annotation.services.annotators import annotator_for_user
from annotation.services.assignment import assignment_lease
from annotation.services.exporting import snapshot_create
from annotation.services.judges import judge_create
from api import urls as api_urls
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/projects/"
PAIRS = "/api/v1/projects/pairs/"
PAGINATED_LISTS = [
    "/api/v1/projects/",
    "/api/v1/projects/pairs/items/",
    "/api/v1/projects/pairs/crowd-sessions/",
    "/api/v1/projects/pairs/snapshots/",
]


def errors_of(response, status: int = 400) -> list[dict]:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["detail"]
    return body["errors"]


def fields_of(response, status: int = 400) -> list[str]:
    return [e.get("field") for e in errors_of(response, status)]


@pytest.fixture
def route_kwargs(pairwise, researcher) -> dict[str, object]:
    """A value for every path parameter of the API: the pairwise project, one of its
    snapshots, one of its import jobs, an assignment leased by the researcher and a webhook
    with one delivery, an endpoint, a judge calling it and a run of that judge."""
    snapshot = snapshot_create(
        project=pairwise, query=export_query_from_params({}), created_by=researcher
    )
    job = ImportJob.objects.create(
        project=pairwise, kind="items", filetype="jsonl", created_by=researcher
    )
    assignment = assignment_lease(project=pairwise, annotator=annotator_for_user(user=researcher))
    webhook = Webhook.objects.create(
        project=pairwise,
        created_by=researcher,
        url="https://example.com/",
        events=["report.updated"],
    )
    delivery = WebhookDelivery.objects.create(
        webhook=webhook,
        event="report.updated",
        event_id="e",
        body="{}",
        first_created_at=webhook.created_at,
        scheduled_for=webhook.created_at,
    )
    endpoint = ModelEndpoint.objects.create(
        project=pairwise, name="model-x", base_url="https://example.com/v1", model="x"
    )
    judge = judge_create(project=pairwise, name="judge-x", endpoint=endpoint.pk)
    run = JudgeRun.objects.create(project=pairwise, judge=judge)
    battle = ArenaBattle.objects.create(
        project=pairwise, annotator=assignment.annotator, left_endpoint=endpoint
    )
    turn = ArenaTurn.objects.create(battle=battle, prompt="Hello")
    return {
        "turn_id": turn.pk,
        "endpoint_id": endpoint.pk,
        "judge_id": judge.pk,
        "run_id": run.pk,
        "webhook_id": webhook.pk,
        "delivery_id": delivery.pk,
        "slug": pairwise.slug,
        "snapshot_id": snapshot.pk,
        "job_id": job.pk,
        "assignment_id": assignment.pk,
    }


def api_operations() -> list[tuple[str, str]]:
    """(route name, method) of every operation under /api/v1/."""
    operations = []
    for pattern in api_urls.urlpatterns:
        view = pattern.callback.view_class
        for method in view.http_method_names:
            if method not in ("options", "head") and hasattr(view, method):
                operations.append((pattern.name, method))
    return operations


def path_of(name: str, kwargs: dict[str, object]) -> str:
    pattern = next(p for p in api_urls.urlpatterns if p.name == name)
    wanted = {k: kwargs[k] for k in pattern.pattern.converters}
    return reverse(f"api:{name}", kwargs=wanted)


WRITES = [(name, method) for name, method in api_operations() if method != "get"]


# ---------------------------------------------------------------- query parameters


@pytest.mark.parametrize(("name", "method"), api_operations())
def test_every_operation_names_the_query_parameters_it_does_not_take(
    researcher_client, route_kwargs, name, method
):
    path = path_of(name, route_kwargs)

    response = getattr(researcher_client, method)(f"{path}?colour=red&min_agrement=0.9")

    assert fields_of(response) == ["colour", "min_agrement"]
    assert {e["error"] for e in errors_of(response)} == {"unknown parameter"}


@pytest.mark.parametrize(
    "query",
    [
        "format=dpo&min_agrement=0.9",
        "format=dpo&filetype=jsonl&page_size=10",
        "format=judgments&colour=red",
    ],
)
def test_an_export_names_its_unknown_parameters(researcher_client, pairwise, query):
    response = researcher_client.get(f"{PAIRS}export/?{query}")

    assert fields_of(response) == [query.rsplit("&", 1)[1].split("=")[0]]


def test_an_export_with_known_parameters_still_streams(researcher_client, pairwise):
    response = researcher_client.get(
        f"{PAIRS}export/?format=dpo&filetype=jsonl&min_agreement=0.5&exclude_flagged=true"
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("agreement/", "annotator_kind=all&since=3"),
        ("leaderboard/", "exclude_flagged=false&format=json"),
        ("judgments/", "since=0&page_size=10"),
        ("progress/", "page_size=10"),
    ],
)
def test_reports_sync_and_progress_name_their_unknown_parameters(
    researcher_client, pairwise, path, query
):
    response = researcher_client.get(f"{PAIRS}{path}?{query}")

    assert fields_of(response) == [query.rsplit("&", 1)[-1].split("=")[0]]


@pytest.mark.parametrize(
    "url", [f"{PAIRS}export/?format=dpo&min_agreement=0.5", f"{PROJECTS}?page_size=1"]
)
def test_a_head_takes_what_its_get_takes(researcher_client, pairwise, url):
    assert researcher_client.head(url).status_code == 200
    assert researcher_client.head(f"{url}&colour=red").status_code == 400


def test_the_judgments_sync_still_takes_since(researcher_client, pairwise):
    response = researcher_client.get(f"{PAIRS}judgments/?since=0")

    assert response.status_code == 200


def test_an_annotator_lease_names_an_unknown_parameter(annotator_client, pairwise):
    response = annotator_client.get(f"{PAIRS}tasks/next/?model=x")

    assert fields_of(response) == ["model"]


def test_a_query_parameter_on_a_write_is_named(researcher_client, pairwise):
    response = researcher_client.patch(f"{PAIRS}?dry_run=1", {"name": "Renamed"}, format="json")

    assert fields_of(response) == ["dry_run"]
    assert Project.objects.get(slug="pairs").name != "Renamed"


def test_without_credentials_an_unknown_parameter_is_still_a_401(pairwise):
    from rest_framework.test import APIClient

    response = APIClient().get(f"{PROJECTS}?colour=red")

    assert response.status_code == 401


# ---------------------------------------------------------------- pagination


@pytest.mark.parametrize("path", PAGINATED_LISTS)
@pytest.mark.parametrize("size", ["abc", "-1", "0", "1001", "2.5", "1e3"])
def test_a_page_size_that_is_not_1_to_1000_is_a_400_naming_it(
    researcher_client, pairwise, path, size
):
    response = researcher_client.get(path, {"page_size": size})

    assert fields_of(response) == ["page_size"]
    assert "1 to 1000" in errors_of(response)[0]["error"]


@pytest.mark.parametrize("path", PAGINATED_LISTS)
def test_every_list_pages_at_1_to_1000(researcher_client, pairwise, path):
    for size in ("1", "1000"):
        response = researcher_client.get(path, {"page_size": size})
        assert response.status_code == 200, response.content
        assert set(response.json()) >= {"next", "previous", "results"}


@pytest.mark.parametrize("path", PAGINATED_LISTS)
def test_a_cursor_no_list_gave_is_a_400_naming_it(researcher_client, pairwise, path):
    response = researcher_client.get(path, {"cursor": "bm90IGEgY3Vyc29y"})

    assert fields_of(response) == ["cursor"]


def test_a_page_then_the_next(researcher_client, pairwise):
    first = researcher_client.get(f"{PAIRS}items/", {"page_size": "2"}).json()
    second = researcher_client.get(first["next"]).json()

    ids = [item["id"] for item in first["results"] + second["results"]]
    assert ids == ["q0", "q1", "q2"]


# ---------------------------------------------------------------- body fields


def test_creating_a_project_with_an_unknown_field_is_a_400_naming_it(researcher_client):
    body = {"slug": "new", "name": "New", "kind": "pairwise", "colour": "red", "min_agrement": 1}

    response = researcher_client.post(PROJECTS, body, format="json")

    assert errors_of(response) == [
        {"field": "colour", "error": "unknown field"},
        {"field": "min_agrement", "error": "unknown field"},
    ]
    assert not Project.objects.filter(slug="new").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Renamed", "colour": "red"}, "colour"),
        ({"name": "Renamed", "rubric_version": 7}, "rubric_version"),
        ({"name": "Renamed", "owner": "someone"}, "owner"),
        ({"name": "Renamed", "created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"name": "Renamed", "consent_version": 3}, "consent_version"),
    ],
)
def test_patching_an_unknown_or_read_only_field_is_a_400_naming_it(
    researcher_client, pairwise, body, field
):
    response = researcher_client.patch(PAIRS, body, format="json")

    errors = errors_of(response)
    assert [e["field"] for e in errors] == [field]
    read_only = field not in ("colour",)
    assert errors[0]["error"] == ("read-only field" if read_only else "unknown field")
    pairwise.refresh_from_db()
    assert pairwise.name != "Renamed" and pairwise.rubric_version == 1


def test_an_unknown_field_is_named_beside_the_bad_values(researcher_client):
    body = {"slug": "new", "name": "New", "kind": "sideways", "colour": "red"}

    response = researcher_client.post(PROJECTS, body, format="json")

    assert sorted(fields_of(response)) == ["colour", "kind"]


def test_an_unknown_key_of_a_criterion_is_named_with_its_position(researcher_client, pairwise):
    criteria = [
        {"key": "helpful", "label": "Helpful"},
        {"key": "honest", "label": "Honest", "weight": 2},
    ]

    response = researcher_client.patch(PAIRS, {"criteria": criteria}, format="json")

    assert errors_of(response) == [{"field": "criteria.1.weight", "error": "unknown field"}]
    assert not pairwise.criteria.exists()


def test_a_project_read_is_not_a_body_a_patch_takes(researcher_client, pairwise):
    """Sending back what GET gave is refused by name: its read-only fields are not
    silently dropped (a client should send only what it changes)."""
    read = researcher_client.get(PAIRS).json()

    response = researcher_client.patch(PAIRS, read, format="json")

    assert sorted(fields_of(response)) == [
        "consent_version",
        "created_at",
        "owner",
        "rubric_version",
        "rubric_versions",
        "survey_version",
        "updated_at",
    ]


@pytest.fixture
def leased(annotator_client, pairwise) -> int:
    return annotator_client.get(f"{PAIRS}tasks/next/").json()["assignment"]


@pytest.mark.parametrize("action", ["renew", "skip"])
def test_an_assignment_action_names_a_field_it_does_not_take(annotator_client, leased, action):
    response = annotator_client.post(
        f"/api/v1/assignments/{leased}/{action}/", {"hours": 2}, format="json"
    )

    assert errors_of(response) == [{"field": "hours", "error": "unknown field"}]


def test_a_skip_keeps_taking_its_reason(annotator_client, leased):
    response = annotator_client.post(
        f"/api/v1/assignments/{leased}/skip/", {"reason": "not my language"}, format="json"
    )

    assert response.status_code == 204


def test_a_skip_reason_that_is_not_text_is_a_400(annotator_client, leased):
    response = annotator_client.post(
        f"/api/v1/assignments/{leased}/skip/", {"reason": ["a"]}, format="json"
    )

    assert fields_of(response) == ["reason"]


def test_a_refresh_names_a_field_it_does_not_take(researcher_client, pairwise):
    response = researcher_client.post(f"{PAIRS}agreement/refresh/", {"force": 1}, format="json")

    assert errors_of(response) == [{"field": "force", "error": "unknown field"}]


def test_a_vote_names_unknown_fields(annotator_client, leased):
    response = annotator_client.post(
        f"/api/v1/assignments/{leased}/judgment/",
        {"choice": "left", "confidence": 0.9, "colour": "red"},
        format="json",
    )

    assert errors_of(response) == [
        {"field": "colour", "error": "unknown field"},
        {"field": "confidence", "error": "unknown field"},
    ]
    assert not Judgment.objects.exists()


def test_a_snapshot_names_unknown_fields(researcher_client, pairwise):
    response = researcher_client.post(
        f"{PAIRS}snapshots/", {"format": "dpo", "min_agrement": 0.9}, format="json"
    )

    assert fields_of(response) == ["min_agrement"]
    assert not Snapshot.objects.exists()


@pytest.mark.parametrize(("name", "method"), WRITES)
def test_every_write_names_a_field_it_does_not_take(researcher_client, route_kwargs, name, method):
    path = path_of(name, route_kwargs)

    response = getattr(researcher_client, method)(path, {"colour": "red"}, format="json")

    assert response.status_code == 400, response.content
    assert "colour" in response.content.decode()


# ---------------------------------------------------------------- JSON only


#: Writes that take a file upload (multipart) besides JSON (README "Surveys", Importing
#: profiles): they still refuse a urlencoded form.
FILE_UPLOADS = {("profile-import", "post")}


@pytest.mark.parametrize(
    ("encoding", "name", "method"),
    [
        (encoding, name, method)
        for name, method in WRITES
        for encoding in ("multipart", "form")
        if encoding == "form" or (name, method) not in FILE_UPLOADS
    ],
)
def test_every_write_refuses_a_form_body_with_a_415(
    researcher_client, route_kwargs, name, method, encoding
):
    path = path_of(name, route_kwargs)
    if encoding == "form":
        response = getattr(researcher_client, method)(
            path, "slug=x&name=y", content_type="application/x-www-form-urlencoded"
        )
    else:
        response = getattr(researcher_client, method)(path, {"slug": "x"}, format="multipart")

    errors = errors_of(response, 415)
    assert errors[0]["field"] == "Content-Type"
    assert "application/json" in errors[0]["error"]


def test_a_form_body_creates_no_project(researcher_client):
    body = "slug=formed&name=Formed&kind=rubric&criteria=helpful"

    response = researcher_client.post(
        PROJECTS, body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 415
    assert not Project.objects.filter(slug="formed").exists()


@pytest.mark.parametrize(
    "path", ["/api/v1/projects/pairs/items/", "/api/v1/projects/pairs/judgments/"]
)
def test_an_import_refuses_text_plain_and_names_json_lines(researcher_client, pairwise, path):
    response = researcher_client.post(path, '{"a": 1}\n', content_type="text/plain")

    error = errors_of(response, 415)[0]["error"]
    assert "application/json" in error and "application/x-ndjson" in error


def test_a_project_write_takes_no_json_lines(researcher_client):
    response = researcher_client.post(
        PROJECTS, '{"slug": "x", "name": "X"}\n', content_type="application/x-ndjson"
    )

    assert "application/x-ndjson" not in errors_of(response, 415)[0]["error"]


def test_json_with_a_charset_is_json(researcher_client):
    response = researcher_client.post(
        PROJECTS, '{"slug": "cs", "name": "CS"}', content_type="application/json; charset=utf-8"
    )

    assert response.status_code == 201, response.content


def test_an_empty_form_post_is_no_body(annotator_client, leased):
    response = annotator_client.post(
        f"/api/v1/assignments/{leased}/renew/", "", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200


# ---------------------------------------------------------------- the browsable API


def test_the_browsable_api_still_reads_lists_and_offers_json_only(client, researcher, pairwise):
    ProjectFactory(owner=researcher, slug="second")
    client.force_login(researcher)

    response = client.get(PROJECTS, HTTP_ACCEPT="text/html")

    page = response.content.decode()
    assert response.status_code == 200 and "second" in page
    assert 'name="_content_type"' in page and "application/json" in page
    assert "multipart/form-data" not in page
    assert "application/x-www-form-urlencoded" not in page


# ---------------------------------------------------------------- one declaration


def test_every_operation_documents_exactly_the_query_parameters_it_takes():
    """The OpenAPI schema and the check read the same parameters: one documented is
    taken, one taken is documented."""
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.test import APIRequestFactory

    schema = SchemaGenerator().get_schema(request=None, public=True)
    factory = APIRequestFactory()
    checked = 0
    for pattern in api_urls.urlpatterns:
        view = pattern.callback.view_class()
        path = "/api/v1/" + str(pattern.pattern).replace("<slug:", "{").replace("<int:", "{")
        path = path.replace(">", "}")
        for method, operation in schema["paths"][path].items():
            request = factory.generic(method.upper(), path)
            documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert documented == view.taken_query_parameters(request), (method, path)
            checked += 1
    assert checked == len(api_operations())
