"""Writes for a server's tools: creation from spec operations, overrides, re-sync.

A tool's effective name is its custom name when set, else its operation's generated name.
Generated names are unique within a spec, so the only clash is with a custom name; the
custom name wins and the generated one gets the first free `_2`, `_3`... suffix.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction

from core.errors import Conflict, ValidationFailed
from core.invalidation import server_rows_delete, server_touch

from .models import Tool

if TYPE_CHECKING:
    # Types only: servers and specs sit above tools and call into it (see docs/architecture.md).
    from servers.models import Server
    from specs.models import Spec, SpecOperation
    from specs.services import OperationDiff

TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
NAME_RULE = "Use 1 to 64 letters, digits, underscores or hyphens."
MAX_NAME = 64
# Not a valid tool name, so a placeholder can never clash with a real one.
_PLACEHOLDER = "~"
_UNSET: Any = object()


@dataclass(frozen=True)
class SyncCounts:
    added: int = 0
    updated: int = 0
    removed: int = 0

    def __add__(self, other: SyncCounts) -> SyncCounts:
        return SyncCounts(
            self.added + other.added, self.updated + other.updated, self.removed + other.removed
        )

    def as_dict(self) -> dict[str, int]:
        return {"added": self.added, "updated": self.updated, "removed": self.removed}


def tools_create(
    *, server: Server, operations: Iterable[SpecOperation], enabled_ids: set[int] | None = None
) -> int:
    """One tool per operation; with `enabled_ids` only those operations' tools are enabled."""
    # A server's first tools take their generated names as they are (unique within a spec);
    # tools added later may clash with custom names, so they are named by the resolver.
    fresh = not Tool.objects.filter(server=server).exists()
    tools = [
        Tool(
            server=server,
            operation=operation,
            name=operation.tool_name if fresh else _placeholder(),
            enabled=enabled_ids is None or operation.pk in enabled_ids,
        )
        for operation in operations
    ]
    Tool.objects.bulk_create(tools, batch_size=500)
    if tools and not fresh:
        tools_resolve_names(server=server)
    return len(tools)


def tools_sync_spec(*, spec: Spec, diff: OperationDiff) -> SyncCounts:
    """Bring every server built from `spec` in line with its new operations.

    Removed operations' tools are already gone (cascade); this adds tools for new
    operations (enabled) and re-resolves names, keeping every override.
    """
    counts = SyncCounts()
    changed_ids = [operation.pk for operation in diff.changed]
    for server in spec.mcp_servers.all():
        added = tools_create(server=server, operations=diff.added)
        if not added:
            # Names still need a look: a renamed or removed tool may have freed a generated name.
            tools_resolve_names(server=server)
        updated = Tool.objects.filter(server=server, operation_id__in=changed_ids).count()
        counts += SyncCounts(added=added, updated=updated)
        server_touch(server=server)
    return counts


def tools_resolve_names(*, server: Server) -> None:
    """Give every tool of the server its effective name (see the module docstring)."""
    tools = list(
        Tool.objects.filter(server=server)
        .select_related("operation")
        .only("id", "name", "custom_name", "operation__tool_name", "operation__position")
        .order_by("operation__position", "id")
    )
    taken = {tool.custom_name for tool in tools if tool.custom_name}
    wanted = {tool.pk: tool.custom_name for tool in tools if tool.custom_name}
    clashing: list[Tool] = []
    for tool in tools:
        if tool.custom_name:
            continue
        if tool.operation.tool_name in taken:
            clashing.append(tool)
        else:
            wanted[tool.pk] = tool.operation.tool_name
            taken.add(tool.operation.tool_name)
    for tool in clashing:
        name = _free_suffixed(tool.operation.tool_name, taken)
        wanted[tool.pk] = name
        taken.add(name)
    renamed = [tool for tool in tools if tool.name != wanted[tool.pk]]
    if not renamed:
        return
    # Two passes so that swapping names never trips the per-server unique constraint.
    for tool in renamed:
        tool.name = _placeholder()
    Tool.objects.bulk_update(renamed, ["name"], batch_size=500)
    for tool in renamed:
        tool.name = wanted[tool.pk]
    Tool.objects.bulk_update(renamed, ["name"], batch_size=500)


def tool_update(
    *,
    tool: Tool,
    enabled: bool | None = None,
    name: str | None = _UNSET,
    description: str | None = _UNSET,
) -> Tool:
    """Apply overrides; `None` for name or description resets it to the generated value."""
    server = tool.server
    with transaction.atomic():
        fields = ["updated_at"]
        if enabled is not None:
            tool.enabled = enabled
            fields.append("enabled")
        if description is not _UNSET:
            tool.custom_description = description
            fields.append("custom_description")
        if name is not _UNSET and name is not None:
            _check_name(server=server, tool=tool, name=name)
            tool.custom_name = name
            tool.name = name
            fields += ["custom_name", "name"]
        elif name is None:
            tool.custom_name = None
            fields.append("custom_name")
        try:
            with transaction.atomic():
                tool.save(update_fields=fields)
        except IntegrityError:
            raise _name_taken(str(name)) from None
        if name is None:
            tools_resolve_names(server=server)
            tool.refresh_from_db(fields=["name"])
        server_touch(server=server)
    return tool


def _check_name(*, server: Server, tool: Tool, name: str) -> None:
    if not TOOL_NAME.match(name):
        raise ValidationFailed(
            "Invalid tool name",
            details={"name": [NAME_RULE]},
        )
    if Tool.objects.filter(server=server, name=name).exclude(pk=tool.pk).exists():
        raise _name_taken(name)


def _name_taken(name: str) -> Conflict:
    return Conflict(
        "Another tool of this server has that name",
        details={"name": [f"A tool named {name!r} already exists on this server."]},
    )


def _free_suffixed(base: str, taken: set[str]) -> str:
    counter = 2
    while True:
        suffix = f"_{counter}"
        candidate = f"{base[: MAX_NAME - len(suffix)]}{suffix}"
        if candidate not in taken:
            return candidate
        counter += 1


def _placeholder() -> str:
    return f"{_PLACEHOLDER}{uuid.uuid4().hex}"


def tools_delete(*, tools: Iterable[Tool]) -> int:
    """Delete tools (a spec re-sync does not bring them back); their servers are told."""
    return server_rows_delete(model=Tool, rows=tools)


def tool_check_name(*, tool: Tool, name: str) -> None:
    """Raise what `tool_update` would refuse for NAME, without writing anything."""
    _check_name(server=tool.server, tool=tool, name=name)
