"""Plan limits outside the call path."""

from __future__ import annotations

from django.conf import settings

from accounts.models import User
from billing.selectors import plan_for_user
from core.errors import Forbidden


def ensure_can_create_server(*, user: User) -> None:
    """403 FORBIDDEN when the user's plan allows no more servers (CONTRACT §9)."""
    if not settings.PLAN_ENFORCEMENT:
        return
    plan = plan_for_user(user_id=user.pk)
    if plan.max_servers is None:
        return
    count = user.servers.count()
    if count >= plan.max_servers:
        raise Forbidden(
            f"The {plan.name} plan allows {plan.max_servers} servers",
            details={"reason": "server_limit", "limit": plan.max_servers, "plan": plan.name},
        )
