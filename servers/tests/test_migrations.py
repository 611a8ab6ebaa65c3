"""Migrations leave what existing servers serve and what existing keys may do unchanged."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateway.registry import _keys
from gateway.runtime import FULL_ACCESS


@pytest.mark.django_db(transaction=True)
def test_existing_servers_keep_listing_every_tool_and_new_ones_are_auto():
    executor = MigrationExecutor(connection)
    executor.migrate([("servers", "0001_initial")])
    old = executor.loader.project_state([("servers", "0001_initial")]).apps
    user = old.get_model("accounts", "User").objects.create(email="m@example.com")
    spec = old.get_model("specs", "Spec").objects.create(
        user=user, name="s", format="openapi-3.0", document={}, original_text="{}", sha256="0" * 64
    )
    existing = old.get_model("servers", "Server").objects.create(
        user=user, spec=spec, name="Old", slug="old", base_url="https://api.example"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from servers.models import Server

    assert Server.objects.get(pk=existing.pk).tool_mode == "all"
    fresh = Server.objects.create(
        user_id=user.pk, spec_id=spec.pk, name="New", slug="new", base_url="https://api.example"
    )
    assert Server.objects.get(pk=fresh.pk).tool_mode == "auto"


@pytest.mark.django_db(transaction=True)
def test_existing_keys_get_tools_call_and_no_allowlist():
    before = [("servers", "0001_initial")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    user = old.get_model("accounts", "User").objects.create(email="m@example.com")
    spec = old.get_model("specs", "Spec").objects.create(
        user=user, name="s", format="openapi-3.0", document={}, original_text="{}", sha256="0" * 64
    )
    server = old.get_model("servers", "Server").objects.create(
        user=user, spec=spec, name="s", slug="s", base_url="https://api.example"
    )
    key = old.get_model("servers", "AccessKey").objects.create(
        server=server, name="old", prefix="mcpk_old", key_hash="a" * 64
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    from servers.models import AccessKey, Server

    migrated = AccessKey.objects.get(pk=key.pk)
    assert (migrated.scope, migrated.restricts_tools) == ("tools:call", False)
    assert _keys(Server.objects.get(pk=server.pk), {})["a" * 64][1].grant == FULL_ACCESS
