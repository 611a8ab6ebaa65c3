"""Fixtures of the usage tests; the helpers behind them are in usage/testing.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.models import Tool
from usage import limits
from usage.testing import make_server, make_tool


@pytest.fixture(autouse=True)
def _fresh_limits(settings) -> Iterator[None]:
    settings.REDIS_URL = ""
    limits.reset_local_state()
    yield
    limits.reset_local_state()


@pytest.fixture
def alice_tool(alice) -> Tool:
    return make_tool(make_server(alice, "Pets"))


@pytest.fixture
def bob_tool(bob) -> Tool:
    return make_tool(make_server(bob, "Bob API"))
