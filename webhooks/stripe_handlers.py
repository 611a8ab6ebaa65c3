"""Stripe event handlers: each re-reads Stripe's current state rather than trusting the event.

Events arrive at least once and in any order, and `created` has one-second resolution,
so a handler takes only the subscription's id from the event and re-fetches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billing import services as billing


def _object(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event["data"]["object"])


def checkout_session_completed(event: dict[str, Any]) -> None:
    billing.checkout_completed(session=_object(event))


def subscription_changed(event: dict[str, Any]) -> None:
    billing.subscription_sync(subscription_id=str(_object(event)["id"]))


def invoice_settled(event: dict[str, Any]) -> None:
    """invoice.paid / invoice.payment_failed: the subscription's status may have moved."""
    invoice = _object(event)
    # API 2025-03-31+: an invoice names its subscription under parent.subscription_details.
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    subscription = details.get("subscription")
    subscription_id = subscription.get("id") if isinstance(subscription, dict) else subscription
    if subscription_id:
        billing.subscription_sync(subscription_id=str(subscription_id))


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "checkout.session.completed": checkout_session_completed,
    "customer.subscription.created": subscription_changed,
    "customer.subscription.updated": subscription_changed,
    "customer.subscription.deleted": subscription_changed,
    "invoice.paid": invoice_settled,
    "invoice.payment_failed": invoice_settled,
}
