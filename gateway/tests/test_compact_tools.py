"""A compacted tool, end to end: listed small, yet it takes every argument the upstream takes
and its results still conform to the output schema it advertises."""

from __future__ import annotations

import json

import pytest

from core.testing import LoopbackServer, RecordedRequest
from gateway.testing import make_key, mcp_url
from gateway.testing import run_mcp as run

pytestmark = pytest.mark.django_db(transaction=True)

NODE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "child": {"$ref": "#/components/schemas/Node"},
    },
}
SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Trees", "version": "1"},
    "paths": {
        "/nodes": {
            "post": {
                "operationId": "createNode",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                    },
                },
                "responses": {
                    "200": {
                        "description": "The node as stored",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        },
                    }
                },
            }
        }
    },
    "components": {"schemas": {"Node": NODE}},
}


def echo(request: RecordedRequest) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, request.body


@pytest.fixture
def upstream():
    with LoopbackServer(echo) as server:
        yield server


def test_a_compacted_tool_takes_deep_arguments_and_returns_conforming_results(
    alice_client,
    upstream,
    live,
    settings,
):
    settings.TOOL_SCHEMA_MAX_DEPTH = 0
    spec = alice_client.post("/api/specs", {"content": json.dumps(SPEC)}, format="json")
    assert spec.status_code == 201, spec.json()
    body = {"specId": spec.json()["data"]["id"], "name": "Trees", "baseUrl": upstream.url}
    server = alice_client.post("/api/servers", body, format="json").json()["data"]
    key = make_key(alice_client, server["id"])
    tree = {"name": "a", "child": {"name": "b", "child": {"name": "c"}}}

    async def work(client):
        listed = await client.list_tools()
        return listed, await client.call_tool("createNode", tree)

    listed, result = run(mcp_url(live, server), key, work)

    (tool,) = listed.tools
    # The recursion is cut right below the arguments: a child is a documented open object.
    assert tool.input_schema["$defs"]["Node"] == {
        "type": "object",
        "description": "A Node object; see the API's documentation for its fields.",
    }
    assert result.is_error is False, result.content
    assert json.loads(upstream.requests[-1].body) == tree
    assert result.structured_content == tree
    assert tool.output_schema is not None
