from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import BlankAsNull

from .models import Spec, SpecOperation

SOURCE_FIELDS = ("content", "document", "url")


@extend_schema_field({"type": "object", "additionalProperties": True})
class DocumentField(serializers.JSONField):
    pass


class _SpecInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    content = serializers.CharField(
        required=False,
        trim_whitespace=False,
        help_text="The document as JSON or YAML text: an OpenAPI 3.x or Swagger 2.0 document "
        "with at least one operation (else 400 with a list of problems).",
    )
    # Any JSON value: the engine, not the serializer, says what a valid document is.
    document = DocumentField(
        required=False,
        help_text="The document as a JSON object. It must be an OpenAPI 3.x or Swagger 2.0 "
        "document with at least one operation (else 400 with a list of problems).",
    )

    def _check_sources(self, attrs: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
        given = [name for name in allowed if attrs.get(name) is not None]
        if len(given) > 1:
            raise serializers.ValidationError(
                {name: [f"Give only one of {', '.join(allowed)}."] for name in given}
            )
        return attrs


class SpecCreateSerializer(_SpecInputSerializer):
    schema_extra: ClassVar[dict[str, Any]] = {
        "oneOf": [{"required": [name]} for name in SOURCE_FIELDS],
        "description": "Exactly one of content, document or url.",
    }
    url = serializers.URLField(
        required=False,
        max_length=2000,
        help_text="An http(s) URL the document is fetched from.",
    )

    def validate_url(self, value: str) -> str:
        if not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Only http and https URLs are allowed.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = self._check_sources(attrs, SOURCE_FIELDS)
        if not any(attrs.get(name) is not None for name in SOURCE_FIELDS):
            raise serializers.ValidationError(
                {"body": ["One of content, document or url is required."]}
            )
        return attrs


class SpecUpdateSerializer(_SpecInputSerializer):
    schema_extra: ClassVar[dict[str, Any]] = {
        "not": {"required": ["content", "document"]},
        "description": "At most one of content or document (a new revision).",
    }
    name = serializers.CharField(max_length=200, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return self._check_sources(attrs, ("content", "document"))


class SpecOperationSerializer(serializers.ModelSerializer):
    operationId = serializers.SerializerMethodField()
    summary = BlankAsNull()

    class Meta:
        model = SpecOperation
        fields = ["operationId", "method", "path", "summary"]

    def get_operationId(self, operation: SpecOperation) -> str | None:
        return operation.operation_id or None


class SpecListItemSerializer(serializers.ModelSerializer):
    description = BlankAsNull()
    title = BlankAsNull(help_text="info.title; null when the document has none.")
    version = BlankAsNull(help_text="info.version; null when the document has none.")
    operationCount = serializers.IntegerField(source="operation_count", read_only=True)
    sourceUrl = BlankAsNull(source="source_url", help_text="null unless imported from a URL.")
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Spec
        fields = [
            "id",
            "name",
            "description",
            "title",
            "version",
            "format",
            "operationCount",
            "revision",
            "sha256",
            "sourceUrl",
            "createdAt",
            "updatedAt",
        ]


class SpecWarningSerializer(serializers.Serializer):
    pointer = serializers.CharField()
    message = serializers.CharField()


class SpecSerializer(SpecListItemSerializer):
    servers = serializers.ListField(child=serializers.CharField(), read_only=True)
    securitySchemes = serializers.DictField(source="security_schemes", read_only=True)
    warnings = SpecWarningSerializer(many=True, read_only=True)
    operations = serializers.SerializerMethodField()

    class Meta(SpecListItemSerializer.Meta):
        fields = [
            *SpecListItemSerializer.Meta.fields,
            "servers",
            "securitySchemes",
            "warnings",
            "operations",
        ]

    @extend_schema_field(SpecOperationSerializer(many=True))
    def get_operations(self, spec: Spec) -> list[dict[str, Any]]:
        # Only the listed columns: the stored schemas of a big spec weigh megabytes.
        rows = spec.operations.only("operation_id", "method", "path", "summary", "position")
        return list(SpecOperationSerializer(rows, many=True).data)


class SyncSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()


class SpecUpdatedSerializer(SpecSerializer):
    sync = SyncSerializer(read_only=True, help_text="Tools added/updated/removed over servers.")

    class Meta(SpecSerializer.Meta):
        fields = [*SpecSerializer.Meta.fields, "sync"]
