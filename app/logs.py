"""Log lines that say which request, run or job they belong to.

A context variable holds the ids of what the current code works for: the web process sets the
request id for each request (`RequestId`), a worker the task's ids when the task starts
(`worker.celery_app`). With LOG_FORMAT=json every line is one JSON object carrying them; with
the default "text" the servers keep their own formats, and the request id is still echoed in
each answer's X-Request-ID header.
"""

import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.config import Settings

_context: ContextVar[dict[str, Any] | None] = ContextVar("atelier_log_context", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's or client's id is kept if it is short and plain (no spaces, quotes or controls,
# which could forge log lines); anything else is replaced by a fresh one.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def log_context() -> dict[str, Any]:
    """The ids the current request or task carries into its log lines."""
    return dict(_context.get() or {})


def log_context_enter(**ids: Any) -> Token[dict[str, Any] | None]:
    """Carry these ids (besides those already set) into every line logged from now on, until
    `log_context_exit` with the token returned."""
    return _context.set({**log_context(), **ids})


def log_context_exit(token: Token[dict[str, Any] | None]) -> None:
    _context.reset(token)


@contextmanager
def log_context_set(**ids: Any) -> Iterator[None]:
    """Carry these ids (besides those already set) into every line logged inside."""
    token = log_context_enter(**ids)
    try:
        yield
    finally:
        log_context_exit(token)


def request_id_of(sent: str | None) -> str:
    """The caller's X-Request-ID if it is sane, else a new one."""
    if sent is not None and _SANE_REQUEST_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class RequestId:
    """Give every request an id (the caller's X-Request-ID if sane), carry it into the log
    lines written while it is answered, and echo it in the answer's X-Request-ID header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        sent = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode())
        request_id = request_id_of(sent.decode("latin-1") if sent is not None else None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with log_context_set(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class ContextFilter(logging.Filter):
    """Put the current ids on each record (`record.context`) for the formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context = log_context()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the context's ids, the trace."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", {}),
        }
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            # uvicorn's access line: (client, method, path, HTTP version, status)
            line.update(zip(("client", "method", "path", "http", "status"), args, strict=True))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def logging_config(settings: Settings) -> dict[str, Any] | None:
    """A `logging.config.dictConfig` for LOG_FORMAT=json: every logger (uvicorn's and
    Celery's included) writes JSON lines to stderr at INFO. None for "text"."""
    if settings.LOG_FORMAT != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "json",
                "filters": ["context"],
            }
        },
        "loggers": {
            name: {"handlers": [], "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery")
        },
        "root": {"handlers": ["stderr"], "level": "INFO"},
    }


def logs_configure(settings: Settings) -> None:
    """Apply LOG_FORMAT=json to this process's logging (nothing for "text")."""
    import logging.config

    config = logging_config(settings)
    if config is not None:
        logging.config.dictConfig(config)
