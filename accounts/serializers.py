from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from rest_framework import serializers

from .models import ApiToken


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, trim_whitespace=True)
    expiresAt = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="In the future. Absent, null or past the expiry of the token making this "
        "request: capped to that expiry (a token cannot outlive the token that minted it).",
    )

    def validate_expiresAt(self, value: datetime | None) -> datetime | None:
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return value


class ApiTokenSerializer(serializers.ModelSerializer):
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    expiresAt = serializers.DateTimeField(source="expires_at", read_only=True, allow_null=True)
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True, allow_null=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "createdAt", "expiresAt", "lastUsedAt"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
