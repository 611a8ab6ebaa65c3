from __future__ import annotations

from django.db import models

from core.models import TimestampedModel


class Tool(TimestampedModel):
    """A server's tool: an operation of its spec plus the user's overrides.

    Generated values live on the SpecOperation; `custom_*` hold overrides (null =
    generated). `name` is the effective name, kept here for the per-server
    uniqueness constraint and fast lookups.
    """

    server = models.ForeignKey("servers.Server", on_delete=models.CASCADE, related_name="tools")
    operation = models.ForeignKey(
        "specs.SpecOperation", on_delete=models.CASCADE, related_name="tools"
    )
    name = models.CharField(max_length=64)
    custom_name = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001  null = generated
    custom_description = models.TextField(null=True, blank=True)  # noqa: DJ001  null = generated
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["operation__position"]
        constraints = [
            models.UniqueConstraint(fields=["server", "name"], name="tool_name_unique_per_server"),
            models.UniqueConstraint(
                fields=["server", "operation"], name="tool_operation_unique_per_server"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def description(self) -> str:
        if self.custom_description is not None:
            return self.custom_description
        return self.operation.tool_description
