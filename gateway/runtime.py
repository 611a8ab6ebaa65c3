"""What the MCP endpoint needs from the rest of Specgate, and nothing more.

The Django side implements `Registry` over its models and caches; the endpoint
(`gateway.app`) only ever sees these immutable snapshots, so a request never
touches the ORM. A snapshot is replaced, not mutated, when its server, tools or
keys change; anything the endpoint derives from a snapshot (wire-form tool
lists, compiled argument validators) lives in the snapshot's `derived` slot
and is dropped with it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

from core.scopes import SCOPES, TOOLS_CALL, TOOLS_CALL_READONLY, TOOLS_READ
from usage.refusals import Refusal, RefusalReason

__all__ = [
    "FULL_ACCESS",
    "CallContext",
    "Caller",
    "Grant",
    "Refusal",
    "RefusalReason",
    "Registry",
    "SearchHit",
    "ServerRuntime",
    "ToolCatalog",
    "ToolRuntime",
    "Unavailable",
    "Visibility",
]

Visibility = Literal["private", "public"]


@dataclass(frozen=True, eq=False)
class ToolRuntime:
    """One enabled tool of a server, as MCP clients see it."""

    name: str
    title: str | None
    description: str | None
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: dict[str, Any]
    ref: Any = None
    """Whatever the registry needs to make the call (operation, argument mapping, ...)."""
    derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)
    """Endpoint-private cache of values computed from this snapshot."""

    @property
    def read_only(self) -> bool:
        """Whether the tool says it changes nothing (`readOnlyHint`): `tools:call:readonly`
        suffices to call it."""
        return self.annotations.get("readOnlyHint") is True


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One tool as the dynamic mode's `search_tools` reports it."""

    name: str
    description: str
    """One line."""
    method: str
    path: str
    """The path template, e.g. `/repos/{owner}/{repo}/issues`."""


class ToolCatalog(Protocol):
    """Ranked search over a server's enabled tools (the dynamic mode's `search_tools`)."""

    def search(
        self, query: str, limit: int, allowed: Callable[[ToolRuntime], bool] | None = None
    ) -> list[SearchHit]:
        """At most LIMIT tools for QUERY, best first, only those ALLOWED admits (None: all)."""
        ...


@dataclass(frozen=True, eq=False)
class ServerRuntime:
    """An active server with its enabled tools, in listing order."""

    server_id: str
    slug: str
    user_id: str
    name: str
    version: str
    visibility: Visibility
    tools: tuple[ToolRuntime, ...]
    tools_by_name: Mapping[str, ToolRuntime]
    instructions: str | None = None
    catalog: ToolCatalog | None = None
    """The search index of `tools` for a server in dynamic mode; None in the normal mode."""
    ref: Any = None
    derived: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)
    """Endpoint-private cache of values computed from this snapshot."""

    @property
    def dynamic(self) -> bool:
        """Whether `tools/list` lists the three meta-tools (search, describe, execute)."""
        return self.catalog is not None


@dataclass(frozen=True, slots=True)
class Grant:
    """What one credential may do on one server: its strongest scope and, optionally, an
    allowlist of tool names. The one judge of who may list and call which tool: every method
    that lists, describes or calls tools asks it, so they can never disagree.

    Built with the snapshot (the allowlist holds the tools' names in that snapshot), so each
    question is an attribute or set lookup, never a database read.
    """

    scope: str = TOOLS_CALL
    tools: frozenset[str] | None = None
    """Names of the only tools granted; None: every enabled tool."""
    _lists_only_callable: bool = field(init=False, repr=False, compare=False)
    _calls_every_tool: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}")
        # A list-only credential sees every tool it is allowed (and may call none); one that
        # may call tools sees just the tools it may call.
        object.__setattr__(self, "_lists_only_callable", self.scope != TOOLS_READ)
        object.__setattr__(self, "_calls_every_tool", self.scope == TOOLS_CALL)

    @property
    def lists_every_tool(self) -> bool:
        """Whether `may_list` holds for every tool (no need to filter a listing)."""
        return self.tools is None and self.scope != TOOLS_CALL_READONLY

    def allows(self, tool: ToolRuntime) -> bool:
        """Whether the allowlist (if any) admits TOOL; a refusal no scope can lift."""
        return self.tools is None or tool.name in self.tools

    def needed_scope(self, tool: ToolRuntime) -> str | None:
        """The scope this grant lacks to call TOOL, or None when its scope suffices."""
        if self._calls_every_tool:
            return None
        if tool.read_only:
            return None if self.scope == TOOLS_CALL_READONLY else TOOLS_CALL_READONLY
        return TOOLS_CALL

    def may_call(self, tool: ToolRuntime) -> bool:
        return self.allows(tool) and self.needed_scope(tool) is None

    def may_list(self, tool: ToolRuntime) -> bool:
        """Whether TOOL shows in `tools/list` (and any other listing or description)."""
        if not self.allows(tool):
            return False
        return not self._lists_only_callable or self.needed_scope(tool) is None


