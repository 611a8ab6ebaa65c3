"""Who is signed in to the authorization pages: a short Django session, nothing more.

The session holds the user's id and when they signed in, under its own key: it is not a
Django login, so it never opens the admin. Signing in verifies a token once, exactly as the
REST API does (a Clerk or local-issuer session token, or a personal `sgp_` token).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest

from accounts.jwt_verification import verify_session_token
from accounts.models import User
from accounts.services import (
    API_TOKEN_PREFIX,
    api_token_authenticate,
    user_get_or_create_from_claims,
)
from core.errors import ApiError

SESSION_USER = "authz_user"
SESSION_AT = "authz_signed_in_at"


class SignInFailed(Exception):
    pass


def user_for_token(token: str) -> User:
    """The user a pasted or returned token names, verified; SignInFailed otherwise."""
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
            user = user_get_or_create_from_claims(claims=verify_session_token(token))
        except ApiError as exc:  # refused, or the identity provider is briefly out
            raise SignInFailed(f"That token was refused: {exc.message}") from None
    if not user.is_active:
        raise SignInFailed("This account is deactivated.")
    return user


def sign_in(request: HttpRequest, user: User) -> None:
    request.session.cycle_key()  # no session fixation: a new id once someone signs in
    request.session[SESSION_USER] = str(user.pk)
    request.session[SESSION_AT] = time.time()
    request.session.set_expiry(settings.OAUTH_SIGN_IN_SECONDS)


def signed_in_user(request: HttpRequest) -> User | None:
    user_id = request.session.get(SESSION_USER)
    signed_in_at = request.session.get(SESSION_AT, 0.0)
    if not user_id or time.time() - float(signed_in_at) > settings.OAUTH_SIGN_IN_SECONDS:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()
