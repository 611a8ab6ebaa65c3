"""django-oauth-toolkit's request validator with Specgate's policy on top.

The library's defaults are not ours: it matches resources by URL prefix and lets a token
without a resource through. Here every code exchange and refresh must name exactly one
`resource`, equal to the one the grant was made for (the mcpUrl of a server the user may
use), and each binds the request to an `Authorization`, whose id the access token carries.
A replayed refresh token revokes its family (the library) and the grant (here), so the
access tokens already out stop working on the gateway within seconds; so does a replayed
authorization code (RFC 6749 §4.1.2). Codes are stored as their SHA-256 only, like the tokens.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.db.models import F
from oauth2_provider.models import Grant, RefreshToken
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors

from core.scopes import strongest_scope
from servers.selectors import server_for_mcp_url, user_may_use

from . import tokens
from .models import Authorization
from .services import (
    authorization_grant,
    authorization_revoke_for_token,
    authorizations_revoke,
    code_hash,
    code_mark_used,
    code_replayed,
)


def _invalid_target(request: Any, description: str) -> errors.CustomOAuth2Error:
    return errors.CustomOAuth2Error(
        error="invalid_target", description=description, request=request
    )


def requested_resources(request: Any) -> list[str]:
    """Every `resource` parameter of a token request (oauthlib keeps only the last one)."""
    body = getattr(request, "decoded_body", None) or []
    return [value for key, value in body if key == "resource"]


ORG_CLAIM = "specgate_org"
"""Where a code (django-oauth-toolkit's `Grant.claims`) keeps the organisation its user was
signed in with; whatever `claims` a client sent is replaced, never trusted."""


class SpecgateValidator(OAuth2Validator):
    def _create_authorization_code(self, request: Any, code: Any, expires: Any = None) -> Any:
        """Store only the code's hash: the client alone ever holds the code itself."""
        stored = {**code, "code": code_hash(code["code"])}
        return super()._create_authorization_code(request, stored, expires)

    def save_authorization_code(
        self, client_id: str, code: Any, request: Any, *args: Any, **kwargs: Any
    ) -> None:
        request.claims = {ORG_CLAIM: getattr(request.user, "specgate_org", "")}
        super().save_authorization_code(client_id, code, request, *args, **kwargs)

    def validate_code(
        self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        # oauthlib hands the validator `request.code` from here on (PKCE, the redirect URI,
        # invalidation), and django-oauth-toolkit looks codes up by it: make it the stored hash.
        request.code = code_hash(code)
        if not super().validate_code(client_id, request.code, client, request, *args, **kwargs):
            code_replayed(code_hash=request.code, application=client)
            return False
        grant = Grant.objects.get(code=request.code, application=client)
        request.specgate_code_expires = grant.expires
        resource = self._exact_resource(request, list(grant.resource or []))
        server = server_for_mcp_url(url=resource)
        claims = request.claims if isinstance(getattr(request, "claims", None), dict) else {}
        org_id = str(claims.get(ORG_CLAIM) or "")
        if server is None or not user_may_use(user=request.user, server=server, org_id=org_id):
            raise _invalid_target(request, "The resource is not a server you may use.")
        # Granted when the token is minted (`access_token_generator`), once PKCE and the
        # redirect URI checked out too.
        request.specgate_grant = {
            "user": request.user,
            "application": client,
            "server": server,
            "scope": strongest_scope(request.scopes),
            "org_id": org_id,
        }
        return True

    def invalidate_authorization_code(
        self, client_id: str, code: str, request: Any, *args: Any, **kwargs: Any
    ) -> None:
        """Keep the exchanged code's hash, tied to the grant its tokens were issued under, until
        it would have expired; the library deletes the code itself."""
        if not code_mark_used(
            code_hash=code,
            application=request.client,
            authorization=request.specgate_authorization,
            expires=request.specgate_code_expires,
        ):
            raise errors.InvalidGrantError(request=request)
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)

    def validate_refresh_token(
        self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any
    ) -> bool:
        checksum = hashlib.sha256(refresh_token.encode()).hexdigest()
        presented = (
            RefreshToken.objects.filter(token_checksum=checksum, application=client)
            .order_by(F("revoked").desc(nulls_first=True))
            .first()
        )
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        if not valid:
            if presented is not None and presented.revoked is not None:
                # A rotated-out (or revoked) token came back: whoever holds the family is not
                # to be trusted, so the grant goes too, not only the refresh tokens.
                authorization_revoke_for_token(
                    user_id=presented.user_id,
                    application_id=presented.application_id,
                    resource=list(presented.resource or []),
                )
            return False
        assert presented is not None
        resource = self._exact_resource(request, list(presented.resource or []))
        authorization = (
            Authorization.objects.select_related("server", "user")
            .filter(
                user_id=presented.user_id,
                application=client,
                resource=resource,
                revoked_at__isnull=True,
            )
            .first()
        )
        if authorization is None or not user_may_use(
            user=authorization.user, server=authorization.server, org_id=authorization.org_id
        ):
            return False
        request.specgate_grant = {
            "user": authorization.user,
            "application": client,
            "server": authorization.server,
            "scope": authorization.scope,
            "org_id": authorization.org_id,
        }
        return True

    def _exact_resource(self, request: Any, granted: list[str]) -> str:
        asked = requested_resources(request)
        if not asked:
            raise _invalid_target(request, "The resource parameter is required.")
        if len(granted) != 1 or asked != granted:
            raise _invalid_target(request, "The resource is not the one this grant was made for.")
        return granted[0]

    def revoke_token(
        self, token: str, token_type_hint: str | None, request: Any, *args: Any, **kwargs: Any
    ) -> None:
        """RFC 7009: revoking any token of a grant revokes the grant (§2.1 allows it), so the
        client's access tokens stop working on the gateway too, not only at refresh."""
        grant_id = tokens.grant_id_of(token)
        found: list[Authorization] = []
        if grant_id is not None:
            found = list(
                Authorization.objects.select_related("server").filter(
                    pk=grant_id, application=request.client, revoked_at__isnull=True
                )
            )
        else:
            checksum = hashlib.sha256(token.encode()).hexdigest()
            refresh = RefreshToken.objects.filter(
                token_checksum=checksum, application=request.client, revoked__isnull=True
            ).first()
            if refresh is not None:
                authorization_revoke_for_token(
                    user_id=refresh.user_id,
                    application_id=refresh.application_id,
                    resource=list(refresh.resource or []),
                )
        super().revoke_token(token, token_type_hint, request, *args, **kwargs)
        authorizations_revoke(authorizations=found)


def access_token_generator(request: Any, refresh_token: bool = False) -> str:
    """django-oauth-toolkit's ACCESS_TOKEN_GENERATOR: grants what the validator bound to
    REQUEST and mints the access token naming that grant."""
    authorization = authorization_grant(**request.specgate_grant)
    request.specgate_authorization = authorization
    return tokens.mint(
        grant_id=str(authorization.pk),
        user_id=str(authorization.user_id),
        resource=authorization.resource,
        scope=authorization.scope,
        client_id=request.client.client_id,
        lifetime=settings.OAUTH_ACCESS_TOKEN_SECONDS,
        email=request.specgate_grant["user"].email,
    )
