from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet

from core.testing import LoopbackServer
from credentials.injection import forget_cached
from credentials.testing import echo, operation

SECURED_PATHS = {
    **operation("/header", "viaHeader", [{"headerKey": []}]),
    **operation("/query", "viaQuery", [{"queryKey": []}]),
    **operation("/cookie", "viaCookie", [{"cookieKey": []}]),
    **operation("/bearer", "viaBearer", [{"bearerAuth": []}]),
    **operation("/basic", "viaBasic", [{"basicAuth": []}]),
    **operation("/oauth", "viaOauth", [{"oauth": ["read"]}]),
    **operation("/public", "isPublic", []),
    **operation("/either", "either", [{"bearerAuth": []}, {"headerKey": []}]),
    **operation("/both", "both", [{"bearerAuth": [], "headerKey": []}, {}]),
    **operation("/inherited", "inherited"),
}


def secured_document(token_url: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Secured", "version": "1"},
        "paths": SECURED_PATHS,
        "components": {
            "securitySchemes": {
                "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "queryKey": {"type": "apiKey", "in": "query", "name": "api_key"},
                "cookieKey": {"type": "apiKey", "in": "cookie", "name": "session"},
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "basicAuth": {"type": "http", "scheme": "basic"},
                "oauth": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {"tokenUrl": token_url, "scopes": {"read": "Read"}}
                    },
                },
            }
        },
    }


def bare_document() -> dict[str, Any]:
    """A spec that declares no security scheme, as many real ones do."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Bare", "version": "1"},
        "paths": {**operation("/things", "listThings"), **operation("/open", "open", [])},
    }


def one_scheme_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "One", "version": "1"},
        "security": [{"token": []}],
        "paths": operation("/things", "listThings"),
        "components": {"securitySchemes": {"token": {"type": "http", "scheme": "bearer"}}},
    }


@pytest.fixture(autouse=True)
def encryption_key(settings) -> str:
    key = Fernet.generate_key().decode()
    settings.CREDENTIALS_ENCRYPTION_KEYS = [key]
    return key


@pytest.fixture(autouse=True)
def _fresh_credential_caches() -> Iterator[None]:
    forget_cached()
    yield
    forget_cached()


@pytest.fixture
def upstream(settings) -> Iterator[LoopbackServer]:
    settings.OUTBOUND_ALLOW_PRIVATE = True
    with LoopbackServer(echo) as server:
        yield server
