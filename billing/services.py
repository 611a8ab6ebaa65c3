"""Writes for billing: Stripe customers, checkout and portal sessions, subscription state.

Every create sent to Stripe carries an idempotency key derived from what the request
means (user, purpose, a short time window), so a retried request gets Stripe's first
answer instead of a second customer or session.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed

from .models import BillingAccount
from .selectors import ACTIVE_STATUSES
from .stripe_client import stripe_client, stripe_errors_as_upstream

logger = logging.getLogger(__name__)

PAID_PLANS = ("starter", "pro")
# A checkout retried within this window reuses the first session; a later one gets a new session.
CHECKOUT_KEY_WINDOW_SECONDS = 600
PORTAL_KEY_WINDOW_SECONDS = 60
ENDED_STATUSES = {"canceled", "incomplete_expired"}


@dataclass(frozen=True)
class CheckoutSession:
    url: str
    session_id: str


def idempotency_key(purpose: str, *parts: object) -> str:
    return ":".join(["specgate", purpose, *(str(part) for part in parts)])


def time_window(seconds: int) -> int:
    return int(timezone.now().timestamp() // seconds)


def _configured_prices(plan_id: str) -> tuple[str, str]:
    """The (flat, metered) Stripe price ids settings name for a paid plan ("" when unset)."""
    if plan_id == "starter":
        return settings.STRIPE_PRICE_STARTER, settings.STRIPE_METERED_PRICE_STARTER
    if plan_id == "pro":
        return settings.STRIPE_PRICE_PRO, settings.STRIPE_METERED_PRICE_PRO
    return "", ""


def plan_prices(plan_id: str) -> tuple[str, str]:
    """The (flat, metered) Stripe price ids of a paid plan; 503 when they are not set."""
    suffix = plan_id.upper()
    flat, metered = _configured_prices(plan_id)
    if not flat or not metered:
        raise ServiceUnavailable(
            f"Billing is not configured for the {plan_id} plan "
            f"(STRIPE_PRICE_{suffix} and STRIPE_METERED_PRICE_{suffix} must be set)",
            reason="billing_not_configured",
        )
    return flat, metered


def plan_for_price_ids(price_ids: set[str]) -> str:
    for plan_id in ("pro", "starter"):
        flat, metered = _configured_prices(plan_id)
        if price_ids & ({flat, metered} - {""}):
            return plan_id
    return "free"


def billing_account_for(*, user: User) -> BillingAccount:
    account = BillingAccount.objects.filter(user=user).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            return BillingAccount.objects.create(user=user)
    except IntegrityError:
        return BillingAccount.objects.get(user=user)


def has_active_subscription(account: BillingAccount) -> bool:
    return bool(account.stripe_subscription_id) and (account.subscription_status in ACTIVE_STATUSES)


def customer_ensure(*, client: stripe.StripeClient, user: User) -> str:
    """The user's Stripe customer id, creating the customer the first time.

    No lock is held across the Stripe call: two concurrent first checkouts send the same
    idempotency key, so Stripe creates one customer and both store the same id.
    """
    account = billing_account_for(user=user)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    params: dict[str, Any] = {"metadata": {"user_id": str(user.pk)}}
    if user.email:
        params["email"] = user.email
    name = f"{user.first_name} {user.last_name}".strip()
    if name:
        params["name"] = name
    customer = client.v1.customers.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": idempotency_key("customer", user.pk)},
    )
    BillingAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(
        stripe_customer_id=customer.id, updated_at=timezone.now()
    )
    account.refresh_from_db(fields=["stripe_customer_id"])
    return account.stripe_customer_id


def checkout_session_create(*, user: User, plan_id: str) -> CheckoutSession:
    client = stripe_client()
    flat_price, metered_price = plan_prices(plan_id)
    if has_active_subscription(billing_account_for(user=user)):
        raise Conflict(
            "You already have an active subscription; change plans in the billing portal",
            details={"reason": "subscription_active"},
        )
    with stripe_errors_as_upstream("start checkout"):
        customer_id = customer_ensure(client=client, user=user)
        metadata = {"user_id": str(user.pk), "plan": plan_id}
        session = client.v1.checkout.sessions.create(
            params={
                "mode": "subscription",
                "customer": customer_id,
                "client_reference_id": str(user.pk),
                "line_items": [{"price": flat_price, "quantity": 1}, {"price": metered_price}],
                "success_url": settings.BILLING_SUCCESS_URL,
                "cancel_url": settings.BILLING_CANCEL_URL,
                "metadata": metadata,
                "subscription_data": {"metadata": metadata},
            },
            options={
                "idempotency_key": idempotency_key(
                    "checkout", user.pk, plan_id, time_window(CHECKOUT_KEY_WINDOW_SECONDS)
                )
            },
        )
    return CheckoutSession(url=str(session.url), session_id=session.id)


def portal_session_create(*, user: User) -> str:
    account = BillingAccount.objects.filter(user=user).first()
    if account is None or not account.stripe_customer_id:
        raise NotFound("No billing account yet; subscribe to a plan first")
    client = stripe_client()
    with stripe_errors_as_upstream("open the billing portal"):
        session = client.v1.billing_portal.sessions.create(
            params={
                "customer": account.stripe_customer_id,
                "return_url": settings.BILLING_RETURN_URL,
            },
            options={
                "idempotency_key": idempotency_key(
                    "portal", user.pk, time_window(PORTAL_KEY_WINDOW_SECONDS)
                )
            },
        )
    return str(session.url)


def budget_cap_check(budget_cap: Decimal | None) -> None:
    """Raise ValidationFailed unless BUDGET_CAP is None or 0 to BUDGET_CAP_MAX EUR, in cents."""
    if budget_cap is None:
        return
    if not budget_cap.is_finite() or not 0 <= budget_cap <= settings.BUDGET_CAP_MAX:
        raise ValidationFailed(
            "Invalid request",
            details={"budgetCap": [f"Must be between 0 and {settings.BUDGET_CAP_MAX} inclusive."]},
        )
    if budget_cap != budget_cap.quantize(Decimal("0.01")):
        raise ValidationFailed(
            "Invalid request", details={"budgetCap": ["Must have at most 2 decimal places."]}
        )


def budget_cap_set(*, user: User, budget_cap: Decimal | None) -> BillingAccount:
    """The API's and the admin's one way to set a cap (checked again here for both)."""
    budget_cap_check(budget_cap)
    account = billing_account_for(user=user)
    account.budget_cap = budget_cap
    account.save(update_fields=["budget_cap", "updated_at"])
    return account


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def _account_for_subscription(subscription: dict[str, Any]) -> BillingAccount | None:
    customer = subscription.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    if customer_id:
        account = BillingAccount.objects.filter(stripe_customer_id=customer_id).first()
        if account is not None:
            return account
    user = _user_named((subscription.get("metadata") or {}).get("user_id"))
    if user is None:
        return None
    account = billing_account_for(user=user)
    if customer_id and not account.stripe_customer_id:
        account.stripe_customer_id = customer_id
        account.save(update_fields=["stripe_customer_id", "updated_at"])
    return account


def _user_named(value: Any) -> User | None:
    try:
        user_id = uuid.UUID(str(value))
    except ValueError:
        return None
    return User.objects.filter(pk=user_id).first()


def subscription_apply(
    *, subscription: dict[str, Any], fetched_at: datetime
) -> BillingAccount | None:
    """Record a subscription as Stripe showed it at FETCHED_AT, unless newer state is stored.

    Reads the API 2025-03-31+ shape: the period lives on the subscription items. Comparing
    fetch start times makes the fetch that began last win, and it began after every change
    whose event has arrived, so the account converges on Stripe's current state whatever
    order the events came in.
    """
    account = _account_for_subscription(subscription)
    if account is None:
        logger.warning("Subscription %s matches no billing account", subscription.get("id"))
        return None
    items = (subscription.get("items") or {}).get("data") or []
    price_ids = {str((item.get("price") or {}).get("id") or "") for item in items} - {""}
    starts = [item["current_period_start"] for item in items if item.get("current_period_start")]
    ends = [item["current_period_end"] for item in items if item.get("current_period_end")]
    status = str(subscription.get("status") or "")
    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(pk=account.pk)
        if account.state_updated_at is not None and fetched_at < account.state_updated_at:
            return account
        replacing = account.stripe_subscription_id not in ("", subscription["id"])
        if replacing and has_active_subscription(account) and status not in ACTIVE_STATUSES:
            # A late event about an old, ended subscription must not end the current one.
            return account
        account.stripe_subscription_id = subscription["id"]
        account.subscription_status = status
        account.plan = plan_for_price_ids(price_ids) if status in ACTIVE_STATUSES else "free"
        account.current_period_start = _timestamp(min(starts)) if starts else None
        account.current_period_end = _timestamp(max(ends)) if ends else None
        account.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
        account.state_updated_at = fetched_at
        account.save()
    return account


def subscription_sync(*, subscription_id: str) -> BillingAccount | None:
    """Re-fetch a subscription from Stripe and record its current state."""
    client = stripe_client()
    fetched_at = timezone.now()
    subscription = client.v1.subscriptions.retrieve(subscription_id)
    return subscription_apply(subscription=subscription.to_dict(), fetched_at=fetched_at)


def checkout_completed(*, session: dict[str, Any]) -> BillingAccount | None:
    """Tie a completed checkout's customer and subscription to the user who started it."""
    user = _user_named(
        session.get("client_reference_id") or (session.get("metadata") or {}).get("user_id")
    )
    if user is None:
        logger.warning("Checkout session %s names no known user", session.get("id"))
        return None
    account = billing_account_for(user=user)
    customer_id = session.get("customer")
    if customer_id and not account.stripe_customer_id:
        BillingAccount.objects.filter(pk=account.pk, stripe_customer_id="").update(
            stripe_customer_id=customer_id, updated_at=timezone.now()
        )
    subscription_id = session.get("subscription")
    if not subscription_id:
        return account
    return subscription_sync(subscription_id=str(subscription_id))


def subscription_cancel(*, user_id: Any) -> None:
    """Cancel a (deleted) user's subscription now; Stripe errors propagate for a retry."""
    account = BillingAccount.objects.filter(user_id=user_id).first()
    if account is None or not account.stripe_subscription_id:
        return
    if account.subscription_status in ENDED_STATUSES:
        return
    client = stripe_client()
    fetched_at = timezone.now()
    try:
        subscription = client.v1.subscriptions.cancel(
            account.stripe_subscription_id,
            options={"idempotency_key": idempotency_key("cancel", account.stripe_subscription_id)},
        )
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            logger.info("Subscription %s is already gone", account.stripe_subscription_id)
            return
        raise
    subscription_apply(subscription=subscription.to_dict(), fetched_at=fetched_at)
