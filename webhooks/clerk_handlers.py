"""Clerk user lifecycle: keep users in step with Clerk, and shut a deleted user's account down.

A deleted user is deactivated, not deleted: their request logs stay for the retention
period, and everything that lets anyone use their servers is switched off.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from lifecycle import services as lifecycle_services

logger = logging.getLogger(__name__)


def primary_email(data: dict[str, Any]) -> str:
    primary_id = data.get("primary_email_address_id")
    for address in data.get("email_addresses") or []:
        if address.get("id") == primary_id:
            return str(address.get("email_address") or "")
    return ""


def user_upsert(event: dict[str, Any]) -> None:
    """user.created / user.updated: create the user or refresh their email and names."""
    data = event["data"]
    fields = {
        "email": User.objects.normalize_email(primary_email(data)),
        "first_name": str(data.get("first_name") or "")[:150],
        "last_name": str(data.get("last_name") or "")[:150],
    }
    clerk_id = str(data["id"])
    if not User.objects.filter(clerk_id=clerk_id).exists():
        try:
            with transaction.atomic():
                User.objects.create_user(clerk_id=clerk_id, **fields)
            return
        except IntegrityError:
            pass  # The user's first API request created them at the same moment.
    # Only the profile changes: a late user.updated must not bring a deleted user back.
    User.objects.filter(clerk_id=clerk_id).update(**fields, updated_at=timezone.now())


def user_deactivate(event: dict[str, Any]) -> None:
    """user.deleted: shut the account down (see `lifecycle.services.user_deactivate`)."""
    user = User.objects.filter(clerk_id=str(event["data"]["id"])).first()
    if user is not None:
        lifecycle_services.user_deactivate(user=user)


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "user.created": user_upsert,
    "user.updated": user_upsert,
    "user.deleted": user_deactivate,
}
