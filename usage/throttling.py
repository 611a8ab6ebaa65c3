"""The REST API's per-user request rate (docs/api.md); billing and webhook views opt out."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from accounts.models import User

from .limits import admit_rest


class PlanRateThrottle(BaseThrottle):
    """The plan's requests per minute, per user, shared by all workers (Redis).

    Refusals become 429 RATE_LIMIT with Retry-After and details.reason "rate_limit"
    through the project's exception handler. Anonymous requests pass: they are
    refused by authentication anyway.
    """

    def __init__(self) -> None:
        self.seconds: int | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if not isinstance(user, User):
            return True
        self.seconds = admit_rest(user_id=user.pk)
        return self.seconds is None

    def wait(self) -> float | None:
        return self.seconds
