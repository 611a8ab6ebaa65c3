"""Operators sign in to the admin with their email address; the admin looks like Specgate's."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fresh_throttle() -> None:
    cache.clear()


@pytest.fixture
def operator_account() -> User:
    return User.objects.create_superuser(email="Ops@Example.com", password=PASSWORD)


def sign_in(username: str, password: str = PASSWORD):
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )
    return client, response


def test_the_sign_in_form_asks_for_an_email_address() -> None:
    page = Client().get("/admin/login/").content.decode()

    assert "Email address" in page
    assert "Clerk" not in page
    assert 'autocomplete="email"' in page


def test_an_operator_signs_in_with_their_email_in_any_case(operator_account) -> None:
    client, response = sign_in("ops@example.com")

    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_clerk_id_is_not_a_sign_in(operator_account) -> None:
    _, response = sign_in(operator_account.clerk_id)

    assert response.status_code == 200
    assert "correct email address and password" in response.content.decode()


def test_a_customer_with_the_same_email_cannot_sign_in(operator_account) -> None:
    customer = User.objects.create_user(clerk_id="user_1", email="customer@example.com")
    customer.set_password(PASSWORD)
    customer.save()

    _, response = sign_in("customer@example.com")

    assert response.status_code == 200
    assert "correct email address and password" in response.content.decode()


def test_the_admin_is_titled_specgate_without_a_dead_view_site_link_or_groups(
    operator_account,
) -> None:
    client, _ = sign_in("ops@example.com")

    page = client.get("/admin/").content.decode()

    assert "<title>Operations | Specgate admin</title>" in page
    assert ">Specgate<" in page
    assert "View site" not in page
    assert "Groups" not in page
    assert "API tokens" in page
    assert client.get("/admin/auth/group/").status_code == 404


def test_createsuperuser_asks_for_an_email_and_makes_an_operator(monkeypatch) -> None:
    answers = iter(["new-operator@example.com"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": PASSWORD)
    out = io.StringIO()

    call_command("createsuperuser", stdout=out)

    user = User.objects.get(email="new-operator@example.com")
    assert (user.is_staff, user.is_superuser) == (True, True)
    assert user.clerk_id.startswith("operator_")
    assert "sign in at /admin/ with this email" in out.getvalue()
    _, response = sign_in("new-operator@example.com")
    assert response.status_code == 302


def test_createsuperuser_without_input_takes_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)

    call_command("createsuperuser", "--noinput", "--email", "ci@example.com", stdout=io.StringIO())

    assert User.objects.get(email="ci@example.com").check_password(PASSWORD)
    with pytest.raises(CommandError, match="already exists"):
        call_command("createsuperuser", "--noinput", "--email", "CI@example.com")
    with pytest.raises(CommandError, match="Not an email address"):
        call_command("createsuperuser", "--noinput", "--email", "not-an-email")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "short")
    with pytest.raises(CommandError, match="too short"):
        call_command("createsuperuser", "--noinput", "--email", "other@example.com")
