"""Encryption at rest for upstream credentials (Fernet, several keys, newest first).

Keys come from CREDENTIALS_ENCRYPTION_KEYS (newest first; older ones only decrypt) or, when
that is unset, from a key generated on first use into CREDENTIALS_KEY_PATH. Each ciphertext is
stored with the id of the key that sealed it, so a retired key is named in the error rather
than tried blindly, and `rotate_credentials` can find what still needs re-encrypting.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.env import secret_in_file


class DecryptionFailed(Exception):
    """A stored credential could not be decrypted. The message never carries key or ciphertext."""


@dataclass(frozen=True)
class Keyring:
    # (key id, cipher), newest first.
    keys: tuple[tuple[str, Fernet], ...]

    @property
    def newest_id(self) -> str:
        return self.keys[0][0]

    def cipher(self, key_id: str) -> Fernet | None:
        return next((cipher for kid, cipher in self.keys if kid == key_id), None)


_keyrings: dict[tuple[str, ...], Keyring] = {}


def key_id_of(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(raw.strip()).hexdigest()[:8]


def _configured_keys() -> tuple[str, ...]:
    keys = tuple(key.strip() for key in settings.CREDENTIALS_ENCRYPTION_KEYS if key.strip())
    if keys:
        return keys
    return (secret_in_file(settings.CREDENTIALS_KEY_PATH, lambda: Fernet.generate_key().decode()),)


def keyring() -> Keyring:
    """The keys in effect now (settings may change at runtime in tests, so look them up)."""
    keys = _configured_keys()
    ring = _keyrings.get(keys)
    if ring is None:
        ciphers = []
        for position, key in enumerate(keys):
            try:
                ciphers.append((key_id_of(key), Fernet(key)))
            except ValueError:
                raise ImproperlyConfigured(
                    f"Credential encryption key #{position + 1} is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes)."
                ) from None
        ring = _keyrings[keys] = Keyring(tuple(ciphers))
    return ring


def encrypt(plaintext: bytes) -> tuple[str, str]:
    """Seal under the newest key; returns (key id, ciphertext)."""
    ring = keyring()
    return ring.newest_id, ring.keys[0][1].encrypt(plaintext).decode("ascii")


def decrypt(key_id: str, ciphertext: str) -> bytes:
    cipher = keyring().cipher(key_id)
    if cipher is None:
        raise DecryptionFailed(
            f"The credential was encrypted with key {key_id}, which is no longer configured."
        )
    try:
        return cipher.decrypt(ciphertext.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        raise DecryptionFailed(
            f"The credential could not be decrypted with key {key_id} (corrupt or tampered)."
        ) from None


def reencrypt(key_id: str, ciphertext: str) -> tuple[str, str]:
    """The same plaintext sealed under the newest key (unchanged when it already is)."""
    ring = keyring()
    if key_id == ring.newest_id:
        return key_id, ciphertext
    return encrypt(decrypt(key_id, ciphertext))
