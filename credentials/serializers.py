from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.fields import BlankAsNull

from .models import Credential

# The secret fields each type needs; they are encrypted together and never serialised back.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "apiKey": ("value",),
    "bearer": ("value",),
    "basic": ("username", "password"),
    "oauth2ClientCredentials": ("clientId", "clientSecret"),
}


def _secret_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        required=False, max_length=8192, trim_whitespace=False, write_only=True, **kwargs
    )


class CredentialCreateSerializer(serializers.Serializer):
    serverId = serializers.UUIDField()
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    scheme = serializers.CharField(max_length=200, required=False, allow_null=True)
    type = serializers.ChoiceField(choices=[key for key, _ in Credential.TYPES])
    value = _secret_field(help_text="The API key or bearer token.")
    username = _secret_field(allow_blank=True)
    password = _secret_field()
    clientId = _secret_field()
    clientSecret = _secret_field()
    tokenUrl = serializers.URLField(max_length=2000, required=False)
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=100
    )
    # `in` is a Python keyword, hence the declared name.
    in_ = serializers.ChoiceField(
        choices=["header", "query", "cookie"], required=False, help_text="Only without a scheme."
    )
    paramName = serializers.CharField(max_length=200, required=False)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["in"] = fields.pop("in_")
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        kind = attrs["type"]
        for name in SECRET_FIELDS[kind]:
            # An empty username is legal in HTTP basic; the other secrets must have content.
            missing = name not in attrs if name == "username" else not attrs.get(name)
            if missing:
                errors[name] = [f"Required for type {kind}."]
        if kind == "basic" and ":" in attrs.get("username", ""):
            errors["username"] = ["Must not contain ':' (HTTP basic authentication)."]
        for name in ("tokenUrl", "scopes"):
            if name in attrs and kind != "oauth2ClientCredentials":
                errors[name] = ["Only for type oauth2ClientCredentials."]
        if ("in" in attrs) != ("paramName" in attrs):
            absent = "in" if "in" not in attrs else "paramName"
            errors[absent] = ["'in' and 'paramName' go together."]
        elif "in" in attrs and kind != "apiKey":
            errors["in"] = ["Only for type apiKey."]
        if errors:
            raise serializers.ValidationError(errors)
        attrs["secret"] = {name: attrs[name] for name in SECRET_FIELDS[kind]}
        return attrs


class CredentialSerializer(serializers.ModelSerializer):
    serverId = serializers.UUIDField(source="server_id", read_only=True)
    name = BlankAsNull(help_text="null when none was given.")
    scheme = BlankAsNull(help_text="The spec's security scheme; null when it declares none.")
    in_ = BlankAsNull(source="location", help_text="Only for a spec without security schemes.")
    paramName = BlankAsNull(source="param_name")
    tokenUrl = BlankAsNull(source="token_url")
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True, allow_null=True)

    class Meta:
        model = Credential
        fields = [
            "id",
            "serverId",
            "name",
            "scheme",
            "type",
            "in_",
            "paramName",
            "tokenUrl",
            "scopes",
            "createdAt",
            "lastUsedAt",
        ]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["in"] = fields.pop("in_")
        return fields
