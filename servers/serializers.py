from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import BlankAsNull
from core.schema import HTTP_URL_PATTERN

from .models import AccessKey, Server
from .services import SLUG_PATTERN

SLUG_HELP = "Lowercase letters, digits and hyphens, at most 64; part of the MCP URL."


def _slug_field() -> serializers.RegexField:
    return serializers.RegexField(
        SLUG_PATTERN.pattern,  # as text, so the schema states it
        required=False,
        max_length=64,
        help_text=SLUG_HELP,
        error_messages={"invalid": SLUG_HELP},
    )


BASE_URL_HELP = (
    "An absolute http(s) URL with a host, a port (if any) from 1 to 65535, and no whitespace "
    "or control characters."
)


@extend_schema_field({"type": "string", "maxLength": 2000, "pattern": HTTP_URL_PATTERN})
class BaseUrlField(serializers.CharField):
    """Kept exactly as sent (never trimmed): the service refuses whitespace, not hides it."""


def _base_url_field(**kwargs: Any) -> BaseUrlField:
    return BaseUrlField(required=False, max_length=2000, trim_whitespace=False, **kwargs)


class ServerCreateSerializer(serializers.Serializer):
    specId = serializers.UUIDField()
    name = serializers.CharField(max_length=200)
    slug = _slug_field()
    description = serializers.CharField(required=False, allow_blank=True)
    baseUrl = _base_url_field(help_text=f"{BASE_URL_HELP} Defaults to the spec's first server URL.")
    operations = serializers.ListField(
        child=serializers.CharField(max_length=2100),
        required=False,
        allow_empty=False,
        max_length=100_000,
        help_text="Only these become enabled tools: operationIds, 'METHOD /path' or 'tag:NAME'.",
    )


class ServerUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    slug = _slug_field()
    description = serializers.CharField(required=False, allow_blank=True)
    baseUrl = _base_url_field(help_text=BASE_URL_HELP)
    status = serializers.ChoiceField(choices=Server.STATUSES, required=False)
    visibility = serializers.ChoiceField(choices=Server.VISIBILITIES, required=False)
    tracePropagation = serializers.BooleanField(
        required=False,
        help_text="With tracing on, send each upstream request's span as a `traceparent` header.",
    )


class ServerSerializer(serializers.ModelSerializer):
    specId = serializers.UUIDField(source="spec_id", read_only=True)
    description = BlankAsNull()
    baseUrl = serializers.CharField(source="base_url", read_only=True)
    tracePropagation = serializers.BooleanField(source="trace_propagation", read_only=True)
    mcpUrl = serializers.SerializerMethodField()
    toolCount = serializers.IntegerField(source="tool_count", read_only=True)
    enabledToolCount = serializers.IntegerField(source="enabled_tool_count", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Server
        fields = [
            "id",
            "specId",
            "name",
            "slug",
            "description",
            "baseUrl",
            "status",
            "visibility",
            "tracePropagation",
            "mcpUrl",
            "toolCount",
            "enabledToolCount",
            "createdAt",
            "updatedAt",
        ]

    def get_mcpUrl(self, server: Server) -> str:
        return f"{settings.PUBLIC_BASE_URL}/mcp/{server.slug}"


class AccessKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class AccessKeySerializer(serializers.ModelSerializer):
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True, allow_null=True)

    class Meta:
        model = AccessKey
        fields = ["id", "name", "prefix", "createdAt", "lastUsedAt"]


class AccessKeyCreatedSerializer(AccessKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(AccessKeySerializer.Meta):
        fields = [*AccessKeySerializer.Meta.fields, "key"]
