"""Tool tests through a real Celery worker and Redis (the services run; skipped elsewhere)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings

from config.celery import app as celery_app
from core.testing import (
    LoopbackServer,
    RecordedRequest,
    json_reply,
    require_postgres_and_redis,
    services_database_url,
)
from credentials import services as credential_services
from credentials.injection import forget_cached
from credentials.testing import operation, server_from_document, tool_named
from tooltests.models import ToolTest

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# The worker is another process: it must decrypt with the same key.
WORKER_KEY = Fernet.generate_key().decode()
SLOW_SECONDS = 2.0
WORKER_START_SECONDS = 60.0


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Worker", "version": "1"},
        "security": [{"key": []}],
        "paths": {**operation("/fast", "fast"), **operation("/slow", "slow")},
        "components": {
            "securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}}
        },
    }


def upstream_handler(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    if request.path == "/slow":
        time.sleep(SLOW_SECONDS)
    return json_reply({"path": request.path, "key": request.headers.get("X-Key")})


@pytest.fixture(autouse=True)
def services_settings(settings) -> None:
    require_postgres_and_redis()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [WORKER_KEY]
    settings.OUTBOUND_ALLOW_PRIVATE = True
    forget_cached()


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[None]:
    """A real `celery worker` process on the test database and the run's Redis."""
    require_postgres_and_redis()
    with django_db_blocker.unblock():
        database_url = services_database_url()
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = os.environ | {
        "DATABASE_URL": database_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CREDENTIALS_ENCRYPTION_KEYS": WORKER_KEY,
        "OUTBOUND_ALLOW_PRIVATE": "true",
        "DATA_DIR": str(django_settings.DATA_DIR),
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo"]
    command += ["--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=Path(django_settings.BASE_DIR), env=env, stdout=log, stderr=log
        )
    try:
        _wait_until_ready(process, log_path)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + WORKER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited:\n{log_path.read_text()[-4000:]}")
        if celery_app.control.ping(timeout=0.5):
            return
    pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()[-4000:]}")


@pytest.fixture
def server(alice, settings):
    with LoopbackServer(upstream_handler) as upstream:
        made = server_from_document(user=alice, document=document(), base_url=upstream.url)
        credential_services.credential_create(
            user=alice, server_id=made.id, type="apiKey", secret={"value": "wk-secret-77"}
        )
        yield made


def run_url(server, tool_name: str) -> str:
    return f"/api/servers/{server.id}/tools/{tool_named(server, tool_name).id}/test"


def test_with_the_worker_down_the_request_answers_pending_in_time(alice_client, server, settings):
    # Runs before the module's worker starts: nothing consumes the queue yet.
    settings.TOOL_TEST_WAIT_SECONDS = 1.0
    started = time.monotonic()

    response = alice_client.post(run_url(server, "fast"), {}, format="json")

    elapsed = time.monotonic() - started
    try:
        assert response.status_code == 202
        assert response.json()["data"]["status"] == "pending"
        assert ToolTest.objects.get(id=response.json()["data"]["testId"]).status == "pending"
        assert 1.0 <= elapsed < 3.0
    finally:
        # Leave no message behind for the worker of the next tests.
        celery_app.control.purge()


def test_a_real_worker_runs_the_test(worker, alice_client, server, settings):
    settings.TOOL_TEST_WAIT_SECONDS = 20.0

    response = alice_client.post(run_url(server, "fast"), {}, format="json")

    assert response.status_code == 200, response.json()
    data = response.json()["data"]
    assert data["status"] == "succeeded"
    assert data["result"]["structuredContent"] == {"path": "/fast", "key": "[REDACTED]"}
    assert data["request"]["headers"]["X-Key"] == "[REDACTED]"


def test_a_slow_upstream_answers_202_then_the_test_can_be_polled(
    worker, alice_client, server, settings
):
    settings.TOOL_TEST_WAIT_SECONDS = 0.5
    url = run_url(server, "slow")

    response = alice_client.post(url, {}, format="json")

    assert response.status_code == 202
    test_id = response.json()["data"]["testId"]
    detail = url.removesuffix("/test") + f"/tests/{test_id}"
    deadline = time.monotonic() + SLOW_SECONDS + 15
    status = "pending"
    while status == "pending" and time.monotonic() < deadline:
        time.sleep(0.2)
        polled = alice_client.get(detail)
        status = polled.json()["data"]["status"]
    assert status == "succeeded"
    assert polled.json()["data"]["timing"]["upstreamMs"] >= SLOW_SECONDS * 1000 * 0.9
