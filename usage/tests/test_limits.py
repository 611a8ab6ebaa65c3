from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.views import APIView

from billing.models import BillingAccount
from usage import ratelimit
from usage.limits import Refusal, admit_mcp
from usage.testing import make_record
from usage.throttling import PlanRateThrottle
from usage.writer import write_records

# admit_mcp reads the plan from a worker thread: it must see committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def enforced(settings):
    settings.PLAN_ENFORCEMENT = True
    return settings


def set_plan(settings, name: str, **values) -> None:
    settings.PLANS = {**settings.PLANS, name: {**settings.PLANS[name], **values}}


def admit(user, *, tool_call: bool = True, public: bool = False, ip: str = "198.51.100.7"):
    return asyncio.run(admit_mcp(user_id=user.pk, client_ip=ip, public=public, tool_call=tool_call))


def test_it_refuses_mcp_requests_past_the_per_minute_limit(enforced, alice):
    set_plan(enforced, "free", requests_per_minute=3)

    results = [admit(alice, tool_call=False) for _ in range(4)]

    assert results[:3] == [None, None, None]
    refusal = results[3]
    assert isinstance(refusal, Refusal)
    assert (refusal.reason, refusal.status) == ("rate_limit", 429)
    assert 1 <= refusal.retry_after <= 120
    assert "3 requests per minute" in refusal.message


def test_public_servers_are_also_limited_per_client_ip(enforced, alice, bob):
    enforced.PUBLIC_IP_RPM = 2

    assert admit(alice, public=True, tool_call=False) is None
    assert admit(bob, public=True, tool_call=False) is None
    refusal = admit(alice, public=True, tool_call=False)

    assert refusal is not None and refusal.reason == "rate_limit"
    assert "client address" in refusal.message
    assert admit(alice, public=True, tool_call=False, ip="203.0.113.9") is None
    assert admit(alice, public=False, tool_call=False) is None


def test_the_free_plan_stops_tool_calls_at_its_quota(enforced, alice, alice_tool):
    set_plan(enforced, "free", included_calls=2)
    write_records([make_record(alice_tool) for _ in range(2)])

    refusal = admit(alice)

    assert refusal is not None and refusal.reason == "quota"
    month_end = datetime.now(UTC).replace(day=28) + timedelta(days=4)
    assert 1 <= refusal.retry_after <= (month_end - datetime.now(UTC)).total_seconds() + 1
    assert admit(alice, tool_call=False) is None


def test_calls_admitted_since_the_last_refresh_count_toward_the_quota(enforced, alice):
    set_plan(enforced, "free", included_calls=2)

    assert admit(alice) is None
    assert admit(alice) is None
    refusal = admit(alice)

    assert refusal is not None and refusal.reason == "quota"


def test_the_budget_cap_stops_tool_calls_once_overage_reaches_it(enforced, alice, alice_tool):
    set_plan(enforced, "starter", included_calls=3, overage_per_1000=1000)
    now = datetime.now(UTC)
    BillingAccount.objects.create(
        user=alice,
        plan="starter",
        subscription_status="active",
        current_period_start=now - timedelta(days=1),
        current_period_end=now + timedelta(days=29),
        budget_cap="2.00",
    )
    # The period started mid-day yesterday: today is its first whole day.
    write_records([make_record(alice_tool) for _ in range(4)])

    assert admit(alice) is None
    refusal = admit(alice)

    assert refusal is not None and refusal.reason == "budget_cap"
    assert "EUR 2.00" in refusal.message
    assert 29 * 86400 - 60 <= refusal.retry_after <= 29 * 86400 + 1


def test_paid_plans_without_a_cap_are_never_stopped(enforced, alice, alice_tool):
    set_plan(enforced, "starter", included_calls=1)
    now = datetime.now(UTC)
    BillingAccount.objects.create(
        user=alice,
        plan="starter",
        subscription_status="active",
        current_period_start=now - timedelta(days=1),
        current_period_end=now + timedelta(days=29),
    )
    write_records([make_record(alice_tool) for _ in range(5)])

    assert admit(alice) is None


def test_nothing_is_refused_with_enforcement_off(settings, alice, alice_tool):
    settings.PLAN_ENFORCEMENT = False
    set_plan(settings, "free", included_calls=1, requests_per_minute=1)
    settings.PUBLIC_IP_RPM = 1
    write_records([make_record(alice_tool) for _ in range(3)])

    assert [admit(alice, public=True) for _ in range(5)] == [None] * 5


@pytest.fixture
def throttled_api(monkeypatch):
    """What `DEFAULT_THROTTLE_CLASSES` does: DRF copies it onto APIView at import."""
    monkeypatch.setattr(APIView, "throttle_classes", [PlanRateThrottle])


def test_the_rest_api_answers_429_past_the_per_minute_limit(enforced, throttled_api, alice_client):
    set_plan(enforced, "free", requests_per_minute=2)

    statuses = [alice_client.get("/api/logs").status_code for _ in range(2)]
    response = alice_client.get("/api/logs")

    assert statuses == [200, 200]
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 120
    assert response.json() == {
        "success": False,
        "error": {
            "code": "RATE_LIMIT",
            "message": "Too many requests",
            "details": {"reason": "rate_limit", "retryAfterSeconds": retry_after},
        },
    }


def test_the_rest_limit_is_per_user(enforced, throttled_api, alice_client, bob_client):
    set_plan(enforced, "free", requests_per_minute=1)

    assert alice_client.get("/api/logs").status_code == 200
    assert alice_client.get("/api/logs").status_code == 429
    assert bob_client.get("/api/logs").status_code == 200


def test_the_rest_api_is_not_limited_with_enforcement_off(settings, throttled_api, alice_client):
    settings.PLAN_ENFORCEMENT = False
    set_plan(settings, "free", requests_per_minute=1)

    assert {alice_client.get("/api/usage").status_code for _ in range(3)} == {200}


@pytest.mark.parametrize(
    ("current", "previous", "limit", "elapsed", "expected"),
    [
        # Full window: into the next one until 9 of the 10 still count (6 s).
        (10, 0, 10, 15.0, 51),
        # 6 of the previous 10 must slide out: 36 of its 60 seconds.
        (5, 10, 10, 0.0, 36),
        (0, 0, 0, 59.5, 1),
    ],
)
def test_retry_after_is_when_one_more_request_fits(current, previous, limit, elapsed, expected):
    assert ratelimit.retry_after(current, previous, limit, elapsed) == expected
