"""Reads of a user's servers and their access keys."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import User
from core.errors import NotFound
from tools.models import Tool

from .models import AccessKey, Server


def server_list(*, user: User) -> QuerySet[Server]:
    """The user's servers with toolCount and enabledToolCount annotated."""
    return Server.objects.filter(user=user).annotate(
        tool_count=Count("tools"),
        enabled_tool_count=Count("tools", filter=Q(tools__enabled=True)),
    )


def server_get(*, user: User, server_id: Any) -> Server:
    """The user's server (annotated); another user's server is 404 like a missing one."""
    server = server_list(user=user).filter(pk=server_id).first()
    if server is None:
        raise NotFound("Server not found")
    return server


def access_key_list(*, server: Server) -> QuerySet[AccessKey]:
    """The server's keys in use, with their tool allowlists."""
    return AccessKey.objects.filter(server=server, revoked_at__isnull=True).prefetch_related(
        Prefetch("tools", queryset=Tool.objects.only("id", "name"))
    )


def access_key_get(*, server: Server, key_id: Any) -> AccessKey:
    """One of the server's keys in use; a revoked key or another server's is 404."""
    key = access_key_list(server=server).filter(pk=key_id).first()
    if key is None:
        raise NotFound("Access key not found")
    return key
