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
from typing import Any, Literal, Protocol

from usage.refusals import Refusal, RefusalReason

__all__ = [
    "CallContext",
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
    allowed: Callable[[ToolRuntime], bool] | None = None
    """Which tools this caller may see and call; None: every enabled tool of the server."""

    def may_use(self, tool: ToolRuntime) -> bool:
        """Whether the caller may see and call TOOL.

        The one check behind tools/list, tools/call and the dynamic mode's search, describe
        and execute. Access keys carry no scopes yet, so `allowed` is None for every caller
        today; a key's grant plugs in here.
        """
        return self.allowed is None or self.allowed(tool)


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
    ) -> str | Literal[False] | None:
        """The key prefix for a valid key, None when the server needs none, False to refuse (401).

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
        self, server: ServerRuntime, ctx: CallContext, tool_name: str, message: str
    ) -> None:
        """Note a `tools/call` answered without reaching `call_tool` (unknown tool, bad arguments).

        Called on the request path: must only enqueue, never block.
        """
        ...
