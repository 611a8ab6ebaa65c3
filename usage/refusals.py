"""Why an MCP request may not proceed now: the usage app's answer to the gateway.

Free of Django and of every other app, so the gateway's runtime types can name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RefusalReason = Literal["rate_limit", "quota", "budget_cap"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request may not proceed now; answered with `status` and `Retry-After`."""

    reason: RefusalReason
    retry_after: int
    message: str
    status: int = 429
