from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from oauth2_provider.models import Application
from rest_framework import serializers

from core.scopes import SCOPES, implied_scopes
from servers.serializers import allowlist_field, scopes_field

from .models import Authorization


class GrantSerializer(serializers.ModelSerializer):
    """An MCP client a user authorized to a server through OAuth."""

    serverId = serializers.UUIDField(source="server_id", read_only=True)
    serverName = serializers.CharField(source="server.name", read_only=True)
    mcpUrl = serializers.CharField(source="resource", read_only=True)
    clientId = serializers.CharField(source="application.client_id", read_only=True)
    clientName = serializers.CharField(source="application.name", read_only=True)
    clientVerified = serializers.SerializerMethodField(
        help_text="True when the client is described by a metadata document on its https URL; "
        "false for a self-registered client, whose name is whatever it called itself."
    )
    userEmail = serializers.EmailField(source="user.email", read_only=True)
    scopes = serializers.SerializerMethodField()
    tools = serializers.SerializerMethodField(
        help_text=(
            "The tools the grant is limited to, by their current names (a renamed tool keeps "
            "its place; a deleted one leaves); null: every enabled tool its scopes allow."
        )
    )
    keyPrefix = serializers.SerializerMethodField(
        help_text="How request logs name calls made under this grant (their keyPrefix)."
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True, allow_null=True)

    class Meta:
        model = Authorization
        fields = [
            "id",
            "serverId",
            "serverName",
            "mcpUrl",
            "clientId",
            "clientName",
            "clientVerified",
            "userEmail",
            "scopes",
            "tools",
            "keyPrefix",
            "createdAt",
            "lastUsedAt",
        ]

    def get_clientVerified(self, grant: Authorization) -> bool:
        return grant.application.registration_source == Application.RegistrationSource.CIMD

    @extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(SCOPES)}})
    def get_scopes(self, grant: Authorization) -> list[str]:
        return implied_scopes(grant.scope)

    @extend_schema_field({"type": "array", "items": {"type": "string"}, "nullable": True})
    def get_tools(self, grant: Authorization) -> list[str] | None:
        if not grant.restricts_tools:
            return None
        return sorted(tool.name for tool in grant.tools.all())

    def get_keyPrefix(self, grant: Authorization) -> str:
        return f"oauth:{str(grant.pk)[:8]}"


class GrantUpdateSerializer(serializers.Serializer):
    scopes = scopes_field(
        "Replaces the grant's scopes; only narrower (or the same): more needs the user's "
        "consent, so the client authorizes again."
    )
    tools = allowlist_field(
        "Replaces the grant's allowlist (tool names of the server); null removes it."
    )
