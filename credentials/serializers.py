from __future__ import annotations

from typing import Any

from rest_framework import serializers

from .models import Credential
from .types import registry

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


class BlankAsNull(serializers.CharField):
    """An optional text column shown as null when empty."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, allow_null=True, **kwargs)

    def to_representation(self, value: str) -> str | None:  # type: ignore[override]
        return value or None


class CredentialSerializer(serializers.ModelSerializer):
    serverId = serializers.UUIDField(source="server_id", read_only=True)
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
