"""OAuth2 client credentials: a client id and secret exchanged for short-lived access tokens.

The token endpoint comes from the scheme's clientCredentials flow (relative to the API's
base URL) unless the credential names one. Fetching and caching the tokens is
credentials.injection's (`oauth_token`); a 401 from the upstream marks the parts refreshable,
and the retry asks for a new token.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from rest_framework import serializers

from core.errors import ValidationFailed
from credentials.injection import oauth_token
from tools.calling import AuthParts, CallContext, OutgoingRequest

from . import base


@base.register
class OAuth2ClientCredentials(base.CredentialType):
    type = "oauth2ClientCredentials"
    label = "OAuth2 client credentials"
    secret_fields = (base.SecretField("clientId"), base.SecretField("clientSecret"))
    public_fields = (
        base.PublicFields(
            {"tokenUrl": lambda: serializers.URLField(max_length=2000, required=False)}
        ),
        base.PublicFields(
            {
                "scopes": lambda: serializers.ListField(
                    child=serializers.CharField(max_length=200), required=False, max_length=100
                )
            }
        ),
    )

    def request_shapes(self) -> list[base.RequestShape]:
        (shape,) = super().request_shapes()
        token_url = {
            "type": "string",
            "maxLength": 2000,
            "pattern": r"^https?://[^\s/?#@]+([/?#][!-~]*)?$",
            "description": "An http(s) URL; defaults to the one of the spec's scheme, and is "
            "required when the spec names none.",
        }
        scopes = {"type": "array", "maxItems": 100, "items": base.text_schema(200)}
        return [base.RequestShape({**shape.properties, "tokenUrl": token_url, "scopes": scopes})]

    def serves(self, definition: Mapping[str, Any]) -> bool:
        flows = definition.get("flows") or {}
        return definition.get("type") == "oauth2" and "clientCredentials" in flows

    def settings_for(
        self, binding: base.SchemeBinding, given: base.PublicSettings
    ) -> base.PublicSettings:
        flow = (binding.definition.get("flows") or {}).get("clientCredentials") or {}
        # A relative tokenUrl in a spec is relative to the API's base URL.
        url = given.token_url
        if not url and flow.get("tokenUrl"):
            url = urljoin(binding.base_url.rstrip("/") + "/", flow["tokenUrl"])
        if not url:
            raise ValidationFailed(
                "Invalid request", details={"tokenUrl": ["Required: the spec names no token URL."]}
            )
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ValidationFailed(
                "Invalid request", details={"tokenUrl": ["Must be an absolute http(s) URL."]}
            )
        return replace(given, token_url=url)

    async def apply(
        self, request: OutgoingRequest, credential: base.Secret, context: CallContext
    ) -> AuthParts:
        token = await oauth_token(credential, refresh=context.refresh)
        return AuthParts(
            headers=(("Authorization", f"Bearer {token}"),),
            secrets=(*credential.secrets, token),
            refreshable=True,
        )
