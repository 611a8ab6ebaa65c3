from __future__ import annotations

from typing import Any

import stripe
from celery import shared_task

from . import services


@shared_task(
    ignore_result=True,
    autoretry_for=(stripe.StripeError,),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=12,
)
def cancel_subscription(user_id: Any) -> None:
    """Cancel a deleted user's Stripe subscription, retrying while Stripe fails."""
    services.subscription_cancel(user_id=user_id)
