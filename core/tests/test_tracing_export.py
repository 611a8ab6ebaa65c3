"""How often a process sends its spans: every second by default, or as OTEL_BSP_SCHEDULE_DELAY
says. Spans go over OTLP/HTTP to a real receiver; nothing is flushed by hand."""

from __future__ import annotations

import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from core.observability import tracing
from core.testing import OtlpReceiver


def first_export_after(monkeypatch, delay: str | None) -> float:
    if delay is None:
        monkeypatch.delenv("OTEL_BSP_SCHEDULE_DELAY", raising=False)
    else:
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", delay)
    with OtlpReceiver() as receiver:
        exporter = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=5)
        assert tracing.start(service_name="specgate-test", exporter=exporter)
        try:
            started = time.monotonic()
            tracing.tracer().start_span("one").end()
            receiver.wait_for(lambda spans: len(spans) >= 1, timeout=10)
            return time.monotonic() - started
        finally:
            tracing.stop()


def test_spans_leave_within_about_a_second_by_default(monkeypatch):
    # The SDK's own default would hold them up to 5 s.
    assert first_export_after(monkeypatch, None) < 2.5


def test_the_standard_variable_still_decides(monkeypatch):
    assert first_export_after(monkeypatch, "4000") > 2.5


@pytest.fixture(autouse=True)
def _tracing_off_after():
    yield
    tracing.stop()
