"""Reads of upstream credentials (metadata only; secrets are decrypted in injection.py alone)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from core.errors import NotFound
from servers.models import Server

from .models import Credential


def credential_list(*, user: User, server_id: Any | None = None) -> QuerySet[Credential]:
    """The user's credentials, or one server's (404 when the server is not the user's)."""
    credentials = Credential.objects.defer("ciphertext")
    if server_id is None:
        return credentials.filter(server__user=user)
    if not Server.objects.filter(user=user, id=server_id).exists():
        raise NotFound("Server not found")
    return credentials.filter(server_id=server_id)
