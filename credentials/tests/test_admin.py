"""Credentials in the admin: owner and where each goes, re-encryption as an action, a new
secret checked as the API checks it. The secret is never on a page."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from credentials import crypto
from credentials.models import Credential
from credentials.services import Placement, credential_create
from usage.testing import make_server

pytestmark = pytest.mark.django_db

SECRET = "sk-upstream-do-not-show"


@pytest.fixture
def credential(alice) -> Credential:
    server = make_server(alice, "Pets")
    return credential_create(
        user=alice,
        server_id=server.pk,
        type="apiKey",
        secret={"value": SECRET},
        placement=Placement(location="query", param_name="api_key"),
    )


@pytest.fixture
def basic(alice) -> Credential:
    return credential_create(
        user=alice,
        server_id=make_server(alice, "Basic").pk,
        type="basic",
        secret={"username": "me", "password": "pw-old"},
        placement=Placement(location="header", param_name="Authorization"),
    )


def values_of(credential: Credential) -> dict:
    credential.refresh_from_db()
    return json.loads(crypto.decrypt(credential.key_id, credential.ciphertext))


def test_the_list_shows_owner_and_the_page_where_it_goes(operator, credential, alice) -> None:
    listing = operator.get("/admin/credentials/credential/").content.decode()
    page = operator.get(f"/admin/credentials/credential/{credential.pk}/change/").content.decode()

    assert f"/admin/accounts/user/{alice.pk}/change/" in listing
    assert "Encryption key" in listing and "Key id" not in listing
    assert "query “api_key” (set with the credential)" in page
    assert 'type="password"' in page
    assert SECRET not in page and SECRET not in listing


def test_re_encrypting_moves_credentials_to_the_newest_key(
    operator, credential, settings, encryption_key
) -> None:
    newer = Fernet.generate_key().decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [newer, encryption_key]

    response = operator.post(
        "/admin/credentials/credential/",
        {"action": "reencrypt", "_selected_action": [str(credential.pk)]},
        follow=True,
    )

    assert (
        "1 credential(s) re-encrypted; 0 already used the newest key." in response.content.decode()
    )
    credential.refresh_from_db()
    assert credential.key_id == crypto.key_id_of(newer)
    settings.CREDENTIALS_ENCRYPTION_KEYS = [newer]
    assert values_of(credential) == {"value": SECRET}


def test_a_credential_sealed_by_a_missing_key_is_reported_not_lost(
    operator, credential, settings
) -> None:
    settings.CREDENTIALS_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = operator.post(
        "/admin/credentials/credential/",
        {"action": "reencrypt", "_selected_action": [str(credential.pk)]},
        follow=True,
    )

    assert "Not re-encrypted" in response.content.decode()
    assert "no longer configured" in response.content.decode()


def test_a_new_secret_must_be_complete_for_its_type(operator, basic) -> None:
    url = f"/admin/credentials/credential/{basic.pk}/change/"

    refused = operator.post(url, {"secret_username": "me-new", "secret_password": ""})

    assert refused.status_code == 200
    assert "Required for type basic." in refused.content.decode()
    assert "me-new" not in refused.content.decode()  # not filled back in
    assert values_of(basic) == {"username": "me", "password": "pw-old"}

    # HTTP basic allows an empty username, as the API does; the password is required.
    accepted = operator.post(url, {"secret_username": "", "secret_password": "pw-new"})
    assert accepted.status_code == 302
    assert values_of(basic) == {"username": "", "password": "pw-new"}
    assert basic.version == 2
