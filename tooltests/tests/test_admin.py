"""Why a tool test failed, as the admin tells it: real tests against real upstreams (one that
answers 500 or 403, one that refuses connections, one too slow), read on the test's page."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from core.testing import LoopbackServer, RecordedRequest, json_reply
from credentials import services as credential_services
from credentials.injection import forget_cached
from credentials.testing import echo, operation, server_from_document, tool_named
from tooltests.models import ToolTest

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "bt-admin-test-77aa"


def document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Items", "version": "1"},
        "security": [{"bearerAuth": []}],
        "paths": {
            **operation("/ok", "fine"),
            **operation("/broken", "broken"),
            **operation("/forbidden", "forbidden"),
        },
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    }


def handler(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    if request.path.startswith("/broken"):
        return json_reply({"message": f"exploded while holding {SECRET}"}, status=500)
    if request.path.startswith("/forbidden"):
        return json_reply({"message": "no"}, status=403)
    return echo(request)


@pytest.fixture(autouse=True)
def _settings(settings) -> None:
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.TOOL_TEST_WAIT_SECONDS = 5.0
    settings.OUTBOUND_ALLOW_PRIVATE = True
    forget_cached()


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    with LoopbackServer(handler) as server:
        yield server


def run(client, server, tool: str) -> ToolTest:
    tool_id = tool_named(server, tool).id
    client.post(f"/api/servers/{server.id}/tools/{tool_id}/test", {}, format="json")
    return ToolTest.objects.filter(tool_id=tool_id).latest("created_at")


def page(operator, test: ToolTest) -> str:
    return operator.get(f"/admin/tooltests/tooltest/{test.pk}/change/").content.decode()


def test_an_upstream_5xx_and_4xx_are_explained_with_the_exchange_pretty_printed(
    alice, alice_client, operator, upstream
) -> None:
    server = server_from_document(user=alice, document=document(), base_url=upstream.url)
    credential_services.credential_create(
        user=alice, server_id=server.id, type="bearer", secret={"value": SECRET}
    )

    broken = page(operator, run(alice_client, server, "broken"))
    forbidden = page(operator, run(alice_client, server, "forbidden"))

    assert "The upstream API failed: HTTP 500 Internal Server Error (an error on its side)." in (
        broken
    )
    assert "<pre>" in broken and "&quot;statusCode&quot;: 500" in broken
    assert SECRET not in broken
    assert "HTTP 403 Forbidden. Check the server&#x27;s credential" in forbidden
    listing = operator.get("/admin/tooltests/tooltest/?status__exact=failed").content.decode()
    assert "HTTP 500 Internal Server Error" in listing


def test_a_refused_connection_is_explained(alice, alice_client, operator) -> None:
    with LoopbackServer(echo) as gone:
        base_url = gone.url
    server = server_from_document(user=alice, document=document(), base_url=base_url)

    shown = page(operator, run(alice_client, server, "fine"))

    assert "Connection failed: nothing answered at the server&#x27;s base URL" in shown


def test_a_timeout_is_explained(alice, alice_client, operator, settings) -> None:
    settings.OUTBOUND_TIMEOUT = 0.3

    def slow(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        time.sleep(1.0)
        return json_reply({})

    with LoopbackServer(slow) as upstream:
        server = server_from_document(user=alice, document=document(), base_url=upstream.url)
        test = run(alice_client, server, "fine")

    assert "Timed out: the upstream API did not answer in time." in page(operator, test)


def test_a_success_says_what_came_back(alice, alice_client, operator, upstream) -> None:
    server = server_from_document(user=alice, document=document(), base_url=upstream.url)

    shown = page(operator, run(alice_client, server, "fine"))

    assert "The upstream API answered HTTP 200 OK." in shown
    assert f"/admin/accounts/user/{alice.pk}/change/" in shown
