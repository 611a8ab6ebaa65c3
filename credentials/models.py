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
        return "header “Authorization: Bearer …”"
