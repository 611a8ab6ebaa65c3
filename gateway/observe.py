"""What the gateway tells traces and metrics about a tools/call.

Attributes name the server, the tool, the upstream status and the outcome: never argument
values, headers or anything a credential could be in. The callers check
`tracing.ENABLED` / `metrics.ENABLED` first, so with both off nothing here runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from core.observability import metrics, tracing
from gateway.runtime import ServerRuntime
from tools.calling import CallOutcome


@contextmanager
def call_span(server: ServerRuntime, tool_name: str) -> Iterator[tracing.Span]:
    attributes = {
        "mcp.method.name": "tools/call",
        "gen_ai.tool.name": tool_name,
        "specgate.server.id": server.server_id,
        "specgate.server.slug": server.slug,
    }
    with tracing.tracer().start_as_current_span(
        f"tools/call {tool_name}", attributes=attributes
    ) as span:
        yield span


def end_call(span: tracing.Span, outcome: CallOutcome) -> None:
    label = metrics.outcome_of(outcome.error_code)
    span.set_attribute("specgate.call.outcome", label)
    span.set_attribute("specgate.call.status", "ok" if outcome.succeeded else "error")
    if outcome.status_code is not None:
        span.set_attribute("specgate.upstream.status_code", outcome.status_code)
    if outcome.error_code:
        span.set_attribute("error.type", outcome.error_code)
    if not outcome.succeeded:
        span.set_status(tracing.Status(tracing.StatusCode.ERROR, label))


def note_rejected(tool_name: str) -> None:
    """A tools/call answered without calling out: said on the MCP request's span."""
    span = tracing.trace.get_current_span()
    span.set_attribute("gen_ai.tool.name", tool_name)
    span.set_attribute("specgate.call.outcome", "rejected")
