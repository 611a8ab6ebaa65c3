"""`/metrics` under gunicorn with two workers (prometheus-client's multiprocess mode): every
scrape, whichever worker answers it, counts the calls of both workers exactly; the Celery
queue is read from Redis (the services run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families

from config.celery import app as celery_app
from core.testing import (
    LoopbackServer,
    free_port,
    json_reply,
    require_postgres_and_redis,
    services_database_url,
)
from credentials.testing import operation, server_from_document

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
TOKEN = "scrape-token-gunicorn-0123"
CALLS = 24


@pytest.fixture
def web(django_db_blocker, tmp_path) -> Iterator[str]:
    require_postgres_and_redis()
    with django_db_blocker.unblock():
        database_url = services_database_url()
    port = free_port()
    env = os.environ | {
        "DATABASE_URL": database_url,
        "OUTBOUND_ALLOW_PRIVATE": "true",
        "DATA_DIR": str(django_settings.DATA_DIR),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "-w", "2"]
    command += ["-b", f"127.0.0.1:{port}", "config.asgi:application"]
    log = tmp_path / "web.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, cwd=Path(django_settings.BASE_DIR), env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if httpx2.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx2.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_every_scrape_sums_the_calls_of_all_workers(web, alice):
    document = {"openapi": "3.0.3", "info": {"title": "M", "version": "1"}}
    document["paths"] = operation("/ping", "ping")
    with LoopbackServer(lambda request: json_reply({"ok": True})) as upstream:
        server = server_from_document(user=alice, document=document, base_url=upstream.url)
        server.visibility = "public"
        server.save(update_fields=["visibility"])
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        message["params"] = {"name": "ping", "arguments": {}}
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for _ in range(CALLS):  # a new connection each: the kernel spreads them over workers
            response = httpx2.post(
                f"{web}/mcp/{server.slug}", content=json.dumps(message), headers=headers
            )
            assert response.status_code == 200, response.text
        served = len([r for r in upstream.requests if r.path == "/ping"])

    assert served == CALLS
    key = ("specgate_tool_calls_total", frozenset({("server", str(server.id)), ("outcome", "ok")}))
    for _ in range(6):  # whichever worker answers the scrape
        samples = scrape(web)
        assert samples[key] == CALLS
    count = ("specgate_tool_call_duration_seconds_count", frozenset({("server", str(server.id))}))
    assert samples[count] == CALLS


def test_the_celery_queue_depth_is_read_from_redis(web):
    celery_app.control.purge()
    try:
        for _ in range(3):
            celery_app.send_task("tools.run_tool_test", args=[str(uuid.uuid4())])
        samples = scrape(web)
    finally:
        celery_app.control.purge()

    assert samples[("specgate_celery_queue_depth", frozenset({("queue", "celery")}))] == 3
