"""Traces, metrics and structured logs: the three ways an operator sees what Specgate does.

- `tracing`: OpenTelemetry spans exported over OTLP/HTTP, on only when the standard
  `OTEL_EXPORTER_OTLP_*` variables name an endpoint. Django-free: `core.outbound` uses it.
- `metrics`: Prometheus metrics (multiprocess under gunicorn), on only when a scrape token is
  configured.
- `logs`: the request id of the request being served, and the log formats (JSON or text).
- `instrumentation`: the Django side: REST requests, Celery tasks and database queries as spans.
"""
