"""A tool test traced across processes: the web process (config.asgi under uvicorn) and a
real Celery worker both export over OTLP/HTTP to a receiver run by the test, and the
worker's spans are children of the request that queued the task (the services run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from django.conf import settings as django_settings

from accounts import local_issuer
from config.celery import app as celery_app
from core.testing import (
    LoopbackServer,
    OtlpReceiver,
    ReceivedSpan,
    free_port,
    json_reply,
    require_postgres_and_redis,
    services_database_url,
)
from credentials.testing import operation, server_from_document, tool_named

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5  # OTLP span kinds
START_SECONDS = 60.0


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def processes(
    django_db_setup, django_db_blocker, receiver, tmp_path_factory
) -> Iterator[tuple[str, Path]]:
    """The web process and a worker, tracing to RECEIVER; yields the web process's URL and
    the directory of their logs."""
    require_postgres_and_redis()
    with django_db_blocker.unblock():
        database_url = services_database_url()
    logs = tmp_path_factory.mktemp("traced")
    env = os.environ | {
        "DATABASE_URL": database_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "OUTBOUND_ALLOW_PRIVATE": "true",
        "DATA_DIR": str(django_settings.DATA_DIR),
        "TOOL_TEST_WAIT_SECONDS": "20",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "LOG_FORMAT": "json",
    }
    port = free_port()
    web_command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--port", str(port)]
    worker_command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
    worker_command += [
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    started = []
    try:
        for name, command in (("web", web_command), ("worker", worker_command)):
            with open(logs / f"{name}.log", "w") as log:
                started.append(
                    subprocess.Popen(
                        command, cwd=Path(django_settings.BASE_DIR), env=env, stdout=log, stderr=log
                    )
                )
        url = f"http://127.0.0.1:{port}"
        _wait_until_ready(url, started, logs)
        yield url, logs
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_ready(url: str, started: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    web_up = worker_up = False
    while time.monotonic() < deadline and not (web_up and worker_up):
        if any(process.poll() is not None for process in started):
            break
        try:
            web_up = web_up or httpx2.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx2.TransportError:
            time.sleep(0.2)
        worker_up = worker_up or bool(celery_app.control.ping(timeout=0.5))
    if not (web_up and worker_up):
        output = "\n".join(path.read_text()[-3000:] for path in sorted(logs.iterdir()))
        pytest.fail(f"the web process or the worker did not start:\n{output}")


def only(spans: list[ReceivedSpan], name: str, service: str) -> ReceivedSpan:
    found = [s for s in spans if s.name == name and s.service == service]
    assert len(found) == 1, spans
    return found[0]


def test_a_tool_test_is_one_trace_from_the_request_through_the_worker_to_the_upstream(
    processes, receiver, alice
):
    with LoopbackServer(lambda request: json_reply({"ok": True})) as upstream:
        document = {
            "openapi": "3.0.3",
            "info": {"title": "Traced", "version": "1"},
            "paths": operation("/ping", "ping"),
        }
        server = server_from_document(user=alice, document=document, base_url=upstream.url)
        tool = tool_named(server, "ping")
        token = local_issuer.mint_token(alice.email, lifetime_seconds=600)

        base_url, logs = processes
        response = httpx2.post(
            f"{base_url}/api/servers/{server.id}/tools/{tool.id}/test",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["data"]["status"] == "succeeded"

        task = "tools.run_tool_test"
        spans = receiver.wait_for(
            lambda spans: (
                any(s.name == f"run/{task}" for s in spans)
                and any(s.name == "GET" and s.service == "specgate-worker" for s in spans)
                and any(s.kind == SERVER and s.name.startswith("POST api/") for s in spans)
            )
        )
        sent = [r for r in upstream.requests if r.path == "/ping"]

    request = next(s for s in spans if s.kind == SERVER and s.name.startswith("POST api/"))
    publish = only(spans, f"apply_async/{task}", "specgate-web")
    run = only(spans, f"run/{task}", "specgate-worker")
    call = only(spans, "GET", "specgate-worker")
    assert request.service == "specgate-web"
    assert (publish.kind, run.kind, call.kind) == (PRODUCER, CONSUMER, CLIENT)
    # One trace: the REST request queued the task, the worker ran it and called the upstream.
    assert {publish.trace_id, run.trace_id, call.trace_id} == {request.trace_id}
    assert run.parent_id == publish.span_id
    assert call.parent_id == run.span_id
    ids = {s.span_id: s for s in spans if s.trace_id == request.trace_id}
    chain = [publish.parent_id]
    while chain[-1] in ids and chain[-1] != request.span_id:
        chain.append(ids[chain[-1]].parent_id)
    assert chain[-1] == request.span_id, "the publishing span is not inside the REST request's"
    assert call.attributes["http.response.status_code"] == 200
    version, trace_id, parent_id, flags = sent[-1].headers["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", request.trace_id, call.span_id)
    assert int(flags, 16) & 1  # sampled
    # Database spans from both processes, statements without their values.
    queries = [s for s in spans if s.attributes.get("db.system.name") == "postgresql"]
    assert {s.service for s in queries} == {"specgate-web", "specgate-worker"}
    assert any(s.parent_id == run.span_id for s in queries)
    # The worker's log line of the run is JSON, in the trace of the request that queued it.
    lines = [json.loads(line) for line in (logs / "worker.log").read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    ran = [line for line in lines if line["logger"] == "tooltests.services"]
    assert ran and ran[-1]["message"].startswith("Tool test ")
    assert ran[-1]["trace_id"] == request.trace_id
    assert ran[-1]["span_id"] == run.span_id
