from __future__ import annotations

# Config.asgi served over HTTP and a page in chromium, for the browser tests.
from .browsing import live, page, screenshots  # noqa: F401

# A metadata document host over HTTPS with a throwaway CA (the CIMD tests' own fixtures).
from .metadata_host import ca, cert, host_for, trusted  # noqa: F401
