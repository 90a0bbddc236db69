"""Model endpoints (README, Model endpoints): OpenAI-compatible chat completions APIs that a
project's arena draws from and its LLM judges call, and the one client that calls them.

The API key is sealed at rest (annotation.secret_box) and leaves the server only as the
`Authorization: Bearer` header of a call: it is in no answer, log line or stored error. A call
that fails or times out is retried once; a second failure marks the endpoint unhealthy for
ENDPOINT_UNHEALTHY_SECONDS and raises EndpointFailed."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from copy import copy
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotation.addresses import AddressRefused, connection_target, public_address_check
from annotation.errors import EndpointFailed, ValidationFailed
from annotation.models import ModelEndpoint, Project
from annotation.secret_box import SecretUnreadable, reseal, seal, unseal

logger = logging.getLogger(__name__)

#: The params an endpoint takes, each with the check its value must pass.
PARAMS = ("temperature", "max_tokens", "system_prompt")
MAX_SYSTEM_PROMPT = 20_000
MAX_ALIASES = 50
MAX_ERROR_LENGTH = 300
KEY_MARK = "[api key]"


# ---------------------------------------------------------------- validation


def _refuse(field_name: str, error: str, detail: str | None = None) -> ValidationFailed:
    return ValidationFailed(
        detail or f"{field_name}: {error}.", errors=[{"field": field_name, "error": error}]
    )


def _clean_name(value: Any, field_name: str, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _refuse(field_name, "must be a non-empty string")
    if len(value.strip()) > max_length:
        raise _refuse(field_name, f"at most {max_length} characters")
    return value.strip()


def _clean_base_url(value: Any) -> str:
    """http or https, no credentials in the URL (they belong in api_key, which is sealed),
    and a host that resolves to a public address unless ARENA_ALLOW_PRIVATE."""
    try:
        if not isinstance(value, str):
            raise ValidationError("not a string")
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError as exc:
        raise _refuse("base_url", "must be an http or https URL") from exc
    if "@" in value.split("//", 1)[1].split("/", 1)[0]:
        raise _refuse("base_url", "must not carry credentials: send the key as api_key")
    try:
        public_address_check(value, allow_private=settings.ARENA_ALLOW_PRIVATE)
    except AddressRefused as exc:
        raise _refuse(
            "base_url",
            "must resolve to a public address (ARENA_ALLOW_PRIVATE=true allows private ones)",
            f"base_url refused: {exc}.",
        ) from exc
    return value.rstrip("/")


def params_object_clean(value: Any, taken: tuple[str, ...]) -> dict[str, Any]:
    """A `params` field as an object holding only the keys in `taken` (None: empty), each
    unknown key named in the 400; the values are the caller's to check (endpoints, judges)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _refuse("params", f"must be an object with some of {', '.join(taken)}")
    unknown = sorted(set(value) - set(taken))
    if unknown:
        raise ValidationFailed(
            f"Unknown params: {', '.join(unknown)} (taken: {', '.join(taken)}).",
            errors=[{"field": f"params.{name}", "error": "unknown parameter"} for name in unknown],
        )
    return value


def _clean_params(value: Any) -> dict[str, Any]:
    """temperature 0 to 2, max_tokens 1 to 1,000,000, system_prompt text; nothing else."""
    value = params_object_clean(value, PARAMS)
    params: dict[str, Any] = {}
    if value.get("temperature") is not None:
        temperature = value["temperature"]
        number = isinstance(temperature, int | float) and not isinstance(temperature, bool)
        if not number or not math.isfinite(temperature) or not 0 <= temperature <= 2:
            raise _refuse("params.temperature", "a number from 0 to 2")
        params["temperature"] = temperature
    if value.get("max_tokens") is not None:
        max_tokens = value["max_tokens"]
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise _refuse("params.max_tokens", "an integer from 1 to 1000000")
        if not 1 <= max_tokens <= 1_000_000:
            raise _refuse("params.max_tokens", "an integer from 1 to 1000000")
        params["max_tokens"] = max_tokens
    if value.get("system_prompt") is not None:
        prompt = value["system_prompt"]
        if not isinstance(prompt, str) or len(prompt) > MAX_SYSTEM_PROMPT:
            raise _refuse("params.system_prompt", f"text of at most {MAX_SYSTEM_PROMPT} characters")
        if prompt:
            params["system_prompt"] = prompt
    return params


