"""Serializer fields shared by every app."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class BlankAsNull(serializers.CharField):
    """An optional text column, shown as null when it holds nothing: no field is ever ""."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: str) -> str | None:  # type: ignore[override]
        return value or None
