import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("specgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _start_tracing(**kwargs: Any) -> None:
    """Trace the worker's tasks when an OTLP endpoint is configured (the pool's children
    inherit the provider: the SDK restarts its export thread after a fork)."""
    from core.observability.instrumentation import start_tracing

    start_tracing(service_name="specgate-worker", web=False)
