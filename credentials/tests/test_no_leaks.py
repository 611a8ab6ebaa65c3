"""A full flow, then a scan of everything it produced for the secrets: none may appear."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import connection

from credentials.models import Credential
from credentials.testing import LEAK_CREDENTIALS, LEAK_HEADER_KEY, leaks_in, leaky_server
from tooltests.models import ToolTest
from usage.models import RequestLog

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_secret_appears_in_responses_admin_pages_or_logs(
    alice, alice_client, operator, settings, caplog
):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.TOOL_TEST_WAIT_SECONDS = 10.0
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with leaky_server(alice, alice_client) as (server, upstream, answers):
        seen.extend(answers)
        duplicate = alice_client.post(
            "/api/credentials", {"serverId": str(server.id), **LEAK_CREDENTIALS[2]}, format="json"
        )
        assert duplicate.status_code == 409
        seen.append(duplicate.content.decode())
        seen.append(alice_client.get(f"/api/credentials?serverId={server.id}").content.decode())

        tools = {tool.name: tool for tool in server.tools.all()}
        for name in ("viaHeader", "viaQuery", "viaBearer", "viaBasic", "viaOauth", "inherited"):
            url = f"/api/servers/{server.id}/tools/{tools[name].id}/test"
            response = alice_client.post(url, {"arguments": {}}, format="json")
            assert response.status_code == 200, response.content
            assert response.json()["data"]["status"] == "succeeded"
            seen.append(response.content.decode())
            detail = url.removesuffix("/test") + f"/tests/{response.json()['data']['testId']}"
            seen.append(alice_client.get(detail).content.decode())
        failing = f"/api/servers/{server.id}/tools/{tools['either'].id}/test"
        response = alice_client.post(failing, {"arguments": {}}, format="json")
        assert response.json()["data"]["status"] == "failed"
        seen.append(response.content.decode())
        logs = alice_client.get(f"/api/logs?serverId={server.id}")
        assert logs.status_code == 200
        seen.append(logs.content.decode())
    # Everything went out: the upstream really received the secrets.
    assert any(LEAK_HEADER_KEY in str(dict(r.headers.items())) for r in upstream.requests)

    pages = ["/admin/credentials/credential/", "/admin/tooltests/tooltest/"]
    pages += ["/admin/usage/requestlog/", f"/admin/servers/server/{server.id}/change/"]
    pages += [f"/admin/credentials/credential/{c.id}/change/" for c in Credential.objects.all()]
    pages += [f"/admin/tooltests/tooltest/{t.id}/change/" for t in ToolTest.objects.all()]
    pages += [f"/admin/usage/requestlog/{log.id}/change/" for log in RequestLog.objects.all()]
    for page in pages:
        response = operator.get(page)
        assert response.status_code == 200, page
        seen.append(response.content.decode())

    seen.append(json.dumps(list(RequestLog.objects.values()), default=str))
    seen.append(json.dumps(list(ToolTest.objects.values()), default=str))
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM credentials_credential")
        seen.append(repr(cursor.fetchall()))
    for record in caplog.records:
        seen.append(record.getMessage() + (record.exc_text or ""))

    assert RequestLog.objects.filter(source="test").count() == 7
    everything = "\n".join(seen)
    # The upstream echoed them back; they were replaced, not just never received.
    assert everything.count("[REDACTED]") > 20
    assert leaks_in(everything) == []
