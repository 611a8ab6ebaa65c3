"""Reads of a server's tools."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.errors import NotFound
from servers.models import Server

from .models import Tool


def tool_list(*, server: Server) -> QuerySet[Tool]:
    return Tool.objects.filter(server=server).select_related("operation")


def tool_get(*, server: Server, tool_id: Any) -> Tool:
    tool = tool_list(server=server).filter(pk=tool_id).first()
    if tool is None:
        raise NotFound("Tool not found")
    return tool