def _clean_aliases(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ALIASES:
        raise _refuse("aliases", f"a list of at most {MAX_ALIASES} names")
    aliases: list[str] = []
    for alias in value:
        if not isinstance(alias, str) or not alias.strip() or len(alias) > 100:
            raise _refuse("aliases", "each a non-empty name of at most 100 characters")
        if alias.strip() not in aliases:
            aliases.append(alias.strip())
    return aliases


def _clean_api_key(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > 4000 or any(c in value for c in "\r\n"):
        raise _refuse("api_key", "a single line of at most 4000 characters")
    return value.strip()


def _clean_enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _refuse("enabled", "must be true or false")
    return value


CLEANERS = {
    "name": lambda value: _clean_name(value, "name", 100),
    "model": lambda value: _clean_name(value, "model", 200),
    "base_url": _clean_base_url,
    "params": _clean_params,
    "aliases": _clean_aliases,
    "enabled": _clean_enabled,
}


def endpoint_fields_clean(changes: dict[str, Any]) -> dict[str, Any]:
    """The model fields for these API fields, each checked (a 400 naming the first bad
    one); `api_key` becomes its sealed form, an empty one none."""
    unknown = sorted(set(changes) - set(CLEANERS) - {"api_key"})
    if unknown:
        raise _refuse(unknown[0], "unknown field")
    fields = {name: CLEANERS[name](value) for name, value in changes.items() if name != "api_key"}
    if "api_key" in changes:
        key = _clean_api_key(changes["api_key"])
        fields["api_key_encrypted"] = seal(key) if key else ""
    return fields


def _save(endpoint: ModelEndpoint) -> ModelEndpoint:
    """Save, turning a name already used in the project into a 400 naming `name`."""
    if (
        ModelEndpoint.objects.filter(project_id=endpoint.project_id, name=endpoint.name)
        .exclude(pk=endpoint.pk)
        .exists()
    ):
        raise _refuse("name", "already used by another endpoint of this project")
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError as exc:  # the same name saved by a concurrent request
        raise _refuse("name", "already used by another endpoint of this project") from exc
    return endpoint


# ---------------------------------------------------------------- writes


def endpoint_create(
    *,
    project: Project,
    name: Any,
    base_url: Any,
    model: Any,
    api_key: Any = "",
    params: Any = None,
    enabled: Any = True,
    aliases: Any = None,
) -> ModelEndpoint:
    """A new endpoint of `project` (any kind); its key is sealed before it is stored."""
    fields = endpoint_fields_clean(
        {
            "name": name,
            "base_url": base_url,
            "model": model,
            "api_key": api_key,
            "params": params,
            "enabled": enabled,
            "aliases": aliases,
        }
    )
    return _save(ModelEndpoint(project=project, **fields))


def endpoint_update(*, endpoint: ModelEndpoint, **changes: Any) -> ModelEndpoint:
    """Change the given fields; `api_key` replaces the key (an empty one removes it) and
    leaves it as it was when not given. A new base_url, model or key clears the health
    state: the endpoint is worth trying again."""
    for name, value in endpoint_fields_clean(changes).items():
        setattr(endpoint, name, value)
    if {"api_key", "base_url", "model"} & set(changes):
        endpoint.unhealthy_until = None
    return _save(endpoint)


def endpoint_delete(*, endpoint: ModelEndpoint) -> None:
    """Delete the endpoint; one a judge calls is refused (400 naming the judges)."""
    judges = list(endpoint.judges.order_by("name").values_list("name", flat=True))
    if judges:
        raise _refuse("endpoint", f"used by the judges {', '.join(judges)}: delete them first")
    endpoint.delete()


def endpoint_api_key(endpoint: ModelEndpoint) -> str:
    """The plaintext key, for the Authorization header of a call only."""
    if not endpoint.api_key_encrypted:
        return ""
    return unseal(endpoint.api_key_encrypted)


def endpoint_keys_rotate() -> int:
    """Seal every stored key again under the first configured key (key rotation); the
    number of keys resealed. A key no configured key opens stops the rotation with its id."""
    count = 0
    for endpoint in ModelEndpoint.objects.exclude(api_key_encrypted="").only(
        "pk", "api_key_encrypted"
    ):
        try:
            sealed = reseal(endpoint.api_key_encrypted)
        except SecretUnreadable as exc:
            raise SecretUnreadable(f"endpoint {endpoint.pk}: {exc}") from exc
        ModelEndpoint.objects.filter(pk=endpoint.pk).update(api_key_encrypted=sealed)
        count += 1
    return count


# ---------------------------------------------------------------- calls


@dataclass
class ChatResult:
    """A whole answer: its text and, when the server reports it, its token usage
    (`prompt_tokens`, `completion_tokens`, `total_tokens`)."""

    text: str
    usage: dict[str, int] | None = None
    seconds: float = 0.0


class ChatStream:
    """A streamed answer: iterate for its text deltas; `text` is what came so far and
    `usage` the server's count once the stream has ended (when it sends one)."""

    def __init__(self) -> None:
        self.deltas: Iterator[str] = iter(())
        self.usage: dict[str, int] | None = None
        self._parts: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for delta in self.deltas:
            self._parts.append(delta)
            yield delta

    @property
    def text(self) -> str:
        return "".join(self._parts)


class _BadAnswer(Exception):
    """An answer that is not a chat completion (a status other than 200, bad JSON)."""


def _summary(exc: Exception, key: str) -> str:
    """What went wrong, short, without the key (a server may echo it in an error)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if key:
        text = text.replace(key, KEY_MARK)
    return text[:MAX_ERROR_LENGTH]


def _usage(data: Any) -> dict[str, int] | None:
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return None
    names = ("prompt_tokens", "completion_tokens", "total_tokens")
    found = {n: usage[n] for n in names if isinstance(usage.get(n), int)}
    return found or None


def _request_body(endpoint: ModelEndpoint, messages: list[dict[str, Any]], stream: bool) -> dict:
    params = endpoint.params or {}
    sent = list(messages)
    system = params.get("system_prompt")
    if system and not any(m.get("role") == "system" for m in sent):
        sent.insert(0, {"role": "system", "content": system})
    body: dict[str, Any] = {"model": endpoint.model, "messages": sent, "stream": stream}
    for name in ("temperature", "max_tokens"):
        if params.get(name) is not None:
            body[name] = params[name]
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _request(client: httpx.Client, endpoint: ModelEndpoint, key: str, body: dict) -> httpx.Request:
    """The POST to `<base_url>/chat/completions`, sent to the address checked now (unless
    ARENA_ALLOW_PRIVATE), so a name that later resolves inward is never followed."""
    url = f"{endpoint.base_url.rstrip('/')}/chat/completions"
    address = public_address_check(url, allow_private=settings.ARENA_ALLOW_PRIVATE)
    url, host, extensions = connection_target(url, address)
    headers = {**host, "Content-Type": "application/json", "User-Agent": "prefpanel"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return client.build_request(
        "POST", url, content=json.dumps(body).encode(), headers=headers, extensions=extensions
    )


def _client() -> httpx.Client:
    connect = settings.ENDPOINT_CONNECT_TIMEOUT_SECONDS
    read = settings.ENDPOINT_READ_TIMEOUT_SECONDS
    return httpx.Client(
        timeout=httpx.Timeout(connect=connect, read=read, write=read, pool=connect),
        follow_redirects=False,
        trust_env=False,
    )


def _mark_healthy(endpoint: ModelEndpoint) -> None:
    if endpoint.unhealthy_until is not None:
        ModelEndpoint.objects.filter(pk=endpoint.pk).update(unhealthy_until=None)
        endpoint.unhealthy_until = None


def _mark_unhealthy(endpoint: ModelEndpoint, summary: str) -> EndpointFailed:
    now = timezone.now()
    until = now + timedelta(seconds=settings.ENDPOINT_UNHEALTHY_SECONDS)
    ModelEndpoint.objects.filter(pk=endpoint.pk).update(
        unhealthy_until=until, last_error=summary, last_error_at=now
    )
    endpoint.unhealthy_until, endpoint.last_error, endpoint.last_error_at = until, summary, now
    logger.error(
        "model endpoint %s (id %s, project %s) marked unhealthy until %s: %s",
        endpoint.name,
        endpoint.pk,
        endpoint.project_id,
        until.isoformat(),
        summary,
    )
    return EndpointFailed(f"Model endpoint {endpoint.name!r} failed: {summary}")


def _log_retry(endpoint: ModelEndpoint, summary: str) -> None:
    logger.warning(
        "model endpoint %s (id %s, project %s) failed, retrying once: %s",
        endpoint.name,
        endpoint.pk,
        endpoint.project_id,
        summary,
    )


CALL_ERRORS = (httpx.HTTPError, AddressRefused, _BadAnswer)


def _complete(client: httpx.Client, endpoint: ModelEndpoint, key: str, body: dict) -> ChatResult:
    started = time.perf_counter()
    response = client.send(_request(client, endpoint, key, body))
    if response.status_code != 200:
        raise _BadAnswer(f"HTTP {response.status_code}")
    try:
        data = response.json()
        text = data["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise _BadAnswer("not a chat completion") from exc
    if not isinstance(text, str):
        raise _BadAnswer("not a chat completion")
    return ChatResult(text=text, usage=_usage(data), seconds=time.perf_counter() - started)


def _stream_deltas(
    client: httpx.Client, endpoint: ModelEndpoint, key: str, body: dict, stream: ChatStream
) -> Iterator[str]:
    """Text deltas of one streamed call (server-sent events, `data: {...}` up to
    `data: [DONE]`); usage, when sent, lands on `stream`."""
    response = client.send(_request(client, endpoint, key, body), stream=True)
    try:
        if response.status_code != 200:
            raise _BadAnswer(f"HTTP {response.status_code}")
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line[5:].strip()
            if payload == "[DONE]":
                return
            try:
                chunk = json.loads(payload)
            except ValueError as exc:
                raise _BadAnswer("a stream chunk that is not JSON") from exc
            stream.usage = _usage(chunk) or stream.usage
            for choice in chunk.get("choices") or []:
                delta = (choice.get("delta") or {}).get("content")
                if isinstance(delta, str) and delta:
                    yield delta
    finally:
        response.close()


def _streamed(endpoint: ModelEndpoint, key: str, body: dict, stream: ChatStream) -> Iterator[str]:
    """Retry once when the first attempt fails before its first delta; a failure after
    text was given cannot be taken back, so it fails the call at once."""
    with _client() as client:
        for attempt in (1, 2):
            given = False
            try:
                for delta in _stream_deltas(client, endpoint, key, body, stream):
                    given = True
                    yield delta
            except CALL_ERRORS as exc:
                summary = _summary(exc, key)
                if given or attempt == 2:
                    raise _mark_unhealthy(endpoint, summary) from None
                _log_retry(endpoint, summary)
                continue
            _mark_healthy(endpoint)
            return


def endpoint_chat(
    endpoint: ModelEndpoint, messages: list[dict[str, Any]], *, stream: bool = False
) -> ChatResult | ChatStream:
    """Ask `endpoint` to answer `messages` (OpenAI chat format), with its params (a
    `system_prompt` goes first unless the messages have a system message). Not streamed: a
    ChatResult. Streamed: a ChatStream to iterate for text deltas. Either way a call that
    fails or times out (ENDPOINT_CONNECT_TIMEOUT_SECONDS, ENDPOINT_READ_TIMEOUT_SECONDS) is
    tried once more; a second failure marks the endpoint unhealthy and raises EndpointFailed."""
    try:
        key = endpoint_api_key(endpoint)
    except SecretUnreadable as exc:
        raise _mark_unhealthy(endpoint, f"the stored api_key cannot be read: {exc}") from None
    body = _request_body(endpoint, messages, stream)
    if stream:
        result = ChatStream()
        result.deltas = _streamed(endpoint, key, body, result)
        return result
    try:
        answer = _complete_with_retry(endpoint, key, body)
    except CallFailed as failed:
        raise _mark_unhealthy(endpoint, failed.summary) from None
    _mark_healthy(endpoint)
    return answer


class CallFailed(Exception):
    """A call that failed twice; `summary` says why, without the key."""

    def __init__(self, summary: str) -> None:
        self.summary = summary
        super().__init__(summary)


def _complete_with_retry(endpoint: ModelEndpoint, key: str, body: dict) -> ChatResult:
    with _client() as client:
        try:
            return _complete(client, endpoint, key, body)
        except CALL_ERRORS as exc:
            _log_retry(endpoint, _summary(exc, key))
            try:
                return _complete(client, endpoint, key, body)
            except CALL_ERRORS as again:
                raise CallFailed(_summary(again, key)) from None


def endpoint_call(
    endpoint: ModelEndpoint,
    messages: list[dict[str, Any]],
    *,
    key: str,
    params: dict[str, Any] | None = None,
) -> ChatResult:
    """One answer of `endpoint`, its params overridden by `params` (temperature,
    max_tokens), tried once more on failure; CallFailed after the second. It reads and
    writes no database, so worker threads may make it: the caller holds the key
    (endpoint_api_key) and records the outcome (endpoint_outcome_record)."""
    if params:
        endpoint = copy(endpoint)
        endpoint.params = {**(endpoint.params or {}), **params}
    return _complete_with_retry(endpoint, key, _request_body(endpoint, messages, stream=False))


def endpoint_outcome_record(endpoint: ModelEndpoint, *, failure: str | None) -> None:
    """After endpoint_call: a failure marks the endpoint unhealthy (logged, without the
    key), a success healthy again."""
    if failure is None:
        _mark_healthy(endpoint)
    else:
        _mark_unhealthy(endpoint, failure)
