"""Edits made in the Django admin reach the gateway as the API's do: each admin form and action
goes through the services, and a real MCP call through the served gateway sees the change at
its next check (the check interval is set to zero here, so the next request re-checks).

A write that bypasses the services (a raw `QuerySet.update()`) is picked up once the snapshot
is older than GATEWAY_SNAPSHOT_MAX_AGE_SECONDS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from django.test import Client

from accounts.models import ApiToken
from config.asgi import application, registry
from core.testing import LoopbackServer, echo_path
from credentials.models import Credential
from gateway import registry as registry_module
from gateway.testing import serve_on_loopback
from servers.models import AccessKey, Server
from tools.models import Tool
from tools.projection import advertised_description

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Things", "version": "1.0"},
    "components": {
        "securitySchemes": {"headerKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}
    },
    "security": [{"headerKey": []}],
    "paths": {
        "/things": {
            "get": {"operationId": "listThings", "responses": {"200": {"description": "OK"}}}
        },
        "/other": {
            "get": {"operationId": "listOther", "responses": {"200": {"description": "OK"}}}
        },
    },
}
UPSTREAM_KEY = "upstream-secret-123"


@pytest.fixture
def upstream() -> Iterator[LoopbackServer]:
    with LoopbackServer(echo_path) as server:
        yield server


@pytest.fixture
def live(settings, monkeypatch) -> Iterator[str]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    # Every request re-checks the generation token: what a worker does every couple of seconds.
    monkeypatch.setattr(registry_module, "GENERATION_CHECK_SECONDS", 0.0)
    registry.forget()
    with serve_on_loopback(application) as url:
        yield url


@pytest.fixture
def shop(alice_client, upstream) -> dict[str, Any]:
    """Alice's private server over the upstream, with an access key and an upstream credential."""
    spec = alice_client.post("/api/specs", {"document": DOCUMENT}, format="json").json()["data"]
    server = alice_client.post(
        "/api/servers",
        {"specId": spec["id"], "name": "Things", "baseUrl": upstream.url},
        format="json",
    ).json()["data"]
    key = alice_client.post(f"/api/servers/{server['id']}/keys", {"name": "k"}, format="json")
    credential = alice_client.post(
        "/api/credentials",
        {"serverId": server["id"], "type": "apiKey", "value": UPSTREAM_KEY},
        format="json",
    )
    assert credential.status_code == 201, credential.json()
    return {**server, "key": key.json()["data"]["key"]}


def mcp(live: str, slug: str, key: str, method: str, params: dict[str, Any] | None = None):
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    return httpx2.post(
        f"{live}/mcp/{slug}",
        content=json.dumps(body),
        headers={
            "content-type": "application/json",
            "accept": "application/json",
            "authorization": f"Bearer {key}",
        },
        timeout=20,
    )


def tool_names(live: str, shop: dict[str, Any]) -> list[str]:
    response = mcp(live, shop["slug"], shop["key"], "tools/list")
    assert response.status_code == 200, response.text
    return [tool["name"] for tool in response.json()["result"]["tools"]]


def change_form_data(response: Any) -> dict[str, Any]:
    """What the admin change page would post back unchanged (main form and inlines)."""
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for name in form.fields:
            value = form[name].value()
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
            elif value is not None:
                data[form.add_prefix(name)] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            value = formset.management_form[name].value()
            data[formset.management_form.add_prefix(name)] = value if value is not None else ""
        for form in formset.forms:
            add(form)
    return data


def post_change_form(operator: Client, model: str, pk: Any, **changes: Any) -> Any:
    url = f"/admin/{model}/{pk}/change/"
    page = operator.get(url)
    assert page.status_code == 200
    data = change_form_data(page)
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = "on" if value is True else value
    return operator.post(url, data)


def run_action(operator: Client, model: str, action: str, *pks: Any) -> Any:
    response = operator.post(
        f"/admin/{model}/",
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
    )
    assert response.status_code == 302, response.content[:500]
    return response


# --- Access keys -------------------------------------------------------------------------------


def test_revoking_a_key_in_the_admin_locks_it_out_of_the_gateway(live, shop, operator) -> None:
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200
    key = AccessKey.objects.get(server_id=shop["id"])

    run_action(operator, "servers/accesskey", "revoke", key.pk)

    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 401
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_revoked_key_cannot_be_unrevoked_by_editing_it(live, shop, operator) -> None:
    key = AccessKey.objects.get(server_id=shop["id"])
    run_action(operator, "servers/accesskey", "revoke", key.pk)
    revoked_at = AccessKey.objects.get(pk=key.pk).revoked_at

    operator.post(f"/admin/servers/accesskey/{key.pk}/change/", {"revoked_at_0": "", "name": "x"})

    assert AccessKey.objects.get(pk=key.pk).revoked_at == revoked_at
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 401


