"""Clerk user lifecycle: keep users in step with Clerk, shut a deleted user's account down, and
end what a user held through an organisation they left.

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
from authz import services as authz_services
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


def organisation_membership_end(event: dict[str, Any]) -> None:
    """organizationMembership.deleted: the member left or was removed; the OAuth grants that
    organisation admitted them to (a shared server's audience naming it) stop now."""
    data = event["data"]
    org_id = str((data.get("organization") or {}).get("id") or "")
    clerk_id = str((data.get("public_user_data") or {}).get("user_id") or "")
    user = User.objects.filter(clerk_id=clerk_id).first() if org_id and clerk_id else None
    if user is not None:
        authz_services.organisation_left(user=user, org_id=org_id)


HANDLERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "user.created": user_upsert,
    "user.updated": user_upsert,
    "user.deleted": user_deactivate,
    "organizationMembership.deleted": organisation_membership_end,
}
