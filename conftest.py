"""The fixed cast of the test suite: alice and bob own things, charlie owns nothing, and an
operator (a superuser) works in the admin."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.db import connections, transaction
from django.test import Client, TransactionTestCase
from rest_framework.test import APIClient

from accounts import local_issuer
from accounts.jwt_verification import reset_caches
from accounts.models import User
from usage import ratelimit

# Rows every test starts with: the migrations' record, and the content types and permissions
# that the post_migrate signal made once, when the test database was created.
_KEPT_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})
_emptied_tables: dict[str, list[str]] = {}


def _empty_the_tables(self: TransactionTestCase) -> None:
    """After a transactional test (`django_db(transaction=True)`), delete every row the test
    could have written, in one transaction, instead of Django's `flush`.

    `flush` truncates every table, content types and permissions included, then sends
    post_migrate to make those two again: 220 ms a test on PostgreSQL, where TRUNCATE makes new
    files for each table and index. DELETE of a few rows takes milliseconds; the foreign keys
    Django makes are deferred to the commit, so the order does not matter. The state a test
    starts from is the same: empty tables but for those in `_KEPT_TABLES`, whose rows stay
    the very ones ContentType's cache holds.
    """
    for alias in self._databases_names(include_mirrors=False):  # type: ignore[attr-defined]
        connection = connections[alias]
        tables = _emptied_tables.get(alias)
        if tables is None:
            names = connection.introspection.django_table_names(
                only_existing=True, include_views=False
            )
            emptied = sorted(name for name in names if name not in _KEPT_TABLES)
            tables = _emptied_tables[alias] = [connection.ops.quote_name(name) for name in emptied]
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"DELETE FROM {table}")


TransactionTestCase._fixture_teardown = _empty_the_tables  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _tasks_run_inline(request) -> Iterator[None]:
    """Celery tasks run in the test's process, as an idle worker would run them at once.

    With REDIS_URL set (CI's services run) tasks would otherwise go to a broker no worker
    reads. Tests marked `services` run a real worker and keep the configured behaviour.
    """
    if request.node.get_closest_marker("services"):
        yield
        return
    from config.celery import app

    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was_eager


@pytest.fixture(autouse=True)
def _fresh_auth_caches():
    reset_caches()
    yield
    reset_caches()


@pytest.fixture(autouse=True)
def _registrations_unthrottled(settings):
    """Tests register OAuth clients and sign in from 127.0.0.1, counted in Redis across the
    whole run when it is configured; the two limits have tests of their own, which lower them."""
    settings.OAUTH_REGISTRATIONS_PER_MINUTE = 10_000
    settings.OAUTH_SIGN_INS_PER_MINUTE = 10_000
    ratelimit.reset_local()
    yield
    ratelimit.reset_local()


def _make_user(email: str) -> User:
    return User.objects.create_user(clerk_id=local_issuer.subject_for_email(email), email=email)


@pytest.fixture
def alice(db) -> User:
    return _make_user("alice@example.com")


@pytest.fixture
def bob(db) -> User:
    return _make_user("bob@example.com")


@pytest.fixture
def charlie(db) -> User:
    return _make_user("charlie@example.com")


@pytest.fixture
def client_for() -> Callable[[User], APIClient]:
    """An API client authenticated as USER with a real local-issuer session token."""

    def make(user: User) -> APIClient:
        client = APIClient()
        token = local_issuer.mint_token(user.email, lifetime_seconds=600)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def alice_client(alice, client_for) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_client(bob, client_for) -> APIClient:
    return client_for(bob)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def operator(db) -> Client:
    """A browser session of the operator, a superuser, logged in to the admin."""
    client = Client()
    client.force_login(User.objects.create_superuser(clerk_id="operator", email="ops@example.com"))
    return client


def pytest_report_header(config) -> list[str]:
    from django.conf import settings

    db = settings.DATABASES["default"]
    where = db["NAME"] if db["ENGINE"].endswith("sqlite3") else f"{db.get('HOST')}:{db.get('PORT')}"
    broker = settings.CELERY_BROKER_URL if not settings.CELERY_TASK_ALWAYS_EAGER else "eager"
    cache = str(settings.CACHES["default"]["BACKEND"]).rsplit(".", 1)[-1]
    return [
        f"specgate database: {db['ENGINE'].rsplit('.', 1)[-1]} ({where})",
        f"specgate broker: {broker}; cache: {cache}",
    ]
