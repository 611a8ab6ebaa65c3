"""The one path from a tool call to the upstream API and back.

MCP tools/call (the gateway) and tool tests (a Celery task) both come through
`execute_call`: serialise the arguments per the stored mapping, add the
server's credentials at one point (the CredentialProvider), make the guarded
outbound request, and turn the response into an MCP CallToolResult. The
outcome also carries what the request log and the tool-test record need, with
secrets redacted by name and scrubbed by value.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core import outbound
from core.scrub import Scrubber, scrubber_for
from specs.engine import ArgumentError, RequestPlan, build_request
from tools.projection import Selection, SelectionError, parse_selection, select_argument
from tools.results import OutputSchema, body_preview, call_result, error_result

if TYPE_CHECKING:
    from servers.models import Server
    from tools.models import Tool

PREVIEW_BYTES = 4096
REDACTED = "[REDACTED]"
ALWAYS_REDACTED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie"}
)

UPSTREAM_ERROR_MESSAGES = {
    "timeout": "The upstream API did not answer in time.",
    "connect": "The upstream API could not be reached.",
    "blocked": "The upstream address is not allowed (private or internal network).",
    "redirect": "The upstream API redirected to an address that is not allowed.",
    "too_large": "The upstream response was too large.",
    "invalid_url": "The server's base URL is not a valid http(s) URL.",
    "protocol": "The upstream API sent an invalid HTTP response.",
}


@dataclass(frozen=True)
class CallTarget:
    """Everything needed to call one tool's operation, detached from the ORM."""

    server_id: str
    user_id: str
    server_name: str
    tool_id: str
    tool_name: str
    base_url: str
    method: str
    path: str
    mapping: dict[str, Any]
    security: list[dict[str, list[str]]] | None
    output_schema: dict[str, Any] | None
    select_arg: str
    """The name of this tool's reserved selection argument (tools.projection)."""

    @classmethod
    def for_tool(cls, tool: Tool, *, server: Server | None = None) -> CallTarget:
        """The target of TOOL (its operation loaded); SERVER saves a query when already at hand."""
        server = server if server is not None else tool.server
        operation = tool.operation
        return cls(
            server_id=str(server.id),
            user_id=str(server.user_id),
            server_name=server.name,
            tool_id=str(tool.id),
            tool_name=tool.name,
            base_url=server.base_url,
            method=operation.method,
            path=operation.path,
            mapping=operation.mapping,
            security=operation.security,
            output_schema=operation.output_schema,
            select_arg=select_argument(operation.input_schema),
        )

    @functools.cached_property
    def compiled_output_schema(self) -> OutputSchema | None:
        """The output schema with its validator, compiled once for as long as this target lives
        (the gateway keeps one target per tool per snapshot)."""
        return None if self.output_schema is None else OutputSchema.compile(self.output_schema)


@dataclass(frozen=True)
class AuthParts:
    """Credentials to add to one request, and what must never be shown of them."""

    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    cookies: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    # A 401 may mean an expired token that can be fetched anew (OAuth2 client credentials).
    refreshable: bool = False

    # Worked out once per AuthParts (NO_AUTH: once per process), not on every use of a call.
    @functools.cached_property
    def header_names(self) -> frozenset[str]:
        return frozenset(name.lower() for name, _ in self.headers)

    @functools.cached_property
    def hidden_headers(self) -> frozenset[str]:
        """The headers shown as REDACTED in previews: these credentials' and the usual ones."""
        return ALWAYS_REDACTED_HEADERS | self.header_names

    @functools.cached_property
    def query_names(self) -> frozenset[str]:
        return frozenset(name for name, _ in self.query)

    @functools.cached_property
    def scrubber(self) -> Scrubber:
        return scrubber_for(self.secrets)


NO_AUTH = AuthParts()


@dataclass(frozen=True)
class OutgoingRequest:
    """The upstream request as it will go out, before credentials are added.

    A credential type reads what it needs from it: most only add a header, a signing scheme
    (HMAC, SigV4) signs the method, URL, headers and body. `headers` leave out the Cookie
    header, which is assembled from `cookies` and the credentials' cookies when sending.
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]
    cookies: tuple[tuple[str, str], ...]
    body: bytes | None


class CredentialUnavailable(Exception):
    """A credential the call needs cannot be used; the call must fail, never go out without it.

    `code` is machine-readable (credential_unreadable, oauth_token_unreachable,
    oauth_token_rejected, oauth_token_invalid); the message is safe to show and to log.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CallContext:
    """What a call is for, beyond its request, as the credentials see it.

    `caller_id`: the user the call is made for (an access key's owner, an OAuth grant's user,
    the owner running a tool test); None when no user is known (a public server). `refresh`:
    the upstream answered 401 to the credentials given last time, so cached tokens must be
    fetched anew.
    """

    target: CallTarget
    caller_id: str | None = None
    refresh: bool = False


class CredentialProvider(Protocol):
    async def auth_for(self, request: OutgoingRequest, context: CallContext) -> AuthParts: ...


@dataclass
class CallOutcome:
    result: dict[str, Any]
    status_code: int | None = None
    error_code: str = ""
    upstream_ms: int | None = None
    duration_ms: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] | None = None

    @property
    def reached_upstream(self) -> bool:
        return self.status_code is not None

    @property
    def succeeded(self) -> bool:
        return not self.result.get("isError", False)


class Shaping(NamedTuple):
    """How one call's result is narrowed and bounded (tools.projection)."""

    selection: Selection | None
    max_json_bytes: int | None
    max_text_chars: int
    argument: str


