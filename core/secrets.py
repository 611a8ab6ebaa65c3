"""High-entropy bearer secrets that are shown once and stored hashed."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(32)}"


def hash_secret(secret: str) -> str:
    # The secrets carry 256 bits of entropy, so a fast hash is enough and keeps lookups cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(secret: str, length: int = 12) -> str:
    return secret[:length]


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
