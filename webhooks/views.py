"""Provider webhooks: verify the raw body first, store the event, answer at once.

They answer their providers' conventions ({"received": true}, or {"error": ...}) rather
than the API envelope, need no user authentication and are never rate-limited.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.schema import NO_NUL_PATTERN, DocumentingAutoSchema
from core.text import first_unstorable

from .services import webhook_event_receive

STRIPE_TOLERANCE_SECONDS = 300

RECEIVED = inline_serializer("WebhookReceived", {"received": serializers.BooleanField()})
REFUSED = inline_serializer("WebhookRefused", {"error": serializers.CharField()})


def _event_text(max_length: int) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": NO_NUL_PATTERN}


STORABLE = (
    " No string anywhere in the event may hold a NUL character or an unpaired UTF-16 surrogate "
    "(it could not be stored)."
)
STRIPE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "A Stripe event object." + STORABLE,
    "properties": {"id": _event_text(255), "type": _event_text(100)},
    "required": ["id", "type"],
    "additionalProperties": True,
}
CLERK_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "A Clerk (svix) event." + STORABLE,
    "properties": {"type": _event_text(100), "data": {"type": "object"}},
    "required": ["type", "data"],
    "additionalProperties": True,
}


def _signature_header(name: str, description: str, **schema: Any) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        {"type": "string", "minLength": 1, **schema},
        OpenApiParameter.HEADER,
        required=True,
        description=description,
    )


STRIPE_HEADERS = [
    _signature_header(
        "Stripe-Signature",
        "`t=<unix time>,v1=<hex HMAC-SHA256>` of `<t>.<raw body>` keyed with the endpoint's "
        "signing secret (STRIPE_WEBHOOK_SECRET), as Stripe signs. A missing, wrong or stale "
        f"signature (more than {STRIPE_TOLERANCE_SECONDS} s old) is 400 and nothing is stored.",
    )
]
CLERK_HEADERS = [
    _signature_header("svix-id", "The message id; deliveries are idempotent by it.", maxLength=255),
    _signature_header("svix-timestamp", "Unix time of the delivery; stale ones are 400."),
    _signature_header(
        "svix-signature",
        "`v1,<base64 HMAC-SHA256>` of `<svix-id>.<svix-timestamp>.<raw body>` keyed with the "
        "decoded CLERK_WEBHOOK_SECRET (whsec_...), as Svix signs. A missing or wrong signature "
        "is 400 and nothing is stored.",
    ),
]


def refuse(message: str, status: int = 400) -> Response:
    return Response({"error": message}, status=status)


def parse_event(body: bytes) -> dict[str, Any] | None:
    """The delivery as a JSON object that can be stored, or None."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict) or first_unstorable(event) is not None:
        return None
    return event


def fits(value: Any, limit: int) -> bool:
    """A non-empty string short enough for its column (an id, a type)."""
    return isinstance(value, str) and 0 < len(value) <= limit


class WebhookView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    renderer_classes = [JSONRenderer]
    # The signature covers the exact bytes, so the body is read raw, never parsed by DRF.
    parser_classes = []
    schema = DocumentingAutoSchema()


class StripeWebhookView(WebhookView):
    @extend_schema(
        operation_id="webhooks_stripe",
        summary="Stripe events (verified with the Stripe-Signature header)",
        request={"application/json": STRIPE_EVENT},
        parameters=STRIPE_HEADERS,
        responses={200: RECEIVED, 400: REFUSED, 503: REFUSED},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        secret = settings.STRIPE_WEBHOOK_SECRET
        if not secret:
            return refuse("Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)", 503)
        body = request.body
        import stripe  # here, not at the top: a web worker that never gets a delivery skips it

        try:
            # Only the signature: construct_event would also parse the body, and crash on a
            # signed body that is not a JSON object; parse_event below refuses that with a 400.
            stripe.WebhookSignature.verify_header(
                body,
                request.headers.get("Stripe-Signature"),
                secret,
                tolerance=STRIPE_TOLERANCE_SECONDS,
            )
        except (stripe.SignatureVerificationError, ValueError):
            return refuse("Invalid or expired signature")
        event = parse_event(body)
        if event is None or not fits(event.get("id"), 255) or not fits(event.get("type"), 100):
            return refuse("Not a Stripe event")
        webhook_event_receive(
            provider="stripe", event_id=event["id"], event_type=str(event["type"]), payload=event
        )
        return Response({"received": True})


class ClerkWebhookView(WebhookView):
    @extend_schema(
        operation_id="webhooks_clerk",
        summary="Clerk user events (verified with the svix-* headers)",
        request={"application/json": CLERK_EVENT},
        parameters=CLERK_HEADERS,
        responses={200: RECEIVED, 400: REFUSED, 503: REFUSED},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        secret = settings.CLERK_WEBHOOK_SECRET
        if not secret:
            return refuse("Clerk webhooks are not configured (CLERK_WEBHOOK_SECRET)", 503)
        body = request.body
        from svix.webhooks import Webhook, WebhookVerificationError  # as stripe above

        try:
            Webhook(secret).verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError):
            # ValueError: svix decodes the body as UTF-8 and splits and base64-decodes the
            # signature itself; a body or signature it cannot read is not a verified delivery.
            return refuse("Invalid or expired signature")
        event = parse_event(body)
        if (
            event is None
            or not fits(event.get("type"), 100)
            or not isinstance(event.get("data"), dict)
            or not fits(request.headers["svix-id"], 255)
        ):
            return refuse("Not a Clerk event")
        webhook_event_receive(
            provider="clerk",
            event_id=request.headers["svix-id"],
            event_type=str(event["type"]),
            payload=event,
        )
        return Response({"received": True})
