"""OAuth2 authorization code: each caller acts as their own upstream account.

The credential is the server's OAuth client at the provider (client id and secret, the
authorization and token endpoints, the scopes, optionally a revocation endpoint); the
endpoints and scopes default to the spec's authorizationCode flow. The tokens belong to each
person who calls the server's tools, linked once through Specgate's connect page and kept as
their `Connection`: `apply` asks credentials.connections for the caller's access token (cached
per process, refreshed before expiry and on a 401), and refuses a call made for nobody (a
public server) or for someone who has not linked their account, with the link to do it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urljoin, urlsplit

from rest_framework import serializers

from core.errors import ValidationFailed
from credentials.connections import access_token
from tools.calling import AuthParts, CallContext, OutgoingRequest

from . import base

URL_SCHEMA = {
    "type": "string",
    "maxLength": 2000,
    "pattern": r"^https?://[^\s/?#@]+([/?#][!-~]*)?$",
}


def _url_field() -> serializers.Field:
    return serializers.URLField(max_length=2000, required=False)


def _absolute(field: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValidationFailed(
            "Invalid request", details={field: ["Must be an absolute http(s) URL."]}
        )


@base.register
class OAuth2AuthorizationCode(base.CredentialType):
    type = "oauth2AuthorizationCode"
    label = "OAuth2 authorization code (each caller's own account)"
    secret_fields = (base.SecretField("clientId"), base.SecretField("clientSecret"))
    public_fields = (
        base.PublicFields({"tokenUrl": _url_field}),
        base.PublicFields(
            {
                "scopes": lambda: serializers.ListField(
                    child=serializers.CharField(max_length=200), required=False, max_length=100
                )
            }
        ),
        base.PublicFields({"authorizationUrl": _url_field}),
        base.PublicFields({"revocationUrl": _url_field}),
    )

    def request_shapes(self) -> list[base.RequestShape]:
        (shape,) = super().request_shapes()
        default = "defaults to the one of the spec's authorizationCode flow, and is required "
        default += "when the spec names none."
        return [
            base.RequestShape(
                {
                    **shape.properties,
                    "authorizationUrl": URL_SCHEMA
                    | {"description": f"Where people link their account; {default}"},
                    "tokenUrl": URL_SCHEMA | {"description": f"The token endpoint; {default}"},
                    "scopes": {
                        "type": "array",
                        "maxItems": 100,
                        "items": base.text_schema(200),
                        "description": "What each person is asked to consent to; defaults to "
                        "the scopes of the spec's authorizationCode flow.",
                    },
                    "revocationUrl": URL_SCHEMA
                    | {"description": "RFC 7009 endpoint: unlinking revokes there too."},
                }
            )
        ]

    def serves(self, definition: Mapping[str, Any]) -> bool:
        flows = definition.get("flows") or {}
        return definition.get("type") == "oauth2" and "authorizationCode" in flows

    def settings_for(
        self, binding: base.SchemeBinding, given: base.PublicSettings
    ) -> base.PublicSettings:
        flow = (binding.definition.get("flows") or {}).get("authorizationCode") or {}
        base_url = binding.base_url.rstrip("/") + "/"
        # Relative URLs in a spec are relative to the API's base URL.
        urls = {
            "authorizationUrl": given.authorization_url
            or urljoin(base_url, flow.get("authorizationUrl") or ""),
            "tokenUrl": given.token_url or urljoin(base_url, flow.get("tokenUrl") or ""),
        }
        for field, url in urls.items():
            if url == base_url:  # neither given nor in the spec
                raise ValidationFailed(
                    "Invalid request",
                    details={field: ["Required: the spec's scheme names none."]},
                )
            _absolute(field, url)
        if given.revocation_url:
            _absolute("revocationUrl", given.revocation_url)
        scopes = given.scopes or tuple(flow.get("scopes") or ())
        return replace(
            given,
            authorization_url=urls["authorizationUrl"],
            token_url=urls["tokenUrl"],
            scopes=scopes,
        )

    async def apply(
        self, request: OutgoingRequest, credential: base.Secret, context: CallContext
    ) -> AuthParts:
        token = await access_token(credential, context)
        return AuthParts(
            headers=(("Authorization", f"Bearer {token}"),),
            secrets=(*credential.secrets, token),
            refreshable=True,
        )
