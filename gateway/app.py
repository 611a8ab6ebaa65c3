"""The ASGI app serving `/mcp/{slug}` over MCP Streamable HTTP, stateless and JSON-only.

Everything HTTP lives here: routing, the DNS-rebinding refusals that
`gateway.hosts` decides (Host 421, Origin 403), content negotiation, the body
cap, the access key (401), the registry's admission (429) and status mapping.
JSON-RPC and MCP semantics are `gateway.protocol`'s. No session is kept: any
worker answers any request, GET (the server-to-client stream) is 405, as the
SDK's stateless mode allows.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

from mcp_types import INTERNAL_ERROR, INVALID_REQUEST

from core.observability import tracing
from core.observability.logs import REQUEST_ID_HEADER, request_id_for, request_id_var
from core.scopes import TOOLS_CALL
from gateway.hosts import RequestSourcePolicy
from gateway.protocol import (
    DEFAULT_PAGE_SIZE,
    HANDSHAKE_METHODS,
    MODERN_METHODS,
    REFUSED,
    McpProtocol,
    Message,
    Route,
    RpcError,
    ScopeRequired,
    encode_error,
    encode_result,
    http_status,
    parse_message,
    route_message,
    transport_status,
)
from gateway.runtime import FULL_ACCESS, CallContext, Caller, Registry, ServerRuntime, Unavailable

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
MAX_CLIENT_NAME_CHARS: Final = 200

_JSON: Final = (b"content-type", b"application/json")
_ALLOW: Final = (b"allow", b"POST, OPTIONS")
_CORS_EXPOSE: Final = (
    b"access-control-expose-headers",
    b"www-authenticate, retry-after, mcp-session-id, x-request-id",
)
_PREFLIGHT_HEADERS: Final = (
    b"authorization, content-type, accept, mcp-protocol-version, mcp-session-id, "
    b"mcp-method, mcp-name, last-event-id, x-request-id, traceparent, tracestate"
)


class McpApp:
    """ASGI callable for `/mcp/{slug}` (a trailing slash is accepted too).

    `allowed_hosts` and `allowed_origins` are the patterns `gateway.hosts` reads
    (Django `ALLOWED_HOSTS` style for hosts, exact origins or `scheme://host:*`).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        allowed_hosts: Iterable[str],
        allowed_origins: Iterable[str],
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        page_size: int = DEFAULT_PAGE_SIZE,
        path_prefix: str = "/mcp/",
        realm: str = "specgate",
        resource_metadata_base: str | None = None,
    ) -> None:
        """RESOURCE_METADATA_BASE (the public base URL), when given, makes 401 and 403
        challenges point OAuth clients at the server's protected-resource metadata (RFC 9728)
        and name the scope to ask for."""
        if max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
        self.registry = registry
        self.protocol = McpProtocol(registry, page_size=page_size)
        self.sources = RequestSourcePolicy(
            allowed_hosts=allowed_hosts, allowed_origins=allowed_origins
        )
        self.max_body_bytes = max_body_bytes
        self.path_prefix = path_prefix
        self.missing_key_challenge = f'Bearer realm="{realm}"'.encode()
        self.wrong_key_challenge = f'Bearer realm="{realm}", error="invalid_token"'.encode()
        self.realm = realm
        self.resource_metadata_base = resource_metadata_base

    def _metadata(self, slug: str) -> str:
        if self.resource_metadata_base is None:
            return ""
        url = f"{self.resource_metadata_base}/.well-known/oauth-protected-resource"
        return f', resource_metadata="{url}{self.path_prefix}{slug}"'

    def insufficient_scope_challenge(self, scope: str, slug: str = "") -> bytes:
        """`WWW-Authenticate` for a credential short of SCOPE (RFC 6750 §3.1)."""
        metadata = self._metadata(slug) if slug else ""
        return (
            f'Bearer realm="{self.realm}", error="insufficient_scope"{metadata}, scope="{scope}"'
        ).encode()

    def unauthorized_challenge(self, slug: str, *, invalid: bool) -> bytes:
        """`WWW-Authenticate` of a 401: with OAuth discovery, the metadata URL and the scope
        that lets a client do everything (MCP authorization, "Protected Resource Metadata")."""
        if self.resource_metadata_base is None:
            return self.wrong_key_challenge if invalid else self.missing_key_challenge
        error = ', error="invalid_token"' if invalid else ""
        return (
            f'Bearer realm="{self.realm}"{error}{self._metadata(slug)}, scope="{TOOLS_CALL}"'
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._serve_http(scope, receive, send)
        elif kind == "lifespan":
            await _run_lifespan(receive, send)
        else:
            raise RuntimeError(f"McpApp serves HTTP only, not {kind!r}")

    async def _serve_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        slug = self._slug(scope["path"])
        if slug is None:
            await _respond(send, 404, b"Not Found", (b"content-type", b"text/plain"))
            return
        raw_headers = scope["headers"]
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in raw_headers}
        request_id = request_id_for(headers.get(REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        try:
            refusal = self.sources.refusal(headers, raw_headers)
            id_header = (b"x-request-id", request_id.encode())
            if refusal is not None:
                body = encode_error(None, INVALID_REQUEST, refusal.message)
                await _respond(send, refusal.status, body, _JSON, id_header)
                return
            exchange = Exchange(self, scope, receive, send, headers, id_header)
            if tracing.ENABLED:
                await self._serve_traced(exchange, slug)
            else:
                await self._serve_exchange(exchange, slug)
        finally:
            request_id_var.reset(token)

    async def _serve_traced(self, exchange: Exchange, slug: str) -> None:
        """The exchange inside a server span, child of the client's `traceparent` if any."""
        span, token = tracing.start_incoming_span(
            exchange.headers,
            "mcp",
            kind=tracing.SpanKind.SERVER,
            attributes={
                "http.request.method": exchange.scope["method"],
                "url.path": exchange.scope["path"],
                "specgate.server.slug": slug,
            },
        )
        try:
            if span.is_recording():
                with tracing.trace.use_span(span, end_on_exit=True):
                    exchange.span = span
                    await self._serve_exchange(exchange, slug)
            else:
                # Not sampled: the span is current all the same (its ids go upstream in
                # `traceparent` and into log lines), but there is nothing to name or end.
                await self._serve_exchange(exchange, slug)
        finally:
            tracing.detach(token)

    async def _serve_exchange(self, exchange: Exchange, slug: str) -> None:
        try:
            await exchange.run(slug)
        except Unavailable as exc:
            if not exchange.started:
                retry = (b"retry-after", str(exc.retry_after).encode())
                await exchange.reply_error(
                    503, None, INTERNAL_ERROR, "Temporarily unavailable, retry shortly", retry
                )
        except Exception:
            logger.exception("MCP request to %s failed", slug)
            if not exchange.started:
                await exchange.reply_error(500, None, INTERNAL_ERROR, "Internal error")

    def _slug(self, path: str) -> str | None:
        prefix = self.path_prefix
        if not path.startswith(prefix):
            return None
        slug = path[len(prefix) :]
        if slug.endswith("/"):
            slug = slug[:-1]
        return slug if slug and "/" not in slug else None


class Exchange:
    """One HTTP request to the endpoint and its single response."""

    __slots__ = (
        "app",
        "headers",
        "id_header",
        "origin",
        "receive",
        "scope",
        "send",
        "span",
        "started",
    )

    def __init__(
        self,
        app: McpApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        id_header: tuple[bytes, bytes],
    ) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.headers = headers
        self.origin = headers.get("origin")
        self.id_header = id_header
        self.started = False
        self.span: tracing.Span | None = None

    async def run(self, slug: str) -> None:
        method = self.scope["method"]
        if method == "OPTIONS":
            await self.reply(204, b"", _ALLOW, *self._preflight_headers())
            return
        if method != "POST":
            await self.reply_error(405, None, INVALID_REQUEST, "Method Not Allowed", _ALLOW)
            return
        if not _is_json(self.headers.get("content-type")):
            await self.reply_error(
                415, None, INVALID_REQUEST, "Unsupported Media Type: Content-Type must be JSON"
            )
            return
        if not _accepts_json(self.headers.get("accept")):
            await self.reply_error(
                406, None, INVALID_REQUEST, "Not Acceptable: Client must accept application/json"
            )
            return
        if self._declared_length_exceeds_cap():
            await self._reply_too_large()
            return
        app = self.app
        server = await app.registry.get_server(slug)
        if server is None:
            await self.reply_error(404, None, INVALID_REQUEST, "Unknown MCP server")
            return
        caller = await app.registry.authenticate(server, _bearer(self.headers))
        if caller is False:
            await self._reply_unauthorized(server.slug)
            return
        body = await self._read_body()
        if body is None:
            return
        await self._serve_message(server, caller, body)

    async def _serve_message(
        self, server: ServerRuntime, caller: Caller | None, body: bytes
    ) -> None:
        try:
            message = parse_message(body)
            header_names = (name.decode("latin-1") for name, _ in self.scope["headers"])
            route = route_message(message, self.headers, header_names)
        except RpcError as error:
            status = transport_status(error.code)
            await self.reply_error(
                status, error.request_id, error.code, error.message, data=error.data
            )
            return
        if self.span is not None:
            # Span names stay few: a method the client made up is "other".
            method = message.method
            if method not in HANDSHAKE_METHODS and method not in MODERN_METHODS:
                method = "other"
            self.span.update_name(f"mcp {method}")
            self.span.set_attribute("mcp.method.name", method)
        if message.is_notification:
            await self.reply(202, b"")
            return
        ctx = CallContext(
            server=server,
            key_prefix=caller.key_prefix if caller else None,
            client_name=route.client_name or self._user_agent(),
            client_ip=_client_ip(self.scope),
            protocol_version=route.protocol_version,
            grant=caller.grant if caller else FULL_ACCESS,
            caller_email=caller.email if caller else "",
            caller_id=caller.user_id if caller else None,
        )
        app = self.app
        refusal = await app.registry.admit(server, ctx, message.method)
        if refusal is not None:
            await self.reply_error(
                refusal.status,
                message.id,
                REFUSED,
                refusal.message,
                (b"retry-after", str(refusal.retry_after).encode()),
                data={"reason": refusal.reason, "retryAfter": refusal.retry_after},
            )
            return
        await self._dispatch(server, message, route, ctx)

    async def _dispatch(
        self, server: ServerRuntime, message: Message, route: Route, ctx: CallContext
    ) -> None:
        try:
            result = await self.app.protocol.handle(server, message, route, ctx)
        except ScopeRequired as error:
            challenge = self.app.insufficient_scope_challenge(error.scope, server.slug)
            await self.reply_error(
                403,
                message.id,
                error.code,
                error.message,
                (b"www-authenticate", challenge),
                data=error.data,
            )
            return
        except RpcError as error:
            status = http_status(error.code, modern=route.modern)
            await self.reply_error(status, message.id, error.code, error.message, data=error.data)
            return
        await self.reply(200, encode_result(message.id, result), _JSON)

    async def reply(self, status: int, body: bytes, *headers: tuple[bytes, bytes]) -> None:
        response_headers = [(b"content-length", str(len(body)).encode()), self.id_header, *headers]
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", status)
            if status >= 500:
                self.span.set_status(tracing.Status(tracing.StatusCode.ERROR))
        if self.origin is not None:
            response_headers += [
                (b"access-control-allow-origin", self.origin.encode("latin-1")),
                (b"vary", b"origin"),
                _CORS_EXPOSE,
            ]
        self.started = True
        await self.send(
            {"type": "http.response.start", "status": status, "headers": response_headers}
        )
        await self.send({"type": "http.response.body", "body": body})

    async def reply_error(
        self,
        status: int,
        request_id: str | int | None,
        code: int,
        message: str,
        *headers: tuple[bytes, bytes],
        data: Any = None,
    ) -> None:
        await self.reply(status, encode_error(request_id, code, message, data), _JSON, *headers)

    async def _reply_unauthorized(self, slug: str) -> None:
        has_key = _bearer(self.headers) is not None
        challenge = self.app.unauthorized_challenge(slug, invalid=has_key)
        message = "Invalid access key" if has_key else "This server needs an access key"
        await self.reply_error(
            401, None, INVALID_REQUEST, message, (b"www-authenticate", challenge)
        )

    async def _reply_too_large(self) -> None:
        await self.reply_error(413, None, INVALID_REQUEST, "Request body too large")

    def _declared_length_exceeds_cap(self) -> bool:
        declared = self.headers.get("content-length")
        return (
            declared is not None
            and declared.isdecimal()
            and int(declared) > self.app.max_body_bytes
        )

    async def _read_body(self) -> bytes | None:
        """The request body, or None once a 413 went out or the client left."""
        cap = self.app.max_body_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self.receive()
            if event["type"] != "http.request":
                return None
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > cap:
                await self._reply_too_large()
                return None
            chunks.append(chunk)
            if not event.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _user_agent(self) -> str | None:
        agent = self.headers.get("user-agent")
        return agent[:MAX_CLIENT_NAME_CHARS] if agent else None

    def _preflight_headers(self) -> list[tuple[bytes, bytes]]:
        if self.origin is None:
            return []
        return [
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", _PREFLIGHT_HEADERS),
            (b"access-control-max-age", b"600"),
        ]


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.partition(";")[0].strip().lower() == "application/json"


def _accepts_json(accept: str | None) -> bool:
    # No Accept header means any type is acceptable (RFC 9110 §12.5.1).
    if accept is None:
        return True
    for media_range in accept.split(","):
        media_type = media_range.partition(";")[0].strip().lower()
        if media_type in ("application/json", "application/*", "*/*"):
            return True
    return False


def _bearer(headers: dict[str, str]) -> str | None:
    authorization = headers.get("authorization")
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


async def _respond(send: Send, status: int, body: bytes, *headers: tuple[bytes, bytes]) -> None:
    response_headers = [(b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


async def _run_lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown so the app can run on its own under uvicorn."""
    while True:
        event = await receive()
        if event["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif event["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
