"""A tool's definition as MCP `tools/list` carries it, and the size of a whole list.

Django-free: the gateway builds its listings with `tool_definition`, and the servers API
measures a server's `tools/list` with `tools_list_bytes` over the very same dicts, so the
size a user is shown is the size a client receives.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from tools.projection import (
    advertised_description,
    advertised_input_schema,
    advertised_output_schema,
    select_argument,
)

if TYPE_CHECKING:
    from tools.models import Tool

BYTES_PER_TOKEN: Final = 4
"""The token estimate used everywhere: bytes of the JSON ÷ 4."""

# The gateway's wire encoding: compact, ASCII (a lone surrogate cannot break encoding).
encode_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

_LIST_OPENING: Final = len('{"tools":[')
_LIST_CLOSING: Final = len("]}")


def tool_definition(
    *,
    name: str,
    title: str | None,
    description: str | None,
    input_schema: dict[str, Any],
    output_schema: dict[str, Any] | None,
    annotations: dict[str, Any],
) -> dict[str, Any]:
    """The MCP `Tool` object, keys in the order every listing sends them."""
    wire: dict[str, Any] = {"name": name}
    if title:
        wire["title"] = title
    if description:
        wire["description"] = description
    wire["inputSchema"] = input_schema
    if output_schema is not None:
        wire["outputSchema"] = output_schema
    if annotations:
        wire["annotations"] = annotations
    return wire


def tool_fields(tool: Tool) -> dict[str, Any]:
    """The keyword arguments of `tool_definition` for a stored tool (operation loaded)."""
    op = tool.operation
    return advertised_fields(
        name=tool.name,
        description=tool.description or None,
        input_schema=op.input_schema,
        output_schema=op.output_schema,
        annotations=op.annotations,
    )


def advertised_fields(
    *,
    name: str,
    description: str | None,
    input_schema: dict[str, Any],
    output_schema: dict[str, Any] | None,
    annotations: dict[str, Any],
) -> dict[str, Any]:
    """The keyword arguments of `tool_definition` for a tool as the engine converted it.

    Clients see the reserved selection argument, and an output schema that selected and
    shortened results conform to too (tools.projection). bench/tool_sizes.py measures a
    converted document through this same function, so its sizes are the served ones.
    """
    select = select_argument(input_schema)
    return {
        "name": name,
        "title": annotations.get("title") or None,
        "description": advertised_description(description, select),
        "input_schema": advertised_input_schema(input_schema, select),
        "output_schema": advertised_output_schema(output_schema),
        "annotations": annotations,
    }


def tools_list_bytes(definitions: Iterable[dict[str, Any]]) -> int:
    """Bytes of `{"tools": [...]}` holding every definition, encoded as the gateway encodes.

    Summed definition by definition: a list of hundreds of megabytes is never held as one
    string.
    """
    total = _LIST_OPENING + _LIST_CLOSING
    count = 0
    for definition in definitions:
        total += len(encode_json(definition))
        count += 1
    return total + max(count - 1, 0)  # the commas between definitions


def estimated_tokens(size_bytes: int) -> int:
    return size_bytes // BYTES_PER_TOKEN
