"""A small OAuth provider and the API it guards, on loopback, for the upstream-account tests.

Authorization endpoint (redirects back with a code; `login` in its query says which of the
provider's users signed in there, `default_login` when none does), token endpoint (PKCE S256,
short-lived access tokens, rotating refresh tokens whose reuse revokes their whole family, a
switch to refuse every refresh, and a delay to make refreshes overlap), revocation endpoint
(RFC 7009), and `GET /me` which answers who the bearer token belongs to and records every
token it saw.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

from core.testing import LoopbackServer, RecordedRequest, json_reply

CLIENT_ID = "specgate-client"
CLIENT_SECRET = "provider-client-secret-1234"

Reply = tuple[int, dict[str, str], bytes]


def document(base: str) -> dict[str, Any]:
    """A spec whose one operation needs the caller's own account (authorization code)."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Hub", "version": "1"},
        "servers": [{"url": base}],
        "components": {
            "securitySchemes": {
                "hub": {
                    "type": "oauth2",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": f"{base}/authorize",
                            "tokenUrl": f"{base}/token",
                            "scopes": {"read:user": "Read your profile"},
                        }
                    },
                }
            }
        },
        "paths": {
            "/me": {
                "get": {
                    "operationId": "getMe",
                    "security": [{"hub": ["read:user"]}],
                    "responses": {"200": {"description": "Who you are"}},
                }
            }
        },
    }


@dataclass
class FakeProvider:
    access_lifetime: int = 600
    refresh_delay: float = 0.0
    reject_refresh: bool = False
    default_login: str = "octocat"
    """Who signs in at the authorization endpoint when its query names no `login` (a browser)."""
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    access: dict[str, str] = field(default_factory=dict)
    """Live access token → login."""
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Refresh token → {login, family, used}."""
    revoked_families: set[str] = field(default_factory=set)
    revoked: list[str] = field(default_factory=list)
    refreshes: int = 0
    reuse_detected: int = 0
    seen: list[str] = field(default_factory=list)
    """Bearer tokens `/me` was called with, in order (refused ones too)."""
    _counter: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    server: LoopbackServer | None = None

    def __enter__(self) -> FakeProvider:
        self.server = LoopbackServer(self.handle).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.__exit__(*exc)

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def expire_access_tokens(self) -> None:
        """Every access token stops working (the upstream then answers 401)."""
        with self._lock:
            self.access.clear()

    def tokens_of(self, login: str) -> list[str]:
        return [token for token in self.seen if token.startswith(f"at-{login}-")]

    # --- HTTP ---------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        path = urlsplit(request.path).path
        if path == "/authorize":
            return self._authorize(request)
        if path == "/token":
            return self._token(request)
        if path == "/revoke":
            return self._revoke(request)
        if path == "/me":
            return self._me(request)
        return json_reply({"error": "not found"}, 404)

    def _authorize(self, request: RecordedRequest) -> Reply:
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.path).query).items()}
        assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
        assert query["code_challenge_method"] == "S256"
        query.setdefault("login", self.default_login)
        code = f"code-{next(self._counter)}"
        self.codes[code] = query
        target = f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}"
        return 302, {"Location": target}, b""

    def _client_ok(self, request: RecordedRequest) -> bool:
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {basic}"

    def _issue(self, login: str, family: str) -> Reply:
        n = next(self._counter)
        access, refresh = f"at-{login}-{n}", f"rt-{login}-{n}"
        self.access[access] = login
        self.refresh_tokens[refresh] = {"login": login, "family": family, "used": False}
        return json_reply(
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "Bearer",
                "expires_in": self.access_lifetime,
                "scope": "read:user",
            }
        )

    def _token(self, request: RecordedRequest) -> Reply:
        if not self._client_ok(request):
            return json_reply({"error": "invalid_client"}, 401)
        form = dict(parse_qsl(request.body.decode()))
        if form.get("grant_type") == "authorization_code":
            with self._lock:
                asked = self.codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if (
                asked is None
                or asked["code_challenge"] != challenge
                or asked["redirect_uri"] != form.get("redirect_uri")
            ):
                return json_reply({"error": "invalid_grant"}, 400)
            with self._lock:
                return self._issue(asked["login"], family=f"family-{next(self._counter)}")
        if form.get("grant_type") == "refresh_token":
            time.sleep(self.refresh_delay)
            with self._lock:
                if self.reject_refresh:
                    return json_reply({"error": "invalid_grant"}, 400)
                held = self.refresh_tokens.get(form.get("refresh_token", ""))
                if held is None or held["family"] in self.revoked_families:
                    return json_reply({"error": "invalid_grant"}, 400)
                if held["used"]:
                    # Reuse of a rotated refresh token: the whole family is revoked.
                    self.reuse_detected += 1
                    self.revoked_families.add(held["family"])
                    return json_reply({"error": "invalid_grant"}, 400)
                held["used"] = True
                self.refreshes += 1
                return self._issue(held["login"], held["family"])
        return json_reply({"error": "unsupported_grant_type"}, 400)

    def _revoke(self, request: RecordedRequest) -> Reply:
        if not self._client_ok(request):
            return json_reply({"error": "invalid_client"}, 401)
        token = dict(parse_qsl(request.body.decode())).get("token", "")
        with self._lock:
            self.revoked.append(token)
            held = self.refresh_tokens.get(token)
            if held is not None:
                self.revoked_families.add(held["family"])
        return 200, {}, b""

    def _me(self, request: RecordedRequest) -> Reply:
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        with self._lock:
            self.seen.append(token)
            login = self.access.get(token)
        if login is None:
            return json_reply({"message": "Bad credentials"}, 401)
        return json_reply({"login": login})


REFRESH_WORKER = """
import sys, time
from pathlib import Path
import django
django.setup()
from credentials.connections import current_token
from credentials.injection import decrypt_credential
from credentials.models import Credential
credential_id, server_id, user_id, barrier, workers = sys.argv[1:6]
secret = decrypt_credential(Credential.objects.get(pk=credential_id))
Path(barrier, str(__import__("os").getpid())).touch()
while len(list(Path(barrier).iterdir())) < int(workers):
    time.sleep(0.005)
