"""The OAuth endpoints as a client, a person and an attacker use them, for the authz tests:
register a client, PKCE, sign in and consent, exchange and refresh, ask the gateway."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from django.test import Client

from accounts import local_issuer
from config.asgi import mcp_app, registry
from gateway.testing import asgi_post

REDIRECT = "http://127.0.0.1:9999/callback"
ISSUER = "http://127.0.0.1:8000/"
SHOP = {
    "openapi": "3.0.3",
    "info": {"title": "Shop", "version": "1"},
    "servers": [{"url": "https://shop.example"}],
    "paths": {"/items": {"get": {"operationId": "listItems", "responses": {"200": {}}}}},
}


def make_server(api, name: str) -> dict[str, Any]:
    spec = api.post("/api/specs", {"document": SHOP}, format="json").json()["data"]
    created = api.post("/api/servers", {"specId": spec["id"], "name": name}, format="json")
    assert created.status_code == 201, created.json()
    return created.json()["data"]


def register(client: Client | None = None, **metadata: Any) -> str:
    body = {
        "client_name": "Agent",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        **metadata,
    }
    response = (client or Client()).post(
        "/oauth/register", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()["client_id"]


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def browser_for(email: str) -> Client:
    browser = Client()
    token = local_issuer.mint_token(email, lifetime_seconds=600)
    assert browser.post("/oauth/sign-in", {"token": token}).status_code == 302
    return browser


def authorize_params(client_id: str, resource: str | None, challenge: str, **extra: str) -> dict:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "state": "s-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "tools:call",
        **extra,
    }
    if resource is not None:
        params["resource"] = resource
    return params


def consent(browser: Client, params: dict[str, Any], allow: bool = True) -> Any:
    page = browser.get("/oauth/authorize", params)
    assert page.status_code == 200, page.content
    form = {name: page.context["form"][name].value() or "" for name in page.context["form"].fields}
    form["scope"] = params.get("scope", "tools:call")
    if allow:
        form["allow"] = "true"
    else:
        form.pop("allow", None)
    return browser.post("/oauth/authorize", form)


def redirect_query(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.content
    location = response["Location"]
    assert location.startswith(REDIRECT)
    return {key: values[0] for key, values in parse_qs(urlparse(location).query).items()}


def exchange(client_id: str, code: str, verifier: str | None, resource: str | None) -> Any:
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    body["client_id"] = client_id
    if verifier is not None:
        body["code_verifier"] = verifier
    if resource is not None:
        body["resource"] = resource
    return Client().post(
        "/oauth/token", urlencode(body), content_type="application/x-www-form-urlencoded"
    )


def refresh(client_id: str, refresh_token: str, resource: str | None) -> Any:
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if resource is not None:
        body["resource"] = resource
    return Client().post(
        "/oauth/token", urlencode(body), content_type="application/x-www-form-urlencoded"
    )


def tools_list_status(slug: str, token: str) -> int:
    registry.check_now(slug)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())]
    return asyncio.run(asgi_post(mcp_app, f"/mcp/{slug}", body, headers))
