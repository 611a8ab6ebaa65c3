"""Test support for upstream credentials, shared by the credential, tool-test and worker tests.

Servers are built through the real services (spec import, server creation), so a test sees
exactly the rows, tools and invalidation a user's requests would make. Also here: the specs
those tests use, loopback upstreams (an echo, an OAuth2 token endpoint, a leaky upstream) and
a helper that calls a tool the way the gateway does.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, quote

from asgiref.sync import async_to_sync

from accounts.models import User
from core.http import upstream_options
from core.testing import LoopbackServer, RecordedRequest, json_reply
from servers.models import Server
from servers.services import server_create
from specs.services import spec_create
from tools.calling import CallOutcome, CallTarget, execute_call
from tools.models import Tool

from .injection import provider

# --- Servers and tools -------------------------------------------------------------------------


def server_from_document(
    *, user: User, document: dict[str, Any], base_url: str, name: str = "Upstream"
) -> Server:
    """The spec imported and a server made of it, with one tool per operation."""
    spec = spec_create(user=user, document=document)
    return server_create(user=user, spec_id=spec.id, name=name, base_url=base_url)


def tool_named(server: Server, name: str) -> Tool:
    return Tool.objects.select_related("server", "operation").get(server=server, name=name)


def call(server: Server, tool_name: str, arguments: dict[str, Any] | None = None) -> CallOutcome:
    """Call a tool with the server's credentials, the way the gateway does."""
    target = CallTarget.for_tool(tool_named(server, tool_name))
    return async_to_sync(execute_call)(
        target, arguments or {}, provider=provider, options=upstream_options()
    )


# --- Specs -------------------------------------------------------------------------------------


def operation(path: str, operation_id: str, security: Any = None, **extra: Any) -> dict[str, Any]:
    """One GET path item; `security` None leaves the operation without its own requirement."""
    op: dict[str, Any] = {"operationId": operation_id, "responses": {"200": {"description": "ok"}}}
    if security is not None:
        op["security"] = security
    op.update(extra)
    return {path: {"get": op}}


SECURED_PATHS = {
    **operation("/header", "viaHeader", [{"headerKey": []}]),
    **operation("/query", "viaQuery", [{"queryKey": []}]),
    **operation("/cookie", "viaCookie", [{"cookieKey": []}]),
    **operation("/bearer", "viaBearer", [{"bearerAuth": []}]),
    **operation("/basic", "viaBasic", [{"basicAuth": []}]),
    **operation("/oauth", "viaOauth", [{"oauth": ["read"]}]),
    **operation("/public", "isPublic", []),
    **operation("/either", "either", [{"bearerAuth": []}, {"headerKey": []}]),
    **operation("/both", "both", [{"bearerAuth": [], "headerKey": []}, {}]),
    **operation("/inherited", "inherited"),
}


def secured_document(token_url: str) -> dict[str, Any]:
    """A spec with one scheme of every kind a credential type serves."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Secured", "version": "1"},
        "paths": SECURED_PATHS,
        "components": {
            "securitySchemes": {
                "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "queryKey": {"type": "apiKey", "in": "query", "name": "api_key"},
                "cookieKey": {"type": "apiKey", "in": "cookie", "name": "session"},
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "basicAuth": {"type": "http", "scheme": "basic"},
                "oauth": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {"tokenUrl": token_url, "scopes": {"read": "Read"}}
                    },
                },
                "authCode": {
                    "type": "oauth2",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": "/authorize",
                            "tokenUrl": token_url,
                            "scopes": {"read": "Read"},
                        }
                    },
                },
            }
        },
    }


def bare_document() -> dict[str, Any]:
    """A spec that declares no security scheme, as many real ones do."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Bare", "version": "1"},
        "paths": {**operation("/things", "listThings"), **operation("/open", "open", [])},
    }


def one_scheme_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "One", "version": "1"},
        "security": [{"token": []}],
        "paths": operation("/things", "listThings"),
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    }


# --- Upstreams ---------------------------------------------------------------------------------


