from __future__ import annotations

from django.db import models

from core.models import TimestampedModel

from .types.base import type_choices


class Credential(TimestampedModel):
    """A secret for a server's upstream API, bound to one of its spec's security schemes.

    The secret material (API key, token, password, client id and secret) lives only in
    `ciphertext`, sealed by the key `key_id` names. `scheme` is "" for a spec that declares no
    security scheme; the credential then says where it goes itself (`location`, `param_name`).
    """

    LOCATIONS = [("header", "Header"), ("query", "Query"), ("cookie", "Cookie")]

    server = models.ForeignKey(
        "servers.Server", on_delete=models.CASCADE, related_name="credentials"
    )
    name = models.CharField(max_length=100, blank=True)
    scheme = models.CharField(max_length=200, blank=True)
    # The registered types (credentials.types), read when asked: a new type needs no migration.
    type = models.CharField(max_length=32, choices=type_choices)
    location = models.CharField(max_length=8, choices=LOCATIONS, blank=True)
    param_name = models.CharField(max_length=200, blank=True)
    token_url = models.URLField(max_length=2000, blank=True)
    # OAuth2 authorization code: where people are sent to link their account, and where their
    # tokens are revoked when they unlink (optional).
    authorization_url = models.URLField(max_length=2000, blank=True)
    revocation_url = models.URLField(max_length=2000, blank=True)
    scopes = models.JSONField(default=list, blank=True)
    key_id = models.CharField("encryption key", max_length=16)
    ciphertext = models.TextField()
    # Bumped whenever the secret changes: caches of derived values (OAuth2 tokens) key on it.
    version = models.PositiveIntegerField(default=1)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["server", "scheme"], name="credential_unique_scheme"),
        ]
        indexes = [models.Index(fields=["server", "-created_at", "-id"])]

    def __str__(self) -> str:
        return f"{self.name or self.get_type_display()} ({self.scheme or self.location})"

    @property
    def injected_at(self) -> str:
        """Where the gateway puts this credential in an upstream request, in words."""
        schemes = self.server.spec.security_schemes or {} if self.scheme else {}
        definition = schemes.get(self.scheme) or {}
        if self.type == "apiKey":
            where = definition.get("in") or self.location
            name = definition.get("name") or self.param_name
            origin = f"spec scheme “{self.scheme}”" if definition else "set with the credential"
            return f"{where} “{name}” ({origin})"
        if self.type == "basic":
            return "header “Authorization: Basic …”"
        if self.type == "oauth2ClientCredentials":
            return f"header “Authorization: Bearer …” (token from {self.token_url})"
        if self.type == "oauth2AuthorizationCode":
            return "header “Authorization: Bearer …” (each caller's own linked account)"
        return "header “Authorization: Bearer …”"


class Connection(TimestampedModel):
    """One person's linked upstream account on a server: their OAuth2 tokens for one scheme.

    Keyed by (user, server, scheme), not by the credential: an owner who replaces the OAuth
    client (delete and add again) keeps everyone's links, and a new client that needs more
    scopes asks them to consent again (`scopes` are those granted). The access and refresh
    tokens live only in `ciphertext`; `token_version` moves with every new token, so a worker
    that refreshed can tell a newer copy from its own.
    """

    STATUSES = [("connected", "Connected"), ("needsReconnect", "Needs reconnect")]

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="upstream_connections"
    )
    server = models.ForeignKey(
        "servers.Server", on_delete=models.CASCADE, related_name="upstream_connections"
    )
    scheme = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=STATUSES, default="connected")
    scopes = models.JSONField(default=list, blank=True)
    key_id = models.CharField("encryption key", max_length=16)
    ciphertext = models.TextField()
    access_expires_at = models.DateTimeField(null=True, blank=True)
    token_version = models.PositiveIntegerField(default=1)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "server", "scheme"], name="connection_unique_account"
            ),
        ]
        indexes = [models.Index(fields=["user", "-created_at", "-id"])]

    def __str__(self) -> str:
        return f"{self.user} on {self.server} ({self.scheme or 'no scheme'})"
