"""The one way this project talks to Stripe: a configured StripeClient and its error mapping.

Stripe's SDK has its own HTTP stack (timeouts, retries with the same idempotency key);
it is the one outbound path that does not go through core.outbound. The SDK (12 MB, with
httpx behind it) is imported on first use, not when a web worker starts: the gateway never
talks to Stripe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.conf import settings

from core.errors import ServiceUnavailable, UpstreamFailed

if TYPE_CHECKING:
    import stripe

logger = logging.getLogger(__name__)

NOT_CONFIGURED = "Billing is not configured on this instance (STRIPE_SECRET_KEY is not set)"


def billing_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_client() -> stripe.StripeClient:
    """A client for the configured account; 503 when Stripe is not configured."""
    if not billing_configured():
        raise ServiceUnavailable(NOT_CONFIGURED, reason="billing_not_configured")
    import stripe

    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None,
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
    )


@contextmanager
def stripe_errors_as_upstream(action: str) -> Iterator[None]:
    """Turn a Stripe failure into 502 UPSTREAM_ERROR without echoing Stripe's message.

    Stripe's messages can quote request parameters; the type, code and request id are
    enough to find the failure in Stripe's dashboard.
    """
    import stripe

    try:
        yield
    except stripe.StripeError as exc:
        logger.warning(
            "Stripe %s failed: %s status=%s code=%s request=%s",
            action,
            type(exc).__name__,
            exc.http_status,
            exc.code,
            exc.request_id,
        )
        details = {"provider": "stripe", "status": exc.http_status, "code": exc.code}
        raise UpstreamFailed(f"Stripe could not {action}", details=details) from None
