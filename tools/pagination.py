"""Tools page in their operations' document order rather than newest first.

Tools of one server are created in one bulk insert and share timestamps, so the document
position of their operation (unique within a server) is the natural, stable key.
"""

from __future__ import annotations

from typing import Any

from core.pagination import CursorPagination


class ToolPagination(CursorPagination):
    ordering = ("operation__position", "id")

    def key_of(self, item: Any) -> list[Any]:
        return [item.operation.position, str(item.pk)]

    def parse_key(self, key: list[Any]) -> tuple[Any, Any]:
        return int(key[0]), str(key[1])
