"""Writes of MCP authorization: granting, narrowing and revoking, exchanged codes, and
forgetting unused clients."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from accounts.models import User
from core.errors import ValidationFailed
from core.invalidation import server_changed
from core.scopes import SCOPES
from servers.models import Server
from servers.selectors import server_mcp_url, user_may_use
from servers.services import UNCHANGED, scope_of, tools_named

from .client_metadata import ClientMetadata, ClientMetadataError
from .models import Authorization, UsedCode


def authorization_grant(
    *, user: User, application: Application, server: Server, scope: str, org_id: str = ""
) -> Authorization:
    """The live authorization of APPLICATION to SERVER for USER, made or updated to SCOPE,
    marked used now (a token is about to be issued under it). A tool allowlist set on it
    stays: the consent page says so."""
    now = timezone.now()
    with transaction.atomic():
        authorization = (
            Authorization.objects.select_for_update()
            .filter(user=user, application=application, server=server, revoked_at__isnull=True)
            .first()
        )
        if authorization is None:
            return Authorization.objects.create(
                user=user,
                application=application,
                server=server,
                scope=scope,
                resource=server_mcp_url(slug=server.slug),
                last_used_at=now,
                org_id=org_id,
            )
        rescoped = authorization.scope != scope
        authorization.scope = scope
        authorization.last_used_at = now
        authorization.org_id = org_id
        authorization.save(update_fields=["scope", "last_used_at", "org_id", "updated_at"])
        if rescoped:  # gateway snapshots hold each grant's scope
            server_changed(server.slug, str(server.pk))
        return authorization


def authorization_update(
    *,
    authorization: Authorization,
    scopes: Iterable[str] | None = None,
    tools: Iterable[str] | None = UNCHANGED,
) -> Authorization:
    """Change what a grant may do, keeping its tokens: SCOPES replace its scope, which may only
    narrow (more needs the user's consent: the client authorizes again); TOOLS replace its
    allowlist (tool names of its server; None: every enabled tool, as consented). Every gateway
    worker applies it within the invalidation channel's few seconds, to tokens already out."""
    fields = []
    if scopes is not None:
        scope = scope_of(scopes)
        if SCOPES.index(scope) > SCOPES.index(authorization.scope):
            raise ValidationFailed(
                "A grant's scope can only be narrowed",
                details={
                    "scopes": [
                        f"This grant has {authorization.scope}; for more, authorize the "
                        "client again."
                    ]
                },
            )
        authorization.scope = scope
        fields.append("scope")
    server = authorization.server
    allowed = None
    if tools is not UNCHANGED:
        allowed = tools_named(server=server, names=tools) if tools is not None else None
        authorization.restricts_tools = allowed is not None
        fields.append("restricts_tools")
    with transaction.atomic():
        authorization.save(update_fields=[*fields, "updated_at"])
        if tools is not UNCHANGED:
            authorization.tools.set(allowed or [])
        server_changed(server.slug, str(server.pk))
    return authorization


def authorization_revoke(*, authorization: Authorization) -> None:
    """Revoke AUTHORIZATION and every token issued under it; every gateway worker refuses its
    access tokens within the invalidation channel's few seconds."""
    authorizations_revoke(authorizations=[authorization])


def authorizations_revoke(*, authorizations: list[Authorization]) -> int:
    now = timezone.now()
    revoked = 0
    with transaction.atomic():
        for authorization in authorizations:
            if authorization.revoked_at is not None:
                continue
            Authorization.objects.filter(pk=authorization.pk).update(revoked_at=now)
            authorization.revoked_at = now
            _revoke_tokens(authorization)
            server = authorization.server
            server_changed(server.slug, str(server.pk))
            revoked += 1
    return revoked


def _revoke_tokens(authorization: Authorization) -> None:
    resource = [authorization.resource]
    live = RefreshToken.objects.filter(
        user_id=authorization.user_id,
        application_id=authorization.application_id,
        revoked__isnull=True,
    )
    for refresh in live:
        if refresh.resource == resource:
            refresh.revoke()
    for access in AccessToken.objects.filter(
        user_id=authorization.user_id, application_id=authorization.application_id
    ):
        if access.resource == resource:
            access.delete()


def organisation_left(*, user: User, org_id: str) -> int:
    """USER is no longer a member of the Clerk organisation ORG_ID: the grants it admitted them
    to stop now rather than at their next sign-in. A grant they may still hold otherwise (their
    own server, or named in the audience by email or domain) stays, no longer counting on the
    organisation. The count revoked."""
    grants = list(
        Authorization.objects.select_related("server").filter(
            user=user, org_id=org_id, revoked_at__isnull=True
        )
    )
    ended = [grant for grant in grants if not user_may_use(user=user, server=grant.server)]
    kept = [grant.pk for grant in grants if grant not in ended]
    Authorization.objects.filter(pk__in=kept).update(org_id="", updated_at=timezone.now())
    return authorizations_revoke(authorizations=ended)


def authorization_revoke_for_token(
    *, user_id: Any, application_id: Any, resource: list[str]
) -> None:
    """Revoke the live authorization a refresh token was issued under (reuse detected, or the
    client revoked it)."""
    if len(resource) != 1:
        return
    found = list(
        Authorization.objects.select_related("server").filter(
            user_id=user_id,
            application_id=application_id,
            resource=resource[0],
            revoked_at__isnull=True,
        )
    )
    authorizations_revoke(authorizations=found)


def code_hash(code: str) -> str:
    """How an authorization code is stored: its SHA-256, in hex."""
    return hashlib.sha256(code.encode()).hexdigest()


def code_mark_used(
    *,
    code_hash: str,
    application: Application,
    authorization: Authorization,
    expires: datetime,
) -> bool:
    """Remember that the code with CODE_HASH was exchanged for tokens under AUTHORIZATION. False
    when it already was (two exchanges at once): the grant is revoked then, as on a replay."""
    used, created = UsedCode.objects.get_or_create(
        code_hash=code_hash,
        defaults={"application": application, "authorization": authorization, "expires": expires},
    )
    if not created:
        found = {authorization.pk: authorization}
        if used.authorization is not None:
            found.setdefault(used.authorization.pk, used.authorization)
        authorizations_revoke(authorizations=list(found.values()))
    return created


def code_replayed(*, code_hash: str, application: Application) -> None:
    """A code of APPLICATION's came back after it was exchanged: the grant its tokens were issued
    under is revoked, so they stop working (RFC 6749 §4.1.2; the caller refuses the code)."""
    used = (
        UsedCode.objects.select_related("authorization__server")
        .filter(code_hash=code_hash, application=application, authorization__isnull=False)
        .first()
    )
    if used is not None and used.authorization is not None:
        authorizations_revoke(authorizations=[used.authorization])


def used_codes_forget() -> int:
    """Forget exchanged codes past their expiry: no replay of them can be valid anyway."""
    deleted, _ = UsedCode.objects.filter(expires__lt=timezone.now()).delete()
    return deleted


def client_from_metadata(*, metadata: ClientMetadata) -> Application:
    """The client a Client ID Metadata Document describes, made or brought up to date (the
    document is fetched and cached by `client_metadata`; its client_id is its URL)."""
    fields = {
        "name": metadata.client_name,
        "redirect_uris": " ".join(metadata.redirect_uris),
        "client_type": Application.CLIENT_PUBLIC,
        "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
        "registration_source": Application.RegistrationSource.CIMD,
        "user": None,
    }
    if len(metadata.client_id) > Application._meta.get_field("client_id").max_length:
        raise ClientMetadataError("The client_id URL is too long for this server.")
    application = Application.objects.filter(client_id=metadata.client_id).first()
    if application is None:
        application, _ = Application.objects.get_or_create(
            client_id=metadata.client_id, defaults=fields
        )
    if application.registration_source != Application.RegistrationSource.CIMD:
        raise ClientMetadataError("That client_id belongs to another kind of client.")
    changed = [name for name, value in fields.items() if getattr(application, name) != value]
    if changed:
        for name in changed:
            setattr(application, name, fields[name])
        application.save(update_fields=[*changed, "updated"])
    return application


def unused_clients_delete() -> int:
    """Delete dynamically registered clients that never got a token within
    OAUTH_UNUSED_CLIENT_HOURS of registering (registration is open to anyone)."""
    cutoff = timezone.now() - timedelta(hours=settings.OAUTH_UNUSED_CLIENT_HOURS)
    unused = Application.objects.filter(
        registration_source=Application.RegistrationSource.DCR,
        created__lt=cutoff,
        authorizations__isnull=True,
    ).exclude(pk__in=Grant.objects.values("application_id"))
    _, deleted = unused.delete()  # their registration access tokens go with them
    return deleted.get(Application._meta.label, 0)
