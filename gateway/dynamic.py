"""The dynamic mode's three meta-tools: what they are and what search and describe answer.

A server in dynamic mode lists `search_tools`, `describe_tools` and `execute_tool`
instead of its own tools, so its listing stays small whatever the API. `execute_tool` is
served by `gateway.protocol` through the very path of a direct `tools/call`. Every answer
goes through the caller's `Grant` (`may_list`; `check_grant` on execute), the checks
`tools/list` and `tools/call` use.

Names: in dynamic mode these three names mean the meta-tools. A server's own tool with one
of these names is still found by search, described and executed through `execute_tool`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from gateway.runtime import CallContext, ServerRuntime, ToolRuntime
from tools.definitions import encode_json, tool_definition

SEARCH: Final = "search_tools"
DESCRIBE: Final = "describe_tools"
EXECUTE: Final = "execute_tool"
META_NAMES: Final = frozenset({SEARCH, DESCRIBE, EXECUTE})
MAX_LIMIT: Final = 20
DEFAULT_LIMIT: Final = 8
MAX_NAMES: Final = 20

SEARCH_OUTPUT: Final = {
    "type": "object",
    "properties": {
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "method": {"type": "string"},
                    "path": {"type": "string"},
                },
                "required": ["name", "description", "method", "path"],
            },
        }
    },
    "required": ["results"],
}

DESCRIBE_OUTPUT: Final = {
    "type": "object",
    "properties": {
        "tools": {"type": "array", "items": {"type": "object"}},
        "unknown": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["tools", "unknown"],
}

META_TOOLS: Final = (
    ToolRuntime(
        name=SEARCH,
        title="Search this API's tools",
        description=(
            "Find the tools of this API that do what you need. Ask in plain words (e.g. "
            '"list a repository\'s open issues"); the answer ranks tools best first, each '
            "with its name, a one-line description, HTTP method and path. Then call "
            f"{DESCRIBE} for the arguments of the ones you want, and {EXECUTE} to call one."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "description": "What you want to do."},
                "limit": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_LIMIT,
                    "default": DEFAULT_LIMIT,
                    "description": "How many tools to return.",
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
        output_schema=SEARCH_OUTPUT,
        annotations={"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False},
    ),
    ToolRuntime(
        name=DESCRIBE,
        title="Describe tools",
        description=(
            "The full definitions (description and input schema) of the named tools, as "
            f"{SEARCH} named them. Read a tool's input schema before calling it with "
            f"{EXECUTE}."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "names": {
                    "type": "array",
                    "items": {"type": "string"},
                    "minItems": 1,
                    "maxItems": MAX_NAMES,
                    "description": "Tool names.",
                }
            },
            "required": ["names"],
            "additionalProperties": False,
        },
        output_schema=DESCRIBE_OUTPUT,
        annotations={"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False},
    ),
    ToolRuntime(
        name=EXECUTE,
        title="Call a tool",
        description=(
            "Call one of this API's tools by name with its arguments (an object matching the "
            f"tool's input schema, see {DESCRIBE}). Answers exactly what the tool answers."
        ),
        input_schema={
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "description": "The tool's name."},
                "arguments": {
                    "type": "object",
                    "description": "The tool's arguments.",
                    "default": {},
                },
            },
            "required": ["name"],
            "additionalProperties": False,
        },
        output_schema=None,
        annotations={
            "readOnlyHint": False,
            "destructiveHint": True,
            "idempotentHint": False,
            "openWorldHint": True,
        },
    ),
)
META_BY_NAME: Final = {tool.name: tool for tool in META_TOOLS}


def definition(tool: ToolRuntime) -> dict[str, Any]:
    """TOOL's definition exactly as a `tools/list` in the normal mode carries it."""
    return tool_definition(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema,
        output_schema=tool.output_schema,
        annotations=tool.annotations,
    )


def search_result(
    server: ServerRuntime, arguments: dict[str, Any], ctx: CallContext
) -> dict[str, Any]:
    """The answer of `search_tools` (arguments already valid against its schema)."""
    assert server.catalog is not None  # only a dynamic server serves search
    limit = arguments.get("limit", DEFAULT_LIMIT)
    allowed: Callable[[ToolRuntime], bool] | None = (
        None if ctx.grant.lists_every_tool else ctx.grant.may_list
    )
    hits = server.catalog.search(arguments["query"], limit, allowed)
    results = [
        {"name": hit.name, "description": hit.description, "method": hit.method, "path": hit.path}
        for hit in hits
    ]
    if results:
        lines = [f"{len(results)} tools, best first:"]
        lines += [f"- {r['name']}: {r['method']} {r['path']} — {r['description']}" for r in results]
        text = "\n".join(lines)
    else:
        text = "No tool matches; try other words."
    return _structured({"results": results}, text)


def describe_result(
    server: ServerRuntime, arguments: dict[str, Any], ctx: CallContext
) -> dict[str, Any]:
    """The answer of `describe_tools`: known names' definitions, the rest listed as unknown."""
    found: list[dict[str, Any]] = []
    unknown: list[str] = []
    for name in dict.fromkeys(arguments["names"]):
        tool = server.tools_by_name.get(name)
        if tool is None or not ctx.grant.may_list(tool):
            unknown.append(name)
        else:
            found.append(_cached_definition(tool))
    result = _structured({"tools": found, "unknown": unknown}, None)
    if not found:
        result["isError"] = True
        result["content"] = [
            {"type": "text", "text": f"Unknown tools: {', '.join(unknown)}. Use {SEARCH}."}
        ]
    return result


def _cached_definition(tool: ToolRuntime) -> dict[str, Any]:
    cached = tool.derived.get("definition")
    if cached is None:
        cached = tool.derived["definition"] = definition(tool)
    return cached


def _structured(content: dict[str, Any], text: str | None) -> dict[str, Any]:
    return {
        "content": [{"type": "text", "text": text if text is not None else encode_json(content)}],
        "structuredContent": content,
        "isError": False,
    }
