"""Reads of upstream credentials (metadata only; secrets are decrypted in injection.py alone)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from core.errors import NotFound
from servers.models import Server

from .models import Credential


def credential_list(*, user: User, server_id: Any) -> QuerySet[Credential]:
    if not Server.objects.filter(user=user, id=server_id).exists():
        raise NotFound("Server not found")
    return Credential.objects.filter(server_id=server_id).defer("ciphertext")
