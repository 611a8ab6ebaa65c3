"""The scopes a credential for a hosted MCP server carries: one vocabulary for access keys and
OAuth grants alike, free of Django so that the gateway's runtime types can name it.

Each scope implies the ones before it, so a credential's scopes are one strongest scope and
everything below it:

- `tools:read`: list tools, call none;
- `tools:call:readonly`: list, and call the tools whose `readOnlyHint` is true;
- `tools:call`: list, and call every enabled tool.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

TOOLS_READ: Final = "tools:read"
TOOLS_CALL_READONLY: Final = "tools:call:readonly"
TOOLS_CALL: Final = "tools:call"

SCOPES: Final = (TOOLS_READ, TOOLS_CALL_READONLY, TOOLS_CALL)
"""Every scope, weakest first: each implies those before it."""

DEFAULT_SCOPE: Final = TOOLS_CALL
"""What a credential made without naming scopes carries (every access key made before scopes)."""


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    """The names in SCOPES that are no scope, in the order given, each once."""
    return list(dict.fromkeys(scope for scope in scopes if scope not in SCOPES))


def strongest_scope(scopes: Iterable[str]) -> str:
    """The strongest of SCOPES (all known, at least one): the one that implies the others."""
    return max(scopes, key=SCOPES.index)


def implied_scopes(scope: str) -> list[str]:
    """SCOPE and every scope it implies, weakest first (what a credential may do, spelled out)."""
    return list(SCOPES[: SCOPES.index(scope) + 1])


def weakest_scope(scopes: Iterable[str]) -> str:
    """The weakest of SCOPES (all known, at least one): what every one of them allows."""
    return min(scopes, key=SCOPES.index)
