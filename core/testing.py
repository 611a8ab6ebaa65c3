"""Test support shared by every app: service requirements and tiny loopback servers."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from asgiref.sync import sync_to_async

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, reason: str) -> None:
    """Skip outside CI when a real dependency is missing; in CI, fail instead."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required dependency missing in CI: {reason}")
    pytest.skip(reason)


def require_postgres_and_redis() -> None:
    """The services run: a PostgreSQL DATABASE_URL and a REDIS_URL."""
    database_url = os.environ.get("DATABASE_URL", "")
    require(bool(os.environ.get("REDIS_URL")), "REDIS_URL is not set")
    require(database_url.startswith(("postgres://", "postgresql://")), "no PostgreSQL DATABASE_URL")


def services_database_url() -> str:
    """DATABASE_URL pointing at the database pytest-django created, for other processes."""
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RecordedRequest:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        self.method = handler.command
        self.path = handler.path
        self.headers = handler.headers
        self.body = body


Route = Callable[[RecordedRequest], tuple[int, dict[str, str], bytes]]


class LoopbackServer:
    """A real HTTP server on 127.0.0.1 whose answers a test sets and whose requests it reads."""

    def __init__(self, handler: Route, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.requests: list[RecordedRequest] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = RecordedRequest(self, self.rfile.read(length) if length else b"")
                server.requests.append(recorded)
                status, headers, body = server.handler(recorded)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        # serve_forever looks for shutdown() between polls: at its default 0.5 s every server a
        # test stops would cost it a quarter of a second on average.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def json_reply(payload: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def echo_path(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    """An upstream that answers every request with `{"path": <the path it was asked for>}`."""
    return json_reply({"path": request.path})


def php_json(value: Any) -> str:
    """PHP's json_encode defaults: "/" as "\\/", non-ASCII as \\uXXXX."""
    return json.dumps(value).replace("/", "\\/")


def go_json(value: Any) -> str:
    """Go's json.Marshal: "<", ">", "&", U+2028 and U+2029 as \\u00XX; other characters raw."""
    text = json.dumps(value, ensure_ascii=False)
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


@contextmanager
def loopback_server(handler: Route) -> Iterator[LoopbackServer]:
    with LoopbackServer(handler) as server:
        yield server


@contextmanager
def asgiref_shared_thread_held(seconds: float = 30.0) -> Iterator[None]:
    """Keep asgiref's one shared thread (where thread-sensitive sync_to_async work of an event
    loop with no sync caller runs) busy for the block, at most SECONDS."""
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(seconds)

    holder = threading.Thread(
        target=lambda: asyncio.run(sync_to_async(hold, thread_sensitive=True)()), daemon=True
    )
    holder.start()
    if not started.wait(seconds):
        raise RuntimeError("asgiref's shared thread did not become free")
    try:
        yield
    finally:
        release.set()
        holder.join(seconds)


class ManualClock:
    """A clock a test moves by hand: `core.clock`'s readings start at the real ones and only
    change by `advance`, so timing windows need no sleeping and no tolerance."""

    def __init__(self) -> None:
        from core import clock

        self._lock = threading.Lock()
        self._monotonic = clock.monotonic()
        self._time = clock.time()

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic

    def time(self) -> float:
        with self._lock:
            return self._time

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._monotonic += seconds
            self._time += seconds


@contextmanager
def manual_clock() -> Iterator[ManualClock]:
    """Replace `core.clock` with a ManualClock for the block."""
    from core import clock

    manual = ManualClock()
    saved = clock.monotonic, clock.time
    clock.monotonic, clock.time = manual.monotonic, manual.time
    try:
        yield manual
    finally:
        clock.monotonic, clock.time = saved


class ReceivedSpan:
    """One span as an OTLP collector received it."""

    def __init__(self, span: Any, service: str) -> None:
        self.name: str = span.name
        self.service = service
        self.trace_id = span.trace_id.hex()
        self.span_id = span.span_id.hex()
        self.parent_id = span.parent_span_id.hex()
        self.kind: int = span.kind
        self.attributes = {item.key: _any_value(item.value) for item in span.attributes}

    def __repr__(self) -> str:
        return f"<span {self.service}:{self.name} {self.span_id} parent={self.parent_id}>"


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class OtlpReceiver:
    """An OTLP/HTTP trace collector on loopback: what exporters POST to `{url}/v1/traces` is
    parsed (protobuf `ExportTraceServiceRequest`) into `spans`."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._handle)
        self.url = self._server.url

    def __enter__(self) -> OtlpReceiver:
        self._server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(*exc)

    def _handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        import gzip

        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        if request.method != "POST" or request.path != "/v1/traces":
            return 404, {}, b""
        body = request.body
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        received = []
        for resource_spans in export.resource_spans:
            resource = {a.key: _any_value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(ReceivedSpan(span, str(resource.get("service.name", ""))))
        with self._lock:
            self.spans.extend(received)
        reply = ExportTraceServiceResponse().SerializeToString()
        return 200, {"Content-Type": "application/x-protobuf"}, reply

    def wait_for(
        self, found: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        """The spans received once FOUND holds for them (fails the test after TIMEOUT)."""
        import time

        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                spans = list(self.spans)
            if found(spans):
                return spans
            if time.monotonic() > deadline:
                pytest.fail(f"the expected spans did not arrive; received: {spans}")
            time.sleep(0.1)


# --- A real browser ---------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def chromium_page(screenshots: Any) -> Iterator[Any]:
    """A page in Debian's chromium (scripts/install-browser.sh), driven by Playwright.

    Skips when chromium or Playwright is missing, and fails instead under CI. Playwright's
    own browser downloads are never used. SCREENSHOTS is a directory for `shot`.
    """
    require(os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: run scripts/install-browser.sh")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - requirements-dev.txt pins it
        require(False, "playwright is not installed: scripts/setup.sh dev")
        raise
    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.set_default_timeout(15_000)
                yield page
            finally:
                browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


def shot(page: Any, directory: Any, name: str) -> None:
    """Save a full-page screenshot of PAGE as DIRECTORY/NAME.png."""
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True)
