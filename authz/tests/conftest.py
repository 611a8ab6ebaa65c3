from __future__ import annotations

import pytest

from usage import ratelimit

# A metadata document host over HTTPS with a throwaway CA (the CIMD tests' own fixtures).
from .metadata_host import ca, cert, host_for, trusted  # noqa: F401


@pytest.fixture(autouse=True)
def _registrations_unthrottled(settings):
    """Every test registers clients and signs in from 127.0.0.1 (counted in Redis across the
    whole run when it is configured); the registration limit has a test of its own."""
    settings.OAUTH_REGISTRATIONS_PER_MINUTE = 10_000
    settings.OAUTH_SIGN_INS_PER_MINUTE = 10_000
    ratelimit.reset_local()
    yield
    ratelimit.reset_local()
