from __future__ import annotations

from celery import shared_task

from .services import unused_clients_delete, used_codes_forget


@shared_task(name="authz.tasks.delete_unused_clients")
def delete_unused_clients() -> int:
    return unused_clients_delete()


@shared_task(name="authz.tasks.forget_used_codes")
def forget_used_codes() -> int:
    return used_codes_forget()
