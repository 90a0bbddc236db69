"""A small OpenAI-compatible chat completions server for tests, started by the tests on a
free local port in a thread (nothing reaches outside the machine).

Models are picked by name: a name starting with `slow` waits `slow_seconds` before its
first byte, `drip` streams one word every `drip_seconds` (an answer watched as it grows),
`failing` answers 500, `flaky` answers 500 to its first request only; a `judge-...` name
answers a judge prompt (README, LLM judges) as a judge would (judge_text; `slow-judge-...`
after `slow_seconds`); any other name answers a text derived from the model name and the last
user message, so each model says something different and the same thing every time; it starts
with the model's name unless the name holds `anon` (an answer that does not give its model
away). Every request is kept in
`requests` (path, headers, parsed body), and `max_in_flight` is the most requests it was
answering at once."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def stub_text(model: str, prompt: str) -> str:
    """What the stub's `model` answers to `prompt`: deterministic, different per model."""
    digest = hashlib.sha256(f"{model}\n{prompt}".encode()).hexdigest()[:8]
    if "anon" in model:
        return f"Answer {digest}: {prompt[:60]}"
    return f"{model} answers {digest}: {prompt[:60]}"


#: A response whose text holds this is the truly better one, for `judge-truth`.
TRUTH_MARK = "[better]"
_RESPONSE = re.compile(r"\[Response ([A-I])\]\n(.*?)\n\[End of Response \1\]", re.DOTALL)
_EVALUATED = re.compile(r"###Response to evaluate:\n(.*?)\n\n###Score rubrics:", re.DOTALL)
_SCALE = re.compile(
    r"\[[^\]]* \(([a-z0-9_-]+)\)\][^\n]*\n(?:An integer from (-?\d+) to (-?\d+)|true)"
)


def _unit(*parts: str) -> float:
    """A number in [0, 1) fixed by `parts`: the stub's coin, the same on every call."""
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return int(digest[:8], 16) / 16**8


def judge_text(model: str, prompt: str) -> str:
    """What a stub judge answers to a judge prompt. `judge-first` always prefers the
    response shown first; `judge-longer` the longest; `judge-truth` the one marked with
    TRUTH_MARK, except on one task in ten (the same tasks whatever the order shown);
    `judge-malformed` answers prose without JSON; `judge-fenced` wraps a first-position
    answer in prose and a ``` fence. Rubric prompts get every score at the top of its range
    for a marked (or, for judge-longer, long) response, at the bottom otherwise."""
    if model.startswith("judge-malformed"):
        return "I think the first response is somewhat better, but it is hard to say."
    shown = _RESPONSE.findall(prompt)
    follows = _unit(model, *sorted(text for _, text in shown)) < 0.9
    if '"scores"' in prompt:
        answer = {"scores": _rubric_scores(model, prompt), "confidence": 0.7, "rationale": "ok"}
    elif '"ranking"' in prompt:
        order = [label for label, _ in sorted(shown, key=lambda s: _rank_key(model, s, follows))]
        answer = {"ranking": [[label] for label in order], "confidence": 0.8, "rationale": "ok"}
    else:
        best = min(shown, key=lambda s: _rank_key(model, s, follows))[0] if shown else "A"
        answer = {"choice": best, "confidence": 0.9, "rationale": f"{best} is better."}
    text = json.dumps(answer)
    if model.startswith("judge-fenced"):
        return f"Here is my verdict.\n```json\n{text}\n```\nThank you."
    return text


def _rank_key(model: str, shown: tuple[str, str], follows: bool) -> tuple[float, str]:
    """Smaller is better: by length for judge-longer; for judge-truth the marked response
    first when it `follows` the truth, last otherwise, the others by their text (so the
    same whatever the order shown); else the order shown."""
    label, text = shown
    if model.startswith("judge-longer"):
        return (-len(text), label)
    if model.startswith("judge-truth"):
        marked = TRUTH_MARK in text
        return (0 if marked == follows else 1, text)
    return (0, label)


