"""Billing in the admin: the budget cap is set with the API's rules; nothing billing depends
on can be deleted."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import BillingAccount, MeterReport

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(alice) -> BillingAccount:
    return BillingAccount.objects.create(user=alice, stripe_customer_id="cus_alice")


def set_cap(operator, account: BillingAccount, value: str):
    return operator.post(
        f"/admin/billing/billingaccount/{account.pk}/change/", {"budget_cap": value}
    )


@pytest.mark.parametrize("value", ["-5", "10000.01", "99999"])
def test_a_budget_cap_outside_0_to_10000_is_refused(operator, account, value) -> None:
    response = set_cap(operator, account, value)

    assert response.status_code == 200
    assert "Must be between 0 and 10000 inclusive." in response.content.decode()
    account.refresh_from_db()
    assert account.budget_cap is None


@pytest.mark.parametrize(("value", "stored"), [("0", "0.00"), ("10000", "10000.00"), ("", None)])
def test_a_budget_cap_in_range_is_set_and_served_by_the_api(
    operator, account, alice_client, value, stored
) -> None:
    assert set_cap(operator, account, value).status_code == 302

    account.refresh_from_db()
    assert account.budget_cap == (Decimal(stored) if stored else None)
    cap = alice_client.get("/api/billing/budget-cap").json()["data"]["budgetCap"]
    assert cap == (float(stored) if stored else None)


def test_plan_and_stripe_state_are_read_only(operator, account) -> None:
    operator.post(
        f"/admin/billing/billingaccount/{account.pk}/change/",
        {"budget_cap": "5", "plan": "pro", "stripe_customer_id": "cus_other"},
    )

    account.refresh_from_db()
    assert (account.plan, account.stripe_customer_id) == ("free", "cus_alice")


def test_billing_accounts_and_meter_reports_cannot_be_deleted(operator, account, alice) -> None:
    report = MeterReport.objects.create(
        user=alice,
        stripe_customer_id="cus_alice",
        period_start=account.created_at,
        sequence=1,
        identifier="mr_1",
        calls=10,
        event_timestamp=1,
    )

    assert (
        operator.post(
            f"/admin/billing/billingaccount/{account.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert (
        operator.post(
            f"/admin/billing/meterreport/{report.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    listing = operator.get("/admin/billing/billingaccount/").context["action_form"]
    assert listing is None or "delete_selected" not in str(listing)
    assert BillingAccount.objects.filter(pk=account.pk).exists()
