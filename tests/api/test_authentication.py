"""API tokens: the annotator's token loads the user and their annotator in one query."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotation.models import Annotator
from annotation.services.tokens import api_token_create
from tests.factories import AnnotatorUserFactory


def token_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_token_signs_in_its_annotator(pairwise):
    user = AnnotatorUserFactory()
    annotator = Annotator.objects.create(user=user)

    response = token_client(api_token_create(username=user.username)).get(
        "/api/v1/projects/pairs/tasks/next/"
    )

    assert response.status_code == 200
    assert annotator.assignments.get().pk == response.json()["assignment"]


def test_a_user_without_an_annotator_gets_one_on_first_use(pairwise):
    user = AnnotatorUserFactory()

    response = token_client(api_token_create(username=user.username)).get(
        "/api/v1/projects/pairs/tasks/next/"
    )

    assert response.status_code == 200
    assert Annotator.objects.get(user=user).assignments.count() == 1


@pytest.mark.parametrize("key", ["0" * 40, "not-a-token"])
def test_an_unknown_token_is_refused(pairwise, key):
    response = token_client(key).get("/api/v1/projects/pairs/tasks/next/")

    assert response.status_code == 401
    assert "Invalid token" in response.json()["detail"]


def test_the_token_of_a_deactivated_user_is_refused(pairwise):
    user = AnnotatorUserFactory()
    key = api_token_create(username=user.username)
    user.is_active = False
    user.save()

    response = token_client(key).get("/api/v1/projects/pairs/tasks/next/")

    assert response.status_code == 401


def test_token_sign_in_takes_one_query(pairwise, django_assert_num_queries):
    user = AnnotatorUserFactory()
    Annotator.objects.create(user=user)
    client = token_client(api_token_create(username=user.username))

    # token + user + annotator, then the same 7 as a signed-in client
    with django_assert_num_queries(8):
        assert client.get("/api/v1/projects/pairs/tasks/next/").status_code == 200
