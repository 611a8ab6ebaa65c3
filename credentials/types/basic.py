"""HTTP basic authentication: a username (may be empty) and a password."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from tools.calling import AuthParts, CallContext, OutgoingRequest

from .base import SECRET_SCHEMA, CredentialType, RequestShape, Secret, SecretField, register


@register
class Basic(CredentialType):
    type = "basic"
    label = "HTTP basic"
    secret_fields = (SecretField("username", allow_blank=True), SecretField("password"))

    def serves(self, definition: Mapping[str, Any]) -> bool:
        return definition.get("type") == "http" and definition.get("scheme") == "basic"

    def request_shapes(self) -> list[RequestShape]:
        username = {"type": "string", "maxLength": 8192, "writeOnly": True}
        return [
            RequestShape(
                {"username": username | {"pattern": r"^[^\x00:]*$"}, "password": SECRET_SCHEMA}
            )
        ]

    def validate(self, attrs: Mapping[str, Any]) -> dict[str, list[str]]:
        if ":" in attrs.get("username", ""):
            return {"username": ["Must not contain ':' (HTTP basic authentication)."]}
        return {}

    def secret_values(self, values: Mapping[str, str]) -> tuple[str, ...]:
        # The joined pair is what goes out (base64-encoded); an echo may quote it decoded.
        joined = f"{values['username']}:{values['password']}"
        return (*super().secret_values(values), joined)

    async def apply(
        self, request: OutgoingRequest, credential: Secret, context: CallContext
    ) -> AuthParts:
        user_pass = f"{credential.values['username']}:{credential.values['password']}".encode()
        header = ("Authorization", f"Basic {base64.b64encode(user_pass).decode('ascii')}")
        return AuthParts(headers=(header,), secrets=credential.secrets)
