from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True)
def process_webhook_event(event_pk: str, trigger: str = "delivery") -> str | None:
    return services.webhook_event_process(event_pk=event_pk, trigger=trigger)


@shared_task(ignore_result=True)
def requeue_stale_webhook_events() -> int:
    """Beat: queue events a dead worker or a broker outage left unprocessed."""
    return services.webhook_events_requeue_stale()
