"""Plan enforcement: server count, request rates, the free quota and the budget cap.

What is checked where (docs/api.md, limits and plans):
- every MCP request and every REST call: the user's requests per minute
  (`rate_limit`); MCP requests to public servers also per client IP;
- tool calls only: the free plan's included calls (`quota`) and, on paid plans,
  the budget cap on overage cost (`budget_cap`);
- `POST /api/servers`: the plan's server count (403).

With `PLAN_ENFORCEMENT` off nothing is refused (usage is still recorded).

The call path stays cheap: the user's plan and period usage are cached in process
memory for `USAGE_STATE_CACHE_SECONDS` (default 2 s) and counted forward locally
between refreshes, so a quota or cap takes effect within that time plus the
recorder's flush window; the rate limit is one Redis round trip.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from billing.selectors import PlanInfo, plan_for_user
from core.aio import keyed_lock
from core.db import run_orm, usable_connection
from core.errors import RateLimited

from . import ratelimit
from .refusals import Refusal
from .selectors import overage_cost, period_call_count


def enforcement_on() -> bool:
    return bool(settings.PLAN_ENFORCEMENT)


# --- Cached plan and period usage ------------------------------------------------------


@dataclass
class UserState:
    plan: PlanInfo
    period_calls: int
    loaded_at: float
    mcp_limit: ratelimit.Limit
    """The user's per-minute limit on MCP requests, made once per load (the call path's)."""
    admitted_since: int = field(default=0)

    def calls(self) -> int:
        return self.period_calls + self.admitted_since


_states: dict[str, UserState] = {}
_states_lock = threading.Lock()


def _cache_seconds() -> float:
    return float(settings.USAGE_STATE_CACHE_SECONDS)


@usable_connection
def _load_state(user_id: Any) -> UserState:
    plan = plan_for_user(user_id=user_id)
    calls = period_call_count(user_id, plan.period_start, plan.period_end)
    return UserState(
        plan=plan,
        period_calls=calls,
        loaded_at=time.monotonic(),
        mcp_limit=ratelimit.Limit(f"mcp:u:{user_id}", plan.requests_per_minute),
    )


def _fresh(state: UserState | None) -> bool:
    return state is not None and time.monotonic() - state.loaded_at < _cache_seconds()


def user_state(user_id: Any) -> UserState:
    key = str(user_id)
    state = _states.get(key)
    if not _fresh(state):
        state = _load_state(user_id)
        with _states_lock:
            _states[key] = state
    assert state is not None
    return state


async def auser_state(user_id: Any) -> UserState:
    key = str(user_id)
    state = _states.get(key)
    if _fresh(state):
        assert state is not None
        return state
    # One reload per user at a time: the calls arriving meanwhile wait for it.
    async with keyed_lock(f"usage-state:{key}"):
        state = _states.get(key)
        if not _fresh(state):
            state = await run_orm(_load_state, user_id)
            with _states_lock:
                _states[key] = state
    assert state is not None
    return state


def forget_user_state(user_id: Any = None) -> None:
    """Drop cached plan/usage (one user, or all): after a plan change, and in tests."""
    with _states_lock:
        if user_id is None:
            _states.clear()
        else:
            _states.pop(str(user_id), None)


# --- Quota and budget cap ------------------------------------------------------------------


def tool_call_refusal(state: UserState, *, now: datetime | None = None) -> Refusal | None:
    """The quota or budget-cap refusal for one more tool call, if any."""
    plan = state.plan
    calls = state.calls()
    if plan.overage_per_1000 is None:
        if calls >= plan.included_calls:
            return Refusal(
                reason="quota",
                retry_after=_seconds_until(plan.period_end, now),
                message=(
                    f"The {plan.name} plan's {plan.included_calls} tool calls for this period "
                    "are used up"
                ),
            )
        return None
    cap = plan.budget_cap
    if cap is not None and calls >= plan.included_calls:
        cost = overage_cost(calls - plan.included_calls, plan.overage_per_1000)
        if cost >= Decimal(cap):
            return Refusal(
                reason="budget_cap",
                retry_after=_seconds_until(plan.period_end, now),
                message=f"The budget cap of EUR {cap} for this period is reached",
            )
    return None


def _seconds_until(moment: datetime, now: datetime | None) -> int:
    now = now or datetime.now(UTC)
    return max(1, int((moment - now).total_seconds()) + 1)


# --- Admission ---------------------------------------------------------------------------


def _public_ip_rpm() -> int:
    return int(settings.PUBLIC_IP_RPM)


async def admit_mcp(
    *, user_id: Any, client_ip: str, public: bool, tool_call: bool, caller: str | None = None
) -> Refusal | None:
    """Admit one MCP request of USER_ID's server, or say why not (async, for the gateway).

    Every request counts against the user's per-minute limit (and, on public
    servers, the client IP's; on shared servers, the CALLER's: a grant of one of the users the
    server is shared with); `tool_call` requests also need quota and budget.
    """
    if not enforcement_on():
        return None
    # The common case in a few lines and no awaits (each line runs on every call): a fresh
    # cached state, a private server, within the plan, and a unit left of this worker's
    # rate-limit lease.
    state = _states.get(str(user_id))
    if (
        state is not None
        and not public
        and caller is None
        and time.monotonic() - state.loaded_at < _cache_seconds()
        and (not tool_call or tool_call_refusal(state) is None)
        and ratelimit.take_leased(state.mcp_limit.key)
    ):
        if tool_call:
            state.admitted_since += 1
        return None
    state = await auser_state(user_id)
    limits = [state.mcp_limit]
    if public:
        limits.append(ratelimit.Limit(f"mcp:ip:{client_ip}", _public_ip_rpm()))
    if caller is not None:
        limits.append(ratelimit.Limit(f"mcp:caller:{caller}", settings.SHARED_CALLER_RPM))
    if tool_call:
        refusal = tool_call_refusal(state)
        if refusal is not None:
            return refusal
    wait = await ratelimit.ahit(limits)
    if wait is not None:
        return _rate_refusal(wait, limits)
    if tool_call:
        state.admitted_since += 1
    return None


def ensure_tool_call_allowed(*, user_id: Any) -> None:
    """For tool calls made over REST (tool tests): 429 RATE_LIMIT on quota or budget cap."""
    if not enforcement_on():
        return
    state = user_state(user_id)
    refusal = tool_call_refusal(state)
    if refusal is not None:
        raise RateLimited(refusal.message, reason=refusal.reason, retry_after=refusal.retry_after)
    state.admitted_since += 1


def admit_rest(*, user_id: Any) -> int | None:
    """Seconds to wait when USER_ID's REST request is over the per-minute limit, else None."""
    if not enforcement_on():
        return None
    state = user_state(user_id)
    wait = ratelimit.hit([ratelimit.Limit(f"api:u:{user_id}", state.plan.requests_per_minute)])
    return None if wait is None else wait.seconds


def _rate_refusal(wait: ratelimit.Wait, limits: list[ratelimit.Limit]) -> Refusal:
    limit = limits[wait.index]
    if limit.key.startswith("mcp:ip:"):
        who = "this client address"
    elif limit.key.startswith("mcp:caller:"):
        who = "this caller"
    else:
        who = "this account"
    return Refusal(
        reason="rate_limit",
        retry_after=wait.seconds,
        message=f"Rate limit of {limit.per_minute} requests per minute reached for {who}",
    )


def reset_local_state() -> None:
    """Forget cached plans and local rate windows (tests, and after settings change)."""
    forget_user_state()
    ratelimit.reset_local()
