from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import TimestampedModel
from core.scopes import DEFAULT_SCOPE, SCOPES


class Server(TimestampedModel):
    """A hosted MCP server built from one spec."""

    STATUSES = [("active", "Active"), ("disabled", "Disabled")]
    VISIBILITIES = [("private", "Private"), ("shared", "Shared"), ("public", "Public")]
    TOOL_MODES = [("all", "All tools"), ("dynamic", "Dynamic"), ("auto", "Auto")]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="servers"
    )
    spec = models.ForeignKey("specs.Spec", on_delete=models.PROTECT, related_name="mcp_servers")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    description = models.TextField(blank=True)
    base_url = models.URLField(max_length=2000)
    status = models.CharField(max_length=16, choices=STATUSES, default="active")
    visibility = models.CharField(max_length=16, choices=VISIBILITIES, default="private")
    # Who besides the owner may authorize an OAuth client to a "shared" server: email
    # addresses (`ann@example.com`) and email domains (`@example.com`), lower-case, and Clerk
    # organisation ids (`org_…`, as Clerk spells them).
    audience = models.JSONField(default=list, blank=True)
    # "all": every enabled tool is listed; "dynamic": three meta-tools search, describe and
    # execute them; "auto": dynamic when the full listing exceeds TOOLS_DYNAMIC_TOKEN_BUDGET.
    tool_mode = models.CharField(max_length=16, choices=TOOL_MODES, default="auto")
    # With tracing on, upstream requests carry a W3C `traceparent` header naming their span.
    trace_propagation = models.BooleanField(default=True)
    # Bumped on every change the gateway must see; workers compare it to their cached copy.
    config_version = models.PositiveBigIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at", "-id"])]

    def __str__(self) -> str:
        return self.slug

    def admits(self, email: str, org_id: str = "") -> bool:
        """Whether EMAIL, or ORG_ID (a Clerk organisation id, `org_…`), is in the audience of
        this server (a shared server's users)."""
        if org_id and org_id in self.audience:
            return True
        email = email.strip().lower()
        if not email or "@" not in email:
            return False
        domain = "@" + email.rsplit("@", 1)[1]
        return any(entry in (email, domain) for entry in self.audience)


class AccessKey(TimestampedModel):
    """A key an MCP client presents for a private server; stored as a hash only.

    What it may do: its strongest `scope` (which implies the weaker ones), and, when
    `restricts_tools`, only the `tools` listed. The allowlist holds tools, not names: a tool
    renamed later stays granted under its new name, and another tool taking the old name is
    not granted; a tool deleted leaves the list (an allowlist left empty grants no tool).
    """

    server = models.ForeignKey(Server, on_delete=models.CASCADE, related_name="access_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    key_hash = models.CharField(max_length=64, unique=True)
    scope = models.CharField(
        max_length=32, choices=[(scope, scope) for scope in SCOPES], default=DEFAULT_SCOPE
    )
    restricts_tools = models.BooleanField(default=False)
    tools = models.ManyToManyField("tools.Tool", blank=True, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
