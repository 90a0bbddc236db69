"""While the database cannot be reached, the API answers JSON 503 with Retry-After and the
pages a plain 503 page (README "When services fail"), not a 500 text/html."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import DEFAULT_DB_ALIAS, IntegrityError, OperationalError, connections
from django.test import Client

from annotation.db import database_unreachable

pytestmark = pytest.mark.django_db


@contextmanager
def database_down() -> Iterator[None]:
    """Every attempt to open or use the connection fails, as with PostgreSQL stopped."""
    refused = OperationalError("connection failed: connection to server refused")
    with mock.patch.object(connections[DEFAULT_DB_ALIAS], "ensure_connection", side_effect=refused):
        yield


@pytest.fixture
def browser(annotator_user) -> Client:
    """A signed-in browser, as a real server sees it: an error is an answer, not raised."""
    client = Client(raise_request_exception=False)
    client.force_login(annotator_user)
    return client


def test_api_answers_json_503_with_retry_after(annotator_client, pairwise):
    annotator_client.raise_request_exception = False
    with database_down():
        response = annotator_client.get("/api/v1/projects/pairs/tasks/next/")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def test_api_vote_answers_json_503(annotator_client, pairwise):
    assignment = annotator_client.get("/api/v1/projects/pairs/tasks/next/").json()["assignment"]
    annotator_client.raise_request_exception = False
    with database_down():
        response = annotator_client.post(
            f"/api/v1/assignments/{assignment}/judgment/", {"choice": "left"}, format="json"
        )
    assert response.status_code == 503
    assert "detail" in response.json()


def test_annotator_page_is_a_plain_503_page_in_the_browsers_language(browser, pairwise):
    with database_down():
        response = browser.get("/annotate/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) > 0
    assert 'lang="fr"' in response.content.decode()
    assert "Temporarily unavailable" not in response.content.decode()


def test_console_page_is_a_plain_503_page(researcher):
    client = Client(raise_request_exception=False)
    client.force_login(researcher)
    with database_down():
        response = client.get("/admin/annotation/project/")
    assert response.status_code == 503
    assert "Temporarily unavailable" in response.content.decode()


def test_errors_on_a_reachable_database_are_not_unavailability():
    assert not database_unreachable(OperationalError("database table is locked"))
    assert not database_unreachable(IntegrityError("duplicate key"))
    assert not database_unreachable(None)


@pytest.mark.postgres  # SQLite's in-memory test database never closes its connection
@pytest.mark.django_db(transaction=True)
def test_a_database_still_starting_up_is_unavailability_though_it_answers_a_moment_later(
    annotator_client, pairwise
):
    """bench/faults.py's PostgreSQL restart: a request whose connection met "the database
    system is starting up" was a 500, as the server was back by the time it was probed."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    wrapper.close()
    open_connection = wrapper.connect
    attempts: list[int] = []

    def starting_up() -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise OperationalError("connection failed: FATAL: the database system is starting up")
        open_connection()

    annotator_client.raise_request_exception = False
    with mock.patch.object(wrapper, "connect", side_effect=starting_up):
        response = annotator_client.get("/api/v1/projects/pairs/tasks/next/")
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0


def test_a_failed_query_on_an_open_connection_is_probed_not_assumed_down():
    assert connections[DEFAULT_DB_ALIAS].connection is not None  # the test's transaction
    assert not database_unreachable(OperationalError("canceling statement due to lock timeout"))
