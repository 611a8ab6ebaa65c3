"""What every app's admin shares: the admin writes through the services, and shows their
refusals on the form instead of failing the request."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms

from core.errors import ApiError


def check_with_service(
    form: forms.BaseForm, check: Callable[[], Any], fields: Mapping[str, str] | None = None
) -> None:
    """Run a service's CHECK; its refusal becomes form errors (API field names → form fields)."""
    try:
        check()
    except ApiError as error:
        fields = fields or {}
        placed = False
        for name, messages in error.details.items():
            field = fields.get(name, name)
            if field in form.fields and isinstance(messages, list):
                form.add_error(field, [str(message) for message in messages])
                placed = True
        if not placed:
            form.add_error(None, error.message)
