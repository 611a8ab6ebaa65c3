"""Celery task names are part of the deploy contract: queued messages and beat entries name them.

Moving a task between apps must keep the name it was registered under, or messages queued
before a deploy are dropped as unregistered and the beat schedule fires into nothing.
"""

from __future__ import annotations

from django.conf import settings

from config.celery import app

# Every name a message in a broker may carry today.
QUEUED_TASK_NAMES = [
    "tools.run_tool_test",
    "billing.tasks.report_overage",
    "billing.tasks.cancel_subscription",
    "usage.delete_expired_logs",
    "usage.create_log_partitions",
    "authz.tasks.delete_unused_clients",
    "authz.tasks.forget_used_codes",
    "webhooks.tasks.process_webhook_event",
    "webhooks.tasks.requeue_stale_webhook_events",
]


def registered() -> set[str]:
    app.loader.import_default_modules()
    return set(app.tasks.keys())


def test_every_beat_entry_names_a_registered_task() -> None:
    names = registered()
    for entry, schedule in settings.CELERY_BEAT_SCHEDULE.items():
        assert schedule["task"] in names, entry


def test_task_names_that_queued_work_carries_stay_registered() -> None:
    names = registered()
    assert [name for name in QUEUED_TASK_NAMES if name not in names] == []
