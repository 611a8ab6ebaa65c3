"""Who is signed in to the authorization pages: a short Django session, nothing more.

The session holds the user's id, when they signed in and, from a Clerk session token, the id
of their active organisation (the `o.id` claim; a shared server's audience may name it), under
its own keys: it is not a Django login, so it never opens the admin. Signing in verifies a
token once, exactly as the REST API does (a Clerk or local-issuer session token, or a
personal `sgp_` token).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest

from accounts.jwt_verification import active_org, verify_session_token
from accounts.models import User
from accounts.services import (
    API_TOKEN_PREFIX,
    api_token_authenticate,
    user_get_or_create_from_claims,
)
from core.errors import ApiError

SESSION_USER = "authz_user"
SESSION_AT = "authz_signed_in_at"
SESSION_ORG = "authz_org"


class SignInFailed(Exception):
    pass


def user_for_token(token: str) -> tuple[User, str]:
    """The user a pasted or returned token names, verified, and the id of their active Clerk
    organisation ("" when none); SignInFailed otherwise."""
    org_id = ""
    token = token.strip()
    if not token:
        raise SignInFailed("Paste a token to sign in.")
    if token.startswith(API_TOKEN_PREFIX):
        api_token = api_token_authenticate(secret=token)
        if api_token is None:
            raise SignInFailed("That API token is invalid or expired.")
        user = api_token.user
    else:
        try:
            claims = verify_session_token(token)
            user = user_get_or_create_from_claims(claims=claims)
            org_id = active_org(claims)
        except ApiError as exc:  # refused, or the identity provider is briefly out
            raise SignInFailed(f"That token was refused: {exc.message}") from None
    if not user.is_active:
        raise SignInFailed("This account is deactivated.")
    return user, org_id


def sign_in(request: HttpRequest, user: User, org_id: str = "") -> None:
    request.session.cycle_key()  # no session fixation: a new id once someone signs in
    request.session[SESSION_USER] = str(user.pk)
    request.session[SESSION_AT] = time.time()
    request.session[SESSION_ORG] = org_id
    request.session.set_expiry(settings.OAUTH_SIGN_IN_SECONDS)


def signed_in_user(request: HttpRequest) -> User | None:
    user_id = request.session.get(SESSION_USER)
    signed_in_at = request.session.get(SESSION_AT, 0.0)
    if not user_id or time.time() - float(signed_in_at) > settings.OAUTH_SIGN_IN_SECONDS:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


def signed_in_org(request: HttpRequest) -> str:
    """The active Clerk organisation the signed-in user had when signing in, or ""."""
    return str(request.session.get(SESSION_ORG) or "")
