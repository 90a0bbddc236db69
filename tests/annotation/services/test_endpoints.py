"""The model endpoint client (README, Model endpoints) against the local stub server: plain
and streamed answers, token usage, one retry, then unhealthy; the key only ever as Bearer."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from annotation.errors import EndpointFailed, ValidationFailed
from annotation.models import ModelEndpoint
from annotation.secret_box import SecretUnreadable, unseal
from annotation.selectors.endpoints import endpoints_available
from annotation.services.endpoints import (
    endpoint_api_key,
    endpoint_chat,
    endpoint_create,
)
from tests.factories import ProjectFactory
from tests.llm_stub import LLMStub, llm_stub, stub_text

pytestmark = pytest.mark.django_db

KEY = "sk-test-5f1c9e0a7b3d-secret-key"
ASK = [{"role": "user", "content": "Explain TCP slow start."}]


@pytest.fixture
def stub(settings) -> Iterator[LLMStub]:
    settings.ARENA_ALLOW_PRIVATE = True
    settings.ENDPOINT_READ_TIMEOUT_SECONDS = 0.3
    with llm_stub(slow_seconds=1.0) as server:
        yield server


def make_endpoint(stub: LLMStub, model: str = "model-x", **kwargs) -> ModelEndpoint:
    return endpoint_create(
        project=ProjectFactory(),
        name=kwargs.pop("name", model),
        base_url=stub.base_url,
        model=model,
        api_key=kwargs.pop("api_key", KEY),
        **kwargs,
    )


def key_only_as_bearer(stub: LLMStub) -> None:
    assert stub.requests
    for request in stub.requests:
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        others = {k: v for k, v in request.headers.items() if k != "Authorization"}
        assert KEY not in repr(others) and KEY.encode() not in request.raw
        assert KEY not in request.path


def test_a_plain_answer_with_its_usage(stub):
    endpoint = make_endpoint(stub, params={"temperature": 0.2, "max_tokens": 64})

    answer = endpoint_chat(endpoint, ASK)

    assert answer.text == stub_text("model-x", ASK[0]["content"])
    assert answer.usage == {"prompt_tokens": 4, "completion_tokens": 7, "total_tokens": 11}
    (request,) = stub.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "model-x"
    assert (request.body["temperature"], request.body["max_tokens"]) == (0.2, 64)
    key_only_as_bearer(stub)


def test_two_models_answer_differently_and_each_the_same_every_time(stub):
    x, y = make_endpoint(stub, "model-x"), make_endpoint(stub, "model-y")

    assert endpoint_chat(x, ASK).text == endpoint_chat(x, ASK).text
    assert endpoint_chat(x, ASK).text != endpoint_chat(y, ASK).text


def test_the_system_prompt_goes_first(stub):
    endpoint = make_endpoint(stub, params={"system_prompt": "Be brief."})

    endpoint_chat(endpoint, ASK)

    assert stub.requests[0].body["messages"] == [{"role": "system", "content": "Be brief."}, *ASK]


def test_a_streamed_answer_comes_in_deltas_that_make_the_whole(stub):
    endpoint = make_endpoint(stub)

    stream = endpoint_chat(endpoint, ASK, stream=True)
    deltas = list(stream)

    assert len(deltas) > 3
    assert "".join(deltas) == stream.text == stub_text("model-x", ASK[0]["content"])
    assert stream.usage == {"prompt_tokens": 4, "completion_tokens": 7, "total_tokens": 11}
    assert stub.requests[0].body["stream"] is True
    key_only_as_bearer(stub)


def test_a_failure_is_retried_once_and_then_the_answer_counts(stub):
    endpoint = make_endpoint(stub, "flaky-1")

    answer = endpoint_chat(endpoint, ASK)

    assert answer.text == stub_text("flaky-1", ASK[0]["content"])
    assert len(stub.requests) == 2
    endpoint.refresh_from_db()
    assert endpoint.unhealthy_until is None


def test_a_streamed_call_that_fails_before_any_text_is_retried(stub):
    endpoint = make_endpoint(stub, "flaky-2")

    stream = endpoint_chat(endpoint, ASK, stream=True)

    assert "".join(stream) == stub_text("flaky-2", ASK[0]["content"])
    assert len(stub.requests) == 2


def test_two_failures_mark_the_endpoint_unhealthy_and_log_its_name_not_its_key(
    stub, settings, caplog
):
    settings.ENDPOINT_UNHEALTHY_SECONDS = 120
    endpoint = make_endpoint(stub, "failing-1", name="Failing One")
    caplog.set_level(logging.WARNING, logger="annotation.services.endpoints")

    with pytest.raises(EndpointFailed) as failed:
        endpoint_chat(endpoint, ASK)

    assert len(stub.requests) == 2  # one retry, no more
    assert "Failing One" in failed.value.detail and "HTTP 500" in failed.value.detail
    endpoint.refresh_from_db()
    left = (endpoint.unhealthy_until - timezone.now()).total_seconds()
    assert 100 < left <= 120
    assert endpoint.last_error == "_BadAnswer: HTTP 500"
    assert not endpoints_available(project=endpoint.project).exists()
    assert "Failing One" in caplog.text and "retrying once" in caplog.text
    assert "marked unhealthy" in caplog.text
    assert KEY not in caplog.text and KEY not in failed.value.detail
    key_only_as_bearer(stub)


def test_a_streamed_call_that_fails_twice_marks_the_endpoint_unhealthy(stub):
    endpoint = make_endpoint(stub, "failing-2")

    with pytest.raises(EndpointFailed):
        list(endpoint_chat(endpoint, ASK, stream=True))

    assert len(stub.requests) == 2
    endpoint.refresh_from_db()
    assert endpoint.unhealthy_until is not None


def test_a_slow_endpoint_times_out_twice_and_is_marked_unhealthy(stub, caplog):
    endpoint = make_endpoint(stub, "slow-1")
    caplog.set_level(logging.WARNING, logger="annotation.services.endpoints")

    with pytest.raises(EndpointFailed) as failed:
        endpoint_chat(endpoint, ASK)

    assert "ReadTimeout" in failed.value.detail
    assert len(stub.requests) == 2
    endpoint.refresh_from_db()
    assert endpoint.unhealthy_until is not None and "ReadTimeout" in endpoint.last_error
    assert "slow-1" in caplog.text and KEY not in caplog.text


def test_a_slow_streamed_call_times_out_twice_and_is_marked_unhealthy(stub):
    endpoint = make_endpoint(stub, "slow-2")
    started = time.monotonic()

    with pytest.raises(EndpointFailed, match="ReadTimeout"):
        list(endpoint_chat(endpoint, ASK, stream=True))

    assert time.monotonic() - started < 2 * 1.0  # the read timeout (0.3 s) ended each wait
    assert len(stub.requests) == 2
    endpoint.refresh_from_db()
    assert endpoint.unhealthy_until is not None


def test_an_endpoint_that_answers_again_is_healthy_again(stub):
    endpoint = make_endpoint(stub)
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(unhealthy_until=timezone.now())
    endpoint.refresh_from_db()

    endpoint_chat(endpoint, ASK)

    endpoint.refresh_from_db()
    assert endpoint.unhealthy_until is None


def test_a_key_the_server_echoes_is_not_stored_in_the_error(stub, monkeypatch):
    endpoint = make_endpoint(stub, "failing-3")
    from annotation.services import endpoints as service

    monkeypatch.setattr(
        service, "_complete", lambda *a: (_ for _ in ()).throw(service._BadAnswer(f"bad {KEY}"))
    )

    with pytest.raises(EndpointFailed) as failed:
        endpoint_chat(endpoint, ASK)

    endpoint.refresh_from_db()
    assert KEY not in endpoint.last_error and "[api key]" in endpoint.last_error
    assert KEY not in failed.value.detail


def test_an_endpoint_without_a_key_sends_no_authorization(stub):
    endpoint = make_endpoint(stub, api_key="")

    endpoint_chat(endpoint, ASK)

    assert "Authorization" not in stub.requests[0].headers


def test_a_base_url_that_became_private_is_refused_at_the_call(stub, settings):
    """DNS rebinding: the address is checked again at each call, before any byte is sent."""
    endpoint = make_endpoint(stub)
    settings.ARENA_ALLOW_PRIVATE = False

    with pytest.raises(EndpointFailed) as failed:
        endpoint_chat(endpoint, ASK)

    assert "not public" in failed.value.detail
    assert stub.requests == []


# ---------------------------------------------------------------- the key at rest


def stored_column(endpoint: ModelEndpoint) -> str:
    with connection.cursor() as cursor:
        table = ModelEndpoint._meta.db_table
        cursor.execute(f"SELECT api_key_encrypted FROM {table} WHERE id = %s", [endpoint.pk])
        return cursor.fetchone()[0]


def test_the_key_is_stored_encrypted(stub):
    endpoint = make_endpoint(stub)

    raw = stored_column(endpoint)

    assert raw and KEY not in raw and raw != KEY
    assert endpoint_api_key(endpoint) == KEY


def test_keys_rotate_to_a_new_secret_and_the_old_one_can_then_go(stub, settings):
    settings.ENDPOINT_KEYS_SECRET = "old secret"
    endpoint = make_endpoint(stub)
    sealed_with_old = stored_column(endpoint)
    settings.ENDPOINT_KEYS_SECRET = "new secret, old secret"

    assert unseal(sealed_with_old) == KEY  # both still open it
    out = io.StringIO()
    call_command("rotate_endpoint_keys", stdout=out)
    assert out.getvalue().startswith("1 endpoint API keys sealed")
    settings.ENDPOINT_KEYS_SECRET = "new secret"
    endpoint.refresh_from_db()

    assert endpoint_api_key(endpoint) == KEY
    with pytest.raises(SecretUnreadable):
        unseal(sealed_with_old)


def test_without_a_configured_secret_the_key_comes_from_secret_key(stub, settings):
    settings.ENDPOINT_KEYS_SECRET = ""
    endpoint = make_endpoint(stub)
    settings.SECRET_KEY = "another secret key entirely, 50 characters long...."
    endpoint.refresh_from_db()

    with pytest.raises(EndpointFailed, match="cannot be read"):
        endpoint_chat(endpoint, ASK)
    assert stub.requests == []


def test_a_params_key_it_does_not_take_is_refused_by_name(stub):
    with pytest.raises(ValidationFailed) as refused:
        make_endpoint(stub, params={"temperature": 0.5, "top_k": 40})

    assert refused.value.errors == [{"field": "params.top_k", "error": "unknown parameter"}]
    assert not ModelEndpoint.objects.exists()
