from __future__ import annotations

from typing import Any

from rest_framework import serializers

from core.fields import BlankAsNull
from core.schema import NO_NUL_PATTERN, NOT_BLANK_PATTERN

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


def _string(max_length: int, description: str = "", **extra: Any) -> dict[str, Any]:
    """A trimmed text field that must not be blank (secrets set their own pattern)."""
    schema = {"type": "string", "minLength": 1, "maxLength": max_length, **extra}
    schema.setdefault("pattern", NOT_BLANK_PATTERN)
    return schema | ({"description": description} if description else {})


def _variant(kind: str, secrets: dict[str, Any], *, with_scheme: bool = True, **extra: Any) -> dict:
    properties: dict[str, Any] = {
        "serverId": {"type": "string", "format": "uuid"},
        "type": {"type": "string", "enum": [kind]},
        "name": {"type": "string", "maxLength": 100, "pattern": NO_NUL_PATTERN},
        **secrets,
        **extra,
    }
    if with_scheme:
        properties["scheme"] = {
            **_string(
                200,
                "A securitySchemes name of the server's spec; may be left out when the "
                "spec declares exactly one.",
            ),
            "nullable": True,
        }
    required = ["serverId", "type", *secrets, *(name for name in extra if name in PLACEMENT)]
    return {
        "type": "object",
        "title": kind,
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


SECRET = _string(8192, writeOnly=True, pattern=NO_NUL_PATTERN)
PLACEMENT = {
    "in": {"type": "string", "enum": ["header", "query", "cookie"]},
    "paramName": _string(200, "The header, query parameter or cookie name."),
}
# The body of POST /api/credentials as a schema can say it: one shape per type, each secret
# field required, placement only for an apiKey of a spec without security schemes.
CREDENTIAL_CREATE_SCHEMA: dict[str, Any] = {
    "oneOf": [
        _variant("apiKey", {"value": SECRET}),
        _variant("apiKey", {"value": SECRET}, with_scheme=False, **PLACEMENT),
        _variant("bearer", {"value": SECRET}),
        _variant(
            "basic",
            {
                "username": {
                    "type": "string",
                    "maxLength": 8192,
                    "writeOnly": True,
                    "pattern": r"^[^\x00:]*$",
                },
                "password": SECRET,
            },
        ),
        _variant(
            "oauth2ClientCredentials",
            {"clientId": SECRET, "clientSecret": SECRET},
            tokenUrl={
                "type": "string",
                "maxLength": 2000,
                "pattern": r"^https?://[^\s/?#@]+([/?#][!-~]*)?$",
                "description": "An http(s) URL; defaults to the one of the spec's scheme, and is "
                "required when the spec names none.",
            },
            scopes={"type": "array", "maxItems": 100, "items": _string(200)},
        ),
    ],
    "description": (
        "One shape per `type`. `scheme` must name one of the server's spec's securitySchemes "
        "(and is required when it declares several); for a spec that declares none, an apiKey "
        "says where it goes with `in` and `paramName` instead. One credential per (server, "
        "scheme): a second one is 409."
    ),
}
