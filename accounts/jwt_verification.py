"""Verification of RS256 session tokens: Clerk (JWKS or PEM) and the local issuer.

JWKS outages: keys are cached for CLERK_JWKS_CACHE_SECONDS; when a refresh
fails, the last good key set keeps being used for up to
CLERK_JWKS_MAX_STALE_SECONDS more, so a short Clerk outage does not log every
user out. With no usable key the request gets 503 (auth_unavailable), never a
401 that would tell the client its token is bad.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import jwt
from django.conf import settings

from core.errors import AuthFailed, ServiceUnavailable

from . import local_issuer

logger = logging.getLogger(__name__)

ALGORITHMS = ["RS256"]
UNKNOWN_KID_COOLDOWN_SECONDS = 5.0
# Without usable keys every request retries the fetch, so a client may come back soon.
JWKS_RETRY_AFTER_SECONDS = 5
ORG_ID = re.compile(r"^org_[A-Za-z0-9]{1,64}$")
"""A Clerk organisation id, as an audience entry names one."""


def active_org(claims: dict[str, Any]) -> str:
    """The active organisation's id of a Clerk session token (v2: `o.id`), or ""."""
    org = claims.get("o")
    org_id = org.get("id") if isinstance(org, dict) else None
    return org_id if isinstance(org_id, str) and ORG_ID.match(org_id) else ""


class JwksUnavailable(Exception):
    pass


def _fetch_jwks(url: str) -> dict[str, Any]:
    """Fetch and parse a key set: {kid: key}."""
    from core import outbound

    try:
        response = outbound.request(
            "GET",
            url,
            headers={"Accept": "application/json"},
            options=outbound.OutboundOptions(
                connect_timeout=3.0,
                total_timeout=5.0,
                max_response_bytes=512 * 1024,
                allow_private=True,  # operator-configured, not user input
                max_redirects=2,
                user_agent="Specgate-JWKS/1.0",
            ),
            on_too_large="error",
        )
    except outbound.OutboundError as exc:
        raise JwksUnavailable(str(exc)) from exc
    if response.status_code != 200:
        raise JwksUnavailable(f"JWKS endpoint answered {response.status_code}")
    try:
        keyset = jwt.PyJWKSet.from_json(response.content.decode())
    except (jwt.PyJWKSetError, UnicodeDecodeError, ValueError) as exc:
        raise JwksUnavailable(f"JWKS endpoint returned an unusable key set: {exc}") from exc
    return {key.key_id: key.key for key in keyset.keys if key.key_id}


class JwksCache:
    """Per-process cache of one JWKS URL's keys, with stale-on-error and kid refetch."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._last_kid_refetch = -UNKNOWN_KID_COOLDOWN_SECONDS

    def _refresh(self) -> None:
        self._keys = _fetch_jwks(self.url)
        self._fetched_at = time.monotonic()

    def key_for(self, kid: str | None) -> Any:
        with self._lock:
            now = time.monotonic()
            age = now - self._fetched_at
            fresh = bool(self._keys) and age < settings.CLERK_JWKS_CACHE_SECONDS
            known = kid in self._keys
            # An unknown kid (a rotation) refetches at most once per cooldown, so a flood of
            # tokens with made-up kids cannot turn into a flood of requests to the issuer.
            refetch_for_kid = (
                fresh and not known and now - self._last_kid_refetch >= UNKNOWN_KID_COOLDOWN_SECONDS
            )
            if refetch_for_kid:
                self._last_kid_refetch = now
            if not fresh or refetch_for_kid:
                try:
                    self._refresh()
                except JwksUnavailable as exc:
                    usable = bool(self._keys) and age < (
                        settings.CLERK_JWKS_CACHE_SECONDS + settings.CLERK_JWKS_MAX_STALE_SECONDS
                    )
                    logger.warning("JWKS refresh failed (%s); serving cached keys: %s", exc, usable)
                    if not usable:
                        raise ServiceUnavailable(
                            "Authentication is temporarily unavailable",
                            reason="auth_unavailable",
                            retry_after=JWKS_RETRY_AFTER_SECONDS,
                        ) from exc
            if kid not in self._keys:
                raise AuthFailed("Token signed with an unknown key")
            return self._keys[kid]


_jwks_caches: dict[str, JwksCache] = {}
_jwks_lock = threading.Lock()


def _jwks_cache(url: str) -> JwksCache:
    with _jwks_lock:
        if url not in _jwks_caches:
            _jwks_caches[url] = JwksCache(url)
        return _jwks_caches[url]


def reset_caches() -> None:
    with _jwks_lock:
        _jwks_caches.clear()


def _decode(token: str, key: Any, issuer: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            issuer=issuer,
            leeway=settings.CLERK_JWT_LEEWAY_SECONDS,
            options={"require": ["exp", "nbf", "iat", "sub", "iss"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise AuthFailed("Token has expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthFailed("Token is not valid yet") from None
    except jwt.InvalidIssuerError:
        raise AuthFailed("Token has the wrong issuer") from None
    except jwt.InvalidTokenError:
        raise AuthFailed("Invalid token") from None
    return claims


def verify_session_token(token: str) -> dict[str, Any]:
    """Return the verified claims of an RS256 session token, or raise AuthFailed."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise AuthFailed("Invalid token") from None
    if header.get("alg") not in ALGORITHMS:
        raise AuthFailed("Token algorithm not allowed")
    issuer = unverified.get("iss")

    if settings.LOCAL_ISSUER_ENABLED and issuer == local_issuer.issuer():
        public, kid = local_issuer.public_key()
        if header.get("kid") not in (None, kid):
            raise AuthFailed("Token signed with an unknown key")
        return _decode(token, public, local_issuer.issuer())

    if not (settings.CLERK_JWKS_URL or settings.CLERK_JWT_KEY):
        raise AuthFailed("Invalid token")
    if settings.CLERK_JWT_KEY:
        key: Any = settings.CLERK_JWT_KEY
    else:
        key = _jwks_cache(settings.CLERK_JWKS_URL).key_for(header.get("kid"))
    claims = _decode(token, key, settings.CLERK_ISSUER)
    azp = claims.get("azp")
    if settings.CLERK_AUTHORIZED_PARTIES and azp and azp not in settings.CLERK_AUTHORIZED_PARTIES:
        raise AuthFailed("Token issued for another party")
    return claims
