"""Celery tasks of the tools app; they take ids only and call a service."""

from __future__ import annotations

from celery import shared_task

from .testing_service import tool_test_run


@shared_task(name="tools.run_tool_test", ignore_result=True)
def run_tool_test(test_id: str) -> None:
    tool_test_run(test_id=test_id)
