"""Rotation covers every credential type: after `rotate_credentials` and the old key's
retirement, each one, the OAuth2 client-credentials pair included, still authenticates."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from django.core.management import call_command

from credentials import crypto, services
from credentials.injection import forget_cached
from credentials.models import Credential
from credentials.testing import TokenEndpoint, call, secured_document, server_from_document

SECRETS = {
    "headerKey": ("apiKey", {"value": "hk-rot-1"}),
    "queryKey": ("apiKey", {"value": "qk-rot-2"}),
    "cookieKey": ("apiKey", {"value": "ck-rot-3"}),
    "bearerAuth": ("bearer", {"value": "bt-rot-4"}),
    "basicAuth": ("basic", {"username": "u-rot", "password": "p-rot"}),
    "oauth": ("oauth2ClientCredentials", {"clientId": "cid", "clientSecret": "c-secret"}),
}


def test_every_credential_type_works_after_rotation_and_retirement(
    alice, upstream, settings, encryption_key
):
    endpoint = TokenEndpoint()
    with endpoint.server:
        document = secured_document(f"{endpoint.server.url}/token")
        server = server_from_document(user=alice, document=document, base_url=upstream.url)
        for scheme, (kind, secret) in SECRETS.items():
            services.credential_create(
                user=alice, server_id=server.id, scheme=scheme, type=kind, secret=secret
            )
        new_key = Fernet.generate_key().decode()
        settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key, encryption_key]
        call_command("rotate_credentials")
        settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key]
        forget_cached()

        tools = ["viaHeader", "viaQuery", "viaCookie", "viaBearer", "viaBasic", "viaOauth"]
        outcomes = [call(server, name) for name in tools]

    assert [outcome.status_code for outcome in outcomes] == [200] * len(tools)
    assert set(Credential.objects.values_list("key_id", flat=True)) == {crypto.key_id_of(new_key)}
    header, query, cookie, bearer, basic, oauth = upstream.requests
    assert header.headers["X-API-Key"] == "hk-rot-1"
    assert "api_key=qk-rot-2" in query.path
    assert cookie.headers["Cookie"] == "session=ck-rot-3"
    assert bearer.headers["Authorization"] == "Bearer bt-rot-4"
    assert basic.headers["Authorization"] == "Basic " + base64.b64encode(b"u-rot:p-rot").decode()
    assert oauth.headers["Authorization"] == "Bearer access-1"
    assert endpoint.issued == ["access-1"]
