"""The one way to tell the gateway and the credential cache that a server has changed."""

from __future__ import annotations

from django.db.models import F

from core.invalidation import server_changed

from .models import Server


def server_touch(*, server: Server, old_slug: str = "") -> None:
    """Bump the server's config version and publish its slug(s) and id to every worker."""
    Server.objects.filter(pk=server.pk).update(config_version=F("config_version") + 1)
    server_changed(*sorted({old_slug, server.slug} - {""}), str(server.id))
