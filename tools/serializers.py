from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Tool
from .services import NAME_RULE, TOOL_NAME


class ToolUpdateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(
        required=False, allow_null=True, help_text="null resets it to the generated value, true."
    )
    name = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=64,
        help_text="^[A-Za-z0-9_-]{1,64}$, unique within the server; null resets it.",
    )
    description = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=10_000,
        help_text="null resets it to the generated description.",
    )

    def validate_enabled(self, value: bool | None) -> bool:
        return True if value is None else value

    def validate_name(self, value: str | None) -> str | None:
        if value is not None and not TOOL_NAME.match(value):
            raise serializers.ValidationError(NAME_RULE)
        return value


class OverriddenSerializer(serializers.Serializer):
    name = serializers.BooleanField()
    description = serializers.BooleanField()


class ToolSerializer(serializers.ModelSerializer):
    description = serializers.CharField(read_only=True)
    operationId = serializers.SerializerMethodField()
    method = serializers.CharField(source="operation.method", read_only=True)
    path = serializers.CharField(source="operation.path", read_only=True)
    inputSchema = serializers.JSONField(source="operation.input_schema", read_only=True)
    outputSchema = serializers.JSONField(
        source="operation.output_schema", read_only=True, allow_null=True
    )
    annotations = serializers.JSONField(source="operation.annotations", read_only=True)
    overridden = serializers.SerializerMethodField()

    class Meta:
        model = Tool
        fields = [
            "id",
            "name",
            "description",
            "enabled",
            "operationId",
            "method",
            "path",
            "inputSchema",
            "outputSchema",
            "annotations",
            "overridden",
        ]

    def get_operationId(self, tool: Tool) -> str | None:
        return tool.operation.operation_id or None

    @extend_schema_field(OverriddenSerializer)
    def get_overridden(self, tool: Tool) -> dict[str, bool]:
        return {
            "name": tool.custom_name is not None,
            "description": tool.custom_description is not None,
        }
