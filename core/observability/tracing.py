"""OpenTelemetry tracing, on only when an OTLP endpoint is configured.

`ENABLED` is the one switch the hot paths read: while it is False (no endpoint set, the
default) the gateway and the outbound wrapper make no tracer call at all, so tracing costs
one module attribute read per request. `start()` turns it on from the standard OTel
environment variables:

- `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`: where spans go
  (OTLP over HTTP/protobuf); `OTEL_EXPORTER_OTLP_HEADERS` etc. are read by the exporter;
- `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`: sampling (the SDK's default is
  parentbased_always_on), read by the SDK;
- `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`: the resource;
- `OTEL_SDK_DISABLED=true` keeps tracing off whatever else is set.

No Django here: `core.outbound` imports this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableSequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = [
    "ENABLED",
    "Span",
    "SpanKind",
    "Status",
    "StatusCode",
    "configured_endpoint",
    "detach",
    "flush",
    "in_unsampled_trace",
    "inject_into",
    "provider",
    "start",
    "start_incoming_span",
    "stop",
    "tracer",
]

ENABLED = False
"""True once `start()` ran with an endpoint configured; read on every hot-path request."""

_provider: TracerProvider | None = None
_tracer: Tracer = trace.NoOpTracer()

_TRUE = {"1", "true", "yes", "on"}
# W3C trace context only: baggage a client sends is not passed on to upstream APIs.
_PROPAGATOR = TraceContextTextMapPropagator()


def configured_endpoint() -> str | None:
    """The OTLP traces endpoint the standard variables name, or None (tracing stays off)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return None
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


DEFAULT_EXPORT_DELAY_MS = 1000


def start(*, service_name: str, exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on for this process if an endpoint is configured; idempotent.

    Call it in each process that serves requests or runs tasks, after any fork (gunicorn
    workers import the app after forking; Celery's prefork children call it from
    `worker_process_init`): the batch exporter's thread does not survive a fork.
    """
    global ENABLED, _provider, _tracer
    if _provider is not None:
        return True
    # The SDK is imported only when tracing is on: a process without it never loads it.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if exporter is None:
        if configured_endpoint() is None:
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    attributes = {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    # Spans leave every second unless OTEL_BSP_SCHEDULE_DELAY says otherwise (the SDK's
    # default is 5 s): a busy worker then holds and serializes a fifth of the spans at a time,
    # which keeps its peak memory 2-3 MB lower at 3,000 calls/s (docs/benchmarks.md).
    delay = None if os.environ.get("OTEL_BSP_SCHEDULE_DELAY") else DEFAULT_EXPORT_DELAY_MS
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=delay))
    _provider = provider
    _tracer = provider.get_tracer("specgate")
    ENABLED = True
    return True


def stop() -> None:
    """Export what is pending and turn tracing off (process exit; tests)."""
    global ENABLED, _provider, _tracer
    ENABLED = False
    if _provider is not None:
        _provider.shutdown()
    _provider = None
    _tracer = trace.NoOpTracer()


def flush() -> None:
    """Export the spans ended so far now rather than at the next batch."""
    if _provider is not None:
        _provider.force_flush()


def provider() -> TracerProvider | None:
    return _provider


def tracer() -> Tracer:
    return _tracer


def in_unsampled_trace() -> bool:
    """True inside a trace that was not sampled: its child spans would not be recorded
    either (every standard sampler decides a child as its parent or, for traceidratio, by
    the same trace id), so the hot paths skip creating them, the SDK's costliest part."""
    span = trace.get_current_span()
    return span.get_span_context().is_valid and not span.is_recording()


def start_incoming_span(
    headers: Mapping[str, str],
    name: str,
    *,
    kind: SpanKind,
    attributes: Mapping[str, str],
) -> tuple[Span, Any]:
    """Start the span of an incoming request, a child of its `traceparent` (W3C) if any, and
    make it current; returns it and the token for `detach`. Lower-cased header names, as ASGI
    gives them.

    The span `start_as_current_span` would start, made current with one context attach and no
    context manager: most requests are not sampled, and their span has nothing to record or
    end. A recording span is for the caller to end, e.g. with `trace.use_span(span,
    end_on_exit=True)`, which also records an exception as `start_as_current_span` does.
    """
    context = _PROPAGATOR.extract(headers)
    span = _tracer.start_span(name, context, kind, attributes)
    return span, otel_context.attach(trace.set_span_in_context(span, context))


def detach(token: Any) -> None:
    otel_context.detach(token)


def inject_into(headers: MutableSequence[tuple[str, str]]) -> None:
    """Append `traceparent` (and `tracestate`) for the current span to HEADERS."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    headers.extend(carrier.items())
