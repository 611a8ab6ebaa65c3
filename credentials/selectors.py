"""Reads of upstream credentials (metadata only; secrets are decrypted in injection.py alone)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from core.errors import NotFound
from servers.models import Server

from .models import Connection, Credential


def credential_list(*, user: User, server_id: Any | None = None) -> QuerySet[Credential]:
    """The user's credentials, or one server's (404 when the server is not the user's)."""
    credentials = Credential.objects.defer("ciphertext")
    if server_id is None:
        return credentials.filter(server__user=user)
    if not Server.objects.filter(user=user, id=server_id).exists():
        raise NotFound("Server not found")
    return credentials.filter(server_id=server_id)


def connection_list(
    *, user: User
) -> tuple[QuerySet[Connection], dict[tuple[str, str], Credential]]:
    """The user's own linked accounts (metadata only), and the authorization-code credentials
    of their servers by (server id, scheme), which say each link's provider and status."""
    connections = Connection.objects.filter(user=user).select_related("server").defer("ciphertext")
    credentials = {
        (str(credential.server_id), credential.scheme): credential
        for credential in Credential.objects.filter(
            server__upstream_connections__user=user, type="oauth2AuthorizationCode"
        ).defer("ciphertext")
    }
    return connections, credentials
