"""The request log and rollup lists: filters that use indexes, capped counts, readable rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.admin import CappedCountPaginator
from servers.services import access_key_create
from usage.models import UsageDaily
from usage.testing import make_record, make_server
from usage.writer import write_records

LOGS = "/admin/usage/requestlog/"


@pytest.fixture
def logs(alice_tool, bob_tool) -> dict:
    now = datetime.now(UTC)
    key, _ = access_key_create(server=alice_tool.server, name="laptop")
    records = [
        make_record(alice_tool, key_prefix=key.prefix, created_at=now - timedelta(minutes=1)),
        make_record(
            alice_tool,
            status_code=503,
            succeeded=False,
            error_code="http_503",
            created_at=now - timedelta(minutes=2),
        ),
        make_record(
            alice_tool,
            status_code=None,
            succeeded=False,
            error_code="upstream_connect",
            created_at=now - timedelta(minutes=3),
        ),
        make_record(alice_tool, source="test", created_at=now - timedelta(minutes=4)),
        make_record(bob_tool, method="DELETE", created_at=now - timedelta(minutes=5)),
    ]
    write_records(records)
    return {"key": key, "alice_tool": alice_tool, "bob_tool": bob_tool}


def rows(operator, query: str) -> str:
    response = operator.get(f"{LOGS}?{query}")
    assert response.status_code == 200, response.status_code
    assert "?e=1" not in response.get("Location", "")
    return response.content.decode()


def shown(operator, query: str) -> int:
    return len(operator.get(f"{LOGS}?{query}").context["cl"].result_list)


def test_the_log_filters_pick_the_right_rows(operator, logs, alice) -> None:
    assert shown(operator, "") == 5
    assert shown(operator, f"user__id__exact={alice.pk}") == 4
    assert shown(operator, f"server__id__exact={logs['bob_tool'].server_id}") == 1
    assert shown(operator, "status=5xx") == 1
    assert shown(operator, "status=none") == 1
    assert shown(operator, "status=2xx") == 3
    assert shown(operator, "succeeded__exact=0") == 2
    assert shown(operator, "source__exact=test") == 1
    assert shown(operator, f"user__id__exact={alice.pk}&method=DELETE") == 0
    assert shown(operator, "method=DELETE") == 1


def test_the_log_list_has_no_date_bar_and_no_column_filters_that_scan(operator, logs) -> None:
    page = rows(operator, "")

    assert 'class="xfull"' not in page  # the date hierarchy bar
    assert "_facets" not in page
    assert "Show counts" not in page
    assert "choose a user first" not in page  # the method filter waits for a user
    assert "choose a user first" in rows(
        operator, f"user__id__exact={logs['alice_tool'].server.user_id}"
    )


def test_a_log_key_prefix_links_to_that_key(operator, logs) -> None:
    key = logs["key"]
    page = rows(operator, "")
    link = f"/admin/servers/accesskey/?server__id__exact={key.server_id}&amp;prefix={key.prefix}"
    assert link in page

    keys = operator.get(link.replace("&amp;", "&")).context["cl"].result_list

    assert list(keys) == [key]


def test_counts_stop_at_the_cap_and_say_more_than(operator, logs, monkeypatch) -> None:
    monkeypatch.setattr(CappedCountPaginator, "CAP", 3)

    page = rows(operator, "")

    assert "More than 3 request logs" in page
    assert "4 request logs" not in page
    assert "2 request logs" in rows(operator, "succeeded__exact=0")


def test_the_user_and_server_filters_list_only_the_chosen_one(operator, logs, alice, bob) -> None:
    for n in range(40):
        make_server(bob, f"Extra {n}")

    chosen = operator.get(f"{LOGS}?server__id__exact={logs['alice_tool'].server_id}")
    spec = next(f for f in chosen.context["cl"].filter_specs if f.title == "server")

    assert [str(label) for _, label in spec.lookup_choices] == [logs["alice_tool"].server.slug]
    unfiltered = operator.get(LOGS)
    spec = next(f for f in unfiltered.context["cl"].filter_specs if f.title == "server")
    assert len(spec.lookup_choices) == 30
    assert operator.get(f"{LOGS}?user__id__exact=not-a-uuid").status_code in (200, 302)


def test_a_log_page_links_to_its_user_server_tool_and_key(operator, logs) -> None:
    log = operator.get(LOGS).context["cl"].result_list[0]

    page = operator.get(f"{LOGS}{log.pk}/change/").content.decode()

    assert f"/admin/accounts/user/{log.user_id}/change/" in page
    assert f"/admin/servers/server/{log.server_id}/change/" in page
    assert f"/admin/tools/tool/{log.tool_id}/change/" in page
    assert "prefix=" in page


def test_rollups_read_as_totals_and_percentiles(operator, alice_tool) -> None:
    now = datetime.now(UTC)
    write_records(
        [make_record(alice_tool, duration_ms=ms, created_at=now) for ms in [8] * 90 + [900] * 10]
    )
    row = UsageDaily.objects.get()

    listing = operator.get("/admin/usage/usagedaily/").content.decode()
    page = operator.get(f"/admin/usage/usagedaily/{row.pk}/change/").content.decode()

    assert "P95 ms" in listing and "lat_le_" not in listing
    assert ">100<" in listing  # calls
    assert "≤ 1000 ms" in page and "Lat le" not in page
    mine = operator.get(f"/admin/usage/usagedaily/?user__id__exact={row.user_id}")
    assert list(mine.context["cl"].result_list) == [row]
