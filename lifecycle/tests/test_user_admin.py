"""A user's page shows everything about them; operators are added by email; users with logs
or a Stripe customer are not deleted (the page refuses without walking their rows)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import ApiToken, User
from accounts.services import api_token_create
from billing.models import BillingAccount
from credentials.services import Placement, credential_create
from servers.services import access_key_create
from usage.testing import make_record, make_server, make_tool
from usage.writer import write_records

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alices_things(alice) -> dict:
    tool = make_tool(make_server(alice, "Pets"))
    key, _ = access_key_create(server=tool.server, name="laptop")
    token, _ = api_token_create(user=alice, name="ci", expires_at=None)
    credential = credential_create(
        user=alice,
        server_id=tool.server_id,
        type="apiKey",
        secret={"value": "sk-upstream-very-secret"},
        placement=Placement(location="header", param_name="X-Api-Key"),
    )
    BillingAccount.objects.create(user=alice, plan="free", budget_cap="25.00")
    write_records([make_record(tool, created_at=datetime.now(UTC)) for _ in range(3)])
    return {"tool": tool, "key": key, "token": token, "credential": credential}


def test_the_user_page_shows_everything_about_them(operator, alice, alices_things) -> None:
    page = operator.get(f"/admin/accounts/user/{alice.pk}/change/").content.decode()

    things = alices_things
    assert things["tool"].server.slug in page
    assert things["key"].prefix in page and "laptop" in page
    assert things["token"].prefix in page
    assert "header “X-Api-Key”" in page
    assert "sk-upstream-very-secret" not in page
    assert "Plan <b>free</b>" in page
    assert "3 of 1,000 included calls" in page
    assert "Budget cap: €25.00" in page
    assert f"/admin/usage/requestlog/?user__id__exact={alice.pk}" in page
    assert f"/admin/tooltests/tooltest/?user__id__exact={alice.pk}" in page


def test_the_user_page_links_open_their_filtered_lists(operator, alice, alices_things, bob) -> None:
    api_token_create(user=bob, name="bobs", expires_at=None)
    page = operator.get(f"/admin/accounts/user/{alice.pk}/change/")
    links = re.findall(r'href="(/admin/[a-z]+/[a-z]+/\?[^"]+)"', page.content.decode())
    assert len(links) >= 5

    for link in links:
        response = operator.get(link.replace("&amp;", "&"))
        assert response.status_code == 200, link
        owners = {str(getattr(row, "user_id", "")) for row in response.context["cl"].result_list}
        assert str(bob.pk) not in owners, link


def test_the_user_page_stays_bounded_however_many_logs(operator, alice, alices_things) -> None:
    url = f"/admin/accounts/user/{alice.pk}/change/"
    operator.get(url)
    with CaptureQueriesContext(connection) as before:
        operator.get(url)
    write_records([make_record(alices_things["tool"]) for _ in range(200)])

    with CaptureQueriesContext(connection) as after:
        operator.get(url)

    assert len(after) == len(before)
    assert not any("usage_requestlog" in q["sql"] and "LIMIT" not in q["sql"] for q in after)


def test_a_user_with_logs_is_not_deleted_and_the_page_does_not_walk_them(
    operator, alice, alices_things
) -> None:
    url = f"/admin/accounts/user/{alice.pk}/delete/"
    with CaptureQueriesContext(connection) as queries:
        page = operator.get(url).content.decode()

    assert "has request logs: deactivate the user instead" in page
    assert not any("usage_requestlog" in q["sql"] and "LIMIT" not in q["sql"] for q in queries)
    operator.post(url, {"post": "yes"})
    assert User.objects.filter(pk=alice.pk).exists()
    actions = operator.get("/admin/accounts/user/").context["action_form"].fields["action"]
    assert "delete_selected" not in [name for name, _ in actions.choices]


def test_a_user_with_a_stripe_customer_is_not_deleted(operator, bob) -> None:
    BillingAccount.objects.create(user=bob, stripe_customer_id="cus_bob")

    page = operator.get(f"/admin/accounts/user/{bob.pk}/delete/").content.decode()
    operator.post(f"/admin/accounts/user/{bob.pk}/delete/", {"post": "yes"})

    assert "has a Stripe customer" in page
    assert User.objects.filter(pk=bob.pk).exists()


def test_a_user_without_logs_or_billing_is_deleted_with_their_tokens(operator, bob) -> None:
    api_token_create(user=bob, name="t", expires_at=None)

    response = operator.post(f"/admin/accounts/user/{bob.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302, response.content.decode()[-3000:]
    assert not User.objects.filter(pk=bob.pk).exists()
    assert not ApiToken.objects.filter(user_id=bob.pk).exists()


def test_identity_and_status_fields_cannot_be_edited(operator, alice) -> None:
    url = f"/admin/accounts/user/{alice.pk}/change/"
    clerk_id = alice.clerk_id

    operator.post(
        url,
        {
            "clerk_id": "user_hijacked",
            "email": alice.email,
            "is_active": "",
            "deactivated_at_0": "2020-01-01",
        },
    )

    alice.refresh_from_db()
    assert (alice.clerk_id, alice.is_active, alice.deactivated_at) == (clerk_id, True, None)


def test_an_operator_is_added_by_email_and_signs_in_with_it(operator) -> None:
    response = operator.post(
        "/admin/accounts/user/add/",
        {
            "email": "second-op@example.com",
            "first_name": "Second",
            "last_name": "Operator",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302, response.content.decode()[-1500:]
    added = User.objects.get(email="second-op@example.com")
    assert added.is_staff and not added.is_superuser
    assert added.clerk_id.startswith("operator_")
    signed_in = Client().post(
        "/admin/login/?next=/admin/", {"username": "second-op@example.com", "password": PASSWORD}
    )
    assert signed_in.status_code == 302
    again = operator.post(
        "/admin/accounts/user/add/",
        {"email": "Second-Op@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert "already exists" in again.content.decode()


def test_an_operator_without_the_permission_cannot_press_the_buttons(alice) -> None:
    viewer = User.objects.create_superuser(email="viewer@example.com", password=PASSWORD)
    User.objects.filter(pk=viewer.pk).update(is_superuser=False)
    client = Client()
    client.force_login(viewer)

    response = client.post(f"/admin/accounts/user/{alice.pk}/run/deactivate_one/")

    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.is_active is True
