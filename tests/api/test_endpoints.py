"""Model endpoints over the API (README, Model endpoints): researchers of the project only,
the API key write-only and sealed, private addresses refused unless ARENA_ALLOW_PRIVATE."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient

from annotation.models import ModelEndpoint
from annotation.services.endpoints import endpoint_api_key
from annotation.services.researchers import researcher_group_sync
from tests.factories import ProjectFactory, ResearcherFactory

pytestmark = pytest.mark.django_db

KEY = "sk-api-8c2e41d7f0b9-do-not-show"
PUBLIC_URL = "https://93.184.215.14/v1"  # a public address literal: no DNS needed


def endpoints_url(slug: str = "pairs") -> str:
    return f"/api/v1/projects/{slug}/endpoints/"


def body(**changes) -> dict:
    return {
        "name": "model-x",
        "base_url": PUBLIC_URL,
        "model": "gpt-x-2026",
        "api_key": KEY,
        "params": {"temperature": 0.7, "max_tokens": 512, "system_prompt": "Be helpful."},
        "enabled": True,
        **changes,
    }


def create(client, **changes) -> dict:
    response = client.post(endpoints_url(), body(**changes), format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_read_list_change_delete(researcher_client, pairwise):
    created = create(researcher_client, aliases=["GPT-X", "OpenAI"])

    assert {k: created[k] for k in ("name", "base_url", "model", "params", "enabled")} == {
        "name": "model-x",
        "base_url": PUBLIC_URL,
        "model": "gpt-x-2026",
        "params": {"temperature": 0.7, "max_tokens": 512, "system_prompt": "Be helpful."},
        "enabled": True,
    }
    assert created["api_key_set"] is True and "api_key" not in created
    assert created["aliases"] == ["GPT-X", "OpenAI"]
    assert created["unhealthy_until"] is None and created["last_error"] == ""
    detail = f"{endpoints_url()}{created['id']}/"
    assert researcher_client.get(detail).json() == created
    assert researcher_client.get(endpoints_url()).json()["results"] == [created]

    changed = researcher_client.patch(detail, {"enabled": False, "model": "gpt-y"}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["enabled"], changed.json()["model"]) == (False, "gpt-y")
    assert endpoint_api_key(ModelEndpoint.objects.get()) == KEY  # untouched by the patch

    assert researcher_client.delete(detail).status_code == 204
    assert researcher_client.get(detail).status_code == 404
    assert not ModelEndpoint.objects.exists()


def test_a_new_key_replaces_the_old_and_an_empty_one_removes_it(researcher_client, pairwise):
    detail = f"{endpoints_url()}{create(researcher_client)['id']}/"

    researcher_client.patch(detail, {"api_key": "sk-new"}, format="json")
    assert endpoint_api_key(ModelEndpoint.objects.get()) == "sk-new"

    answer = researcher_client.patch(detail, {"api_key": ""}, format="json").json()
    assert answer["api_key_set"] is False
    assert ModelEndpoint.objects.get().api_key_encrypted == ""


def test_endpoints_are_open_to_any_kind_of_project(researcher_client, researcher):
    for kind in ("rubric", "ranking"):
        ProjectFactory(slug=f"a-{kind}", kind=kind, owner=researcher)
        response = researcher_client.post(endpoints_url(f"a-{kind}"), body(), format="json")
        assert response.status_code == 201


def test_a_name_is_unique_within_a_project_only(researcher_client, pairwise, researcher):
    create(researcher_client)
    ProjectFactory(slug="other", owner=researcher)

    again = researcher_client.post(endpoints_url(), body(), format="json")
    elsewhere = researcher_client.post(endpoints_url("other"), body(), format="json")

    assert again.status_code == 400
    assert again.json()["errors"] == [
        {"field": "name", "error": "already used by another endpoint of this project"}
    ]
    assert elsewhere.status_code == 201
    assert ModelEndpoint.objects.count() == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"params": {"temperature": 0.5, "top_p": 0.9}}, "params.top_p"),
        ({"params": {"temperature": 3}}, "params.temperature"),
        ({"params": {"max_tokens": 0}}, "params.max_tokens"),
        ({"params": {"max_tokens": "many"}}, "params.max_tokens"),
        ({"params": {"system_prompt": 7}}, "params.system_prompt"),
        ({"params": ["temperature"]}, "params"),
        ({"base_url": "ftp://example.com/v1"}, "base_url"),
        ({"base_url": "https://user:sk-x@example.com/v1"}, "base_url"),
        ({"name": ""}, "name"),
        ({"aliases": "OpenAI"}, "aliases"),
        ({"colour": "red"}, "colour"),
        ({"api_key_set": True}, "api_key_set"),
    ],
)
def test_bad_input_is_a_400_naming_it_and_stores_nothing(
    researcher_client, pairwise, changes, field
):
    response = researcher_client.post(endpoints_url(), body(**changes), format="json")

    assert response.status_code == 400, response.content
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not ModelEndpoint.objects.exists()


def test_a_bad_patch_changes_nothing(researcher_client, pairwise):
    detail = f"{endpoints_url()}{create(researcher_client)['id']}/"

    response = researcher_client.patch(
        detail, {"model": "other", "params": {"seed": 1}}, format="json"
    )

    assert response.status_code == 400
    assert ModelEndpoint.objects.get().model == "gpt-x-2026"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://localhost:11434/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.20:8080/v1",
        "http://169.254.169.254/latest",
        "http://[::1]:8000/v1",
    ],
)
def test_a_private_base_url_is_refused_unless_allowed(researcher_client, pairwise, settings, url):
    refused = researcher_client.post(endpoints_url(), body(base_url=url), format="json")

    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "base_url"
    assert "not public" in refused.json()["detail"]
    assert not ModelEndpoint.objects.exists()

    settings.ARENA_ALLOW_PRIVATE = True
    allowed = researcher_client.post(endpoints_url(), body(base_url=url), format="json")
    assert allowed.status_code == 201


def test_another_researcher_sees_none_of_them(researcher_client, pairwise):
    detail = f"{endpoints_url()}{create(researcher_client)['id']}/"
    stranger = APIClient()
    stranger.force_authenticate(ResearcherFactory())

    assert stranger.get(endpoints_url()).status_code == 404
    assert stranger.post(endpoints_url(), body(name="mine"), format="json").status_code == 404
    for method in ("get", "patch", "delete"):
        assert getattr(stranger, method)(detail, {}, format="json").status_code == 404
    assert ModelEndpoint.objects.get().name == "model-x"


def test_an_endpoint_of_another_project_is_a_404_through_this_one(
    researcher_client, pairwise, researcher
):
    ProjectFactory(slug="other", owner=researcher)
    endpoint_id = researcher_client.post(endpoints_url("other"), body(), format="json").json()["id"]

    assert researcher_client.get(f"{endpoints_url()}{endpoint_id}/").status_code == 404


def test_annotators_may_not_touch_endpoints(annotator_client, researcher_client, pairwise):
    detail = f"{endpoints_url()}{create(researcher_client)['id']}/"

    assert annotator_client.get(endpoints_url()).status_code == 403
    assert annotator_client.post(endpoints_url(), body(name="n"), format="json").status_code == 403
    assert annotator_client.get(detail).status_code == 403
    assert annotator_client.delete(detail).status_code == 403
    assert APIClient().get(endpoints_url()).status_code == 401
    assert ModelEndpoint.objects.count() == 1


def test_the_key_is_in_no_answer_export_log_or_page(
    researcher_client, client, pairwise, researcher, caplog
):
    caplog.set_level(logging.DEBUG)
    created = create(researcher_client)
    detail = f"{endpoints_url()}{created['id']}/"
    answers = [
        researcher_client.get(endpoints_url()),
        researcher_client.get(detail),
        researcher_client.patch(detail, {"enabled": False}, format="json"),
        researcher_client.get(f"/api/v1/projects/{pairwise.slug}/"),
        researcher_client.get("/api/schema/"),
    ]
    for fmt in ("judgments", "dpo", "items"):
        answers.append(researcher_client.get(f"/api/v1/projects/pairs/export/?format={fmt}"))
    researcher.groups.add(researcher_group_sync())
    client.force_login(researcher)
    answers += [
        client.get("/admin/annotation/modelendpoint/"),
        client.get(f"/admin/annotation/modelendpoint/{created['id']}/change/"),
        client.get(f"/admin/annotation/project/{pairwise.pk}/change/"),
        client.get(f"{endpoints_url()}{created['id']}/", HTTP_ACCEPT="text/html"),
        client.get(endpoints_url(), HTTP_ACCEPT="text/html"),
    ]

    for answer in answers:
        assert answer.status_code == 200, (answer.request["PATH_INFO"], answer.status_code)
        content = b"".join(answer.streaming_content) if answer.streaming else answer.content
        assert KEY.encode() not in content, answer.request["PATH_INFO"]
    assert KEY not in ModelEndpoint.objects.get().api_key_encrypted
    assert caplog.records and KEY not in caplog.text


def test_the_list_reads_in_a_fixed_number_of_queries(
    researcher_client, pairwise, django_assert_max_num_queries
):
    for n in range(5):
        create(researcher_client, name=f"model-{n}")

    with django_assert_max_num_queries(3):
        response = researcher_client.get(endpoints_url())

    assert [e["name"] for e in response.json()["results"]] == [f"model-{n}" for n in range(5)]


@pytest.fixture
def console(client, researcher):
    researcher.groups.add(researcher_group_sync())
    client.force_login(researcher)
    return client


def admin_form(project, **changes) -> dict:
    return {
        "project": project.pk,
        "name": "model-x",
        "base_url": PUBLIC_URL,
        "model": "gpt-x",
        "api_key": KEY,
        "params": '{"temperature": 0.5}',
        "aliases": "[]",
        "enabled": "on",
        **changes,
    }


def test_the_console_adds_an_endpoint_with_a_sealed_key(console, pairwise):
    response = console.post("/admin/annotation/modelendpoint/add/", admin_form(pairwise))

    assert response.status_code == 302
    endpoint = ModelEndpoint.objects.get()
    assert endpoint_api_key(endpoint) == KEY and KEY not in endpoint.api_key_encrypted
    page = console.get(f"/admin/annotation/modelendpoint/{endpoint.pk}/change/").content
    assert KEY.encode() not in page and b'type="password"' in page


def test_the_console_keeps_the_key_when_the_box_is_left_empty(console, pairwise):
    console.post("/admin/annotation/modelendpoint/add/", admin_form(pairwise))
    endpoint = ModelEndpoint.objects.get()

    response = console.post(
        f"/admin/annotation/modelendpoint/{endpoint.pk}/change/",
        admin_form(pairwise, api_key="", model="gpt-y"),
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.model, endpoint_api_key(endpoint)) == ("gpt-y", KEY)


@pytest.mark.parametrize(
    ("changes", "shown"),
    [
        ({"base_url": "http://10.0.0.5/v1"}, "not public"),
        ({"params": '{"top_k": 4}'}, "Unknown params: top_k"),
    ],
)
def test_the_console_refuses_what_the_api_refuses(console, pairwise, changes, shown):
    response = console.post("/admin/annotation/modelendpoint/add/", admin_form(pairwise, **changes))

    assert response.status_code == 200
    assert shown in response.content.decode()
    assert not ModelEndpoint.objects.exists()
