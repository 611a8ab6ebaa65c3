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
        "tools": None,
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


def test_a_user_narrows_their_grant_to_some_tools_and_a_weaker_scope(alice, alice_client, shop):
    grant = grant_to(alice, shop)
    url = f"/api/grants/{grant.pk}"
    narrowed = alice_client.patch(url, {"tools": ["listItems"]}, format="json")
    assert narrowed.status_code == 200, narrowed.json()
    assert narrowed.json()["data"]["tools"] == ["listItems"]
    assert narrowed.json()["data"]["scopes"] == ["tools:read", "tools:call:readonly"]
    weaker = alice_client.patch(url, {"scopes": ["tools:read"]}, format="json")
    assert weaker.json()["data"]["scopes"] == ["tools:read"]
    assert weaker.json()["data"]["tools"] == ["listItems"]  # what is not given stays

    # More than the user consented to needs their consent again: the client re-authorizes.
    stronger = alice_client.patch(url, {"scopes": ["tools:call"]}, format="json")
    assert stronger.status_code == 400
    assert stronger.json()["error"]["details"]["scopes"] == [
        "This grant has tools:read; for more, authorize the client again."
    ]
    unknown = alice_client.patch(url, {"tools": ["listItems", "dropTables"]}, format="json")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["details"]["unknown"] == ["dropTables"]
    grant.refresh_from_db()
    assert (grant.scope, grant.restricts_tools) == ("tools:read", True)

    lifted = alice_client.patch(url, {"tools": None}, format="json")
    assert lifted.json()["data"]["tools"] is None


def test_the_owner_narrows_a_grant_to_their_server(alice, bob, alice_client, shop):
    Server.objects.filter(pk=shop["id"]).update(visibility="shared", audience=["bob@example.com"])
    grant = grant_to(bob, shop)
    response = alice_client.patch(
        f"/api/servers/{shop['id']}/grants/{grant.pk}", {"tools": ["listItems"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["data"]["tools"] == ["listItems"]
    assert response.json()["data"]["userEmail"] == bob.email


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
    narrow = {"scopes": ["tools:read"]}
    assert bob_client.patch(f"/api/grants/{grant.pk}", narrow, format="json").status_code == 404
    patched = bob_client.patch(
        f"/api/servers/{shop['id']}/grants/{grant.pk}", narrow, format="json"
    )
    assert patched.status_code == 404
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
