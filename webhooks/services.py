"""Storing provider webhooks once and processing them out of the request.

A delivery is verified by the view, stored here under its provider's event id and
acknowledged; a Celery task processes it after the transaction commits. A redelivery
finds the stored row and is acknowledged without being queued again, and a slow or
failing handler never makes the provider retry. Handlers are idempotent (they re-read
the provider's current state), which is what makes reprocessing safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import clerk_handlers, stripe_handlers
from .models import WebhookEvent

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]

HANDLERS: dict[str, dict[str, Handler]] = {
    "stripe": stripe_handlers.HANDLERS,
    "clerk": clerk_handlers.HANDLERS,
}
# A stored event not processed after this long is queued again (a worker died or the
# broker was down); a failed one is retried at this pace up to MAX_ATTEMPTS.
STALE_AFTER = timedelta(minutes=5)
MAX_ATTEMPTS = 8
ERROR_MAX_CHARS = 2000


def webhook_event_receive(
    *, provider: str, event_id: str, event_type: str, payload: dict[str, Any]
) -> tuple[WebhookEvent, bool]:
    """Store a verified delivery once; returns (event, created). Queues it when new."""
    existing = WebhookEvent.objects.filter(provider=provider, event_id=event_id).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                provider=provider, event_id=event_id, type=event_type, payload=payload
            )
            transaction.on_commit(lambda: enqueue(event.pk))
    except IntegrityError:
        # The same event delivered twice at once: the other request stored it.
        return WebhookEvent.objects.get(provider=provider, event_id=event_id), False
    return event, True


def enqueue(event_pk: Any) -> None:
    from .tasks import process_webhook_event

    try:
        process_webhook_event.delay(str(event_pk))
    except Exception:
        # Stored is enough to acknowledge: the requeue beat job picks it up later.
        logger.exception("Could not queue webhook event %s", event_pk)


def _claim(event_pk: Any) -> bool:
    """Take the event for processing unless it is done or another worker has it fresh."""
    now = timezone.now()
    claimable = Q(status__in=["received", "failed"]) | Q(
        status="processing", updated_at__lt=now - STALE_AFTER
    )
    claimed = (
        WebhookEvent.objects.filter(claimable, pk=event_pk)
        .filter(attempts__lt=MAX_ATTEMPTS)
        .update(status="processing", attempts=F("attempts") + 1, updated_at=now)
    )
    return claimed == 1


def _finish(event_pk: Any, *, status: str, error: str = "") -> None:
    now = timezone.now()
    WebhookEvent.objects.filter(pk=event_pk).update(
        status=status, error=error[:ERROR_MAX_CHARS], processed_at=now, updated_at=now
    )


def webhook_event_process(*, event_pk: Any) -> str | None:
    """Run the event's handler once; returns the final status, None when not claimed."""
    if not _claim(event_pk):
        return None
    event = WebhookEvent.objects.get(pk=event_pk)
    handler = HANDLERS.get(event.provider, {}).get(event.type)
    if handler is None:
        _finish(event.pk, status="ignored")
        return "ignored"
    try:
        handler(event.payload)
    except Exception as exc:
        logger.exception("Webhook %s %s failed", event.provider, event.event_id)
        _finish(event.pk, status="failed", error=f"{type(exc).__name__}: {exc}")
        return "failed"
    _finish(event.pk, status="processed")
    return "processed"


def webhook_events_requeue_stale() -> int:
    """Queue events stored but not processed in time, and failed ones due a retry."""
    cutoff = timezone.now() - STALE_AFTER
    stale = WebhookEvent.objects.filter(
        Q(status="received", created_at__lt=cutoff)
        | Q(status__in=["processing", "failed"], updated_at__lt=cutoff),
        attempts__lt=MAX_ATTEMPTS,
    ).values_list("pk", flat=True)
    pks = list(stale[:1000])
    for pk in pks:
        enqueue(pk)
    return len(pks)


def webhook_events_reprocess(*, event_pks: list[Any]) -> int:
    """Operator action: run the selected events' handlers again."""
    with transaction.atomic():
        count = WebhookEvent.objects.filter(pk__in=event_pks).update(
            status="received", attempts=0, error="", processed_at=None, updated_at=timezone.now()
        )
        for pk in event_pks:
            transaction.on_commit(partial(enqueue, pk))
    return count