FULL_ACCESS: Final = Grant()
"""Every enabled tool, listed and callable: public servers, and keys made without scopes."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request authenticated as, and what that credential may do."""

    key_prefix: str
    """Prefix of the access key, as request logs show it."""
    grant: Grant = FULL_ACCESS
    email: str = ""
    """The email of the user an OAuth access token was issued to (request logs show it to
    the server's owner); blank for an access key."""
    user_id: str | None = None
    """The user the calls are made for: an access key's owner (the server's), an OAuth
    grant's user. Credentials that act as each person's own upstream account use it."""


@dataclass(slots=True)
class CallContext:
    """Who is asking, handed to the registry with every admission and call."""

    server: ServerRuntime
    key_prefix: str | None
    """Prefix of the access key that authenticated the request; None on a public server."""
    client_name: str | None
    """The client's `clientInfo.name` when it sent one, else its User-Agent."""
    client_ip: str
    protocol_version: str
    grant: Grant = FULL_ACCESS
    """What the credential may list and call (`Grant.may_list`, `Grant.may_call`)."""
    caller_email: str = ""
    """`Caller.email`: who called with an OAuth access token, for the request log."""
    caller_id: str | None = None
    """`Caller.user_id`; None on a public server (nobody signed in)."""


class Unavailable(Exception):
    """A dependency (the database) is briefly out: answered 503 with Retry-After, not 500."""

    def __init__(self, retry_after: int = 2) -> None:
        super().__init__("temporarily unavailable")
        self.retry_after = retry_after


class Registry(Protocol):
    """The endpoint's view of servers, keys, limits and upstream calls."""

    async def get_server(self, slug: str) -> ServerRuntime | None:
        """The active server behind `slug`; None when it is unknown or disabled (404)."""
        ...

    async def authenticate(
        self, server: ServerRuntime, bearer: str | None
    ) -> Caller | Literal[False] | None:
        """The caller for a valid key, None when the server needs none, False to refuse (401).

        `bearer` is the token from `Authorization: Bearer <token>`, or None when absent.
        """
        ...

    async def admit(self, server: ServerRuntime, ctx: CallContext, method: str) -> Refusal | None:
        """Rate limit every MCP request; for `tools/call` also quota and budget cap."""
        ...

    async def call_tool(
        self, server: ServerRuntime, tool: ToolRuntime, arguments: dict[str, Any], ctx: CallContext
    ) -> dict[str, Any]:
        """Call the upstream with validated arguments and return a `CallToolResult` as JSON.

        Upstream failures are results with `isError: true`, never exceptions; an
        exception here is a bug and becomes a JSON-RPC internal error.
        """
        ...

    def record_rejected_call(
        self,
        server: ServerRuntime,
        ctx: CallContext,
        tool_name: str,
        message: str,
        *,
        error_code: str | None = None,
    ) -> None:
        """Note a `tools/call` answered without reaching `call_tool` (unknown tool, bad arguments,
        a tool the credential may not call). `error_code`, when given, is the request log's.

        Called on the request path: must only enqueue, never block.
        """
        ...
