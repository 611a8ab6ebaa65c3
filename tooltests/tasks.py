"""Celery tasks of the tooltests app; they take ids only and call a service.

The task keeps the name it was registered under when it lived in `tools`, so messages queued
before a deploy still find it.
"""

from __future__ import annotations

from celery import shared_task

from .services import tool_test_run


@shared_task(name="tools.run_tool_test", ignore_result=True)
def run_tool_test(test_id: str) -> None:
    tool_test_run(test_id=test_id)
