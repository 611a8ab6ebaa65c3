"""Reads of a server's tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from core.errors import NotFound

from .models import Tool

if TYPE_CHECKING:
    from servers.models import Server  # a type only: servers sits above tools


def tool_list(*, server: Server) -> QuerySet[Tool]:
    return Tool.objects.filter(server=server).select_related("operation")


def tool_get(*, server: Server, tool_id: Any) -> Tool:
    tool = tool_list(server=server).filter(pk=tool_id).first()
    if tool is None:
        raise NotFound("Tool not found")
    return tool
