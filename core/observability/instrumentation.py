"""The Django side of tracing: REST requests, Celery tasks and database queries as spans.

`start_tracing` is called once per process by the entry points (config/asgi.py,
config/wsgi.py, the Celery worker's start signal). It does nothing unless an OTLP endpoint
is configured (`core.observability.tracing`), so with tracing off no instrumentation is
installed and nothing is patched.

- REST requests: opentelemetry-instrumentation-django (a middleware it inserts first).
- Celery: opentelemetry-instrumentation-celery puts the publishing span's `traceparent` in
  the task message and makes the worker's span its child, so a tool test's run is linked to
  the request that queued it.
- Database: a span per query through Django's `execute_wrapper` on every connection, which
  covers SQLite and PostgreSQL alike (the statement as Django sends it, with its
  placeholders: never the parameter values).
- The gateway (`/mcp/...`, our own ASGI app, which Django's instrumentation never sees) and
  the upstream calls (`core.outbound`, on httpx2) make their spans themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.backends.signals import connection_created

from core.observability import tracing

_MAX_STATEMENT_CHARS = 2000


def start_tracing(*, service_name: str, web: bool) -> bool:
    """Turn tracing on for this process when configured; WEB adds the REST request spans."""
    if not tracing.start(service_name=service_name):
        return False
    provider = tracing.provider()
    from opentelemetry.instrumentation.celery import CeleryInstrumentor

    CeleryInstrumentor().instrument(tracer_provider=provider)
    if web:
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().instrument(tracer_provider=provider)
    connection_created.connect(_trace_queries, dispatch_uid="specgate-db-spans")
    return True


def _trace_queries(sender: Any, connection: Any, **kwargs: Any) -> None:
    if _query_span not in connection.execute_wrappers:
        connection.execute_wrappers.append(_query_span)


def _query_span(
    execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]
) -> Any:
    if not tracing.ENABLED:
        return execute(sql, params, many, context)
    connection = context["connection"]
    operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "QUERY"
    attributes = {
        "db.system.name": "postgresql" if connection.vendor == "postgresql" else connection.vendor,
        "db.operation.name": operation,
        "db.query.text": sql[:_MAX_STATEMENT_CHARS],
    }
    with tracing.tracer().start_as_current_span(
        f"{operation} {connection.alias}", kind=tracing.SpanKind.CLIENT, attributes=attributes
    ):
        return execute(sql, params, many, context)
