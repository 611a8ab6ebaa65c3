"""Prometheus metrics of the call path, the recorder and the registry.

On only when a scrape token is configured (`METRICS_TOKEN`; `configure` is called at start):
while `ENABLED` is False no metric is touched. When on, a call costs one dict lookup for the
server's pre-bound label children and a few increments; no label is resolved per call.

Labels stay bounded: a server (its id) and a small fixed set of outcomes or reasons; never a
tool, a user or a client. Under gunicorn the values live in `PROMETHEUS_MULTIPROC_DIR`
(prometheus-client's multiprocess mode, set up by config/gunicorn.py) and the scrape sums
every worker's files.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

ENABLED = False

OUTCOMES: Final = ("ok", "http_error", "upstream_failure", "credential_error", "rejected")
"""A tools/call's outcome: answered 2xx/3xx; answered 4xx/5xx; no usable answer (timeout,
refused connection, blocked address...); the server's credential could not be used; answered
by the gateway without calling out (unknown tool, invalid arguments)."""

LATENCY_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

tool_calls = Counter(
    "specgate_tool_calls", "MCP tools/call requests by server and outcome.", ["server", "outcome"]
)
tool_call_seconds = Histogram(
    "specgate_tool_call_duration_seconds",
    "Time from the arguments to the result of a tools/call, by server.",
    ["server"],
    buckets=LATENCY_BUCKETS,
)
upstream_seconds = Histogram(
    "specgate_upstream_duration_seconds",
    "Time of the upstream HTTP exchange of a tools/call, by server.",
    ["server"],
    buckets=LATENCY_BUCKETS,
)
refusals = Counter("specgate_refusals", "MCP requests refused by a limit, by reason.", ["reason"])
snapshot_reloads = Counter(
    "specgate_snapshot_reloads",
    "Gateway server snapshots loaded from the database, by result.",
    ["result"],
)
recorder_buffer_depth = Gauge(
    "specgate_recorder_buffer_depth",
    "Call records waiting in the request-log recorder's buffer (summed over workers).",
    multiprocess_mode="livesum",
)
recorder_flush_lag = Gauge(
    "specgate_recorder_flush_lag_seconds",
    "Seconds since the recorder last wrote while records wait (0 when none wait).",
    multiprocess_mode="livemax",
)


class ServerMetrics:
    """One server's label children, bound once."""

    __slots__ = ("call_seconds", "calls", "upstream_seconds")

    def __init__(self, server: str) -> None:
        self.calls = {outcome: tool_calls.labels(server, outcome) for outcome in OUTCOMES}
        self.call_seconds = tool_call_seconds.labels(server)
        self.upstream_seconds = upstream_seconds.labels(server)


_servers: dict[str, ServerMetrics] = {}
_refusals: dict[str, Counter] = {}


def configure(*, enabled: bool) -> None:
    global ENABLED
    ENABLED = enabled


def for_server(server: str) -> ServerMetrics:
    found = _servers.get(server)
    if found is None:
        found = _servers[server] = ServerMetrics(server)
    return found


def outcome_of(error_code: str) -> str:
    """The outcome label of a call from its `CallOutcome.error_code`."""
    if not error_code:
        return "ok"
    if error_code.startswith("http_"):
        return "http_error"
    if error_code.startswith("upstream_"):
        return "upstream_failure"
    if error_code == "invalid_arguments":
        return "rejected"
    return "credential_error"


def observe_call(server: str, error_code: str, duration_ms: int, upstream_ms: int | None) -> None:
    bound = for_server(server)
    bound.calls[outcome_of(error_code)].inc()
    bound.call_seconds.observe(duration_ms / 1000)
    if upstream_ms is not None:
        bound.upstream_seconds.observe(upstream_ms / 1000)


def observe_rejected(server: str) -> None:
    for_server(server).calls["rejected"].inc()


def observe_refusal(reason: str) -> None:
    counter = _refusals.get(reason)
    if counter is None:
        counter = _refusals[reason] = refusals.labels(reason)
    counter.inc()
