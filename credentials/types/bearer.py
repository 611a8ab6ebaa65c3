"""A static bearer token in the Authorization header.

It serves HTTP bearer schemes, and OAuth2 and OpenID Connect schemes too: a token obtained
elsewhere is a fair way to satisfy them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.calling import AuthParts, CallContext, OutgoingRequest

from .base import CredentialType, Secret, SecretField, register


@register
class Bearer(CredentialType):
    type = "bearer"
    label = "Bearer token"
    secret_fields = (SecretField("value", describes="bearer token"),)

    def serves(self, definition: Mapping[str, Any]) -> bool:
        kind = definition.get("type")
        if kind == "http":
            return definition.get("scheme") == "bearer"
        return kind in ("oauth2", "openIdConnect")

    async def apply(
        self, request: OutgoingRequest, credential: Secret, context: CallContext
    ) -> AuthParts:
        header = ("Authorization", f"Bearer {credential.values['value']}")
        return AuthParts(headers=(header,), secrets=credential.secrets)
