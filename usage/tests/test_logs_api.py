from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from usage.testing import make_record, make_server, make_tool
from usage.writer import write_records

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ids(response) -> list[str]:
    return [item["id"] for item in response.json()["data"]]


@pytest.fixture
def mixed_logs(alice, alice_tool):
    """Alice: two servers, two tools, both sources, several methods and statuses."""
    other_tool = make_tool(make_server(alice, "Shop"), "create_order", "POST", "/orders")
    records = {
        "get_ok": make_record(alice_tool, created_at=T0),
        "get_404": make_record(
            alice_tool, created_at=T0 + timedelta(minutes=1), status_code=404, succeeded=False
        ),
        "post_ok": make_record(other_tool, created_at=T0 + timedelta(minutes=2), status_code=201),
        "test_run": make_record(alice_tool, created_at=T0 + timedelta(minutes=3), source="test"),
        "timeout": make_record(
            other_tool,
            created_at=T0 + timedelta(minutes=4),
            status_code=None,
            error_code="UPSTREAM_TIMEOUT",
            succeeded=False,
        ),
    }
    write_records(list(records.values()))
    return {name: str(record.id) for name, record in records.items()} | {"other_tool": other_tool}


def test_it_lists_the_users_logs_newest_first_with_the_contract_fields(alice_client, mixed_logs):
    response = alice_client.get("/api/logs")

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["pagination"] == {"nextCursor": None, "hasMore": False}
    assert ids(response) == [
        mixed_logs[name] for name in ["timeout", "test_run", "post_ok", "get_404", "get_ok"]
    ]
    first = body["data"][-1]
    assert set(first) == {
        "id", "serverId", "serverName", "toolId", "toolName", "source", "method", "path",
        "statusCode", "durationMs", "upstreamMs", "requestBytes", "responseBytes", "errorCode",
        "keyPrefix", "clientName", "callerEmail", "succeeded", "createdAt",
    }  # fmt: skip
    assert first["path"] == "/pets/{id}"
    assert first["createdAt"] == "2026-11-20T12:00:00Z"
    assert body["data"][0]["statusCode"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("method=POST", ["timeout", "post_ok"]),
        ("method=get", ["test_run", "get_404", "get_ok"]),
        ("statusCode=404", ["get_404"]),
        ("source=test", ["test_run"]),
        ("source=mcp", ["timeout", "post_ok", "get_404", "get_ok"]),
        ("from=2026-11-20T12:02:00Z", ["timeout", "test_run", "post_ok"]),
        ("to=2026-11-20T12:01:00Z", ["get_404", "get_ok"]),
        (
            "from=2026-11-20T13:01:00%2B01:00&to=2026-11-20T12:03:00",
            ["test_run", "post_ok", "get_404"],
        ),
        ("from=2026-11-21", []),
        ("method=GET&statusCode=200&source=mcp", ["get_ok"]),
    ],
)
def test_it_filters(alice_client, mixed_logs, query, expected):
    response = alice_client.get(f"/api/logs?{query}")

    assert response.status_code == 200, response.json()
    assert ids(response) == [mixed_logs[name] for name in expected]


@pytest.mark.parametrize(
    "query",
    ["to=2026-11-20", "from=2026-11-20&to=2026-11-20", "from=2026-11-20T00:00:00Z&to=2026-11-20"],
)
def test_a_date_only_to_covers_the_whole_day(alice_client, mixed_logs, query):
    response = alice_client.get(f"/api/logs?{query}")

    assert response.status_code == 200
    assert len(ids(response)) == 5


def test_a_date_only_to_stops_at_the_end_of_that_day(alice_client, alice_tool):
    late = make_record(alice_tool, created_at=datetime(2026, 11, 20, 23, 59, 59, 999999, UTC))
    next_day = make_record(alice_tool, created_at=datetime(2026, 11, 21, tzinfo=UTC))
    write_records([late, next_day])

    assert ids(alice_client.get("/api/logs?to=2026-11-20")) == [str(late.id)]


def test_a_to_time_includes_that_whole_second(alice_client, alice_tool):
    inside = make_record(alice_tool, created_at=T0 + timedelta(milliseconds=999))
    after = make_record(alice_tool, created_at=T0 + timedelta(seconds=1))
    write_records([inside, after])

    assert ids(alice_client.get("/api/logs?to=2026-11-20T12:00:00Z")) == [str(inside.id)]


