"""Log lines that can be followed through a request: the request id, trace ids, JSON or text.

Every line logged while a request is served carries its request id (`request_id`), taken
from an incoming `X-Request-ID` when it is sane (1-128 characters of letters, digits and
`-_.:/+=@`) and generated otherwise; the response returns it in `X-Request-ID`. With tracing
on, lines logged inside a span also carry `trace_id` and `span_id`.

`LOG_FORMAT` picks the shape: `json` (one object per line, python-json-logger) or `text`.
No Django here: the gateway sets the request id too.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from contextvars import ContextVar
from typing import Any, Final

from pythonjsonlogger.json import JsonFormatter

from core.observability import tracing

REQUEST_ID_HEADER: Final = "x-request-id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9\-_.:/+=@]{1,128}")

request_id_var: ContextVar[str] = ContextVar("request_id", default="")

TEXT_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _new_sequence() -> None:
    """A random prefix per process and a counter: 32 hex digits, unique across processes,
    for a tenth of uuid4's cost (one getrandom call per process, not per request)."""
    global _prefix, _counter
    _prefix = os.urandom(8).hex()
    _counter = itertools.count()


_prefix = ""
_counter = itertools.count()
_new_sequence()
os.register_at_fork(after_in_child=_new_sequence)


def request_id_for(incoming: str | None) -> str:
    """The id of this request: the client's `X-Request-ID` when sane, else a new one."""
    if incoming is not None and _SANE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return f"{_prefix}{next(_counter):016x}"


class ContextFilter(logging.Filter):
    """Adds `request_id` (empty outside a request) and, inside a span, `trace_id` and
    `span_id` to every record that passes the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        if tracing.ENABLED:
            context = tracing.trace.get_current_span().get_span_context()
            if context.is_valid:
                record.trace_id = f"{context.trace_id:032x}"
                record.span_id = f"{context.span_id:016x}"
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, request and trace ids, and
    the exception when there is one. Only fields the code puts in a message or `extra`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", JSON_FIELDS)
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("timestamp", False)
        super().__init__(*args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") == "-":
            del log_data["request_id"]


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The `LOGGING` dict of settings for LOG_FORMAT (json|text) and LOG_LEVEL."""
    formatter: dict[str, Any] = (
        {"()": JsonLineFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"level": "ERROR"},
            "httpx2": {"level": "WARNING"},
            "httpcore2": {"level": "WARNING"},
        },
    }