def _redact_url(url: str, names: frozenset[str], scrubber: Scrubber) -> str:
    if names:
        parts = urlsplit(url)
        if parts.query:
            query = [
                (k, REDACTED if k in names else v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
            ]
            url = urlunsplit(parts._replace(query=urlencode(query, safe="[]")))
    return scrubber.scrub(url)


def _redact_headers(
    headers: list[tuple[str, str]], hidden: frozenset[str], scrubber: Scrubber
) -> dict[str, str]:
    scrub = scrubber.scrub
    return {name: REDACTED if name.lower() in hidden else scrub(value) for name, value in headers}


def _with_query(url: str, extra: tuple[tuple[str, str], ...]) -> str:
    if not extra:
        return url
    joiner = "&" if urlsplit(url).query else "?"
    return url + joiner + urlencode(extra)


async def execute_call(
    target: CallTarget,
    arguments: dict[str, Any],
    *,
    provider: CredentialProvider | None,
    options: outbound.OutboundOptions,
    max_text_chars: int = 100_000,
    max_json_bytes: int | None = None,
    caller_id: str | None = None,
) -> CallOutcome:
    """`caller_id`: the user the call is made for, when known (per-user upstream tokens).

    The tool's selection argument (`target.select_arg`) is taken out of ARGUMENTS here, before
    the request is built, and applied to the result; `max_json_bytes` bounds a JSON result.
    """
    started = time.perf_counter()

    def done(outcome: CallOutcome) -> CallOutcome:
        outcome.duration_ms = int((time.perf_counter() - started) * 1000)
        return outcome

    shaping = Shaping(None, max_json_bytes, max_text_chars, target.select_arg)
    if target.select_arg in arguments:
        arguments = dict(arguments)
        raw = arguments.pop(target.select_arg)
        try:
            shaping = shaping._replace(selection=parse_selection(raw, target.select_arg))
        except SelectionError as exc:
            message = f"Invalid `{target.select_arg}` expression: {exc}"
            return done(CallOutcome(result=error_result(message), error_code="invalid_arguments"))
    try:
        plan = build_request(target.mapping, target.method, target.path, arguments)
    except ArgumentError as exc:
        message = f"Invalid arguments: {exc}"
        return done(CallOutcome(result=error_result(message), error_code="invalid_arguments"))

    request = _outgoing(target, plan)
    context = CallContext(target=target, caller_id=caller_id)
    try:
        auth = await provider.auth_for(request, context) if provider else NO_AUTH
        outcome = await _send(target, request, auth, options, shaping)
        if outcome.status_code == 401 and auth.refreshable and provider is not None:
            auth = await provider.auth_for(request, replace(context, refresh=True))
            outcome = await _send(target, request, auth, options, shaping)
    except CredentialUnavailable as exc:
        outcome = CallOutcome(result=error_result(exc.message), error_code=exc.code)
    return done(outcome)


def _outgoing(target: CallTarget, plan: RequestPlan) -> OutgoingRequest:
    headers: list[tuple[str, str]] = [("Accept", "application/json, */*;q=0.5")]
    headers += plan.headers
    if plan.content_type:
        headers.append(("Content-Type", plan.content_type))
    return OutgoingRequest(
        method=target.method,
        url=plan.url(target.base_url),
        headers=tuple(headers),
        query=tuple(plan.query),
        cookies=tuple(plan.cookies),
        body=plan.body,
    )


async def _send(
    target: CallTarget,
    request: OutgoingRequest,
    auth: AuthParts,
    options: outbound.OutboundOptions,
    shaping: Shaping,
) -> CallOutcome:
    url = _with_query(request.url, auth.query)
    headers = [*request.headers, *auth.headers]
    cookies = request.cookies + auth.cookies
    if cookies:
        headers.append(("Cookie", "; ".join(f"{name}={value}" for name, value in cookies)))
    body = request.body or b""
    request_preview = {
        "method": request.method,
        "url": _redact_url(url, auth.query_names, auth.scrubber),
        "headers": _redact_headers(headers, auth.hidden_headers, auth.scrubber),
    }
    upstream_started = time.perf_counter()
    try:
        response = await outbound.arequest(
            request.method,
            url,
            headers=headers,
            content=request.body,
            options=options,
            on_too_large="truncate",
            sensitive_headers=auth.header_names,
        )
    except outbound.OutboundError as exc:
        message = UPSTREAM_ERROR_MESSAGES.get(exc.kind, "The upstream call failed.")
        return CallOutcome(
            result=error_result(message),
            error_code=f"upstream_{exc.kind}",
            upstream_ms=int((time.perf_counter() - upstream_started) * 1000),
            request_bytes=len(body),
            request=request_preview,
        )
    shaped = call_result(
        status_code=response.status_code,
        headers=response.headers,
        body=response.content,
        truncated=response.truncated,
        output_schema=target.compiled_output_schema,
        max_text_chars=shaping.max_text_chars,
        secrets=auth.secrets,
        selection=shaping.selection,
        max_json_bytes=shaping.max_json_bytes,
        select_argument=shaping.argument,
    )
    preview = body_preview(
        response.content, auth.secrets, limit=PREVIEW_BYTES, truncated=response.truncated
    )
    returned = shaped.returned_bytes
    return CallOutcome(
        result=shaped.result,
        status_code=response.status_code,
        error_code="" if response.status_code < 400 else f"http_{response.status_code}",
        upstream_ms=int(response.elapsed_ms),
        request_bytes=len(body),
        # What the client got: the selected or shortened JSON when the result was narrowed.
        response_bytes=len(response.content) if returned is None else returned,
        request=request_preview,
        response={
            "statusCode": response.status_code,
            "headers": _redact_headers(response.headers, auth.hidden_headers, auth.scrubber),
            "bodyPreview": preview,
            "truncated": response.truncated or len(response.content) > PREVIEW_BYTES,
        },
    )
