"""Reads of MCP authorizations ("grants"), always from the tenant: the server's owner, or the
user who granted."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from core.errors import NotFound
from servers.models import Server
from tools.models import Tool

from .models import Authorization


def _live() -> QuerySet[Authorization]:
    return (
        Authorization.objects.filter(revoked_at__isnull=True)
        .select_related("application", "server", "user")
        .prefetch_related(Prefetch("tools", queryset=Tool.objects.only("id", "name")))
    )


def server_grant_list(*, server: Server) -> QuerySet[Authorization]:
    """Every live grant to SERVER, whoever made it (for its owner)."""
    return _live().filter(server=server)


def server_grant_get(*, server: Server, grant_id: Any) -> Authorization:
    grant = server_grant_list(server=server).filter(pk=grant_id).first()
    if grant is None:
        raise NotFound("Grant not found")
    return grant


def user_grant_list(*, user: User) -> QuerySet[Authorization]:
    """Every live grant USER made, whoever owns the server."""
    return _live().filter(user=user)


def user_grant_get(*, user: User, grant_id: Any) -> Authorization:
    grant = user_grant_list(user=user).filter(pk=grant_id).first()
    if grant is None:
        raise NotFound("Grant not found")
    return grant


def grant_allowlist(*, user: User, application: Any, server: Server) -> list[str] | None:
    """The tool allowlist (current names) of USER's live grant of APPLICATION to SERVER, which
    authorizing the client again keeps; None when there is no such grant or it lists none."""
    grant = _live().filter(user=user, application=application, server=server).first()
    if grant is None or not grant.restricts_tools:
        return None
    return sorted(tool.name for tool in grant.tools.all())