def _rubric_scores(model: str, prompt: str) -> dict[str, int | bool]:
    evaluated = _EVALUATED.search(prompt)
    text = evaluated.group(1) if evaluated else ""
    good = len(text) > 40 if model.startswith("judge-longer") else TRUTH_MARK in text
    scores: dict[str, int | bool] = {}
    for key, low, high in _SCALE.findall(prompt):
        scores[key] = good if not low else int(high if good else low)
    return scores


def _tokens(text: str) -> int:
    return len(text.split())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timed-out call) is expected here, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class StubRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes


class LLMStub:
    def __init__(self, *, slow_seconds: float = 2.0, drip_seconds: float = 0.3) -> None:
        self.slow_seconds = slow_seconds
        self.drip_seconds = drip_seconds
        self.requests: list[StubRequest] = []
        self._flaky_seen: set[str] = set()
        self._lock = threading.Lock()
        #: Requests being answered now, and the most there ever were at once.
        self.in_flight = 0
        self.max_in_flight = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                with stub._lock:
                    stub.requests.append(StubRequest(self.path, dict(self.headers), body, raw))
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    stub.answer(self, body)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ answers

    def answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if handler.path != "/v1/chat/completions":
            return self._send(handler, 404, {"error": {"message": "not found"}})
        model = str(body.get("model", ""))
        if model.startswith("slow"):
            time.sleep(self.slow_seconds)
        if model.startswith("failing") or self._flaky_fails(model):
            return self._send(handler, 500, {"error": {"message": "the model fell over"}})
        messages = body.get("messages") or []
        users = [m.get("content", "") for m in messages if m.get("role") == "user"]
        if model.removeprefix("slow-").startswith("judge-"):
            text = judge_text(model.removeprefix("slow-"), users[-1] if users else "")
        else:
            text = stub_text(model, users[-1] if users else "")
        usage = {
            "prompt_tokens": sum(_tokens(str(m.get("content", ""))) for m in messages),
            "completion_tokens": _tokens(text),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            pause = self.drip_seconds if model.startswith("drip") else 0.0
            return self._stream(handler, model, text, usage if with_usage else None, pause)
        return self._send(
            handler,
            200,
            {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage,
            },
        )

    def _flaky_fails(self, model: str) -> bool:
        with self._lock:
            first = model.startswith("flaky") and model not in self._flaky_seen
            self._flaky_seen.add(model)
        return first

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        handler.wfile.write(raw)

    @staticmethod
    def _stream(
        handler: BaseHTTPRequestHandler,
        model: str,
        text: str,
        usage: dict[str, int] | None,
        pause: float = 0.0,
    ) -> None:
        """Server-sent events: one chunk a word (`pause` seconds apart), a last chunk with
        the usage when asked for, then `data: [DONE]` (the connection closes after it:
        HTTP/1.0)."""
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()

        def event(data: dict[str, Any] | str) -> None:
            payload = data if isinstance(data, str) else json.dumps(data)
            handler.wfile.write(f"data: {payload}\n\n".encode())
            handler.wfile.flush()

        base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "model": model}
        event({**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        for n, word in enumerate(_words(text)):
            if n and pause:
                time.sleep(pause)
            event({**base, "choices": [{"index": 0, "delta": {"content": word}}]})
        event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if usage is not None:
            event({**base, "choices": [], "usage": usage})
        event("[DONE]")


def _words(text: str) -> Iterator[str]:
    """The text in pieces that join back to it exactly: each word with its leading space."""
    for n, word in enumerate(text.split(" ")):
        yield word if n == 0 else f" {word}"


@contextmanager
def llm_stub(**kwargs: Any) -> Iterator[LLMStub]:
    stub = LLMStub(**kwargs)
    try:
        yield stub
    finally:
        stub.close()
