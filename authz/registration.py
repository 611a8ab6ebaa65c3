"""Dynamic client registration (RFC 7591) is open to anonymous clients, as MCP needs, and
rate-limited per client address so nobody fills the table; unused registrations expire
(`services.unused_clients_delete`)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from usage import ratelimit


class RateLimitedRegistration:
    """django-oauth-toolkit's DCR permission: anyone, OAUTH_REGISTRATIONS_PER_MINUTE a
    minute per address."""

    def has_permission(self, request: HttpRequest) -> bool:
        address = request.META.get("REMOTE_ADDR", "")
        limit = ratelimit.Limit(
            f"oauth:register:{address}", settings.OAUTH_REGISTRATIONS_PER_MINUTE
        )
        return ratelimit.hit([limit]) is None
