from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import TimestampedModel


class Spec(TimestampedModel):
    """An uploaded OpenAPI document: the original text, its normalised form and what it yields."""

    FORMATS = [
        ("openapi-3.1", "OpenAPI 3.1"),
        ("openapi-3.0", "OpenAPI 3.0"),
        ("swagger-2.0", "Swagger 2.0"),
    ]

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="specs"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    title = models.CharField(max_length=500, blank=True)
    version = models.CharField(max_length=200, blank=True)
    format = models.CharField(max_length=16, choices=FORMATS)
    source_url = models.URLField(max_length=2000, blank=True)
    original_text = models.TextField()
    original_media_type = models.CharField(max_length=32, default="application/json")
    document = models.JSONField()
    # A Swagger 2.0 document as the OpenAPI 3.0 document that means the same requests
    # (specs.engine.upgrade); null for OpenAPI 3.x documents.
    openapi30_document = models.JSONField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    revision = models.PositiveIntegerField(default=1)
    operation_count = models.PositiveIntegerField(default=0)
    servers = models.JSONField(default=list)
    security_schemes = models.JSONField(default=dict)
    security = models.JSONField(default=list)
    warnings = models.JSONField(default=list)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at", "-id"])]

    def __str__(self) -> str:
        return f"{self.name} (r{self.revision})"


class SpecOperation(models.Model):
    """One operation of a spec and the tool definition generated from it.

    Servers' tools point here for their generated values, so a schema is stored
    once per spec, not once per server; `key` (METHOD /path) is the identity that
    survives re-imports.
    """

    spec = models.ForeignKey(Spec, on_delete=models.CASCADE, related_name="operations")
    key = models.CharField(max_length=2100)
    operation_id = models.CharField(max_length=500, blank=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    summary = models.TextField(blank=True)
    tags = models.JSONField(default=list)
    tool_name = models.CharField(max_length=64)
    tool_description = models.TextField(blank=True)
    input_schema = models.JSONField()
    output_schema = models.JSONField(null=True, blank=True)
    annotations = models.JSONField(default=dict)
    mapping = models.JSONField(default=dict)
    security = models.JSONField(null=True, blank=True)
    servers = models.JSONField(default=list)
    fingerprint = models.CharField(max_length=64)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["spec", "position"]
        constraints = [
            models.UniqueConstraint(fields=["spec", "key"], name="spec_operation_key_unique"),
        ]

    def __str__(self) -> str:
        return self.key
