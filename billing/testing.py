"""A local fake of the parts of api.stripe.com this project uses, for tests and demos.

Point the real SDK at it with `settings.STRIPE_API_BASE = fake.url`. It records every
request (method, path, form-decoded parameters, Idempotency-Key), replays the first
answer for a repeated idempotency key as Stripe does, counts a meter event identifier
once, serves subscriptions a test puts in `fake.subscriptions`, and answers with
Stripe-shaped errors a test queues with `fail_next`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx2
import pytest
import stripe

from core.testing import LoopbackServer, RecordedRequest

Reply = tuple[int, dict[str, str], bytes]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "invalid_request_error",
}


@dataclass
class StripeRequest:
    method: str
    path: str
    params: dict[str, str]
    idempotency_key: str | None
    authorization: str | None


@dataclass
class QueuedFailure:
    status: int
    code: str | None
    headers: dict[str, str] = field(default_factory=dict)


def stripe_error(status: int, message: str, code: str | None = None) -> Reply:
    error: dict[str, Any] = {"type": ERROR_TYPES.get(status, "api_error"), "message": message}
    if code:
        error["code"] = code
    body = json.dumps({"error": error}).encode()
    return status, {"Content-Type": "application/json", "Request-Id": "req_fake"}, body


def subscription_object(
    *,
    subscription_id: str,
    customer: str,
    status: str,
    price_ids: list[str],
    period_start: int,
    period_end: int,
    cancel_at_period_end: bool = False,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A subscription in the API 2025-03-31+ shape: the period lives on each item."""
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "cancel_at_period_end": cancel_at_period_end,
        "metadata": metadata or {},
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{subscription_id}_{index}",
                    "object": "subscription_item",
                    "price": {"id": price_id, "object": "price"},
                    "current_period_start": period_start,
                    "current_period_end": period_end,
                }
                for index, price_id in enumerate(price_ids)
            ],
        },
    }


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[StripeRequest] = []
        self.customers: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.meter_events: dict[str, dict[str, Any]] = {}
        self._failures: list[QueuedFailure] = []
        self._replies: dict[str, Reply] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = LoopbackServer(self._handle)
        self.url = self.server.url

    def __enter__(self) -> FakeStripe:
        # A short poll interval makes shutdown (once per test) quick.
        threading.Thread(
            target=self.server.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)

    def fail_next(
        self, status: int = 500, *, code: str | None = None, times: int = 1, retry: bool = False
    ) -> None:
        """Answer the next TIMES requests with a Stripe error, before any work is done."""
        headers = {"Stripe-Should-Retry": "true" if retry else "false"}
        self._failures.extend(QueuedFailure(status, code, headers) for _ in range(times))

    def requests_to(self, method: str, path: str) -> list[StripeRequest]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def billed_calls(self, customer_id: str) -> int:
        """What Stripe would bill: each distinct meter event identifier counted once."""
        return sum(
            int(event["payload[value]"])
            for event in self.meter_events.values()
            if event["payload[stripe_customer_id]"] == customer_id
        )

    def _handle(self, recorded: RecordedRequest) -> Reply:
        url = urlsplit(recorded.path)
        raw = recorded.body.decode() if recorded.method == "POST" else url.query
        request = StripeRequest(
            method=recorded.method,
            path=url.path,
            params=dict(parse_qsl(raw, keep_blank_values=True)),
            idempotency_key=recorded.headers.get("Idempotency-Key"),
            authorization=recorded.headers.get("Authorization"),
        )
        with self._lock:
            self.requests.append(request)
            if self._failures:
                failure = self._failures.pop(0)
                status, headers, body = stripe_error(
                    failure.status, "Injected failure", failure.code
                )
                return status, headers | failure.headers, body
            replay_key = f"{request.method} {request.path} {request.idempotency_key}"
            if request.idempotency_key and replay_key in self._replies:
                status, headers, body = self._replies[replay_key]
                return status, headers | {"Idempotent-Replayed": "true"}, body
            reply = self._route(request)
            if request.idempotency_key:
                self._replies[replay_key] = reply
            return reply

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids)}"

    def _route(self, request: StripeRequest) -> Reply:
        method, path, params = request.method, request.path, request.params
        if method == "POST" and path == "/v1/customers":
            customer_id = self._new_id("cus")
            customer = {"id": customer_id, "object": "customer", "email": params.get("email")}
            self.customers[customer_id] = customer
            return _json(customer)
        if method == "POST" and path == "/v1/checkout/sessions":
            session_id = self._new_id("cs_test")
            return _json(
                {
                    "id": session_id,
                    "object": "checkout.session",
                    "mode": params.get("mode"),
                    "customer": params.get("customer"),
                    "client_reference_id": params.get("client_reference_id"),
                    "url": f"https://checkout.stripe.test/c/pay/{session_id}",
                }
            )
        if method == "POST" and path == "/v1/billing_portal/sessions":
            session_id = self._new_id("bps")
            return _json(
                {
                    "id": session_id,
                    "object": "billing_portal.session",
                    "customer": params.get("customer"),
                    "url": f"https://billing.stripe.test/p/session/{session_id}",
                }
            )
        if method == "POST" and path == "/v1/billing/meter_events":
            return self._meter_event(params)
        match = re.fullmatch(r"/v1/subscriptions/([\w-]+)", path)
        if match and method in {"GET", "DELETE"}:
            return self._subscription(method, match.group(1))
        return stripe_error(404, f"Unrecognized request URL ({method}: {path})")

    def _meter_event(self, params: dict[str, str]) -> Reply:
        identifier = params.get("identifier") or self._new_id("mev")
        if identifier in self.meter_events:
            return stripe_error(400, f"An event with identifier {identifier} already exists")
        self.meter_events[identifier] = params
        return _json(
            {
                "object": "billing.meter_event",
                "event_name": params.get("event_name"),
                "identifier": identifier,
                "timestamp": int(params.get("timestamp") or 0),
                "payload": {
                    "stripe_customer_id": params.get("payload[stripe_customer_id]"),
                    "value": params.get("payload[value]"),
                },
            }
        )

    def _subscription(self, method: str, subscription_id: str) -> Reply:
        subscription = self.subscriptions.get(subscription_id)
        if subscription is None:
            return stripe_error(
                404, f"No such subscription: '{subscription_id}'", "resource_missing"
            )
        if method == "DELETE":
            subscription["status"] = "canceled"
        return _json(subscription)