def echo(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    """An upstream that answers with what it received (as APIs that echo keys back do)."""
    return json_reply(
        {
            "method": request.method,
            "path": request.path,
            "headers": dict(request.headers.items()),
            "body": request.body.decode("utf-8", "replace"),
        }
    )


class TokenEndpoint:
    """A real OAuth2 token endpoint: client credentials grant, numbered tokens."""

    def __init__(self, *, lifetime: int = 3600, body_auth_only: bool = False) -> None:
        self.lifetime = lifetime
        self.body_auth_only = body_auth_only
        self.issued: list[str] = []
        self.server = LoopbackServer(self.handle)

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        basic = request.headers.get("Authorization", "")
        client: tuple[str | None, ...] = (None, None)
        if self.body_auth_only:
            client = (form.get("client_id"), form.get("client_secret"))
        elif basic.startswith("Basic "):
            client = tuple(base64.b64decode(basic[6:]).decode().split(":", 1))
        if form.get("grant_type") != "client_credentials" or client != ("cid", "c-secret"):
            return json_reply({"error": "invalid_client"}, status=401)
        token = f"access-{len(self.issued) + 1}"
        self.issued.append(token)
        return json_reply(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}
        )


# --- The no-leak scans -------------------------------------------------------------------------

LEAK_HEADER_KEY = "hk-leak-5b2d90e1"
LEAK_QUERY_KEY = "qk-leak-7c4e11a3"
LEAK_BEARER = "bt-leak-2f9a6c0d"
LEAK_USERNAME = "user-leak-91ab"
LEAK_PASSWORD = "pw-leak-d83f2e77"
LEAK_CLIENT_ID = "cid-leak-4e6f"
LEAK_CLIENT_SECRET = "cs-leak-0a7b3c55"
LEAK_ACCESS_TOKEN = "at-leak-6d1e8f29"
LEAK_SECRETS = [
    LEAK_HEADER_KEY,
    LEAK_QUERY_KEY,
    LEAK_BEARER,
    LEAK_USERNAME,
    LEAK_PASSWORD,
    LEAK_CLIENT_ID,
    LEAK_CLIENT_SECRET,
    LEAK_ACCESS_TOKEN,
]
# One credential per scheme of `secured_document`, as the API takes them.
LEAK_CREDENTIALS: list[dict[str, str]] = [
    {"scheme": "headerKey", "type": "apiKey", "value": LEAK_HEADER_KEY},
    {"scheme": "queryKey", "type": "apiKey", "value": LEAK_QUERY_KEY},
    {"scheme": "bearerAuth", "type": "bearer", "value": LEAK_BEARER},
    {"scheme": "basicAuth", "type": "basic", "username": LEAK_USERNAME, "password": LEAK_PASSWORD},
    {
        "scheme": "oauth",
        "type": "oauth2ClientCredentials",
        "clientId": LEAK_CLIENT_ID,
        "clientSecret": LEAK_CLIENT_SECRET,
    },
]


def leak_forms(secret: str) -> list[str]:
    """The spellings of a secret a scan looks for: as is, percent-encoded, base64."""
    return [secret, quote(secret), base64.b64encode(secret.encode()).decode().rstrip("=")]


def leaks_in(text: str) -> list[str]:
    """Every spelling of every LEAK_SECRETS secret that appears in `text`."""
    return [form for secret in LEAK_SECRETS for form in leak_forms(secret) if form in text]


def leak_token_endpoint(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    return json_reply(
        {"access_token": LEAK_ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}
    )


def leaky_upstream(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    if request.path.startswith("/either"):
        # An upstream that fails and quotes the credentials it got in its error.
        return json_reply({"message": f"denied: {dict(request.headers.items())}"}, status=403)
    status, headers, body = echo(request)
    # Echo the credentials in a response header too.
    return status, headers | {"X-Echo": request.headers.get("Authorization", "")}, body


@contextmanager
def leaky_server(user: User, client: Any) -> Iterator[tuple[Server, LoopbackServer, list[str]]]:
    """A server of `secured_document` against `leaky_upstream`, with every LEAK_CREDENTIALS
    stored through the API (as `client`, authenticated as `user`).

    Yields the server, the upstream and the API's answers to the credential requests.
    """
    with LoopbackServer(leak_token_endpoint) as tokens, LoopbackServer(leaky_upstream) as upstream:
        document = secured_document(f"{tokens.url}/token")
        server = server_from_document(user=user, document=document, base_url=upstream.url)
        answers: list[str] = []
        for body in LEAK_CREDENTIALS:
            response = client.post(
                "/api/credentials", {"serverId": str(server.id), **body}, format="json"
            )
            assert response.status_code == 201, response.content
            answers.append(response.content.decode())
        yield server, upstream, answers
