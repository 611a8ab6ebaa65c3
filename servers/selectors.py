"""Reads of a user's servers and their access keys."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import User
from core.errors import NotFound
from tools.definitions import estimated_tokens, tool_definition, tool_fields, tools_list_bytes
from tools.models import Tool

from .models import AccessKey, Server

logger = logging.getLogger(__name__)

TOOLS_LIST_SIZE_CACHE_SECONDS = 24 * 3600

EffectiveMode = Literal["all", "dynamic"]


@dataclass(frozen=True)
class ToolsListSize:
    """The size of a server's full `tools/list` (every enabled tool), and the mode it implies."""

    bytes: int
    tokens: int
    mode: EffectiveMode


def server_mcp_url(*, slug: str) -> str:
    """The URL MCP clients connect to (`mcpUrl`): also the exact OAuth resource of the server."""
    return f"{settings.PUBLIC_BASE_URL}/mcp/{slug}"


def server_for_mcp_url(*, url: str) -> Server | None:
    """The active server whose `mcpUrl` is exactly URL (no prefix match, no trailing slash)."""
    prefix = f"{settings.PUBLIC_BASE_URL}/mcp/"
    if not url.startswith(prefix):
        return None
    slug = url[len(prefix) :]
    if not slug or server_mcp_url(slug=slug) != url:
        return None
    return (
        Server.objects.select_related("user")
        .filter(slug=slug, status="active", user__is_active=True)
        .first()
    )


def user_may_use(*, user: User, server: Server, org_id: str = "") -> bool:
    """Whether USER may use SERVER as themselves (authorize an MCP client to it, link their own
    upstream account on it): its owner, or for a shared server also a user in its audience, by
    email, domain or ORG_ID (their active Clerk organisation).

    A public server needs no authorization at all, so none is granted for it.
    """
    if not user.is_active or server.visibility == "public":
        return False
    if server.user_id == user.pk:
        return True
    return server.visibility == "shared" and server.admits(user.email, org_id)


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


def tools_list_size(
    *, server: Server, definitions: Iterable[dict[str, Any]] | None = None
) -> ToolsListSize:
    """The size of SERVER's full tools/list and its effective tool mode ("auto" resolved).

    Measured once per configuration version (every change to what a server serves bumps it)
    and kept in the shared cache, so the API and every gateway worker measure a server once
    per change. DEFINITIONS, when the caller already holds them, spares a database pass.
    """
    key = f"servers:tools-list-bytes:{server.pk}:{server.config_version}"
    try:
        size = cache.get(key)
    except Exception:
        logger.warning("Cannot read the shared cache; measuring tools/list again", exc_info=True)
        size = None
    if size is None:
        if definitions is None:
            tools = (
                Tool.objects.filter(server=server, enabled=True)
                .select_related("operation")
                .order_by("operation__position")
            )
            definitions = (tool_definition(**tool_fields(t)) for t in tools.iterator(500))
        size = tools_list_bytes(definitions)
        try:
            cache.set(key, size, TOOLS_LIST_SIZE_CACHE_SECONDS)
        except Exception:
            logger.warning("Cannot write the shared cache", exc_info=True)
    tokens = estimated_tokens(size)
    return ToolsListSize(bytes=size, tokens=tokens, mode=effective_tool_mode(server, tokens))


def effective_tool_mode(server: Server, tokens: int) -> EffectiveMode:
    """ "all" or "dynamic": what SERVER's tool mode means for a listing of TOKENS tokens."""
    if server.tool_mode == "dynamic":
        return "dynamic"
    if server.tool_mode == "auto" and tokens > settings.TOOLS_DYNAMIC_TOKEN_BUDGET:
        return "dynamic"
    return "all"
