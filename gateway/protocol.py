"""MCP's JSON-RPC layer for the gateway: parsing, era routing and method dispatch.

No HTTP and no Django here. Behaviour follows the official SDK's stateless,
JSON-response Streamable HTTP server (mcp 2.x): the `MCP-Protocol-Version`
header picks the era (absent or a handshake version: the `initialize` era;
anything else: the per-request 2026-07-28 envelope, checked by the SDK's own
classifier), each era serves the methods of its own table (HANDSHAKE_METHODS,
MODERN_METHODS: adding a method is one entry there), results are shaped as the
SDK shapes them, and error codes map to HTTP statuses through the SDK's
table. The hot methods are served from plain dicts and pre-encoded JSON so a
request costs as little as possible.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import Draft202012Validator, validator_for
from mcp_types import (
    DEFAULT_NEGOTIATED_VERSION,
    HEADER_MISMATCH,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    SERVER_INFO_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from mcp_types.version import (
    HANDSHAKE_PROTOCOL_VERSIONS,
    LATEST_HANDSHAKE_VERSION,
    MODERN_PROTOCOL_VERSIONS,
)
from referencing.exceptions import Unresolvable

from core.fast_validation import compile_check
from gateway import dynamic
from gateway.inbound import (
    ERROR_CODE_HTTP_STATUS,
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
    find_invalid_x_mcp_header,
    unsupported_protocol_version_rejection,
    validate_mcp_param_headers,
    x_mcp_header_map,
)
from gateway.runtime import CallContext, Grant, Registry, ServerRuntime, ToolRuntime

logger = logging.getLogger(__name__)

SUPPORTED_VERSIONS: Final = (*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS)
PROTOCOL_VERSION_HEADER: Final = "mcp-protocol-version"
REFUSED: Final = -32000
"""Implementation-defined JSON-RPC code for a request refused by a limit (HTTP 429)."""

DEFAULT_PAGE_SIZE: Final = 100
MAX_REPORTED_PROBLEMS: Final = 20
MAX_PROBLEM_CHARS: Final = 300

_TOOLS_CAPABILITIES: Final = {"tools": {"listChanged": False}}
_NOT_COMPILED: Final = object()
_NOT_A_MESSAGE: Final = "Body must be a single JSON-RPC request or notification object"

# ASCII output: a lone surrogate echoed back from a request id cannot break encoding.
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


class RpcError(Exception):
    """A JSON-RPC error to send back instead of a result."""

    def __init__(
        self, code: int, message: str, data: Any = None, *, request_id: str | int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.request_id = request_id


class ScopeRequired(RpcError):
    """A tool call the credential's scope does not cover: HTTP 403 with an `insufficient_scope`
    challenge naming `scope`, the scope that would suffice (a client may step up to it)."""

    def __init__(self, scope: str, tool_name: str) -> None:
        super().__init__(
            INVALID_REQUEST,
            f"Calling tool {tool_name} needs the scope {scope}, which this credential lacks",
            {"tool": tool_name, "requiredScope": scope},
        )
        self.scope = scope


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded JSON-RPC request or notification."""

    id: str | int | None
    method: str
    params: dict[str, Any] | None
    raw: dict[str, Any]

    @property
    def is_notification(self) -> bool:
        return "id" not in self.raw


@dataclass(frozen=True, slots=True)
class Route:
    """The era and protocol version a message is served at."""

    protocol_version: str
    modern: bool
    client_name: str | None
    headers: Mapping[str, str]