print(current_token(credential=secret, server_id=server_id, user_id=user_id, stale=None)[0])
"""
"""A worker process's refresh path (credentials.connections.current_token) for one person's
expired token; prints the access token it ends up with. Argv: credential id, server id, user
id, a directory where each worker says it is ready, and how many workers to wait for (so they
all ask at once)."""


def add_client(api: Any, server_id: str, provider: FakeProvider, **extra: Any) -> dict[str, Any]:
    """The server's OAuth client at PROVIDER, added through the API as API (its owner)."""
    response = api.post(
        "/api/credentials",
        {
            "serverId": server_id,
            "type": "oauth2AuthorizationCode",
            "clientId": CLIENT_ID,
            "clientSecret": CLIENT_SECRET,
            "revocationUrl": f"{provider.url}/revoke",
            **extra,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    data: dict[str, Any] = response.json()["data"]
    return data


def result_text(result: dict[str, Any]) -> str:
    return " ".join(part.get("text", "") for part in result.get("content", []))


def json_of(response: Any) -> Any:
    return json.loads(response.content)


def mcp_call(slug: str, bearer: str | None, tool: str) -> dict[str, Any]:
    """tools/call TOOL on the in-process gateway (config.asgi) as BEARER; the result."""
    import asyncio

    from config.asgi import mcp_app, registry
    from gateway.testing import asgi_exchange

    registry.check_now(slug)
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": {}},
        }
    ).encode()
    headers = [(b"host", b"127.0.0.1:8000")]
    if bearer:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    status, payload = asyncio.run(asgi_exchange(mcp_app, f"/mcp/{slug}", body, headers))
    assert status == 200, payload
    result: dict[str, Any] = json.loads(payload)["result"]
    return result
