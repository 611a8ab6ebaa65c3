from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import BillingAccount

BUDGET_CAP = "/api/billing/budget-cap"


def test_there_is_no_cap_by_default(alice_client):
    response = alice_client.get(BUDGET_CAP)

    assert response.status_code == 200
    assert response.json()["data"] == {"budgetCap": None, "currency": "EUR"}


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (0, Decimal("0")),
        (10000, Decimal("10000")),
        (10000.0, Decimal("10000")),
        (12.5, Decimal("12.50")),
        (99.99, Decimal("99.99")),
        (0.01, Decimal("0.01")),
    ],
)
def test_it_sets_a_cap(alice, alice_client, value, stored):
    response = alice_client.put(BUDGET_CAP, {"budgetCap": value}, format="json")

    assert response.status_code == 200
    assert response.json()["data"] == {"budgetCap": float(stored), "currency": "EUR"}
    assert BillingAccount.objects.get(user=alice).budget_cap == stored
    assert alice_client.get(BUDGET_CAP).json()["data"]["budgetCap"] == float(stored)


def test_null_removes_the_cap(alice, alice_client):
    BillingAccount.objects.create(user=alice, budget_cap=Decimal("50"))

    response = alice_client.put(BUDGET_CAP, {"budgetCap": None}, format="json")

    assert response.json()["data"] == {"budgetCap": None, "currency": "EUR"}
    assert BillingAccount.objects.get(user=alice).budget_cap is None


@pytest.mark.parametrize(
    "body",
    [
        {"budgetCap": -0.01},
        {"budgetCap": -1},
        {"budgetCap": 10000.01},
        {"budgetCap": 1e308},
        {"budgetCap": 1.234},
        {"budgetCap": 0.001},
        {"budgetCap": 1e-7},
        {"budgetCap": "50"},
        {"budgetCap": "50.00"},
        {"budgetCap": True},
        {"budgetCap": False},
        {"budgetCap": [5]},
        {"budgetCap": {"amount": 5}},
        {},
    ],
)
def test_it_rejects_invalid_caps(alice, alice_client, body):
    response = alice_client.put(BUDGET_CAP, body, format="json")

    assert response.status_code == 400
    assert "budgetCap" in response.json()["error"]["details"]
    assert not BillingAccount.objects.filter(user=alice, budget_cap__isnull=False).exists()


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_it_rejects_non_finite_numbers(alice_client, literal):
    body = b'{"budgetCap": ' + literal + b"}"

    response = alice_client.put(BUDGET_CAP, body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_the_cap_is_the_users_own(alice_client, bob_client):
    alice_client.put(BUDGET_CAP, {"budgetCap": 20}, format="json")

    assert bob_client.get(BUDGET_CAP).json()["data"]["budgetCap"] is None
