from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import BlankAsNull
from core.text import NO_NUL_PATTERN

from .connections import TYPE as AUTHORIZATION_CODE
from .connections import connection_status, provider_name, redirect_uri
from .models import Connection, Credential
from .types import registry
from .types.base import CredentialType, RequestShape, text_schema

SECRET_MAX_LENGTH = 8192


class CredentialCreateSerializer(serializers.Serializer):
    # The fields from `type` on are built from the registered credential types.
    serverId = serializers.UUIDField()
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    scheme = serializers.CharField(max_length=200, required=False, allow_null=True)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["type"] = serializers.ChoiceField(choices=registry.names())
        fields.update(_secret_fields())
        for group, _ in registry.public_fields():
            for name, make in group.fields.items():
                fields.setdefault(name, make())
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        kind = registry.get(attrs["type"])
        errors: dict[str, list[str]] = {}
        for secret in kind.secret_fields:
            # A secret that may be blank must still be given; the others must have content.
            missing = secret.name not in attrs if secret.allow_blank else not attrs.get(secret.name)
            if missing:
                errors[secret.name] = [f"Required for type {kind.type}."]
        errors.update(kind.validate(attrs))
        for group, owners in registry.public_fields():
            given = [name for name in group.names if name in attrs]
            if not given:
                continue
            if len(given) < len(group.names):
                together = " and ".join(f"'{name}'" for name in group.names)
                for name in group.names:
                    if name not in attrs:
                        errors[name] = [f"{together} go together."]
            elif kind.type not in owners:
                errors[group.names[0]] = [f"Only for type {' or '.join(owners)}."]
        if errors:
            raise serializers.ValidationError(errors)
        attrs["secret"] = {secret.name: attrs[secret.name] for secret in kind.secret_fields}
        return attrs


def _secret_fields() -> dict[str, serializers.Field]:
    """One write-only field per secret field name of any type; shared names are merged."""
    described: dict[str, list[str]] = {}
    allow_blank: dict[str, bool] = {}
    for kind in registry.all():
        for secret in kind.secret_fields:
            described.setdefault(secret.name, [])
            if secret.describes:
                described[secret.name].append(secret.describes)
            allow_blank[secret.name] = allow_blank.get(secret.name, False) or secret.allow_blank
    fields: dict[str, serializers.Field] = {}
    for name, what in described.items():
        fields[name] = serializers.CharField(
            required=False,
            max_length=SECRET_MAX_LENGTH,
            trim_whitespace=False,
            write_only=True,
            allow_blank=allow_blank[name],
            help_text=f"The {' or '.join(what)}." if what else None,
        )
    return fields


class CredentialSerializer(serializers.ModelSerializer):
    serverId = serializers.UUIDField(source="server_id", read_only=True)
    name = BlankAsNull(help_text="null when none was given.")
    scheme = BlankAsNull(help_text="The spec's security scheme; null when it declares none.")
    in_ = BlankAsNull(source="location", help_text="Only for a spec without security schemes.")
    paramName = BlankAsNull(source="param_name")
    tokenUrl = BlankAsNull(source="token_url")
    authorizationUrl = BlankAsNull(
        source="authorization_url", help_text="oauth2AuthorizationCode only."
    )
    revocationUrl = BlankAsNull(source="revocation_url", help_text="oauth2AuthorizationCode only.")
    redirectUri = serializers.SerializerMethodField(
        help_text="oauth2AuthorizationCode only: the callback to register with the provider."
    )
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
            "authorizationUrl",
            "revocationUrl",
            "redirectUri",
            "scopes",
            "createdAt",
            "lastUsedAt",
        ]

    @extend_schema_field({"type": "string", "format": "uri", "nullable": True})
    def get_redirectUri(self, credential: Credential) -> str | None:
        return redirect_uri() if credential.type == AUTHORIZATION_CODE else None

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["in"] = fields.pop("in_")
        return fields


def _variant(kind: CredentialType, shape: RequestShape) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "serverId": {"type": "string", "format": "uuid"},
        "type": {"type": "string", "enum": [kind.type]},
        "name": {"type": "string", "maxLength": 100, "pattern": NO_NUL_PATTERN},
        **shape.properties,
    }
    if shape.with_scheme:
        properties["scheme"] = {
            **text_schema(
                200,
                "A securitySchemes name of the server's spec; may be left out when the "
                "spec declares exactly one.",
            ),
            "nullable": True,
        }
    secrets = [secret.name for secret in kind.secret_fields]
    return {
        "type": "object",
        "title": kind.type,
        "properties": properties,
        "required": ["serverId", "type", *secrets, *shape.required],
        "additionalProperties": False,
    }


def credential_create_schema() -> dict[str, Any]:
    """The body of POST /api/credentials as a schema can say it: the registered types' shapes."""
    return {
        "required": ["serverId", "type"],
        "oneOf": [
            _variant(kind, shape) for kind in registry.all() for shape in kind.request_shapes()
        ],
        "description": (
            "One shape per `type`. `scheme` must name one of the server's spec's "
            "securitySchemes (and is required when it declares several); for a spec that "
            "declares none, an apiKey says where it goes with `in` and `paramName` instead. "
            "One credential per (server, scheme): a second one is 409."
        ),
    }


class CredentialCreateSchema(OpenApiSerializerExtension):
    """Documents CredentialCreateSerializer as the registered types' shapes, when asked."""

    target_class = CredentialCreateSerializer

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return credential_create_schema()


class ConnectionLinkRequestSerializer(serializers.Serializer):
    scheme = serializers.CharField(
        max_length=200,
        required=False,
        help_text="The security scheme; may be left out when the server links one kind of account.",
    )


class ConnectionLinkSerializer(serializers.Serializer):
    url = serializers.URLField(
        help_text="Specgate's connect page: open it in a browser signed in as yourself."
    )


class ConnectionSerializer(serializers.ModelSerializer):
    """A person's linked upstream account: never a token."""

    serverId = serializers.UUIDField(source="server_id", read_only=True)
    serverName = serializers.CharField(source="server.name", read_only=True)
    scheme = BlankAsNull(help_text="The spec's security scheme; null when it declares none.")
    provider = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(
        help_text="connected; needsReconnect: the provider refused the link's refresh token; "
        "needsConsent: the server now asks for scopes not granted. Both: link again."
    )
    scopes = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="The scopes consented to."
    )
    expiresAt = serializers.DateTimeField(
        source="access_expires_at",
        read_only=True,
        allow_null=True,
        help_text="When the current access token expires (it is refreshed before).",
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Connection
        fields = [
            "id",
            "serverId",
            "serverName",
            "scheme",
            "provider",
            "status",
            "scopes",
            "expiresAt",
            "createdAt",
        ]

    def _credential(self, connection: Connection) -> Credential | None:
        credentials: dict[tuple[str, str], Credential] = self.context.get("credentials", {})
        return credentials.get((str(connection.server_id), connection.scheme))

    @extend_schema_field({"type": "string", "nullable": True})
    def get_provider(self, connection: Connection) -> str | None:
        credential = self._credential(connection)
        return provider_name(credential.authorization_url) if credential else None

    @extend_schema_field(
        {"type": "string", "enum": ["connected", "needsReconnect", "needsConsent"]}
    )
    def get_status(self, connection: Connection) -> str:
        credential = self._credential(connection)
        return connection_status(connection, credential.scopes if credential else ())