def test_fields_without_a_value_are_null_not_empty(alice_client, alice_tool):
    bare = make_record(alice_tool, error_code="", key_prefix="", client_name="")
    write_records([bare])

    item = alice_client.get("/api/logs").json()["data"][0]

    assert (item["errorCode"], item["keyPrefix"], item["clientName"]) == (None, None, None)
    assert item["callerEmail"] is None  # an access key's call: no OAuth caller


def test_an_oauth_callers_email_is_stored_and_shown(alice_client, alice_tool):
    write_records([make_record(alice_tool, key_prefix="oauth:1234abcd", caller_email="b@x.io")])

    item = alice_client.get("/api/logs").json()["data"][0]

    assert (item["keyPrefix"], item["callerEmail"]) == ("oauth:1234abcd", "b@x.io")


def test_it_filters_by_server_and_tool(alice_client, alice_tool, mixed_logs):
    other_tool = mixed_logs["other_tool"]

    by_server = alice_client.get(f"/api/logs?serverId={other_tool.server_id}")
    by_tool = alice_client.get(f"/api/logs?toolId={alice_tool.id}")

    assert ids(by_server) == [mixed_logs["timeout"], mixed_logs["post_ok"]]
    assert ids(by_tool) == [mixed_logs[n] for n in ["test_run", "get_404", "get_ok"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("method=FETCH", "method"),
        ("statusCode=abc", "statusCode"),
        ("statusCode=99", "statusCode"),
        ("statusCode=600", "statusCode"),
        ("from=yesterday", "from"),
        ("to=2026-13-01", "to"),
        ("from=2026-11-21&to=2026-11-20", "to"),
        ("serverId=42", "serverId"),
        ("toolId=not-a-uuid", "toolId"),
        ("source=ftp", "source"),
        ("limit=0", "limit"),
        ("cursor=forged", "cursor"),
    ],
)
def test_it_rejects_invalid_filters_naming_the_parameter(alice_client, mixed_logs, query, field):
    response = alice_client.get(f"/api/logs?{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [field]


def test_the_cursor_neither_skips_nor_repeats_while_newer_logs_arrive(alice_client, alice_tool):
    base = datetime.now(UTC) - timedelta(hours=1)
    older = [make_record(alice_tool, created_at=base + timedelta(seconds=n)) for n in range(7)]
    # Two rows share a timestamp: the id breaks the tie.
    older.append(make_record(alice_tool, created_at=base + timedelta(seconds=3)))
    write_records(older)

    seen: list[str] = []
    url = "/api/logs?limit=3"
    while url:
        body = alice_client.get(url).json()
        seen.extend(item["id"] for item in body["data"])
        write_records([make_record(alice_tool, created_at=datetime.now(UTC))])
        cursor = body["pagination"]["nextCursor"]
        url = f"/api/logs?limit=3&cursor={cursor}" if cursor else ""

    assert len(seen) == len(set(seen)) == 8
    assert set(seen) == {str(r.id) for r in older}


def test_bob_never_sees_alices_logs(bob_client, bob_tool, mixed_logs, alice_tool):
    write_records([make_record(bob_tool)])

    own = bob_client.get("/api/logs")
    by_alices_server = bob_client.get(f"/api/logs?serverId={alice_tool.server_id}")
    by_alices_tool = bob_client.get(f"/api/logs?toolId={alice_tool.id}")

    assert [item["serverName"] for item in own.json()["data"]] == ["Bob API"]
    assert by_alices_server.status_code == by_alices_tool.status_code == 200
    assert by_alices_server.json()["data"] == by_alices_tool.json()["data"] == []


def test_logs_of_a_deleted_server_stay_readable_with_its_name(alice_client, alice):
    server = make_server(alice, "Retired")
    write_records([make_record(make_tool(server))])
    server.delete()

    item = alice_client.get("/api/logs").json()["data"][0]

    assert (item["serverId"], item["toolId"], item["serverName"]) == (None, None, "Retired")


def test_it_requires_authentication(anon_client):
    assert anon_client.get("/api/logs").status_code == 401
