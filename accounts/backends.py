"""Operators sign in to the admin with their email address and password.

Users who come from Clerk have no password (unusable), so only operator accounts can sign in
here; the Clerk user id is an identity, not something a person types.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from .models import User, staff_with_email


class OperatorEmailBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = username if username is not None else kwargs.get("email")
        if not email or password is None:
            return None
        candidates = list(staff_with_email(email)[:2])
        if len(candidates) != 1:
            # Run the hasher anyway, so an unknown address takes as long as a wrong password.
            User().set_password(password)
            return None
        user = candidates[0]
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
