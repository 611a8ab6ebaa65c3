"""Outbound options from settings: the Django side of core.outbound."""

from __future__ import annotations

from django.conf import settings

from core.outbound import OutboundOptions

USER_AGENT = "Specgate/1.0 (+https://specgate.dev)"


def upstream_options(*, propagate_trace: bool = True) -> OutboundOptions:
    """Options for calls to users' upstream APIs (MCP tool calls and tool tests);
    PROPAGATE_TRACE is the server's `trace_propagation`."""
    return OutboundOptions(
        connect_timeout=settings.OUTBOUND_CONNECT_TIMEOUT,
        total_timeout=settings.OUTBOUND_TIMEOUT,
        max_response_bytes=settings.OUTBOUND_MAX_RESPONSE_BYTES,
        allow_private=settings.OUTBOUND_ALLOW_PRIVATE,
        allowed_networks=tuple(settings.OUTBOUND_ALLOWED_NETWORKS),
        max_redirects=5,
        user_agent=USER_AGENT,
        propagate_trace=propagate_trace,
    )


def spec_fetch_options() -> OutboundOptions:
    """Options for fetching a spec from a URL the user gave."""
    return OutboundOptions(
        connect_timeout=settings.OUTBOUND_CONNECT_TIMEOUT,
        total_timeout=settings.OUTBOUND_TIMEOUT,
        max_response_bytes=settings.SPEC_MAX_BYTES,
        allow_private=settings.OUTBOUND_ALLOW_PRIVATE,
        allowed_networks=tuple(settings.OUTBOUND_ALLOWED_NETWORKS),
        max_redirects=5,
        user_agent=USER_AGENT,
    )
