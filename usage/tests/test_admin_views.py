from __future__ import annotations

from accounts.models import User
from usage.models import RequestLog
from usage.testing import make_record
from usage.writer import write_records


def test_the_admin_shows_logs_and_rollups_read_only(client, alice_tool):
    write_records([make_record(alice_tool)])
    log = RequestLog.objects.get()
    operator = User.objects.create_superuser(clerk_id="op", email="op@example.com", password="pw")
    client.force_login(operator)

    listing = client.get("/admin/usage/requestlog/?source__exact=mcp&status_code__exact=200")
    detail = client.get(f"/admin/usage/requestlog/{log.pk}/change/")
    search = client.get(f"/admin/usage/requestlog/?q={alice_tool.server.user.email}")

    assert listing.status_code == detail.status_code == search.status_code == 200
    assert "Pets" in listing.content.decode()
    assert b"Save" not in detail.content
    assert client.get("/admin/usage/requestlog/add/").status_code == 403
    assert client.post(f"/admin/usage/requestlog/{log.pk}/delete/").status_code == 403
    assert client.get("/admin/usage/usagedaily/").status_code == 200
    assert client.get("/admin/usage/usagealert/").status_code == 200