def test_a_key_is_revoked_from_its_page_and_cannot_be_deleted(live, shop, operator) -> None:
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200
    key = AccessKey.objects.get(server_id=shop["id"])
    page = operator.get(f"/admin/servers/accesskey/{key.pk}/change/").content.decode()
    assert f"/admin/servers/accesskey/{key.pk}/run/revoke_one/" in page

    refused = operator.post(f"/admin/servers/accesskey/{key.pk}/delete/", {"post": "yes"})
    assert refused.status_code == 403
    assert AccessKey.objects.filter(pk=key.pk).exists()
    assert operator.get(f"/admin/servers/accesskey/{key.pk}/run/revoke_one/").status_code == 405

    response = operator.post(f"/admin/servers/accesskey/{key.pk}/run/revoke_one/")

    assert response.status_code == 302
    assert response["Location"] == f"/admin/servers/accesskey/{key.pk}/change/"
    assert AccessKey.objects.get(pk=key.pk).revoked_at is not None
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 401
    page = operator.get(response["Location"]).content.decode()
    assert "revoked." in page
    assert "/run/revoke_one/" not in page


# --- Servers -----------------------------------------------------------------------------------


def test_disabling_a_server_in_its_change_form_takes_it_off_the_gateway(
    live, shop, operator
) -> None:
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200

    response = post_change_form(operator, "servers/server", shop["id"], status="disabled")

    assert response.status_code == 302
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404


def test_the_disable_and_enable_actions_reach_the_gateway(live, shop, operator) -> None:
    run_action(operator, "servers/server", "disable", shop["id"])
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404

    run_action(operator, "servers/server", "enable", shop["id"])
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200


def test_a_new_slug_set_in_the_admin_moves_the_server(live, shop, operator) -> None:
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200

    post_change_form(operator, "servers/server", shop["id"], slug="moved-things")

    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404
    assert mcp(live, "moved-things", shop["key"], "ping").status_code == 200


def test_a_tool_mode_set_in_the_admin_reaches_the_gateway(live, shop, operator) -> None:
    listed = tool_names(live, shop)
    assert "search_tools" not in listed

    response = post_change_form(operator, "servers/server", shop["id"], tool_mode="dynamic")

    assert response.status_code == 302
    assert tool_names(live, shop) == ["search_tools", "describe_tools", "execute_tool"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("slug", "Not_A_Slug"), ("slug", "-dash"), ("base_url", "ftp://files.example.com")],
)
def test_the_server_form_refuses_what_the_api_refuses(live, shop, operator, field, value) -> None:
    response = post_change_form(operator, "servers/server", shop["id"], **{field: value})

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    server = Server.objects.get(pk=shop["id"])
    assert getattr(server, field) != value
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200


def test_the_server_form_refuses_a_slug_in_use(live, shop, operator, bob_client) -> None:
    spec = bob_client.post("/api/specs", {"document": DOCUMENT}, format="json").json()["data"]
    bob_client.post(
        "/api/servers",
        {"specId": spec["id"], "name": "B", "slug": "taken", "baseUrl": "https://b.example"},
        format="json",
    )

    response = post_change_form(operator, "servers/server", shop["id"], slug="taken")

    assert response.status_code == 200
    assert "already in use" in response.content.decode()


