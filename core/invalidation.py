"""Telling every gateway worker that a server's configuration changed.

Each worker caches a compiled server per slug and re-checks a generation token
in the shared cache every couple of seconds; changing the token makes it reload.
So a revoked key, a disabled server or tool, or a changed credential takes
effect everywhere within GENERATION_CHECK_SECONDS plus one database read.
"""

from __future__ import annotations

import uuid

from django.core.cache import cache
from django.db import transaction

GENERATION_CHECK_SECONDS = 2.0
# While the shared cache is out, say so in the logs at most this often.
CACHE_OUTAGE_WARNING_EVERY_SECONDS = 30.0


def generation_key(slug: str) -> str:
    return f"gw:gen:{slug}"


def server_changed(*slugs: str) -> None:
    """Call from any service that changes what a server serves (after its transaction commits)."""

    def publish() -> None:
        token = uuid.uuid4().hex
        cache.set_many({generation_key(slug): token for slug in slugs if slug}, timeout=None)

    transaction.on_commit(publish)
