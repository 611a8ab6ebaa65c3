from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from core.testing import LoopbackServer
from credentials.injection import forget_cached
from credentials.testing import echo


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
