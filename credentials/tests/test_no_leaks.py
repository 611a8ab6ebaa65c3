"""A full flow, then a scan of everything it produced for the secrets: none may appear."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client

from accounts.models import User
from core.testing import LoopbackServer, RecordedRequest, json_reply
from credentials.models import Credential
from credentials.testing import echo, server_from_document
from tooltests.models import ToolTest
from usage.models import RequestLog

from .conftest import secured_document

pytestmark = pytest.mark.django_db(transaction=True)

HEADER_KEY = "hk-leak-5b2d90e1"
QUERY_KEY = "qk-leak-7c4e11a3"
BEARER = "bt-leak-2f9a6c0d"
USERNAME = "user-leak-91ab"
PASSWORD = "pw-leak-d83f2e77"
CLIENT_ID = "cid-leak-4e6f"
CLIENT_SECRET = "cs-leak-0a7b3c55"
ACCESS_TOKEN = "at-leak-6d1e8f29"
SECRETS = [
    HEADER_KEY,
    QUERY_KEY,
    BEARER,
    USERNAME,
    PASSWORD,
    CLIENT_ID,
    CLIENT_SECRET,
    ACCESS_TOKEN,
]


def forms(secret: str) -> list[str]:
    return [secret, quote(secret), base64.b64encode(secret.encode()).decode().rstrip("=")]


def token_endpoint(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    return json_reply({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600})


def leaky_upstream(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    if request.path.startswith("/either"):
        # An upstream that fails and quotes the credentials it got in its error.
        return json_reply({"message": f"denied: {dict(request.headers.items())}"}, status=403)
    status, headers, body = echo(request)
    # Echo the credentials in a response header too.
    return status, headers | {"X-Echo": request.headers.get("Authorization", "")}, body


@pytest.fixture
def operator() -> Client:
    user = User.objects.create_user(clerk_id="operator", email="ops@example.com")
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


def test_no_secret_appears_in_responses_admin_pages_or_logs(
    alice, alice_client, operator, settings, caplog
):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.TOOL_TEST_WAIT_SECONDS = 10.0
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with LoopbackServer(token_endpoint) as tokens, LoopbackServer(leaky_upstream) as upstream:
        document = secured_document(f"{tokens.url}/token")
        server = server_from_document(user=alice, document=document, base_url=upstream.url)
        bodies = [
            {"scheme": "headerKey", "type": "apiKey", "value": HEADER_KEY},
            {"scheme": "queryKey", "type": "apiKey", "value": QUERY_KEY},
            {"scheme": "bearerAuth", "type": "bearer", "value": BEARER},
            {"scheme": "basicAuth", "type": "basic", "username": USERNAME, "password": PASSWORD},
            {
                "scheme": "oauth",
                "type": "oauth2ClientCredentials",
                "clientId": CLIENT_ID,
                "clientSecret": CLIENT_SECRET,
            },
        ]
        for body in bodies:
            response = alice_client.post(
                "/api/credentials", {"serverId": str(server.id), **body}, format="json"
            )
            assert response.status_code == 201
            seen.append(response.content.decode())
        duplicate = alice_client.post(
            "/api/credentials", {"serverId": str(server.id), **bodies[2]}, format="json"
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
    assert any(HEADER_KEY in str(dict(r.headers.items())) for r in upstream.requests)

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
    leaks = [form for secret in SECRETS for form in forms(secret) if form in everything]
    assert leaks == []
