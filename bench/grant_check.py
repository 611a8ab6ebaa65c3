"""What a credential's grant costs per MCP request: the checks `tools/call` and `tools/list` add.

    .venv/bin/python bench/grant_check.py [--calls 1000000]

In process, no server: times `McpProtocol.check_grant` (every `tools/call`) and
`protocol.visible_tools` (every `tools/list`, before its cached page is looked up) for a key
with every right (what keys made without scopes hold) and for a read-only key with an
allowlist, against a 1,000-tool snapshot, best of five repeats, in nanoseconds per request.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.protocol import McpProtocol, visible_tools
from gateway.runtime import FULL_ACCESS, CallContext, Grant
from gateway.testing import InMemoryRegistry, make_server, make_tool

TOOLS = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    calls = parser.parse_args().calls
    tools = [make_tool(f"tool_{n}", annotations={"readOnlyHint": n % 2 == 0}) for n in range(TOOLS)]
    server = make_server("bench", tools)
    protocol = McpProtocol(InMemoryRegistry())
    tool = tools[10]
    grants = {
        "every right (tools:call, no allowlist)": FULL_ACCESS,
        "tools:call:readonly + 100-tool allowlist": Grant(
            "tools:call:readonly", frozenset(t.name for t in tools[:100])
        ),
    }
    for label, grant in grants.items():
        ctx = CallContext(server, "mcpk_bench", None, "127.0.0.1", "2025-11-25", grant)
        check = per_call_ns(partial(protocol.check_grant, server, ctx, tool), calls)
        visible_tools(server, grant)  # the first listing computes it; later ones look it up
        listing = per_call_ns(partial(visible_tools, server, grant), calls)
        print(f"{label:45} check_grant {check:4.0f} ns/call   visible_tools {listing:4.0f} ns/list")
    print(f"{'(an empty call, for scale)':45} {per_call_ns(lambda: None, calls):4.0f} ns")


def per_call_ns(function: Callable[[], Any], calls: int) -> float:
    """Nanoseconds per call of FUNCTION, best of five repeats of CALLS calls."""
    return min(timeit.repeat(function, number=calls, repeat=5)) / calls * 1e9


if __name__ == "__main__":
    main()
