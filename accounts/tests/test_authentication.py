"""The authentication matrix with real RSA keys served from a real JWKS endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.testing import ISSUER, Jwks, KeyPair, clerk_jwks


@pytest.fixture
def jwks(settings) -> Iterator[Jwks]:
    settings.LOCAL_ISSUER_ENABLED = False
    with clerk_jwks(settings) as endpoint:
        yield endpoint


def call(token: str) -> tuple[int, dict]:
    client = APIClient()
    response = client.get("/api/tokens", HTTP_AUTHORIZATION=f"Bearer {token}")
    return response.status_code, response.json()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.django_db
def test_it_accepts_a_valid_token_and_creates_the_user(jwks):
    status, body = call(jwks.keys[0].token())
    assert status == 200, body
    assert body["success"] is True
    assert User.objects.filter(clerk_id="user_2abc", is_active=True).exists()


@pytest.mark.django_db
def test_it_refuses_an_expired_token(jwks):
    now = int(time.time())
    status, body = call(jwks.keys[0].token(iat=now - 600, nbf=now - 600, exp=now - 120))
    assert status == 401
    assert body["error"]["code"] == "AUTH_ERROR"
    assert "expired" in body["error"]["message"]


@pytest.mark.django_db
def test_it_accepts_small_clock_skew_but_not_a_future_token(jwks):
    now = int(time.time())
    assert call(jwks.keys[0].token(nbf=now + 3, iat=now))[0] == 200
    status, body = call(jwks.keys[0].token(nbf=now + 120, iat=now, exp=now + 300))
    assert status == 401
    assert "not valid yet" in body["error"]["message"]


@pytest.mark.django_db
def test_it_refuses_the_wrong_issuer(jwks):
    status, body = call(jwks.keys[0].token(iss="https://evil.example.test"))
    assert status == 401
    assert body["error"]["code"] == "AUTH_ERROR"


@pytest.mark.django_db
def test_it_refuses_the_wrong_authorized_party(jwks):
    status, _ = call(jwks.keys[0].token(azp="https://evil.example.test"))
    assert status == 401


@pytest.mark.django_db
def test_it_refuses_alg_none(jwks):
    now = int(time.time())
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "key-1"}).encode())
    claims = {"sub": "user_2abc", "iss": ISSUER, "iat": now, "nbf": now, "exp": now + 60}
    token = f"{header}.{b64(json.dumps(claims).encode())}."
    status, body = call(token)
    assert status == 401
    assert body["error"]["code"] == "AUTH_ERROR"


@pytest.mark.django_db
def test_it_refuses_hs256_signed_with_the_public_key(jwks):
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
    claims = {"sub": "user_2abc", "iss": ISSUER, "iat": now, "nbf": now, "exp": now + 60}
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(jwks.keys[0].public_pem, signing_input.encode(), hashlib.sha256).digest()
    status, _ = call(f"{signing_input}.{b64(signature)}")
    assert status == 401


@pytest.mark.django_db
def test_it_refetches_the_key_set_once_for_an_unknown_kid_after_rotation(jwks):
    assert call(jwks.keys[0].token())[0] == 200
    hits_before = jwks.hits
    rotated = KeyPair("key-2")
    jwks.keys.append(rotated)
    assert call(rotated.token())[0] == 200
    assert jwks.hits == hits_before + 1
    # A kid that does not exist even after the refetch is refused without hammering the endpoint.
    stranger = KeyPair("key-unknown")
    assert call(stranger.token())[0] == 401
    assert call(stranger.token())[0] == 401
    assert jwks.hits <= hits_before + 2


@pytest.mark.django_db
def test_it_refuses_a_deactivated_user(jwks):
    User.objects.create_user(clerk_id="user_2abc", is_active=False)
    status, body = call(jwks.keys[0].token())
    assert status == 401
    assert body["error"]["message"] == "User is deactivated"


@pytest.mark.django_db
def test_a_jwks_outage_with_no_cached_keys_is_503_not_401(jwks):
    jwks.down = True
    response = APIClient().get("/api/tokens", HTTP_AUTHORIZATION=f"Bearer {jwks.keys[0].token()}")
    assert response.status_code == 503
    assert response.json()["error"] == {
        "code": "SERVICE_UNAVAILABLE",
        "message": "Authentication is temporarily unavailable",
        "details": {"reason": "auth_unavailable", "retryAfterSeconds": 5},
    }
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_a_jwks_outage_serves_the_cached_keys_while_they_are_not_too_stale(jwks, settings):
    assert call(jwks.keys[0].token())[0] == 200
    jwks.down = True
    settings.CLERK_JWKS_CACHE_SECONDS = 0  # force a refresh attempt on the next request
    assert call(jwks.keys[0].token())[0] == 200
    settings.CLERK_JWKS_MAX_STALE_SECONDS = 0
    assert call(jwks.keys[0].token())[0] == 503


@pytest.mark.django_db
def test_a_jwks_endpoint_that_does_not_listen_is_503(settings):
    settings.CLERK_JWKS_URL = "http://127.0.0.1:9/.well-known/jwks.json"
    settings.CLERK_ISSUER = ISSUER
    settings.LOCAL_ISSUER_ENABLED = False
    status, body = call(KeyPair("key-1").token())
    assert status == 503
    assert body["error"]["details"]["reason"] == "auth_unavailable"


@pytest.mark.django_db
def test_pem_mode_verifies_without_network(settings):
    pair = KeyPair("pem-key")
    settings.CLERK_JWT_KEY = pair.public_pem.decode()
    settings.CLERK_JWKS_URL = ""
    settings.CLERK_ISSUER = ISSUER
    settings.CLERK_AUTHORIZED_PARTIES = []
    settings.LOCAL_ISSUER_ENABLED = False
    assert call(pair.token())[0] == 200
    assert call(KeyPair("other").token())[0] == 401


@pytest.mark.django_db
def test_local_issuer_tokens_are_refused_when_the_local_issuer_is_off(settings, alice):
    from accounts import local_issuer

    token = local_issuer.mint_token("alice@example.com")
    assert call(token)[0] == 200
    settings.LOCAL_ISSUER_ENABLED = False
    assert call(token)[0] == 401


@pytest.mark.django_db
def test_missing_and_malformed_headers_are_401_with_www_authenticate():
    client = APIClient()
    response = client.get("/api/tokens")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["error"]["code"] == "AUTH_ERROR"
    response = client.get("/api/tokens", HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_request"'
    assert call("not-a-jwt")[0] == 401


REFUSED_TOKENS = {
    "not a jwt": lambda jwks: "not-a-jwt",
    "expired": lambda jwks: jwks.keys[0].token(exp=int(time.time()) - 600),
    "unknown key": lambda jwks: KeyPair("stranger").token(),
    "wrong issuer": lambda jwks: jwks.keys[0].token(iss="https://evil.example.test"),
    "unknown personal token": lambda jwks: "sgp_" + "x" * 40,
}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", REFUSED_TOKENS)
def test_a_refused_token_is_401_with_an_invalid_token_challenge(jwks, kind):
    token = REFUSED_TOKENS[kind](jwks)
    response = APIClient().get("/api/specs", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTH_ERROR"
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'


@pytest.mark.django_db
def test_a_deactivated_user_gets_the_invalid_token_challenge_too(jwks):
    User.objects.create_user(clerk_id="user_2abc", is_active=False)
    response = APIClient().post(
        "/api/servers", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {jwks.keys[0].token()}"
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
