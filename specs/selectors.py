"""Reads of a user's specs."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from core.errors import NotFound

from .models import Spec

# Large JSON/text columns a list never shows.
HEAVY_FIELDS = (
    "original_text", "document", "openapi30_document", "security_schemes", "security", "warnings",
)  # fmt: skip


def spec_list(*, user: User) -> QuerySet[Spec]:
    return Spec.objects.filter(user=user).defer(*HEAVY_FIELDS)


def spec_get(*, user: User, spec_id: Any, heavy: bool = False) -> Spec:
    """The user's spec; another user's spec is 404 like a missing one."""
    queryset = Spec.objects.filter(user=user, pk=spec_id)
    if not heavy:
        queryset = queryset.defer("original_text", "document", "openapi30_document")
    spec = queryset.first()
    if spec is None:
        raise NotFound("Spec not found")
    return spec
