from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.models import BillingAccount
from usage.models import UsageAlert
from usage.testing import make_record, make_server, make_tool
from usage.writer import write_records


def usage(client, query: str = "") -> dict:
    response = client.get(f"/api/usage{query}")
    assert response.status_code == 200, response.json()
    return response.json()["data"]


@pytest.fixture
def starter_plan(settings, alice):
    """Alice on a paid plan with 10 included calls at EUR 5.00 per 1,000 past that."""
    settings.PLANS = {
        **settings.PLANS,
        "starter": {**settings.PLANS["starter"], "included_calls": 10, "overage_per_1000": 5},
    }
    now = datetime.now(UTC)
    return BillingAccount.objects.create(
        user=alice,
        plan="starter",
        subscription_status="active",
        current_period_start=(now - timedelta(days=3)).replace(
            hour=0, minute=0, second=0, microsecond=0
        ),
        current_period_end=now + timedelta(days=27),
    )


def test_it_reports_the_current_period_of_the_free_plan(alice_client, alice_tool):
    records = [make_record(alice_tool, duration_ms=40) for _ in range(18)]
    records.append(make_record(alice_tool, duration_ms=900, status_code=502, succeeded=False))
    records.append(make_record(alice_tool, source="test", duration_ms=40))
    write_records(records)

    data = usage(alice_client)

    today = datetime.now(UTC).date()
    assert (data["total"], data["succeeded"], data["failed"]) == (20, 19, 1)
    assert data["averageLatencyMs"] == 83.0
    assert data["p95LatencyMs"] == 50
    assert data["fromDate"] == today.replace(day=1).isoformat()
    assert data["periodStart"] == f"{today.replace(day=1).isoformat()}T00:00:00Z"
    assert data["plan"] == {
        "name": "free", "includedCalls": 1000, "overagePer1000": None, "requestsPerMinute": 60,
    }  # fmt: skip
    assert (data["periodCalls"], data["includedCalls"], data["overageCalls"]) == (20, 1000, 0)
    assert (data["overageCost"], data["currency"], data["budgetCap"]) == (0, "EUR", None)
    assert data["fractionUsed"] == 0.02
    assert data["budgetCapFractionUsed"] is None
    assert data["alerts"] == []
    day = next(d for d in data["days"] if d["date"] == today.isoformat())
    assert day == {"date": today.isoformat(), "total": 20, "succeeded": 19, "failed": 1}
    assert sum(d["total"] for d in data["days"]) == 20
    assert data["servers"] == [
        {
            "serverId": str(alice_tool.server_id),
            "serverName": "Pets",
            "total": 20,
            "succeeded": 19,
            "failed": 1,
            "averageLatencyMs": 83.0,
            "p95LatencyMs": 50,
        }
    ]


def test_it_prices_overage_to_the_cent_and_records_alerts(alice_client, alice_tool, starter_plan):
    starter_plan.budget_cap = "0.10"
    starter_plan.save()
    write_records([make_record(alice_tool) for _ in range(35)])

    data = usage(alice_client)

    assert data["plan"]["name"] == "starter"
    assert (data["periodCalls"], data["overageCalls"]) == (35, 25)
    # 25 calls at EUR 5.00 per 1,000 = 0.125, rounded half up.
    assert data["overageCost"] == 0.13
    assert data["budgetCap"] == 0.1
    assert data["fractionUsed"] == 3.5
    assert data["budgetCapFractionUsed"] == 1.3
    assert [(a["kind"], a["threshold"]) for a in data["alerts"]] == [
        ("quota", 80), ("quota", 100), ("budget_cap", 80), ("budget_cap", 100),
    ]  # fmt: skip
    usage(alice_client)
    assert UsageAlert.objects.count() == 4


def test_crossing_eighty_percent_records_one_alert(alice_client, alice_tool, starter_plan):
    write_records([make_record(alice_tool) for _ in range(8)])

    alerts = usage(alice_client)["alerts"]

    assert [(a["kind"], a["threshold"]) for a in alerts] == [("quota", 80)]


def test_it_breaks_usage_down_per_server_even_after_deletion(alice_client, alice, alice_tool):
    gone = make_server(alice, "Gone")
    gone_tool = make_tool(gone)
    write_records([make_record(gone_tool) for _ in range(2)] + [make_record(alice_tool)])
    gone.delete()

    servers = usage(alice_client)["servers"]

    assert [(s["serverId"], s["serverName"], s["total"]) for s in servers] == [
        (None, "Gone", 2),
        (str(alice_tool.server_id), "Pets", 1),
    ]


def test_it_reports_whole_days_from_to(alice_client, alice_tool):
    start = datetime(2026, 1, 10, 8, tzinfo=UTC)
    write_records(
        [make_record(alice_tool, created_at=start + timedelta(days=n)) for n in range(5)]
        + [make_record(alice_tool)]
    )

    data = usage(alice_client, "?from=2026-01-11&to=2026-01-13T00:00:00Z")

    assert (data["fromDate"], data["toDate"], data["total"]) == ("2026-01-11", "2026-01-13", 3)
    assert [d["total"] for d in data["days"]] == [1, 1, 1]
    assert data["periodCalls"] == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=2026-01-01", "to"),
        ("?to=2026-01-01", "from"),
        ("?from=soon&to=2026-01-01", "from"),
        ("?from=2026-01-02&to=2026-01-01", "to"),
        ("?from=2024-01-01&to=2026-01-01", "to"),
    ],
)
def test_it_rejects_bad_ranges(alice_client, query, field):
    response = alice_client.get(f"/api/usage{query}")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == [field]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("?from=2026-01-01T10:00:00Z&to=2026-01-02", ["from"]),
        ("?from=2026-01-01&to=2026-01-02T23:59:59Z", ["to"]),
        ("?from=2026-01-01T00:00:00%2B01:00&to=2026-01-02T00:00:00.5Z", ["from", "to"]),
    ],
)
def test_a_time_other_than_midnight_is_refused_not_rounded(alice_client, query, fields):
    response = alice_client.get(f"/api/usage{query}")

    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert list(details) == fields
    assert all("per UTC day" in details[field][0] for field in fields)


def test_midnight_utc_with_an_offset_is_a_whole_day(alice_client, alice_tool):
    write_records([make_record(alice_tool, created_at=datetime(2026, 1, 11, 8, tzinfo=UTC))])

    data = usage(alice_client, "?from=2026-01-11T01:00:00%2B01:00&to=2026-01-11T00:00:00Z")

    assert (data["fromDate"], data["toDate"], data["total"]) == ("2026-01-11", "2026-01-11", 1)


def test_bob_never_sees_alices_usage(bob_client, alice_tool):
    write_records([make_record(alice_tool) for _ in range(3)])

    data = usage(bob_client)

    assert (data["total"], data["periodCalls"], data["servers"]) == (0, 0, [])