def parse_message(body: bytes) -> Message:
    """Decode one JSON-RPC request or notification; batches and responses are refused."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8 and oversized integer literals too.
        raise RpcError(PARSE_ERROR, "Parse error") from None
    if isinstance(raw, list):
        raise RpcError(INVALID_REQUEST, "Batch requests are not supported")
    if not isinstance(raw, dict):
        raise RpcError(
            INVALID_REQUEST, "Body must be a single JSON-RPC request or notification object"
        )
    method = raw.get("method")
    if raw.get("jsonrpc") != "2.0" or not isinstance(method, str):
        raise RpcError(
            INVALID_REQUEST, "Body must be a single JSON-RPC request or notification object"
        )
    request_id = raw.get("id")
    if "id" in raw and (isinstance(request_id, bool) or not isinstance(request_id, str | int)):
        raise RpcError(INVALID_REQUEST, "Request id must be a string or an integer")
    params = raw.get("params")
    if params is not None and not isinstance(params, dict):
        raise RpcError(INVALID_PARAMS, "params must be an object", request_id=id_of(raw))
    return Message(request_id, method, params, raw)


def id_of(raw: Any) -> str | int | None:
    """The request id to echo in an error, when one can be read."""
    request_id = raw.get("id") if isinstance(raw, dict) else None
    return (
        None
        if isinstance(request_id, bool) or not isinstance(request_id, str | int)
        else request_id
    )


def route_message(
    message: Message,
    headers: Mapping[str, str],
    raw_header_names: Iterable[str],
) -> Route:
    """Pick the era for `message` from its `MCP-Protocol-Version` header, as the SDK does.

    `headers` holds lowercase header names; `raw_header_names` lists every header
    line's name so a duplicated routing header can be refused.
    """
    requested = headers.get(PROTOCOL_VERSION_HEADER)
    if requested is None or requested in HANDSHAKE_PROTOCOL_VERSIONS:
        return _handshake_route(message, requested, headers)
    if message.is_notification:
        if (rejection := unsupported_protocol_version_rejection(requested)) is not None:
            raise _rejection_error(rejection)
        return Route(requested, True, None, headers)
    params = message.params
    if requested not in MODERN_PROTOCOL_VERSIONS and not (params and "_meta" in params):
        # An envelope-less request at a version nobody knows: say which versions
        # exist rather than complain about the missing 2026-07-28 envelope.
        raise RpcError(
            UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
            {"supported": list(SUPPORTED_VERSIONS), "requested": requested},
        )
    duplicated = find_duplicated_routing_header((name, "") for name in raw_header_names)
    if duplicated is not None:
        raise RpcError(HEADER_MISMATCH, f"{duplicated} header appears more than once")
    verdict = classify_inbound_request(message.raw, headers=headers)
    if isinstance(verdict, InboundLadderRejection):
        raise _rejection_error(verdict)
    client_info = verdict.client_info
    client_name = client_info.get("name") if isinstance(client_info, dict) else None
    return Route(verdict.protocol_version, True, _str_or_none(client_name), headers)


def _handshake_route(message: Message, requested: str | None, headers: Mapping[str, str]) -> Route:
    if message.method != "initialize" or not message.params:
        return Route(requested or DEFAULT_NEGOTIATED_VERSION, False, None, headers)
    client_info = message.params.get("clientInfo")
    client_name = client_info.get("name") if isinstance(client_info, dict) else None
    version = negotiate_version(message.params.get("protocolVersion"))
    return Route(version, False, _str_or_none(client_name), headers)


def negotiate_version(requested: Any) -> str:
    """The client's version when the handshake offers it, else the newest handshake version."""
    return requested if requested in HANDSHAKE_PROTOCOL_VERSIONS else LATEST_HANDSHAKE_VERSION


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _rejection_error(rejection: InboundLadderRejection) -> RpcError:
    return RpcError(rejection.code, rejection.message, rejection.data)


def http_status(code: int, *, modern: bool) -> int:
    """HTTP status for a JSON-RPC error raised while serving a routed request.

    The 2026-07-28 transport maps error codes to statuses; the handshake-era
    transport answers method-level errors with 200, as the SDK does.
    """
    return ERROR_CODE_HTTP_STATUS.get(code, 200) if modern else 200


def transport_status(code: int) -> int:
    """HTTP status for an error found before a request could be routed (parse, envelope)."""
    return ERROR_CODE_HTTP_STATUS.get(code, 400)


def encode_result(request_id: str | int | None, result: dict[str, Any] | bytes) -> bytes:
    """A JSON-RPC response; `result` may be JSON already encoded."""
    if isinstance(result, bytes):
        return b'{"jsonrpc":"2.0","id":%s,"result":%s}' % (_encode(request_id).encode(), result)
    return _encode({"jsonrpc": "2.0", "id": request_id, "result": result}).encode()


