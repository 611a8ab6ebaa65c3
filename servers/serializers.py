from __future__ import annotations

from typing import Any, Literal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.fields import BlankAsNull
from core.schema import HTTP_URL_PATTERN
from core.scopes import SCOPES, implied_scopes

from .models import AccessKey, Server
from .selectors import ToolsListSize, server_mcp_url, tools_list_size
from .services import AUDIENCE_PATTERN, SLUG_PATTERN

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


TOOL_MODE_HELP = (
    '"all": tools/list lists every enabled tool. "dynamic": tools/list lists three meta-tools '
    "(search_tools, describe_tools, execute_tool) that find, describe and call the enabled "
    'tools; each tool can still be called by name. "auto": dynamic when the full tools/list '
    "would exceed the instance's token budget (TOOLS_DYNAMIC_TOKEN_BUDGET), else all."
)


def _tool_mode_field(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=Server.TOOL_MODES, help_text=TOOL_MODE_HELP, **kwargs)


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
    toolMode = _tool_mode_field(required=False, default="auto")


class ServerUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    slug = _slug_field()
    description = serializers.CharField(required=False, allow_blank=True)
    baseUrl = _base_url_field(help_text=BASE_URL_HELP)
    status = serializers.ChoiceField(choices=Server.STATUSES, required=False)
    visibility = serializers.ChoiceField(
        choices=Server.VISIBILITIES,
        required=False,
        help_text='"private": the owner only (access keys, OAuth); "shared": also the OAuth '
        'clients of users in `audience`; "public": anyone, no credential.',
    )
    audience = serializers.ListField(
        child=serializers.RegexField(AUDIENCE_PATTERN, max_length=254),
        required=False,
        max_length=1000,
        help_text="Who may authorize an OAuth client to a shared server besides its owner: "
        "email addresses, email domains (`@example.com`) and Clerk organisation ids "
        "(`org_…`: users signed in with that organisation active). Replaces the whole list.",
    )
    toolMode = _tool_mode_field(required=False)
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
    audience = serializers.ListField(child=serializers.CharField(), read_only=True)
    toolMode = _tool_mode_field(source="tool_mode", read_only=True)
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
            "audience",
            "toolMode",
            "tracePropagation",
            "mcpUrl",
            "toolCount",
            "enabledToolCount",
            "createdAt",
            "updatedAt",
        ]

    def get_mcpUrl(self, server: Server) -> str:
        return server_mcp_url(slug=server.slug)


class ServerDetailSerializer(ServerSerializer):
    """One server, with the size of its full tools/list (measured once per change)."""

    effectiveToolMode = serializers.SerializerMethodField(
        help_text='"all" or "dynamic": what toolMode means for this server now ("auto" resolved).'
    )
    toolsListBytes = serializers.SerializerMethodField(
        help_text="Bytes of the JSON of a tools/list holding every enabled tool's definition."
    )
    toolsListTokens = serializers.SerializerMethodField(
        help_text="Estimated tokens of that tools/list: its bytes divided by 4."
    )
    warnings = serializers.SerializerMethodField(
        help_text="Configuration that works but deserves a second look, one sentence each "
        "(e.g. a shared server calling its upstream with one static credential)."
    )

    class Meta(ServerSerializer.Meta):
        fields = [
            *ServerSerializer.Meta.fields,
            "effectiveToolMode",
            "toolsListBytes",
            "toolsListTokens",
            "warnings",
        ]

    def get_warnings(self, server: Server) -> list[str]:
        warnings = []
        if server.visibility == "shared" and server.credentials.exists():
            warnings.append(
                "This shared server holds an upstream credential: every caller in its audience "
                "calls the upstream as that one credential."
            )
        return warnings

    def get_effectiveToolMode(self, server: Server) -> Literal["all", "dynamic"]:
        return self._size(server).mode

    def get_toolsListBytes(self, server: Server) -> int:
        return self._size(server).bytes

    def get_toolsListTokens(self, server: Server) -> int:
        return self._size(server).tokens

    def _size(self, server: Server) -> ToolsListSize:
        # Three fields, one measurement per server.
        sizes: dict[Any, ToolsListSize] = self.__dict__.setdefault("_sizes", {})
        if server.pk not in sizes:
            sizes[server.pk] = tools_list_size(server=server)
        return sizes[server.pk]


SCOPES_HELP = (
    "What it may do: tools:read (list tools), tools:call:readonly (also call the tools "
    "whose readOnlyHint is true), tools:call (also call every other enabled tool). Each "
    "implies the ones before it."
)
MAX_ALLOWLIST = 10_000


@extend_schema_field({"type": "string", "enum": list(SCOPES)})
class ScopeField(serializers.CharField):
    """Any text: the service names every unknown scope in its 400."""


def scopes_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=ScopeField(max_length=100),
        required=False,
        allow_empty=False,
        min_length=1,
        max_length=len(SCOPES) * 4,
        help_text=f"{SCOPES_HELP} {help_text}",
    )


def allowlist_field(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        allow_null=True,
        allow_empty=False,
        min_length=1,
        max_length=MAX_ALLOWLIST,
        help_text=help_text,
    )


class AccessKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    scopes = scopes_field("Default: ['tools:call'].")
    tools = allowlist_field(
        "Only these tools of the server (by name) may be listed and called; null or absent: "
        "every enabled tool. A name that is no tool of the server is a 400."
    )


class AccessKeyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    scopes = scopes_field("Replaces the key's scopes.")
    tools = allowlist_field(
        "Replaces the key's allowlist (tool names of the server); null removes it."
    )


class AccessKeySerializer(serializers.ModelSerializer):
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    lastUsedAt = serializers.DateTimeField(source="last_used_at", read_only=True, allow_null=True)
    scopes = serializers.SerializerMethodField(help_text=SCOPES_HELP)
    tools = serializers.SerializerMethodField(
        help_text=(
            "The tools the key is limited to, by their current names (a renamed tool keeps its "
            "place; a deleted one leaves); null: not limited."
        )
    )

    class Meta:
        model = AccessKey
        fields = ["id", "name", "prefix", "scopes", "tools", "createdAt", "lastUsedAt"]

    @extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(SCOPES)}})
    def get_scopes(self, key: AccessKey) -> list[str]:
        return implied_scopes(key.scope)

    @extend_schema_field({"type": "array", "items": {"type": "string"}, "nullable": True})
    def get_tools(self, key: AccessKey) -> list[str] | None:
        if not key.restricts_tools:
            return None
        return sorted(tool.name for tool in key.tools.all())


class AccessKeyCreatedSerializer(AccessKeySerializer):
    key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(AccessKeySerializer.Meta):
        fields = [*AccessKeySerializer.Meta.fields, "key"]
