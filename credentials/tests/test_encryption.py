"""Secrets at rest: encrypted, attributed to a key, rotatable, and failing closed."""

from __future__ import annotations

import io
import stat

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from credentials import crypto, services
from credentials.injection import forget_cached
from credentials.models import Credential
from credentials.testing import call, secured_document, server_from_document

pytestmark = pytest.mark.django_db

SECRETS = {
    "headerKey": ("apiKey", {"value": "hk-plain-7f3a9"}),
    "bearerAuth": ("bearer", {"value": "bt-plain-81c2e"}),
    "basicAuth": ("basic", {"username": "user-plain-4d1", "password": "pw-plain-c9e07"}),
    "oauth": (
        "oauth2ClientCredentials",
        {"clientId": "cid-plain-3b8", "clientSecret": "cs-plain-a1"},
    ),
}


@pytest.fixture
def secured(alice, upstream):
    server = server_from_document(
        user=alice, document=secured_document("http://127.0.0.1:9/token"), base_url=upstream.url
    )
    for scheme, (type, secret) in SECRETS.items():
        services.credential_create(
            user=alice, server_id=server.id, scheme=scheme, type=type, secret=secret
        )
    return server


def raw_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM credentials_credential")
        return cursor.fetchall()


def test_the_table_holds_no_secret_in_clear(secured):
    dump = repr(raw_rows())

    assert len(raw_rows()) == 4
    for _, secret in SECRETS.values():
        for value in secret.values():
            assert value not in dump


def test_each_ciphertext_names_the_key_that_sealed_it(secured, encryption_key):
    ids = set(Credential.objects.values_list("key_id", flat=True))

    assert ids == {crypto.key_id_of(encryption_key)}


def test_rotation_moves_everything_to_the_newest_key(secured, settings, encryption_key, upstream):
    new_key = Fernet.generate_key().decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key, encryption_key]
    out = io.StringIO()

    call_command("rotate_credentials", "--batch-size", "3", stdout=out)
    again = io.StringIO()
    call_command("rotate_credentials", stdout=again)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [new_key]
    forget_cached()
    call(secured, "viaHeader")
    call(secured, "viaBearer")
    call(secured, "viaBasic")

    assert "Re-encrypted 4 credential(s)" in out.getvalue()
    assert "Re-encrypted 0 credential(s)" in again.getvalue()
    assert "4 already used it" in again.getvalue()
    assert set(Credential.objects.values_list("key_id", flat=True)) == {crypto.key_id_of(new_key)}
    sent = [r.headers.get("X-API-Key") or r.headers["Authorization"] for r in upstream.requests]
    assert sent[0] == "hk-plain-7f3a9"
    assert sent[1] == "Bearer bt-plain-81c2e"
    assert sent[2].startswith("Basic ")


def test_rotation_reports_what_it_cannot_decrypt_and_fails(secured, settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError):
        call_command("rotate_credentials", stdout=out, stderr=err)

    assert "4 could not be decrypted" in out.getvalue()
    assert "no longer configured" in err.getvalue()


def test_a_credential_under_a_retired_key_fails_closed(secured, settings, upstream):
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    forget_cached()

    caught = call(secured, "viaBearer")

    assert caught.error_code == "credential_unreadable"
    assert "no longer configured" in caught.result["content"][0]["text"]
    assert upstream.requests == []


def test_a_tampered_ciphertext_fails_closed(secured, upstream):
    credential = Credential.objects.get(scheme="bearerAuth")
    Credential.objects.filter(pk=credential.pk).update(
        ciphertext=credential.ciphertext[:-6] + "AAAAAA"
    )
    forget_cached()

    caught = call(secured, "viaBearer")

    assert "corrupt or tampered" in caught.result["content"][0]["text"]
    assert credential.ciphertext[:20] not in caught.result["content"][0]["text"]
    assert upstream.requests == []


def test_without_configured_keys_one_is_generated_privately_on_first_use(settings, tmp_path):
    settings.CREDENTIALS_ENCRYPTION_KEYS = []
    settings.CREDENTIALS_KEY_PATH = tmp_path / "credentials_key"

    key_id, sealed = crypto.encrypt(b"hello")

    path = settings.CREDENTIALS_KEY_PATH
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id == crypto.key_id_of(path.read_text())
    assert crypto.decrypt(key_id, sealed) == b"hello"
    assert crypto.encrypt(b"again")[0] == key_id


def test_an_invalid_configured_key_is_a_clear_configuration_error(settings):
    settings.CREDENTIALS_ENCRYPTION_KEYS = ["not-a-fernet-key"]

    with pytest.raises(Exception, match="key #1 is not a valid Fernet key") as caught:
        crypto.encrypt(b"x")

    assert "not-a-fernet-key" not in str(caught.value)
