"""The admin login stops checking passwords after repeated failures for one username from one
address, and says for how long."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


@pytest.fixture
def operator() -> User:
    return User.objects.create_superuser(clerk_id="ops", email="ops@example.com", password=PASSWORD)


@pytest.fixture(autouse=True)
def small_limits(settings) -> None:
    settings.ADMIN_LOGIN_MAX_FAILURES = 3
    settings.ADMIN_LOGIN_LOCKOUT_SECONDS = 600
    cache.clear()


def login(password: str, username: str = "ops@example.com", address: str = "203.0.113.7"):
    return Client(REMOTE_ADDR=address).post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )


def test_it_logs_in_with_the_right_password(operator) -> None:
    assert login(PASSWORD).status_code == 302


def test_it_refuses_even_the_right_password_after_too_many_failures(operator) -> None:
    for _ in range(3):
        assert "Please enter the correct" in login("wrong").content.decode()

    refused = login(PASSWORD)

    assert refused.status_code == 200
    assert "Too many failed login attempts. Try again in 10 minutes." in refused.content.decode()


def test_it_does_not_check_the_password_while_locked(operator, django_assert_num_queries) -> None:
    for _ in range(3):
        login("wrong")

    # A locked attempt never reads the user (no password hashing either), only the session.
    with django_assert_num_queries(0):
        response = login(PASSWORD)

    assert "Too many failed" in response.content.decode()


def test_the_lock_is_per_address_and_username(operator) -> None:
    for _ in range(3):
        login("wrong")

    assert login(PASSWORD, address="198.51.100.9").status_code == 302
    assert "Too many failed" not in login("wrong", username="other").content.decode()


def test_a_success_before_the_limit_starts_the_count_again(operator) -> None:
    for _ in range(2):
        login("wrong")
    assert login(PASSWORD).status_code == 302

    for _ in range(2):
        login("wrong")
    assert login(PASSWORD).status_code == 302


def test_the_lock_ends_with_its_window(operator, settings) -> None:
    settings.ADMIN_LOGIN_MAX_FAILURES = 1
    settings.ADMIN_LOGIN_LOCKOUT_SECONDS = 4
    login("wrong")
    failed_at = time.monotonic()  # the window began a little earlier, during that attempt
    assert "Too many failed" in login(PASSWORD).content.decode()

    time.sleep(max(0.0, failed_at + 4.2 - time.monotonic()))
    assert login(PASSWORD).status_code == 302
