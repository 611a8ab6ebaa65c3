"""Migrations keep the authorization codes in flight usable, stored as their hash."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone


@pytest.mark.django_db(transaction=True)
def test_a_code_issued_before_the_upgrade_is_stored_as_its_hash():
    before = [("authz", "0003_grant_tools_and_used_codes")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    # The toolkit's tables are at their newest (only our migration is undone).
    toolkit = [node for node in executor.loader.graph.leaf_nodes() if node[0] == "oauth2_provider"]
    old = executor.loader.project_state([*before, *toolkit]).apps
    user = old.get_model("accounts", "User").objects.create(email="m@example.com")
    application = old.get_model("oauth2_provider", "Application").objects.create(
        name="Agent",
        client_type="public",
        authorization_grant_type="authorization-code",
        algorithm="",
    )
    code = "c" * 30
    grant = old.get_model("oauth2_provider", "Grant").objects.create(
        user=user,
        application=application,
        code=code,
        expires=timezone.now() + timedelta(seconds=50),
        redirect_uri="http://127.0.0.1:1/cb",
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from oauth2_provider.models import Grant

    assert Grant.objects.get(pk=grant.pk).code == hashlib.sha256(code.encode()).hexdigest()
