"""Reads of MCP authorizations ("grants"), always from the tenant: the server's owner, or the
user who granted."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from core.errors import NotFound
from servers.models import Server

from .models import Authorization


def _live() -> QuerySet[Authorization]:
    return Authorization.objects.filter(revoked_at__isnull=True).select_related(
        "application", "server", "user"
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
