"""An API key, sent in the header, query parameter or cookie its security scheme names.

For a spec that declares no security scheme the credential says where it goes itself
(`in` and `paramName`, stored as `location` and `param_name`); with a scheme, the scheme
decides and those fields are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from core.errors import ValidationFailed
from tools.calling import AuthParts, CallContext, OutgoingRequest

from . import base

LOCATIONS = ("header", "query", "cookie")


@base.register
class ApiKey(base.CredentialType):
    type = "apiKey"
    label = "API key"
    secret_fields = (base.SecretField("value", describes="API key"),)
    public_fields = (
        base.PublicFields(
            {
                "in": lambda: serializers.ChoiceField(
                    choices=list(LOCATIONS), required=False, help_text="Only without a scheme."
                ),
                "paramName": lambda: serializers.CharField(max_length=200, required=False),
            }
        ),
    )

    def serves(self, definition: Mapping[str, Any]) -> bool:
        return definition.get("type") == "apiKey"

    def request_shapes(self) -> list[base.RequestShape]:
        (named,) = super().request_shapes()
        placement = {
            "in": {"type": "string", "enum": list(LOCATIONS)},
            "paramName": base.text_schema(200, "The header, query parameter or cookie name."),
        }
        # With a scheme the spec says where the key goes; without one the request says it.
        unnamed = base.RequestShape(
            {**named.properties, **placement}, required=tuple(placement), with_scheme=False
        )
        return [named, unnamed]

    def settings_for(
        self, binding: base.SchemeBinding, given: base.PublicSettings
    ) -> base.PublicSettings:
        if not binding.name and not given.location:
            raise ValidationFailed(
                "Invalid request",
                details={
                    "in": [
                        "Required: the spec declares no security scheme, so say where the key goes."
                    ]
                },
            )
        return given

    async def apply(
        self, request: OutgoingRequest, credential: base.Secret, context: CallContext
    ) -> AuthParts:
        location = credential.definition.get("in") or credential.location
        name = credential.definition.get("name") or credential.param_name
        pair = ((name, credential.values["value"]),)
        return AuthParts(
            headers=pair if location == "header" else (),
            query=pair if location == "query" else (),
            cookies=pair if location == "cookie" else (),
            secrets=credential.secrets,
        )
