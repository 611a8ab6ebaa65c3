"""The grants API: owners see and revoke the clients authorized to their servers; users see and
revoke their own grants; nobody sees anyone else's."""

from __future__ import annotations

from typing import Any

import pytest
from oauth2_provider.models import Application, RefreshToken

from authz.models import Authorization
from authz.services import authorization_grant
from lifecycle.services import user_deactivate
from servers.models import Server

from .endpoints import make_server

pytestmark = pytest.mark.django_db


def grant_to(user, server: dict[str, Any], client_name: str = "Agent") -> Authorization:
    application = Application.objects.create(
        name=client_name,
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:1/cb",
        registration_source=Application.RegistrationSource.DCR,
    )
    return authorization_grant(
        user=user,
        application=application,
        server=Server.objects.get(pk=server["id"]),
        scope="tools:call:readonly",
    )


@pytest.fixture
def shop(alice_client) -> dict[str, Any]:
    return make_server(alice_client, "shop")


def test_the_owner_lists_the_clients_authorized_to_a_server(alice, alice_client, shop):
    grant = grant_to(alice, shop)
    response = alice_client.get(f"/api/servers/{shop['id']}/grants")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    (listed,) = body["data"]
    assert listed == {
        "id": str(grant.pk),
        "serverId": shop["id"],
        "serverName": "shop",
        "mcpUrl": shop["mcpUrl"],
        "clientId": grant.application.client_id,
        "clientName": "Agent",
        "clientVerified": False,
        "userEmail": "alice@example.com",
        "scopes": ["tools:read", "tools:call:readonly"],
        "keyPrefix": f"oauth:{str(grant.pk)[:8]}",
        "createdAt": listed["createdAt"],
        "lastUsedAt": listed["lastUsedAt"],
    }


def test_the_owner_revokes_a_grant(alice, alice_client, shop):
    grant = grant_to(alice, shop)
    RefreshToken.objects.create(
        user=alice,
        application=grant.application,
        token="r1",
        resource=[shop["mcpUrl"]],
    )
    response = alice_client.delete(f"/api/servers/{shop['id']}/grants/{grant.pk}")
    assert response.status_code == 200
    assert response.json()["data"] == {"id": str(grant.pk), "deleted": True}
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    assert RefreshToken.objects.get().revoked is not None
    assert alice_client.get(f"/api/servers/{shop['id']}/grants").json()["data"] == []
    again = alice_client.delete(f"/api/servers/{shop['id']}/grants/{grant.pk}")
    assert again.status_code == 404


def test_a_user_lists_and_revokes_their_own_grants(alice, alice_client, shop):
    grant = grant_to(alice, shop)
    listed = alice_client.get("/api/grants").json()["data"]
    assert [item["id"] for item in listed] == [str(grant.pk)]
    assert alice_client.delete(f"/api/grants/{grant.pk}").status_code == 200
    assert alice_client.get("/api/grants").json()["data"] == []


def test_another_users_grants_are_not_found(alice, alice_client, bob_client, shop):
    grant = grant_to(alice, shop)
    assert bob_client.get("/api/grants").json()["data"] == []
    assert bob_client.delete(f"/api/grants/{grant.pk}").status_code == 404
    assert bob_client.get(f"/api/servers/{shop['id']}/grants").status_code == 404
    assert bob_client.delete(f"/api/servers/{shop['id']}/grants/{grant.pk}").status_code == 404
    grant.refresh_from_db()
    assert grant.revoked_at is None


def test_grants_need_authentication(anon_client, shop):
    assert anon_client.get("/api/grants").status_code == 401
    assert anon_client.get(f"/api/servers/{shop['id']}/grants").status_code == 401


def test_the_schema_documents_the_grants_endpoints(anon_client):
    schema = anon_client.get("/api/schema", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/grants", "/api/servers/{server_id}/grants/{grant_id}"):
        assert path in schema


def test_deactivating_a_user_revokes_their_grants(alice, alice_client, shop):
    grant = grant_to(alice, shop)
    user_deactivate(user=alice)
    grant.refresh_from_db()
    assert grant.revoked_at is not None