def _json(payload: Any, status: int = 200) -> Reply:
    headers = {"Content-Type": "application/json", "Request-Id": "req_fake"}
    return status, headers, json.dumps(payload).encode()


TEST_PRICES = {
    "STRIPE_PRICE_STARTER": "price_starter_flat",
    "STRIPE_METERED_PRICE_STARTER": "price_starter_metered",
    "STRIPE_PRICE_PRO": "price_pro_flat",
    "STRIPE_METERED_PRICE_PRO": "price_pro_metered",
}


@pytest.fixture
def fake_stripe(settings: Any) -> Iterator[FakeStripe]:
    """A running FakeStripe with the project's Stripe settings pointed at it."""
    with FakeStripe() as fake:
        use_fake_stripe(settings, fake)
        yield fake


def use_fake_stripe(settings: Any, fake: FakeStripe) -> None:
    """Point the project's Stripe settings (pytest-django's `settings`) at FAKE."""
    settings.STRIPE_SECRET_KEY = "sk_test_fake_secret_key_123"
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    for name, value in TEST_PRICES.items():
        setattr(settings, name, value)


# --- Webhook deliveries ------------------------------------------------------------------------

_event_ids = itertools.count(1)


def stripe_event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> str:
    """The JSON body of a Stripe event of EVENT_TYPE about OBJ."""
    return json.dumps(
        {
            "id": event_id or f"evt_test_{next(_event_ids)}",
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": obj},
        }
    )


def deliver_stripe_event(
    base_url: str, body: str, secret: str, *, timeout: float = 30
) -> httpx2.Response:
    """POST BODY to the Stripe webhook of the server at BASE_URL, signed with SECRET as Stripe
    signs it."""
    signature = stripe.WebhookSignature.generate_signature_header(body, secret)
    return httpx2.post(
        f"{base_url}/api/webhooks/stripe",
        content=body.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=timeout,
    )
