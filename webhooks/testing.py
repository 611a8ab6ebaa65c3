"""Deliveries signed the way Stripe and Clerk (svix) sign them."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import stripe
from rest_framework.test import APIClient
from svix.webhooks import Webhook

CLERK_SECRET = "whsec_" + base64.b64encode(b"clerk-test-signing-secret-32byte").decode()
STRIPE_URL = "/api/webhooks/stripe"
CLERK_URL = "/api/webhooks/clerk"

_ids = itertools.count(1)


def post_stripe(body: str, secret: str, *, timestamp: int | None = None, signed: str | None = None):
    """POST BODY signed with SECRET (over SIGNED instead, to tamper with the body)."""
    header = stripe.WebhookSignature.generate_signature_header(
        body if signed is None else signed, secret, timestamp=timestamp
    )
    return APIClient().post(
        STRIPE_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )


def clerk_event(event_type: str, data: dict[str, Any]) -> str:
    return json.dumps({"object": "event", "type": event_type, "data": data})


def post_clerk(
    body: str,
    *,
    msg_id: str | None = None,
    secret: str = CLERK_SECRET,
    timestamp: datetime | None = None,
    signed: str | None = None,
):
    msg_id = msg_id or f"msg_{next(_ids)}"
    timestamp = timestamp or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, body if signed is None else signed)
    return APIClient().post(
        CLERK_URL,
        body,
        content_type="application/json",
        HTTP_SVIX_ID=msg_id,
        HTTP_SVIX_TIMESTAMP=str(int(timestamp.timestamp())),
        HTTP_SVIX_SIGNATURE=signature,
    )


def clerk_user(clerk_id: str, email: str, first: str = "Ada", last: str = "Lovelace") -> dict:
    return {
        "id": clerk_id,
        "object": "user",
        "first_name": first,
        "last_name": last,
        "primary_email_address_id": "idn_primary",
        "email_addresses": [
            {"id": "idn_other", "email_address": "old@example.com"},
            {"id": "idn_primary", "email_address": email},
        ],
    }
