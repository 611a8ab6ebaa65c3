"""The built-in token issuer that stands in for Clerk on a self-hosted install.

An RSA key is created in the data directory on first use. Tokens it signs are
ordinary RS256 JWTs with iss = PUBLIC_BASE_URL, so they pass through exactly the
verification path Clerk tokens take.
"""

from __future__ import annotations

import hashlib
import os
import time
from functools import lru_cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings


def _create_key(path: Path) -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return pem


@lru_cache(maxsize=4)
def _keys(path: str) -> tuple[rsa.RSAPrivateKey, rsa.RSAPublicKey, str]:
    file = Path(path)
    pem = file.read_bytes() if file.exists() else _create_key(file)
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    public = private.public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public, "local-" + hashlib.sha256(der).hexdigest()[:16]


def issuer() -> str:
    return settings.PUBLIC_BASE_URL


def public_key() -> tuple[rsa.RSAPublicKey, str]:
    _, public, kid = _keys(str(settings.LOCAL_ISSUER_KEY_PATH))
    return public, kid


def subject_for_email(email: str) -> str:
    """A stable `sub` per email address, so the same person gets the same account."""
    return "local_" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]


def mint_token(email: str, *, lifetime_seconds: int = 3600) -> str:
    private, _, kid = _keys(str(settings.LOCAL_ISSUER_KEY_PATH))
    now = int(time.time())
    claims = {
        "sub": subject_for_email(email),
        "email": email.strip(),
        "iss": issuer(),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime_seconds,
    }
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": kid})
