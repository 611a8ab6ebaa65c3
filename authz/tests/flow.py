"""The OAuth flow as a person and an MCP client go through it, for the tests: the official
client's `OAuthClientProvider` against config.asgi under uvicorn, and a browser stand-in that
signs in and approves (or denies) the consent page over plain HTTP."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import httpx2
from django.db import connection
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from accounts import local_issuer
from config.asgi import application, mcp_app, registry
from gateway.hosts import RequestSourcePolicy
from gateway.testing import serve_on_loopback

REDIRECT_URI = "http://127.0.0.1:1/callback"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


@contextmanager
def oauth_live(settings: Any) -> Iterator[str]:
    """config.asgi on a loopback port, with the public base URL (issuer, mcpUrls) set to it."""
    settings.OUTBOUND_ALLOW_PRIVATE = True
    registry.forget()
    # The server's threads close their database connections after each request, so none is
    # left open on the test database when pytest drops it.
    database = connection.settings_dict
    kept, database["CONN_MAX_AGE"] = database["CONN_MAX_AGE"], 0
    with serve_on_loopback(application) as url:
        settings.PUBLIC_BASE_URL = url
        settings.CSRF_TRUSTED_ORIGINS = [url]
        settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": f"{url}/"}
        before = mcp_app.resource_metadata_base, mcp_app.sources
        mcp_app.resource_metadata_base = url
        # A browser-based client on the product's own origin (the app was built at import,
        # before the base URL was known).
        mcp_app.sources = RequestSourcePolicy(
            allowed_hosts=settings.ALLOWED_HOSTS, allowed_origins=[url]
        )
        try:
            yield url
        finally:
            mcp_app.resource_metadata_base, mcp_app.sources = before
            registry.forget()
            database["CONN_MAX_AGE"] = kept


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


@dataclass
class Browser:
    """A person's browser: signs in with EMAIL's session token, then approves or denies."""

    email: str
    approve: bool = True
    scope: str | None = None
    """The access the person chooses on the consent page (None: what the client asked)."""
    pages: list[str] = field(default_factory=list)
    http: httpx2.Client = field(default_factory=lambda: httpx2.Client(timeout=20))

    def sign_in(self, base: str, next_url: str = "") -> httpx2.Response:
        page = self.http.get(f"{base}/oauth/sign-in", params={"next": next_url})
        fields = hidden_fields(page.text)
        fields["token"] = local_issuer.mint_token(self.email, lifetime_seconds=600)
        return self.http.post(f"{base}/oauth/sign-in", data=fields)

    def authorize(self, url: str) -> httpx2.Response:
        """Open the authorization URL, sign in when asked, and answer the consent page; the
        final response (the redirect back to the client, or an error page)."""
        response = self.http.get(url)
        base = f"{urlparse(url).scheme}://{urlparse(url).netloc}"
        if response.status_code == 302 and "/oauth/sign-in" in response.headers["location"]:
            next_url = parse_qs(urlparse(response.headers["location"]).query)["next"][0]
            signed_in = self.sign_in(base, next_url)
            assert signed_in.status_code == 302, signed_in.text
            response = self.http.get(urljoin(base, signed_in.headers["location"]))
        if response.status_code != 200:
            return response
        self.pages.append(response.text)
        fields = hidden_fields(response.text)
        checked = re.search(r'name="scope" value="([^"]+)" checked', response.text)
        fields["scope"] = self.scope or (checked.group(1) if checked else "")
        if self.approve:
            fields["allow"] = "true"
        return self.http.post(url.split("?")[0], data=fields)


@dataclass
class McpOAuthClient:
    """The official client's OAuth provider, its browser (redirect and callback handlers)."""

    server_url: str
    browser: Browser
    client_metadata_url: str | None = None
    storage: MemoryStorage = field(default_factory=MemoryStorage)
    authorization_urls: list[str] = field(default_factory=list)
    _provider: OAuthClientProvider | None = None

    def expire_access_token(self) -> None:
        """Make the client believe its access token expired: it refreshes before the next
        request."""
        assert self._provider is not None
        self._provider.context.token_expiry_time = time.time() - 1

    def provider(self) -> OAuthClientProvider:
        if self._provider is None:
            self._provider = self._new_provider()
        return self._provider

    def _new_provider(self) -> OAuthClientProvider:
        async def redirect(url: str) -> None:
            self.authorization_urls.append(url)

        async def callback() -> AuthorizationCodeResult:
            final = await asyncio.to_thread(self.browser.authorize, self.authorization_urls[-1])
            assert final.status_code == 302, final.text
            query = parse_qs(urlparse(final.headers["location"]).query)
            return AuthorizationCodeResult(
                code=query.get("code", [""])[0],
                state=query.get("state", [None])[0],
                iss=query.get("iss", [None])[0],
            )

        metadata = OAuthClientMetadata(
            client_name="Test agent",
            redirect_uris=[REDIRECT_URI],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        )
        return OAuthClientProvider(
            server_url=self.server_url,
            client_metadata=metadata,
            storage=self.storage,
            redirect_handler=redirect,
            callback_handler=callback,
            client_metadata_url=self.client_metadata_url,
        )

    def run(self, work: Any) -> Any:
        async def session() -> Any:
            async with (
                httpx2.AsyncClient(auth=self.provider(), timeout=30) as http,
                Client(streamable_http_client(self.server_url, http_client=http)) as client,
            ):
                return await work(client)

        return asyncio.run(session())


def tool_names(client_result: Any) -> set[str]:
    return {tool.name for tool in client_result.tools}
