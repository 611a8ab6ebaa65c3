"""Writes for users and personal API tokens."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import NotFound
from core.secrets import display_prefix, hash_secret, new_secret

from .models import ApiToken, User

API_TOKEN_PREFIX = "sgp_"
LAST_USED_GRANULARITY = timedelta(minutes=1)


def user_get_or_create_from_claims(*, claims: dict[str, Any]) -> User:
    sub = str(claims["sub"])
    user = User.objects.filter(clerk_id=sub).first()
    if user is not None:
        return user
    try:
        with transaction.atomic():
            return User.objects.create_user(clerk_id=sub, email=str(claims.get("email") or ""))
    except IntegrityError:
        # Two first requests of a new user raced; the other one created it.
        return User.objects.get(clerk_id=sub)


def api_token_create(
    *, user: User, name: str, expires_at: datetime | None, not_after: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new personal token; `not_after` (the minting token's expiry) caps its lifetime."""
    if not_after is not None and (expires_at is None or expires_at > not_after):
        expires_at = not_after
    secret = new_secret(API_TOKEN_PREFIX)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=display_prefix(secret),
        token_hash=hash_secret(secret),
        expires_at=expires_at,
    )
    return token, secret


def api_token_delete(*, user: User, token_id: Any) -> None:
    deleted, _ = ApiToken.objects.filter(user=user, id=token_id, revoked_at__isnull=True).delete()
    if not deleted:
        raise NotFound("Token not found")


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    token = ApiToken.objects.select_related("user").filter(token_hash=hash_secret(secret)).first()
    if token is None or not token.is_usable:
        return None
    now = timezone.now()
    # Record use at minute granularity: one write a minute per token, not one per request.
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_tokens_revoke(*, tokens: Iterable[ApiToken]) -> int:
    """Revoke every token given that is not revoked yet; the count revoked. Revoking is final."""
    now = timezone.now()
    ids = [token.pk for token in tokens if token.revoked_at is None]
    return ApiToken.objects.filter(pk__in=ids, revoked_at__isnull=True).update(
        revoked_at=now, updated_at=now
    )
