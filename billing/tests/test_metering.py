from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from billing.models import BillingAccount, MeterReport
from usage.metering import overage_report, overage_report_all
from usage.models import UsageDaily
from usage.tasks import report_overage

STARTER_INCLUDED = 50_000


def period_start() -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=5)


def paid_account(user, **overrides) -> BillingAccount:
    start = period_start()
    fields = {
        "plan": "starter",
        "subscription_status": "active",
        "stripe_customer_id": f"cus_{user.email.split('@')[0]}",
        "stripe_subscription_id": f"sub_{user.pk.hex[:8]}",
        "current_period_start": start,
        "current_period_end": start + timedelta(days=30),
    }
    return BillingAccount.objects.create(user=user, **(fields | overrides))


def add_calls(user, calls: int, days_in: int = 1) -> None:
    UsageDaily.objects.create(
        user=user,
        server_uuid=uuid.uuid4(),
        server_name="Pets",
        day=(period_start() + timedelta(days=days_in)).date(),
        source="mcp",
        calls=calls,
        updated_at=datetime.now(UTC),
    )


def meter_requests(fake):
    return fake.requests_to("POST", "/v1/billing/meter_events")


def test_it_reports_new_overage_as_a_meter_event(fake_stripe, alice, settings):
    paid_account(alice)
    add_calls(alice, STARTER_INCLUDED + 250)

    assert report_overage() == 1

    (request,) = meter_requests(fake_stripe)
    report = MeterReport.objects.get()
    start = int(period_start().timestamp())
    assert report.identifier == f"sg-{alice.pk}-{start}-1"
    assert request.params == {
        "event_name": settings.STRIPE_METER_EVENT_NAME,
        "payload[stripe_customer_id]": "cus_alice",
        "payload[value]": "250",
        "identifier": report.identifier,
        "timestamp": str(report.event_timestamp),
    }
    assert request.idempotency_key == f"specgate:meter:{report.identifier}"
    assert (report.status, report.calls, report.sequence) == ("sent", 250, 1)
    assert report.sent_at is not None


def test_it_reports_only_what_was_not_reported(fake_stripe, alice):
    paid_account(alice)
    add_calls(alice, STARTER_INCLUDED + 250)
    overage_report_all()
    overage_report_all()
    add_calls(alice, 100, days_in=2)

    overage_report_all()

    values = [r.params["payload[value]"] for r in meter_requests(fake_stripe)]
    assert values == ["250", "100"]
    assert list(MeterReport.objects.order_by("sequence").values_list("sequence", "calls")) == [
        (1, 250),
        (2, 100),
    ]
    assert fake_stripe.billed_calls("cus_alice") == 350


def test_nothing_is_reported_within_the_included_calls(fake_stripe, alice):
    paid_account(alice)
    add_calls(alice, STARTER_INCLUDED)

    assert overage_report_all() == 0
    assert meter_requests(fake_stripe) == []


@pytest.mark.parametrize(
    "overrides",
    [{"plan": "free"}, {"subscription_status": "canceled"}, {"stripe_customer_id": ""}],
)
def test_unpaid_accounts_are_not_metered(fake_stripe, alice, overrides):
    paid_account(alice, **overrides)
    add_calls(alice, STARTER_INCLUDED + 5_000)

    assert overage_report_all() == 0
    assert meter_requests(fake_stripe) == []


def test_a_crash_between_send_and_record_resends_the_same_identifier(fake_stripe, alice):
    paid_account(alice)
    add_calls(alice, STARTER_INCLUDED + 250)
    overage_report_all()
    # The event reached Stripe but the run died before recording it as sent.
    MeterReport.objects.update(status="pending", sent_at=None)

    overage_report_all()

    requests = meter_requests(fake_stripe)
    assert len(requests) == 2
    assert requests[0].params == requests[1].params
    assert requests[0].idempotency_key == requests[1].idempotency_key
    assert len(fake_stripe.meter_events) == 1
    assert fake_stripe.billed_calls("cus_alice") == 250
    assert MeterReport.objects.get().status == "sent"


def test_a_failed_send_is_retried_with_the_same_identifier(fake_stripe, alice):
    paid_account(alice)
    add_calls(alice, STARTER_INCLUDED + 250)
    fake_stripe.fail_next(500)

    assert overage_report_all() == 0
    assert MeterReport.objects.get().status == "pending"
    add_calls(alice, 50, days_in=2)

    overage_report_all()

    identifiers = [r.params["identifier"] for r in meter_requests(fake_stripe)]
    assert identifiers[0] == identifiers[1]
    assert len(set(identifiers)) == 2
    assert fake_stripe.billed_calls("cus_alice") == 300


def test_other_users_are_reported_when_one_fails(fake_stripe, alice, bob):
    paid_account(alice)
    paid_account(bob)
    add_calls(alice, STARTER_INCLUDED + 10)
    add_calls(bob, STARTER_INCLUDED + 20)
    fake_stripe.fail_next(500)

    overage_report_all()

    assert fake_stripe.billed_calls("cus_alice") + fake_stripe.billed_calls("cus_bob") in {10, 20}
    overage_report_all()
    assert fake_stripe.billed_calls("cus_alice") == 10
    assert fake_stripe.billed_calls("cus_bob") == 20


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_bill_each_call_once(fake_stripe, alice):
    paid_account(alice)
    add_calls(alice, STARTER_INCLUDED + 250)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            overage_report(user_id=alice.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert MeterReport.objects.count() == 1
    assert {r.params["identifier"] for r in meter_requests(fake_stripe)} == {
        MeterReport.objects.get().identifier
    }
    assert fake_stripe.billed_calls("cus_alice") == 250
