"""Abuse controls (README "Configuration"): sign-in lockout, throttles, password rules, and the
Content-Security-Policy."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from api.throttling import AnonymousThrottle, FailedTokenThrottle, SignedInThrottle
from tests.factories import AnnotatorUserFactory, ProjectFactory, ResearcherFactory, import_items

pytestmark = pytest.mark.django_db

PASSWORD = "a-good-long-passphrase"


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def member():
    user = AnnotatorUserFactory(username="rater")
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(client: Client, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": "rater", "password": password})


# ---------------------------------------------------------------- sign-in lockout


def test_after_ten_wrong_passwords_the_right_one_is_refused_for_a_while(client, member):
    for _ in range(9):
        assert sign_in(client, "wrong password").status_code == 200
    assert sign_in(client, "wrong password").status_code == 429  # the tenth locks

    locked = sign_in(client, PASSWORD)

    assert locked.status_code == 429
    assert "Signing in is paused" in locked.content.decode()
    assert not client.get("/annotate/").wsgi_request.user.is_authenticated


def test_a_few_wrong_passwords_do_not_lock_the_account(client, member):
    for _ in range(9):
        sign_in(client, "wrong password")

    response = sign_in(client, PASSWORD)

    assert response.status_code == 302
    assert client.get("/annotate/").wsgi_request.user == member


def test_the_admin_sign_in_is_locked_out_too(client):
    researcher = ResearcherFactory(username="rater")
    researcher.set_password(PASSWORD)
    researcher.save()
    for _ in range(10):
        client.post("/admin/login/", {"username": "rater", "password": "nope"})

    response = client.post(
        "/admin/login/?next=/admin/", {"username": "rater", "password": PASSWORD}
    )

    assert response.status_code == 429


def test_the_lockout_is_per_address(member):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(10):
        sign_in(attacker, "wrong password")

    owner = Client(REMOTE_ADDR="198.51.100.7")

    assert sign_in(owner, PASSWORD).status_code == 302


# ---------------------------------------------------------------- passwords


def test_sign_up_refuses_a_short_password(client):
    response = client.post(
        "/accounts/signup/", {"username": "newbie", "password1": "ab", "password2": "ab"}
    )

    assert response.status_code == 200
    assert "at least 10 characters" in response.content.decode()
    assert not response.wsgi_request.user.is_authenticated


def test_sign_up_takes_a_long_password(client):
    response = client.post(
        "/accounts/signup/", {"username": "newbie", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert response.status_code == 302


# ---------------------------------------------------------------- API throttles


def test_failed_tokens_are_throttled_by_address(monkeypatch):
    monkeypatch.setitem(FailedTokenThrottle.THROTTLE_RATES, "failed_token", "5/min")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    statuses = [client.get("/api/v1/projects/").status_code for _ in range(7)]

    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    answer = client.get("/api/v1/projects/")
    assert answer.json()["detail"].startswith("Request was throttled")
    assert "Retry-After" in answer


def test_a_valid_token_is_never_throttled_by_default(researcher):
    token = Token.objects.create(user=researcher)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    project = ProjectFactory(owner=researcher)

    statuses = {
        client.get(f"/api/v1/projects/{project.slug}/progress/").status_code for _ in range(150)
    }

    assert statuses == {200}


def test_anonymous_requests_are_throttled(monkeypatch):
    monkeypatch.setitem(AnonymousThrottle.THROTTLE_RATES, "anonymous", "3/min")
    client = APIClient()

    statuses = [client.get("/api/v1/projects/").status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]


def test_a_per_user_rate_limits_signed_in_users_when_turned_on(rf, monkeypatch, researcher):
    monkeypatch.setitem(SignedInThrottle.THROTTLE_RATES, "signed_in", "2/min")
    throttle = SignedInThrottle()
    request = rf.get("/api/v1/projects/")
    request.user = researcher

    assert [throttle.allow_request(request, None) for _ in range(3)] == [True, True, False]


def test_the_per_user_rate_is_off_by_default():
    from django.conf import settings

    classes = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]
    assert "api.throttling.SignedInThrottle" not in classes


# ---------------------------------------------------------------- Content-Security-Policy


def test_pages_carry_a_content_security_policy(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]

    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


def test_the_task_page_allows_media_only_from_the_projects_hosts(client, researcher):
    project = ProjectFactory(owner=researcher, slug="media", media_hosts=["cdn.example.org"])
    import_items(project, 1)
    client.force_login(AnnotatorUserFactory())
    client.post("/annotate/media/consent/")

    policy = client.get("/annotate/media/task/")["Content-Security-Policy"]

    assert "img-src 'self' data: cdn.example.org" in policy
    assert "media-src 'self' cdn.example.org" in policy


def test_referrer_policy_stays_same_origin(client):
    assert client.get("/accounts/login/")["Referrer-Policy"] == "same-origin"
