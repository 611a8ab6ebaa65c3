"""Fixtures for the authorization pages in a real browser (the authz tests' conftest imports
them): config.asgi served over HTTP with the public base URL set to it (`live`), and a page in
Debian's chromium driven by Playwright (`page`) whose screenshots go to the pytest run's
temporary directory (`screenshots`, printed at the end)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.testing import chromium_page

from .flow import oauth_live


@pytest.fixture
def screenshots(tmp_path_factory, capsys) -> Iterator[Path]:
    directory = tmp_path_factory.getbasetemp() / "oauth-screenshots"
    directory.mkdir(exist_ok=True)
    yield directory
    with capsys.disabled():
        print(f"\nOAuth browser screenshots: {directory}")


@pytest.fixture
def live(settings) -> Iterator[str]:
    with oauth_live(settings) as url:
        yield url


@pytest.fixture
def page(screenshots) -> Iterator[Any]:
    with chromium_page(screenshots) as opened:
        yield opened
