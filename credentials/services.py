"""Writes for upstream credentials: create (bound to a security scheme) and delete."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.db import IntegrityError, transaction

from accounts.models import User
from core.errors import Conflict, NotFound, ValidationFailed
from core.invalidation import server_changed
from servers.models import Server

from . import crypto
from .models import Credential

# Which credential types fit which kind of security scheme.
BEARER_LIKE = frozenset({"bearer"})


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
) -> Credential:
    server = Server.objects.select_related("spec").filter(user=user, id=server_id).first()
    if server is None:
        raise NotFound("Server not found")
    schemes: dict[str, dict[str, Any]] = server.spec.security_schemes or {}
    scheme_name = _resolve_scheme(schemes, scheme)
    definition = schemes.get(scheme_name, {})
    if scheme_name:
        _check_fit(scheme_name, definition, type)
        if placement is not None:
            raise ValidationFailed(
                "Invalid request",
                details={"in": ["Only for servers whose spec declares no security scheme."]},
            )
    elif type == "apiKey" and placement is None:
        raise ValidationFailed(
            "Invalid request",
            details={
                "in": ["Required: the spec declares no security scheme, so say where the key goes."]
            },
        )
    if type == "oauth2ClientCredentials":
        token_url = _token_url(server.base_url, definition, token_url)
    key_id, ciphertext = crypto.encrypt(json.dumps(secret).encode())
    try:
        with transaction.atomic():
            credential = Credential.objects.create(
                server=server,
                name=name or scheme_name or dict(Credential.TYPES)[type],
                scheme=scheme_name,
                type=type,
                location=placement.location if placement else "",
                param_name=placement.param_name if placement else "",
                token_url=token_url or "",
                scopes=list(scopes or []),
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


def _fitting_types(definition: dict[str, Any]) -> frozenset[str]:
    kind = definition.get("type")
    if kind == "apiKey":
        return frozenset({"apiKey"})
    if kind == "http":
        return frozenset({definition.get("scheme", "")}) & frozenset({"bearer", "basic"})
    if kind == "oauth2":
        # A static token is also a fair way to satisfy an OAuth2 scheme.
        flows = definition.get("flows") or {}
        if "clientCredentials" in flows:
            return BEARER_LIKE | {"oauth2ClientCredentials"}
        return BEARER_LIKE
    if kind == "openIdConnect":
        return BEARER_LIKE
    return frozenset()


def _check_fit(scheme_name: str, definition: dict[str, Any], type: str) -> None:
    fitting = _fitting_types(definition)
    if type in fitting:
        return
    kind = " ".join(
        str(part) for part in (definition.get("type"), definition.get("scheme")) if part
    )
    expected = (
        f"takes a credential of type {' or '.join(sorted(fitting))}"
        if fitting
        else "is not supported by Specgate"
    )
    raise ValidationFailed(
        "Credential type does not fit the scheme",
        details={"type": [f"Scheme '{scheme_name}' ({kind}) {expected}."]},
    )


def _token_url(base_url: str, definition: dict[str, Any], given: str | None) -> str:
    flow = (definition.get("flows") or {}).get("clientCredentials") or {}
    # A relative tokenUrl in a spec is relative to the API's base URL.
    url = given or ""
    if not url and flow.get("tokenUrl"):
        url = urljoin(base_url.rstrip("/") + "/", flow["tokenUrl"])
    if not url:
        raise ValidationFailed(
            "Invalid request", details={"tokenUrl": ["Required: the spec names no token URL."]}
        )
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise ValidationFailed(
            "Invalid request", details={"tokenUrl": ["Must be an absolute http(s) URL."]}
        )
    return url
