"""The one DRF authentication class: Clerk/local session tokens and personal API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from core.errors import AuthFailed

from .jwt_verification import active_org, verify_session_token
from .models import User
from .services import API_TOKEN_PREFIX, api_token_authenticate, user_get_or_create_from_claims


def user_of(request: Request | HttpRequest) -> User:
    """The authenticated user of a request that passed IsAuthenticated."""
    user = request.user
    if not isinstance(user, User):
        raise AuthFailed()
    return user


def bearer_token(request: Request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@dataclass(frozen=True)
class TokenAuth:
    """What `request.auth` holds: the token presented, when it stops being accepted and, for
    a Clerk session token, the id of the active organisation ("" otherwise)."""

    token: str
    expires_at: datetime | None
    org_id: str = ""


def token_expiry(request: Request) -> datetime | None:
    """When the token that authenticated REQUEST expires (None: it does not)."""
    auth = request.auth
    return auth.expires_at if isinstance(auth, TokenAuth) else None


def token_org(request: Request) -> str:
    """The active Clerk organisation of the session token that authenticated REQUEST, or ""."""
    auth = request.auth
    return auth.org_id if isinstance(auth, TokenAuth) else ""


class BearerAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, TokenAuth] | None:
        token = bearer_token(request)
        if token is None:
            if request.META.get("HTTP_AUTHORIZATION"):
                raise AuthFailed("Authorization header must be 'Bearer <token>'")
            return None
        if token.startswith(API_TOKEN_PREFIX):
            api_token = api_token_authenticate(secret=token)
            if api_token is None:
                raise AuthFailed("Invalid or expired API token")
            user, expires_at, org_id = api_token.user, api_token.expires_at, ""
        else:
            claims = verify_session_token(token)
            user = user_get_or_create_from_claims(claims=claims)
            expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
            org_id = active_org(claims)
        if not user.is_active:
            raise AuthFailed("User is deactivated")
        return user, TokenAuth(token=token, expires_at=expires_at, org_id=org_id)

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