def test_deleting_a_server_in_the_admin_takes_it_off_the_gateway(live, shop, operator) -> None:
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200

    response = operator.post(f"/admin/servers/server/{shop['id']}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Server.objects.filter(pk=shop["id"]).exists()
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404


# --- Tools -------------------------------------------------------------------------------------


def test_disabling_a_tool_in_its_change_form_removes_it_from_the_gateway(
    live, shop, operator
) -> None:
    assert tool_names(live, shop) == ["listThings", "listOther"]
    tool = Tool.objects.get(server_id=shop["id"], name="listOther")

    response = post_change_form(operator, "tools/tool", tool.pk, enabled=False)

    assert response.status_code == 302
    assert tool_names(live, shop) == ["listThings"]


def test_the_tool_actions_reach_the_gateway(live, shop, operator) -> None:
    tool = Tool.objects.get(server_id=shop["id"], name="listThings")

    run_action(operator, "tools/tool", "disable", tool.pk)
    assert tool_names(live, shop) == ["listOther"]

    run_action(operator, "tools/tool", "enable", tool.pk)
    assert tool_names(live, shop) == ["listThings", "listOther"]


def test_deleting_tools_in_the_admin_reaches_the_gateway(live, shop, operator) -> None:
    one = Tool.objects.get(server_id=shop["id"], name="listThings")
    response = operator.post(f"/admin/tools/tool/{one.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert tool_names(live, shop) == ["listOther"]

    rest = Tool.objects.get(server_id=shop["id"], name="listOther")
    response = operator.post(
        "/admin/tools/tool/",
        {"action": "delete_selected", "_selected_action": [str(rest.pk)], "post": "yes"},
    )
    assert response.status_code == 302
    assert tool_names(live, shop) == []


def test_renaming_and_describing_a_tool_in_the_admin_reaches_the_gateway(
    live, shop, operator
) -> None:
    tool = Tool.objects.get(server_id=shop["id"], name="listOther")

    post_change_form(
        operator,
        "tools/tool",
        tool.pk,
        custom_name="other_things",
        custom_description="Everything else",
    )

    listed = mcp(live, shop["slug"], shop["key"], "tools/list").json()["result"]["tools"]
    # The gateway adds its sentence about the reserved `_select` argument to every description.
    assert [(t["name"], t.get("description")) for t in listed][1] == (
        "other_things",
        "Everything else\n\n`_select`: JMESPath to narrow the JSON result.",
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [("has space", "letters, digits"), ("listThings", "already exists")],
)
def test_the_tool_form_refuses_what_the_api_refuses(live, shop, operator, name, message) -> None:
    tool = Tool.objects.get(server_id=shop["id"], name="listOther")

    response = post_change_form(operator, "tools/tool", tool.pk, custom_name=name)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert tool_names(live, shop) == ["listThings", "listOther"]


# --- Users -------------------------------------------------------------------------------------


def test_deactivating_a_user_in_the_admin_shuts_their_servers_down(
    live, shop, operator, alice
) -> None:
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200

    run_action(operator, "accounts/user", "deactivate", alice.pk)

    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404
    alice.refresh_from_db()
    assert alice.is_active is False and alice.deactivated_at is not None
    assert not AccessKey.objects.filter(server_id=shop["id"], revoked_at__isnull=True).exists()
    assert not Credential.objects.filter(server_id=shop["id"]).exists()
    assert Server.objects.get(pk=shop["id"]).status == "disabled"


def test_a_user_cannot_be_reactivated_by_editing_is_active(live, shop, operator, alice) -> None:
    run_action(operator, "accounts/user", "deactivate", alice.pk)

    post_change_form(operator, "accounts/user", alice.pk, is_active=True)

    alice.refresh_from_db()
    assert alice.is_active is False
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404


def test_revoking_a_personal_token_in_the_admin_is_final(operator, alice_client, alice) -> None:
    created = alice_client.post("/api/tokens", {"name": "ci"}, format="json")
    assert created.status_code == 201, created.json()
    token = ApiToken.objects.get(user=alice)

    run_action(operator, "accounts/apitoken", "revoke", token.pk)
    operator.post(f"/admin/accounts/apitoken/{token.pk}/change/", {"revoked_at_0": ""})

    token.refresh_from_db()
    assert token.revoked_at is not None
    secret = created.json()["data"]["token"]
    assert Client().get("/api/servers", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


# --- Credentials -------------------------------------------------------------------------------


def test_deleting_a_credential_in_the_admin_stops_sending_it(
    live, shop, operator, upstream
) -> None:
    mcp(live, shop["slug"], shop["key"], "tools/call", {"name": "listThings", "arguments": {}})
    assert upstream.requests[-1].headers.get("X-Api-Key") == UPSTREAM_KEY
    credential = Credential.objects.get(server_id=shop["id"])

    url = f"/admin/credentials/credential/{credential.pk}/delete/"
    response = operator.post(url, {"post": "yes"})
    assert response.status_code == 302

    time.sleep(0.1)
    mcp(live, shop["slug"], shop["key"], "tools/call", {"name": "listThings", "arguments": {}})
    assert "X-Api-Key" not in upstream.requests[-1].headers


# --- Writes that bypass the services -----------------------------------------------------------


def test_a_raw_update_is_picked_up_once_the_snapshot_is_too_old(live, shop, settings) -> None:
    settings.GATEWAY_SNAPSHOT_MAX_AGE_SECONDS = 1.0
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200

    Server.objects.filter(pk=shop["id"]).update(status="disabled")

    # No service announced it: the worker keeps its snapshot until that is too old.
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200
    time.sleep(1.1)
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404


# --- Buttons on an object's page, and a credential's new secret ------------------------------


def test_replacing_a_credential_secret_in_the_admin_sends_the_new_one(
    live, shop, operator, upstream
) -> None:
    credential = Credential.objects.get(server_id=shop["id"])
    url = f"/admin/credentials/credential/{credential.pk}/change/"
    page = operator.get(url).content.decode()
    assert "header “X-Api-Key” (spec scheme “headerKey”)" in page
    assert "Encryption key" in page
    assert UPSTREAM_KEY not in page

    response = operator.post(url, {"secret_value": "the-new-upstream-secret"})

    assert response.status_code == 302, response.content.decode()[-2000:]
    credential.refresh_from_db()
    assert credential.version == 2
    mcp(live, shop["slug"], shop["key"], "tools/call", {"name": "listThings", "arguments": {}})
    assert upstream.requests[-1].headers.get("X-Api-Key") == "the-new-upstream-secret"
    page = operator.get(url).content.decode()
    assert "the-new-upstream-secret" not in page
    history = operator.get(f"{url.removesuffix('change/')}history/").content.decode()
    assert "the-new-upstream-secret" not in history
    assert "Changed secret" in history


def test_a_blank_secret_is_refused_and_an_untouched_form_changes_nothing(
    live, shop, operator, upstream
) -> None:
    credential = Credential.objects.get(server_id=shop["id"])
    url = f"/admin/credentials/credential/{credential.pk}/change/"

    assert operator.post(url, {"secret_value": ""}).status_code == 302

    credential.refresh_from_db()
    assert credential.version == 1
    mcp(live, shop["slug"], shop["key"], "tools/call", {"name": "listThings", "arguments": {}})
    assert upstream.requests[-1].headers.get("X-Api-Key") == UPSTREAM_KEY


def test_the_server_page_buttons_disable_and_enable_it_on_the_gateway(live, shop, operator) -> None:
    url = f"/admin/servers/server/{shop['id']}/"
    page = operator.get(f"{url}change/").content.decode()
    assert f"/mcp/{shop['slug']}" in page
    assert f"/admin/usage/requestlog/?server__id__exact={shop['id']}" in page
    assert "listThings" in page and "/things" in page
    assert "X-Api-Key" in page  # where its credential goes

    operator.post(f"{url}run/disable_one/")
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404
    assert "/run/disable_one/" not in operator.get(f"{url}change/").content.decode()

    operator.post(f"{url}run/enable_one/")
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 200


def test_the_tool_page_button_disables_it_on_the_gateway(live, shop, operator) -> None:
    tool = Tool.objects.get(server_id=shop["id"], name="listThings")

    operator.post(f"/admin/tools/tool/{tool.pk}/run/disable_one/")

    assert tool_names(live, shop) == ["listOther"]
    listed = operator.get(f"/admin/tools/tool/?server__id__exact={shop['id']}").content.decode()
    assert "/things" in listed and "GET" in listed


def test_the_user_page_button_deactivates_them_like_clerk_user_deleted(
    live, shop, operator, alice
) -> None:
    response = operator.post(f"/admin/accounts/user/{alice.pk}/run/deactivate_one/")

    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.is_active is False and alice.deactivated_at is not None
    assert mcp(live, shop["slug"], shop["key"], "ping").status_code == 404
    assert not Credential.objects.filter(server_id=shop["id"]).exists()
    assert AccessKey.objects.filter(server_id=shop["id"], revoked_at__isnull=True).count() == 0


def test_an_api_token_is_revoked_from_its_page(operator, alice_client, alice) -> None:
    created = alice_client.post("/api/tokens", {"name": "ci"}, format="json")
    token = ApiToken.objects.get(user=alice)
    secret = created.json()["data"]["token"]
    assert Client().get("/api/servers", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    assert operator.post(f"/admin/accounts/apitoken/{token.pk}/delete/").status_code == 403

    operator.post(f"/admin/accounts/apitoken/{token.pk}/run/revoke_one/")

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert Client().get("/api/servers", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_a_blank_tool_description_means_the_generated_one(live, shop, operator) -> None:
    tool = Tool.objects.get(server_id=shop["id"], name="listOther")
    generated = tool.description
    page = operator.get(f"/admin/tools/tool/{tool.pk}/change/").content.decode()
    assert "Generated description" in page

    post_change_form(operator, "tools/tool", tool.pk, custom_description="Custom words")
    post_change_form(operator, "tools/tool", tool.pk, custom_description="")

    tool.refresh_from_db()
    assert tool.custom_description is None
    listed = mcp(live, shop["slug"], shop["key"], "tools/list").json()["result"]["tools"]
    # The generated description, with the sentence every listed tool gets about `_select`.
    expected = advertised_description(generated or None, "_select")
    assert {t["name"]: t.get("description") for t in listed}["listOther"] == expected
