"""The one channel that says a server's configuration changed: servers, tools, keys, credentials.

Every service that changes what a server serves (its settings, tools, access keys or upstream
credentials) calls `server_changed` with the names the server is looked up by: its slug (the
gateway's snapshot cache is keyed by slug) and its id (the credential cache is keyed by id).
After the transaction commits, one fresh generation token is published in the shared cache
under each of those names. Every reader keeps the token it loaded under and re-checks it every
GENERATION_CHECK_SECONDS, so a revoked key, a disabled server or tool, or a changed credential
takes effect in every worker within that time plus one database read.

Readers in this process also register a listener (`on_change`) that drops their entries at
once, before and after the commit, so the process that made the change never serves the old
configuration.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Model

GENERATION_CHECK_SECONDS = 2.0
# While the shared cache is out, say so in the logs at most this often.
CACHE_OUTAGE_WARNING_EVERY_SECONDS = 30.0

Listener = Callable[[tuple[str, ...]], None]
_listeners: list[Listener] = []


def generation_key(name: str) -> str:
    """The shared-cache key of the generation token of the server named NAME (slug or id)."""
    return f"gw:gen:{name}"


def on_change(listener: Listener) -> None:
    """Have LISTENER called with the changed names in this process (drop local entries)."""
    _listeners.append(listener)


def server_changed(*names: str) -> None:
    """Call from any service that changes what a server serves, with its slug(s) and id.

    Publishes after the surrounding transaction commits (at once outside one).
    """
    changed = tuple(str(name) for name in names if name)
    if not changed:
        return
    _notify(changed)

    def publish() -> None:
        _notify(changed)
        token = uuid.uuid4().hex
        cache.set_many({generation_key(name): token for name in changed}, timeout=None)

    transaction.on_commit(publish)


class ServerRow(Protocol):
    """A saved server row (servers.models.Server), named without importing the servers app."""

    pk: Any
    slug: str


def server_touch(*, server: ServerRow, old_slug: str = "") -> None:
    """Bump SERVER's config version and publish its slug(s) and id on the channel.

    The one call every service makes after changing what a server serves: its settings
    (servers), its tools (tools), its keys (servers) or its credentials (credentials).
    """
    manager = type(server)._default_manager  # type: ignore[attr-defined]
    manager.filter(pk=server.pk).update(config_version=F("config_version") + 1)
    server_changed(*sorted({old_slug, server.slug} - {""}), str(server.pk))


def server_rows_delete(*, model: type[Model], rows: Iterable[Any]) -> int:
    """Delete ROWS of MODEL (each belongs to a server, as a tool or an access key does) and touch
    every server they belonged to; how many were deleted."""
    with transaction.atomic():
        deleted = list(rows)
        servers = {row.server_id: row.server for row in deleted}
        model._default_manager.filter(pk__in=[row.pk for row in deleted]).delete()
        for server in servers.values():
            server_touch(server=server)
    return len(deleted)


def _notify(names: tuple[str, ...]) -> None:
    for listener in _listeners:
        listener(names)
