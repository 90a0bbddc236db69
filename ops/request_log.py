"""Request-scoped log context: a request id (from X-Request-ID or made), the user and the
project on every log line of a request and of the Celery tasks it queues; JSON lines with
LOG_FORMAT=json (README, Observability)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from celery import signals
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's or client's id is kept when it is a plain token (UUIDs, hex, Heroku-style ids);
# anything else (spaces, quotes, control characters, 200 KB) would be copied into every log
# line and response, so a fresh id is made instead.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+=/-]{0,127}")
PROJECT_URL_KWARGS = ("slug",)


def request_id_from(header: str) -> str:
    """The caller's X-Request-ID when it is a sane token, else a new one."""
    if SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("request_id")


class RequestContextMiddleware:
    """Binds request_id (echoed in the X-Request-ID response header), user_id and project
    for every log line of the request, and logs one line per request when it ends."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        structlog.contextvars.clear_contextvars()
        request_id = request_id_from(request.META.get("HTTP_X_REQUEST_ID", ""))
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            # A token-authenticated API user is known only once DRF has run the view.
            _bind_user(request)
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.monotonic() - started) * 1000, 1),
                },
            )
            return response
        finally:
            structlog.contextvars.clear_contextvars()

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> None:
        for name in PROJECT_URL_KWARGS:
            if isinstance(view_kwargs.get(name), str):
                structlog.contextvars.bind_contextvars(project=view_kwargs[name])
        _bind_user(request)


def _bind_user(request: HttpRequest) -> None:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        structlog.contextvars.bind_contextvars(user_id=user.pk)


def json_formatter() -> structlog.stdlib.ProcessorFormatter:
    """The logging formatter of LOG_FORMAT=json: one JSON object a line with the time, level,
    logger, message, the bound context (request_id, user_id, project, task) and any extra."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.ExtraAdder(),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


@signals.before_task_publish.connect
def _pass_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """A task queued during a request carries its id in the message headers."""
    request_id = current_request_id()
    if headers is not None and request_id and "request_id" not in headers:
        headers["request_id"] = request_id


@signals.task_prerun.connect
def _bind_task_context(task: Any = None, task_id: str | None = None, **_: Any) -> None:
    """A worker binds the caller's request id (or the task id) for the task's log lines. An
    eager task runs inside its caller and keeps the caller's context as it is."""
    if task is None or task.request.is_eager:
        return
    request_id = getattr(task.request, "request_id", None) or (
        (task.request.headers or {}).get("request_id")
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id or task_id, task=task.name)
    logger.info(
        "task %s started", task.name, extra={"request_id": request_id or task_id, "task": task.name}
    )


@signals.task_postrun.connect
def _clear_task_context(task: Any = None, **_: Any) -> None:
    if task is not None and not task.request.is_eager:
        structlog.contextvars.clear_contextvars()
