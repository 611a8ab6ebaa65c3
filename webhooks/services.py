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
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import clerk_handlers, stripe_handlers
from .models import WebhookAttempt, WebhookEvent

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


def enqueue(event_pk: Any, trigger: str = "delivery") -> None:
    from .tasks import process_webhook_event

    try:
        process_webhook_event.delay(str(event_pk), trigger)
    except Exception:
        # Stored is enough to acknowledge: the requeue beat job picks it up later.
        logger.exception("Could not queue webhook event %s", event_pk)


def _claim(event_pk: Any, *, statuses: tuple[str, ...], limited: bool = True) -> bool:
    """Take the event for processing unless it is done or another worker has it fresh."""
    now = timezone.now()
    claimable = Q(status__in=statuses) | Q(status="processing", updated_at__lt=now - STALE_AFTER)
    events = WebhookEvent.objects.filter(claimable, pk=event_pk)
    if limited:
        events = events.filter(attempts__lt=MAX_ATTEMPTS)
    claimed = events.update(status="processing", attempts=F("attempts") + 1, updated_at=now)
    return claimed == 1


def _finish(event_pk: Any, *, status: str, error: str = "") -> None:
    now = timezone.now()
    WebhookEvent.objects.filter(pk=event_pk).update(
        status=status, error=error[:ERROR_MAX_CHARS], processed_at=now, updated_at=now
    )


def webhook_event_process(*, event_pk: Any, trigger: str = "delivery") -> str | None:
    """Run the event's handler once; returns the final status, None when not claimed."""
    if not _claim(event_pk, statuses=("received", "failed")):
        return None
    return _run(event_pk, trigger)


def _run(event_pk: Any, trigger: str) -> str:
    """Run a claimed event's handler, finish it and record the attempt in its history."""
    started = timezone.now()
    event = WebhookEvent.objects.get(pk=event_pk)
    handler = HANDLERS.get(event.provider, {}).get(event.type)
    status, error = "processed", ""
    if handler is None:
        status = "ignored"
    else:
        try:
            handler(event.payload)
        except Exception as exc:
            logger.exception("Webhook %s %s failed", event.provider, event.event_id)
            status, error = "failed", f"{type(exc).__name__}: {exc}"[:ERROR_MAX_CHARS]
    _finish(event.pk, status=status, error=error)
    WebhookAttempt.objects.create(
        event_id=event.pk,
        number=event.attempts,
        trigger=trigger,
        status=status,
        error=error,
        started_at=started,
        finished_at=timezone.now(),
    )
    return status


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
        enqueue(pk, "retry")
    return len(pks)


# What an operator may run again: not a processed event (its handler already did its work),
# nor one a worker is running now. An ignored one had no handler; one may exist since.
RERUNNABLE = ("received", "failed", "ignored")


@dataclass(frozen=True)
class Rerun:
    """How an operator's re-run of one event went."""

    event: WebhookEvent
    ran: bool
    status: str
    error: str = ""

    @property
    def message(self) -> str:
        name = f"{self.event.provider} {self.event.type} {self.event.event_id}"
        if not self.ran:
            return (
                f"{name}: not re-run: it is {self.status} "
                "(only failed, received or ignored events are)."
            )
        if self.status == "failed":
            return f"{name}: ran again and failed: {self.error}"
        return f"{name}: ran again: {self.status}."


def webhook_event_rerun(*, event_pk: Any) -> Rerun:
    """Operator: run the event's handler again now, in this process, and say how it went.

    The attempt counts on from the event's history (nothing is reset), and the automatic
    retry limit does not apply. Refused for processed events and ones being processed.
    """
    if not _claim(event_pk, statuses=RERUNNABLE, limited=False):
        event = WebhookEvent.objects.get(pk=event_pk)
        return Rerun(event=event, ran=False, status=event.get_status_display().lower())
    status = _run(event_pk, "operator")
    event = WebhookEvent.objects.get(pk=event_pk)
    return Rerun(event=event, ran=True, status=status, error=event.error)
