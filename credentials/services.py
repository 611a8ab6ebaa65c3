"""Writes for upstream credentials: create (bound to a security scheme), replace the secret,
re-encrypt under the newest key, and delete."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.timezone import now

from accounts.models import User
from core.errors import Conflict, NotFound, ValidationFailed
from core.invalidation import server_changed
from servers.models import Server

from . import crypto
from .models import Credential
from .types import CredentialType, PublicSettings, SchemeBinding, registry


@dataclass(frozen=True)
class Placement:
    """Where a credential of a spec without security schemes goes."""

    location: str
    param_name: str


def credential_create(
    *,
    user: User,
    server_id: Any,
    type: str,
    secret: dict[str, str],
    name: str = "",
    scheme: str | None = None,
    placement: Placement | None = None,
    token_url: str | None = None,
    scopes: list[str] | None = None,
    authorization_url: str | None = None,
    revocation_url: str | None = None,
) -> Credential:
    kind = registry.get(type)
    server = Server.objects.select_related("spec").filter(user=user, id=server_id).first()
    if server is None:
        raise NotFound("Server not found")
    schemes: dict[str, dict[str, Any]] = server.spec.security_schemes or {}
    scheme_name = _resolve_scheme(schemes, scheme)
    definition = schemes.get(scheme_name, {})
    if scheme_name:
        _check_fit(scheme_name, definition, kind)
        if placement is not None:
            raise ValidationFailed(
                "Invalid request",
                details={"in": ["Only for servers whose spec declares no security scheme."]},
            )
    settings = kind.settings_for(
        SchemeBinding(name=scheme_name, definition=definition, base_url=server.base_url),
        PublicSettings(
            location=placement.location if placement else "",
            param_name=placement.param_name if placement else "",
            token_url=token_url or "",
            scopes=tuple(scopes or ()),
            authorization_url=authorization_url or "",
            revocation_url=revocation_url or "",
        ),
    )
    key_id, ciphertext = crypto.encrypt(json.dumps(secret).encode())
    try:
        with transaction.atomic():
            credential = Credential.objects.create(
                server=server,
                name=name or scheme_name or kind.label,
                scheme=scheme_name,
                type=kind.type,
                location=settings.location,
                param_name=settings.param_name,
                token_url=settings.token_url,
                scopes=list(settings.scopes),
                authorization_url=settings.authorization_url,
                revocation_url=settings.revocation_url,
                key_id=key_id,
                ciphertext=ciphertext,
            )
    except IntegrityError:
        what = f"scheme '{scheme_name}'" if scheme_name else "this server's upstream"
        raise Conflict(f"A credential for {what} already exists; delete it first.") from None
    _changed(server)
    return credential


def credential_delete(*, user: User, credential_id: Any) -> None:
    credential = (
        Credential.objects.select_related("server")
        .filter(server__user=user, id=credential_id)
        .first()
    )
    if credential is None:
        raise NotFound("Credential not found")
    credential.delete()
    _changed(credential.server)


SECRET_MAX_LENGTH = 8192


def credential_check_secret(*, kind: CredentialType, secret: dict[str, str]) -> None:
    """Raise ValidationFailed unless SECRET holds every secret field KIND takes, as the API
    checks it on create (present, non-empty unless it may be blank, not too long)."""
    errors: dict[str, list[str]] = {}
    for field in kind.secret_fields:
        value = secret.get(field.name)
        if value is None or (not value and not field.allow_blank):
            errors[field.name] = [f"Required for type {kind.type}."]
        elif len(value) > SECRET_MAX_LENGTH:
            errors[field.name] = [f"At most {SECRET_MAX_LENGTH} characters."]
    errors.update(kind.validate(secret))
    if errors:
        raise ValidationFailed("Invalid request", details=errors)


def credential_replace_secret(*, credential: Credential, secret: dict[str, str]) -> Credential:
    """Seal a new secret for CREDENTIAL under the newest key; the next calls use it.

    Its version moves on, so values derived from the old secret (OAuth2 tokens) are dropped.
    """
    kind = registry.get(credential.type)
    credential_check_secret(kind=kind, secret=secret)
    values = {field.name: secret[field.name] for field in kind.secret_fields}
    key_id, ciphertext = crypto.encrypt(json.dumps(values).encode())
    with transaction.atomic():
        Credential.objects.filter(pk=credential.pk).update(
            key_id=key_id, ciphertext=ciphertext, version=F("version") + 1, updated_at=now()
        )
        credential.refresh_from_db()
    _changed(credential.server)
    return credential


@dataclass(frozen=True)
class Reencrypted:
    rotated: int
    current: int
    failed: list[str]


def credentials_reencrypt(*, credentials: Iterable[Credential]) -> Reencrypted:
    """Seal each credential's secret under the newest key (the plaintext stays the same)."""
    newest = crypto.keyring().newest_id
    rotated = current = 0
    failed: list[str] = []
    for credential in credentials:
        with transaction.atomic():
            row = Credential.objects.select_for_update().filter(pk=credential.pk).first()
            if row is None:
                continue
            if row.key_id == newest:
                current += 1
                continue
            try:
                row.key_id, row.ciphertext = crypto.reencrypt(row.key_id, row.ciphertext)
            except crypto.DecryptionFailed as exc:
                failed.append(f"{credential}: {exc}")
                continue
            row.save(update_fields=["key_id", "ciphertext", "updated_at"])
        rotated += 1
    return Reencrypted(rotated=rotated, current=current, failed=failed)


def _changed(server: Server) -> None:
    server_changed(server.slug, str(server.id))


def _resolve_scheme(schemes: dict[str, dict[str, Any]], requested: str | None) -> str:
    names = sorted(schemes)
    if requested:
        if requested not in schemes:
            known = ", ".join(names) if names else "none"
            raise ValidationFailed(
                "Unknown security scheme",
                details={"scheme": [f"'{requested}' is not one of the spec's schemes: {known}."]},
            )
        return requested
    if len(names) > 1:
        raise ValidationFailed(
            "Which security scheme?",
            details={"scheme": [f"Required: the spec declares several: {', '.join(names)}."]},
        )
    return names[0] if names else ""


def _check_fit(scheme_name: str, definition: dict[str, Any], kind: CredentialType) -> None:
    if kind.serves(definition):
        return
    fitting = registry.fitting(definition)
    described = " ".join(
        str(part) for part in (definition.get("type"), definition.get("scheme")) if part
    )
    expected = (
        f"takes a credential of type {' or '.join(fitting)}"
        if fitting
        else "is not supported by Specgate"
    )
    raise ValidationFailed(
        "Credential type does not fit the scheme",
        details={"type": [f"Scheme '{scheme_name}' ({described}) {expected}."]},
    )
