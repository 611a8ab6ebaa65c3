"""OAuth access tokens: short-lived signed JWTs the gateway verifies without a database read.

A token names one grant (`gid`, an `Authorization` id), the user (`sub`, and `email`, which
request logs show the server's owner), one scope and one audience: the exact `mcpUrl` of the
server it was issued for. It is signed (HS256) with a key derived from SECRET_KEY, so only
this deployment can mint one. Lifetime is OAUTH_ACCESS_TOKEN_SECONDS; revoking the grant
reaches every gateway worker through the server's snapshot (the ids of recently revoked
grants), within the invalidation channel's few seconds, long before the token would expire.

django-oauth-toolkit stores each token by its SHA-256 checksum only (hashed at rest), which
is what RFC 7009 revocation looks up.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

import jwt
from django.conf import settings

from core.scopes import SCOPES

ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"
"""RFC 9068's media type for JWT access tokens: a session token can never pass as one."""
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "gid", "scope"]


@lru_cache(maxsize=4)
def _derive(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"specgate oauth access token v1", hashlib.sha256).digest()


def signing_key() -> bytes:
    return _derive(settings.SECRET_KEY)


def issuer() -> str:
    """The authorization server's issuer identifier (RFC 8414), as its metadata publishes it."""
    return f"{settings.PUBLIC_BASE_URL}/"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    grant_id: str
    user_id: str
    scope: str
    client_id: str
    expires_at: float
    email: str = ""
    """The user's email when the token was minted, for the request log (tokens minted
    before it was carried have none)."""


def mint(
    *,
    grant_id: str,
    user_id: str,
    resource: str,
    scope: str,
    client_id: str,
    lifetime: int,
    email: str = "",
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer(),
        "aud": resource,
        "sub": user_id,
        "gid": grant_id,
        "scope": scope,
        "client_id": client_id,
        "email": email,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, signing_key(), algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE})


def verify(token: str, *, resource: str, issuer: str, key: bytes) -> AccessClaims | None:
    """The claims of TOKEN when it is ours, unexpired, and for exactly RESOURCE; else None."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("typ") != TOKEN_TYPE:
            return None
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=resource,
            issuer=issuer,
            options={"require": _REQUIRED},
        )
    except jwt.InvalidTokenError:
        return None
    # PyJWT accepts a list audience containing RESOURCE; ours carry exactly one string.
    if claims["aud"] != resource or claims["scope"] not in SCOPES:
        return None
    return AccessClaims(
        grant_id=str(claims["gid"]),
        user_id=str(claims["sub"]),
        scope=claims["scope"],
        client_id=str(claims.get("client_id", "")),
        expires_at=float(claims["exp"]),
        email=str(claims.get("email") or ""),
    )


def grant_id_of(token: str) -> str | None:
    """The grant a token of ours names, whatever its audience or expiry (for revocation)."""
    try:
        claims = jwt.decode(
            token,
            signing_key(),
            algorithms=[ALGORITHM],
            options={"verify_aud": False, "verify_exp": False, "require": ["gid"]},
        )
    except jwt.InvalidTokenError:
        return None
    return str(claims["gid"])
