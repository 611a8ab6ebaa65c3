"""`/metrics`: the Prometheus scrape, behind a bearer token.

With `METRICS_TOKEN` unset the endpoint does not exist (404) and no metric is kept. With it
set, a scrape must send `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise). Under
gunicorn (`PROMETHEUS_MULTIPROC_DIR` set by config/gunicorn.py) the answer sums every
worker's files; the backlog gauges below are read from their sources at scrape time.
"""

from __future__ import annotations

import functools
import hmac
import os
from collections.abc import Iterator

import redis
from django.conf import settings
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from config.celery import app as celery_app
from webhooks.models import WebhookEvent

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WEBHOOK_BACKLOG_STATUSES = ("received", "processing")
# kombu's Redis transport keeps a queue's messages of priority > 0 in keys of their own.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


class BacklogCollector(Collector):
    """Webhook events not yet processed and Celery messages waiting, read when scraped."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # The registry asks for the names at registration: answer without a query.
        yield GaugeMetricFamily("specgate_webhook_backlog", "", labels=["provider"])
        yield GaugeMetricFamily("specgate_celery_queue_depth", "", labels=["queue"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        webhooks = GaugeMetricFamily(
            "specgate_webhook_backlog",
            "Webhook events received and not yet processed, by provider.",
            labels=["provider"],
        )
        counts = dict.fromkeys((code for code, _ in WebhookEvent.PROVIDERS), 0)
        rows = (
            WebhookEvent.objects.filter(status__in=WEBHOOK_BACKLOG_STATUSES)
            .order_by()
            .values_list("provider")
            .annotate(count=Count("id"))
        )
        counts.update(rows)
        for provider, count in counts.items():
            webhooks.add_metric([provider], count)
        yield webhooks
        depth = _celery_queue_depth()
        if depth is not None:
            queue = celery_app.conf.task_default_queue
            family = GaugeMetricFamily(
                "specgate_celery_queue_depth",
                "Celery messages waiting in the broker, by queue.",
                labels=["queue"],
            )
            family.add_metric([queue], depth)
            yield family


@functools.cache
def _broker_client() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)


def _celery_queue_depth() -> int | None:
    """Messages waiting in the default queue; None when the broker is not Redis."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "unix://")):
        return None
    queue = celery_app.conf.task_default_queue
    pipe = _broker_client().pipeline(transaction=False)
    for suffix in _PRIORITY_SUFFIXES:
        pipe.llen(queue + suffix)
    return int(sum(pipe.execute()))


_backlog = BacklogCollector()
REGISTRY.register(_backlog)


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_backlog)
    return registry


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE)
