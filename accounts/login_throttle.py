"""The admin login refuses to check more passwords after repeated failures.

Failures are counted per (client address, username) in the shared cache, in a window that
starts at the first failure and lasts ADMIN_LOGIN_LOCKOUT_SECONDS. Once the count reaches
ADMIN_LOGIN_MAX_FAILURES, every attempt for that pair is refused, without the password being
checked, until the window ends; a successful login clears the count.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.cache import cache
from django.http import HttpRequest


def _keys(request: HttpRequest | None, username: str) -> tuple[str, str]:
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    pair = f"{address}\n{username.strip().lower()}".encode()
    digest = hashlib.sha256(pair).hexdigest()[:32]
    return f"admin-login:failures:{digest}", f"admin-login:since:{digest}"


def seconds_locked(request: HttpRequest | None, username: str) -> int:
    """How long this pair must still wait (0: it may try)."""
    count_key, since_key = _keys(request, username)
    found = cache.get_many([count_key, since_key])
    if found.get(count_key, 0) < settings.ADMIN_LOGIN_MAX_FAILURES:
        return 0
    since = float(found.get(since_key, time.time()))
    return max(1, math.ceil(since + settings.ADMIN_LOGIN_LOCKOUT_SECONDS - time.time()))


def note_failure(request: HttpRequest | None, username: str) -> None:
    count_key, since_key = _keys(request, username)
    window = settings.ADMIN_LOGIN_LOCKOUT_SECONDS
    cache.add(since_key, time.time(), timeout=window)
    cache.add(count_key, 0, timeout=window)
    try:
        cache.incr(count_key)
    except ValueError:  # the window ended between the two calls: start a new one
        cache.set(count_key, 1, timeout=window)


def clear(request: HttpRequest | None, username: str) -> None:
    cache.delete_many(list(_keys(request, username)))


def _in_words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """Django's admin login form, counting failures and refusing once there were too many.

    Operators sign in with their email address (accounts.backends.OperatorEmailBackend).
    """

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the correct email address and password for an operator "
        "account. Both fields may be case-sensitive.",
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["username"]
        assert isinstance(field, forms.CharField)
        field.label = "Email address"
        field.max_length = 254
        field.widget.attrs.update({"maxlength": 254, "autocomplete": "email"})

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        wait = seconds_locked(self.request, username)
        if wait:
            raise forms.ValidationError(
                f"Too many failed login attempts. Try again in {_in_words(wait)}.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            note_failure(self.request, username)
            raise
        clear(self.request, username)
        return cleaned