def encode_error(request_id: str | int | None, code: int, message: str, data: Any = None) -> bytes:
    """A JSON-RPC error response; `id` is null when the request's id could not be read."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return _encode({"jsonrpc": "2.0", "id": request_id, "error": error}).encode()


class McpProtocol:
    """Serves the MCP methods of one request against a server snapshot."""

    def __init__(self, registry: Registry, *, page_size: int = DEFAULT_PAGE_SIZE) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.registry = registry
        self.page_size = page_size

    async def handle(
        self, server: ServerRuntime, message: Message, route: Route, ctx: CallContext
    ) -> dict[str, Any] | bytes:
        """The result for a routed request, or raise `RpcError`."""
        methods = MODERN_METHODS if route.modern else HANDSHAKE_METHODS
        handler = methods.get(message.method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, "Method not found", message.method)
        return await handler(MethodCall(self, server, message.params, route, ctx))

    def list_tools(
        self,
        server: ServerRuntime,
        params: dict[str, Any] | None,
        ctx: CallContext,
        *,
        modern: bool,
    ) -> bytes:
        """One page of the tools the caller's grant may see, encoded once per snapshot, page
        and grant.

        In dynamic mode the listing is the three meta-tools, whatever the server's tools.
        """
        cursor = params.get("cursor") if params else None
        offset = _decode_cursor(cursor) if cursor is not None else 0
        tools = dynamic.META_TOOLS if server.dynamic else visible_tools(server, ctx.grant)
        if offset % self.page_size or offset >= len(tools) > 0:
            # Not a cursor this server handed out (or the list shrank): serve, don't cache.
            return self._encode_page(server, tools, offset, modern=modern)
        key = (
            ("tools/list", modern, offset)
            if tools is server.tools or server.dynamic
            else ("tools/list", modern, offset, ctx.grant)
        )
        page = server.derived.get(key)
        if page is None:
            page = server.derived[key] = self._encode_page(server, tools, offset, modern=modern)
        return page

    def _encode_page(
        self,
        server: ServerRuntime,
        tools: tuple[ToolRuntime, ...],
        offset: int,
        *,
        modern: bool,
    ) -> bytes:
        end = offset + self.page_size
        result: dict[str, Any] = {"tools": [dynamic.definition(tool) for tool in tools[offset:end]]}
        if end < len(tools):
            result["nextCursor"] = _encode_cursor(end)
        if modern:
            result["ttlMs"] = 0
            result["cacheScope"] = "private"
            result = _modern_result(server, result)
        return _encode(result).encode()

    async def call_tool(
        self, server: ServerRuntime, params: dict[str, Any] | None, route: Route, ctx: CallContext
    ) -> dict[str, Any]:
        """Check a `tools/call` against the tool's schema, then make it through the registry."""
        name = params.get("name") if params else None
        if not isinstance(name, str):
            raise RpcError(INVALID_PARAMS, "tools/call needs the tool's name")
        arguments = params.get("arguments") if params else None
        if arguments is None:
            arguments = {}
        elif not isinstance(arguments, dict):
            raise RpcError(INVALID_PARAMS, "tools/call arguments must be an object")
        if server.dynamic and name in dynamic.META_NAMES:
            return await self._call_meta(server, dynamic.META_BY_NAME[name], arguments, ctx)
        tool = server.tools_by_name.get(name)
        if tool is None:
            self.registry.record_rejected_call(server, ctx, name, "unknown tool")
            raise RpcError(INVALID_PARAMS, f"Unknown tool: {name}")
        self.check_grant(server, ctx, tool)
        if route.modern and _declares_param_headers(tool):
            rejection = validate_mcp_param_headers(tool.input_schema, arguments, route.headers)
            if rejection is not None:
                raise _rejection_error(rejection)
        return await self._call(server, tool, arguments, ctx)

    async def _call(
        self, server: ServerRuntime, tool: ToolRuntime, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        """Validate ARGUMENTS and call TOOL: every call of a server's tool, direct or not."""
        problems = argument_problems(tool, arguments)
        if problems:
            self.registry.record_rejected_call(server, ctx, tool.name, _invalid(tool, problems))
            return _error_result(_invalid(tool, problems))
        try:
            return await self.registry.call_tool(server, tool, arguments, ctx)
        except Exception:
            logger.exception("tools/call of %r on server %s failed", tool.name, server.server_id)
            raise RpcError(INTERNAL_ERROR, "Internal error") from None

    async def _call_meta(
        self,
        server: ServerRuntime,
        meta: ToolRuntime,
        arguments: dict[str, Any],
        ctx: CallContext,
    ) -> dict[str, Any]:
        """Serve a dynamic-mode meta-tool; `execute_tool` becomes the named tool's own call."""
        problems = argument_problems(meta, arguments)
        if problems:
            # Answered like any tool's bad arguments, but not logged: no tool was called.
            return _error_result(_invalid(meta, problems))
        if meta.name != dynamic.EXECUTE:
            answer = (
                dynamic.search_result if meta.name == dynamic.SEARCH else dynamic.describe_result
            )
            try:
                return answer(server, arguments, ctx)
            except Exception:
                logger.exception("%s on server %s failed", meta.name, server.server_id)
                raise RpcError(INTERNAL_ERROR, "Internal error") from None
        name = arguments["name"]
        tool = server.tools_by_name.get(name)
        if tool is None or not ctx.grant.may_list(tool):
            # Not found, as search and describe would not find it; a tool the caller sees but
            # may not call is refused as a direct call of it is (check_grant).
            self.registry.record_rejected_call(server, ctx, name, "unknown tool")
            return _error_result(f"Unknown tool: {name}. Use {dynamic.SEARCH} to find tools.")
        self.check_grant(server, ctx, tool)
        return await self._call(server, tool, arguments.get("arguments", {}), ctx)

    def check_grant(self, server: ServerRuntime, ctx: CallContext, tool: ToolRuntime) -> None:
        """Refuse (and record) a call of TOOL that the credential's grant does not cover.

        Outside the allowlist: a JSON-RPC error naming the tool (no scope would help). A scope
        short: `ScopeRequired` (HTTP 403 naming the scope that suffices). Like an unknown tool,
        the call was admitted, so it is logged and counted.
        """
        grant = ctx.grant
        if not grant.allows(tool):
            self.registry.record_rejected_call(
                server, ctx, tool.name, "not available", error_code="tool_not_allowed"
            )
            raise RpcError(
                INVALID_PARAMS,
                f"Tool {tool.name} is not available to this credential",
                {"tool": tool.name},
            )
        scope = grant.needed_scope(tool)
        if scope is not None:
            self.registry.record_rejected_call(
                server, ctx, tool.name, f"needs {scope}", error_code="insufficient_scope"
            )
            raise ScopeRequired(scope, tool.name)


def visible_tools(server: ServerRuntime, grant: Grant) -> tuple[ToolRuntime, ...]:
    """The tools of SERVER that GRANT may see, in listing order (once per snapshot and grant)."""
    if grant.lists_every_tool:
        return server.tools
    key = ("visible_tools", grant)
    tools = server.derived.get(key)
    if tools is None:
        tools = server.derived[key] = tuple(tool for tool in server.tools if grant.may_list(tool))
    return tools


@dataclass(slots=True)
class MethodCall:
    """One routed request, as the handler of its method sees it."""

    protocol: McpProtocol
    server: ServerRuntime
    params: dict[str, Any] | None
    route: Route
    ctx: CallContext


Handler = Callable[[MethodCall], Awaitable[dict[str, Any] | bytes]]


async def _initialize(call: MethodCall) -> dict[str, Any]:
    return _initialize_result(call.server, call.params, call.route.protocol_version)


async def _ping(call: MethodCall) -> dict[str, Any]:
    return {}


async def _discover(call: MethodCall) -> bytes:
    return _discover_result(call.server)


async def _handshake_tools_list(call: MethodCall) -> bytes:
    return call.protocol.list_tools(call.server, call.params, call.ctx, modern=False)


async def _modern_tools_list(call: MethodCall) -> bytes:
    return call.protocol.list_tools(call.server, call.params, call.ctx, modern=True)


async def _handshake_tools_call(call: MethodCall) -> dict[str, Any]:
    return await call.protocol.call_tool(call.server, call.params, call.route, call.ctx)


async def _modern_tools_call(call: MethodCall) -> dict[str, Any]:
    result = await call.protocol.call_tool(call.server, call.params, call.route, call.ctx)
    return _modern_result(call.server, result)


HANDSHAKE_METHODS: Final[Mapping[str, Handler]] = MappingProxyType(
    {
        "initialize": _initialize,
        "ping": _ping,
        "tools/list": _handshake_tools_list,
        "tools/call": _handshake_tools_call,
    }
)
"""The methods of the `initialize` era (2024-11-05 … 2025-11-25)."""

MODERN_METHODS: Final[Mapping[str, Handler]] = MappingProxyType(
    {
        "server/discover": _discover,
        "tools/list": _modern_tools_list,
        "tools/call": _modern_tools_call,
    }
)
"""The methods of the stateless 2026-07-28 era: no handshake, no ping."""


def argument_problems(tool: ToolRuntime, arguments: dict[str, Any]) -> list[str]:
    """Readable reasons `arguments` do not match the tool's input schema; empty when they do."""
    validator = tool.derived.get("validator", _NOT_COMPILED)
    if validator is _NOT_COMPILED:
        validator = tool.derived["validator"] = _compile_validator(tool)
        tool.derived["valid"] = None if validator is None else compile_check(tool.input_schema)
    if validator is None:
        return []
    valid = tool.derived.get("valid")
    if valid is not None and valid(arguments):
        return []
    try:
        errors = sorted(validator.iter_errors(arguments), key=lambda error: error.json_path)
    except Unresolvable:
        logger.warning("tool %r has an unresolvable $ref; arguments not validated", tool.name)
        return []
    problems = []
    for error in errors[:MAX_REPORTED_PROBLEMS]:
        where = ".".join(str(part) for part in error.absolute_path)
        text = f"{where}: {error.message}" if where else error.message
        problems.append(text[:MAX_PROBLEM_CHARS])
    if len(errors) > MAX_REPORTED_PROBLEMS:
        problems.append(f"... and {len(errors) - MAX_REPORTED_PROBLEMS} more")
    return problems


def _compile_validator(tool: ToolRuntime) -> Validator | None:
    schema = tool.input_schema
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError:
        # The upstream is the judge of arguments its own spec describes badly.
        logger.warning("tool %r has an invalid input schema; arguments not validated", tool.name)
        return None
    return cls(schema)


def _declares_param_headers(tool: ToolRuntime) -> bool:
    declared = tool.derived.get("param_headers")
    if declared is None:
        schema = tool.input_schema
        declared = tool.derived["param_headers"] = find_invalid_x_mcp_header(
            schema
        ) is None and bool(x_mcp_header_map(schema))
    return declared


def _invalid(tool: ToolRuntime, problems: list[str]) -> str:
    return f"Invalid arguments for tool {tool.name}:\n" + "\n".join(f"- {p}" for p in problems)


def _error_result(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if isinstance(cursor, str):
        try:
            text = base64.urlsafe_b64decode(cursor.encode()).decode()
        except (binascii.Error, UnicodeError, ValueError):
            text = ""
        if text.startswith("o") and text[1:].isdecimal():
            return int(text[1:])
    raise RpcError(INVALID_PARAMS, "Invalid cursor")


def _server_info(server: ServerRuntime) -> dict[str, str]:
    return {"name": server.name, "version": server.version}


def _modern_result(server: ServerRuntime, result: dict[str, Any]) -> dict[str, Any]:
    """Stamp a 2026-07-28 result with its required `resultType` and the `serverInfo` meta."""
    stamped = {**result}
    stamped.setdefault("resultType", "complete")
    meta = result.get("_meta")
    if isinstance(meta, dict):
        stamped["_meta"] = {SERVER_INFO_META_KEY: _server_info(server), **meta}
    elif meta is None:
        stamped["_meta"] = {SERVER_INFO_META_KEY: _server_info(server)}
    return stamped


def _discover_result(server: ServerRuntime) -> bytes:
    cached = server.derived.get("server/discover")
    if cached is None:
        result: dict[str, Any] = {
            "supportedVersions": list(MODERN_PROTOCOL_VERSIONS),
            "capabilities": _TOOLS_CAPABILITIES,
            "ttlMs": 0,
            "cacheScope": "private",
        }
        if server.instructions:
            result["instructions"] = server.instructions
        cached = server.derived["server/discover"] = _encode(
            _modern_result(server, result)
        ).encode()
    return cached


def _initialize_result(
    server: ServerRuntime, params: dict[str, Any] | None, negotiated: str
) -> dict[str, Any]:
    if not _valid_initialize_params(params):
        raise RpcError(INVALID_PARAMS, "Invalid initialize parameters")
    result: dict[str, Any] = {
        "protocolVersion": negotiated,
        "capabilities": _TOOLS_CAPABILITIES,
        "serverInfo": _server_info(server),
    }
    if server.instructions:
        result["instructions"] = server.instructions
    return result


def _valid_initialize_params(params: dict[str, Any] | None) -> bool:
    if not params:
        return False
    client_info = params.get("clientInfo")
    return (
        isinstance(params.get("protocolVersion"), str)
        and isinstance(params.get("capabilities"), dict)
        and isinstance(client_info, dict)
        and isinstance(client_info.get("name"), str)
        and isinstance(client_info.get("version"), str)
    )
