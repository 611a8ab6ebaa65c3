"""What a user authorized: one OAuth client on one server, with one scope (and optionally a
tool allowlist); and the authorization codes already exchanged, kept to catch a replay.

The protocol's own records (clients, codes, access and refresh tokens) are
django-oauth-toolkit's models; this is the grant a person sees and revokes, and
the id every access token names, so the gateway can refuse the tokens of a
revoked grant without a database read.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import TimestampedModel
from core.scopes import SCOPES


class Authorization(TimestampedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="authorizations"
    )
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        on_delete=models.CASCADE,
        related_name="authorizations",
    )
    server = models.ForeignKey(
        "servers.Server", on_delete=models.CASCADE, related_name="authorizations"
    )
    scope = models.CharField(max_length=32, choices=[(scope, scope) for scope in SCOPES])
    restricts_tools = models.BooleanField(default=False)
    tools = models.ManyToManyField("tools.Tool", blank=True, related_name="+")
    """When `restricts_tools`, the only tools it may list and call, as an access key's allowlist
    (tools, not names: a renamed tool stays granted, a deleted one leaves)."""
    resource = models.URLField(max_length=2000)
    """The server's mcpUrl when it was granted: the only audience of its tokens."""
    last_used_at = models.DateTimeField(null=True, blank=True)
    """When a token was last issued under it (code exchange or refresh)."""
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    org_id = models.CharField(max_length=80, blank=True, default="")
    """The Clerk organisation its user was active in when they authorized it (sign-in); on a
    shared server whose audience names that organisation, removing it stops the grant."""

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "application", "server"],
                condition=models.Q(revoked_at__isnull=True),
                name="authz_one_live_authorization",
            )
        ]
        indexes = [models.Index(fields=["server", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.application_id} → {self.server_id} ({self.scope})"


class UsedCode(models.Model):
    """An authorization code already exchanged, by its SHA-256 (codes are stored hashed, as
    django-oauth-toolkit's `Grant.code`), kept until it would have expired: presented again,
    it is refused and the grant its tokens were issued under is revoked (RFC 6749 §4.1.2)."""

    code_hash = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    authorization = models.ForeignKey(
        Authorization, on_delete=models.CASCADE, null=True, related_name="+"
    )
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.code_hash[:12]}… ({self.expires:%Y-%m-%d %H:%M:%S})"
