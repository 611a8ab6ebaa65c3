from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import local_issuer
from accounts.models import ApiToken
from core.secrets import hash_secret


@pytest.mark.django_db
def test_it_creates_a_token_shown_once_and_stored_hashed(alice_client, alice):
    response = alice_client.post("/api/tokens", {"name": "ci"}, format="json")
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["token"].startswith("sgp_")
    assert data["prefix"] == data["token"][:12]
    stored = ApiToken.objects.get(id=data["id"])
    assert stored.token_hash == hash_secret(data["token"])
    assert data["token"] not in str(ApiToken.objects.filter(id=data["id"]).values().first())
    listing = alice_client.get("/api/tokens").json()
    assert listing["pagination"] == {"nextCursor": None, "hasMore": False}
    assert "token" not in listing["data"][0]


@pytest.mark.django_db
def test_a_personal_token_authenticates_and_records_last_use(alice_client):
    secret = alice_client.post("/api/tokens", {"name": "script"}, format="json").json()["data"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret['token']}")
    assert client.get("/api/tokens").status_code == 200
    assert ApiToken.objects.get(id=secret["id"]).last_used_at is not None


@pytest.mark.django_db
def test_expired_and_deleted_tokens_are_refused(alice_client, alice):
    soon = timezone.now() + timedelta(seconds=30)
    created = alice_client.post(
        "/api/tokens", {"name": "short", "expiresAt": soon.isoformat()}, format="json"
    ).json()["data"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    assert client.get("/api/tokens").status_code == 200
    ApiToken.objects.filter(id=created["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert client.get("/api/tokens").status_code == 401
    ApiToken.objects.filter(id=created["id"]).update(expires_at=None)
    deleted = alice_client.delete(f"/api/tokens/{created['id']}")
    assert deleted.status_code == 200
    assert deleted.json() == {"success": True, "data": {"id": created["id"], "deleted": True}}
    assert client.get("/api/tokens").status_code == 401


@pytest.mark.django_db
def test_it_validates_the_body(alice_client):
    response = alice_client.post(
        "/api/tokens", {"name": "", "expiresAt": "2001-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 400
    details = response.json()["error"]["details"]
    assert set(details) == {"name", "expiresAt"}


@pytest.mark.django_db
def test_it_validates_ownership(alice_client, bob_client):
    created = alice_client.post("/api/tokens", {"name": "mine"}, format="json").json()["data"]
    response = bob_client.delete(f"/api/tokens/{created['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert bob_client.get("/api/tokens").json()["data"] == []


@pytest.mark.django_db
def test_create_token_prints_only_a_token_that_authenticates(capsys):
    call_command("create_token", "dana@example.com", "--lifetime", "120")
    out = capsys.readouterr().out.strip()
    assert out.count(".") == 2 and "\n" not in out
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out}")
    assert client.get("/api/tokens").status_code == 200
    call_command("create_token", "Dana@example.com")
    again = capsys.readouterr().out.strip()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {again}")
    assert client.get("/api/tokens").status_code == 200
    from accounts.models import User

    assert User.objects.filter(email__iexact="dana@example.com").count() == 1


def _session_client(user, lifetime_seconds: int) -> APIClient:
    client = APIClient()
    token = local_issuer.mint_token(user.email, lifetime_seconds=lifetime_seconds)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _expiry(response) -> datetime:
    assert response.status_code == 201, response.content
    return datetime.fromisoformat(response.json()["data"]["expiresAt"].replace("Z", "+00:00"))


@pytest.mark.django_db
def test_a_token_cannot_outlive_the_session_token_that_minted_it(alice):
    session = _session_client(alice, lifetime_seconds=300)
    session_expiry = timezone.now() + timedelta(seconds=300)
    no_expiry = _expiry(session.post("/api/tokens", {"name": "forever"}, format="json"))
    assert abs(no_expiry - session_expiry) < timedelta(seconds=5)
    later = (timezone.now() + timedelta(days=30)).isoformat()
    capped = _expiry(session.post("/api/tokens", {"name": "a", "expiresAt": later}, format="json"))
    assert abs(capped - session_expiry) < timedelta(seconds=5)
    sooner = (timezone.now() + timedelta(seconds=60)).replace(microsecond=0)
    kept = session.post(
        "/api/tokens", {"name": "b", "expiresAt": sooner.isoformat()}, format="json"
    )
    assert _expiry(kept) == sooner
    stored = ApiToken.objects.get(id=kept.json()["data"]["id"])
    assert stored.expires_at == sooner


@pytest.mark.django_db
def test_a_personal_token_caps_the_tokens_it_mints_only_when_it_expires(alice_client):
    in_a_minute = (timezone.now() + timedelta(minutes=1)).replace(microsecond=0)
    parent = alice_client.post(
        "/api/tokens", {"name": "parent", "expiresAt": in_a_minute.isoformat()}, format="json"
    ).json()["data"]
    child_client = APIClient()
    child_client.credentials(HTTP_AUTHORIZATION=f"Bearer {parent['token']}")
    child = child_client.post("/api/tokens", {"name": "child"}, format="json")
    assert _expiry(child) == in_a_minute

    ApiToken.objects.filter(id=parent["id"]).update(expires_at=None)
    unbounded = child_client.post("/api/tokens", {"name": "free"}, format="json")
    assert unbounded.status_code == 201
    assert unbounded.json()["data"]["expiresAt"] is None
