"""Clerk stood in for by the tests: RSA key pairs that sign session tokens, and a JWKS endpoint
on loopback whose keys and availability a test controls."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.testing import LoopbackServer, json_reply

ISSUER = "https://clerk.example.test"


class KeyPair:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict:
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return data | {"kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, **overrides) -> str:
        now = int(time.time())
        claims = {
            "sub": "user_2abc",
            "iss": ISSUER,
            "iat": now,
            "nbf": now,
            "exp": now + 60,
            "sid": "sess_1",
            "azp": "https://app.example.test",
        } | overrides
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


class Jwks:
    """A JWKS endpoint whose key set and availability a test controls."""

    def __init__(self) -> None:
        self.keys: list[KeyPair] = []
        self.down = False
        self.server = LoopbackServer(self._handle)
        self.hits = 0

    def _handle(self, request):
        self.hits += 1
        if self.down:
            return 503, {"Content-Type": "text/plain"}, b"down"
        return json_reply({"keys": [k.jwk() for k in self.keys]})


@contextmanager
def clerk_jwks(settings: Any) -> Iterator[Jwks]:
    """Clerk configured (pytest-django's SETTINGS) against a JWKS endpoint on loopback serving
    one key, "key-1", which signs the session tokens a test makes."""
    endpoint = Jwks()
    endpoint.keys.append(KeyPair("key-1"))
    with endpoint.server:
        settings.CLERK_JWKS_URL = f"{endpoint.server.url}/.well-known/jwks.json"
        settings.CLERK_ISSUER = ISSUER
        settings.CLERK_AUTHORIZED_PARTIES = ["https://app.example.test"]
        yield endpoint
