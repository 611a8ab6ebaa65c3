from __future__ import annotations

# A metadata document host over HTTPS with a throwaway CA (the CIMD tests' own fixtures).
from .metadata_host import ca, cert, host_for, trusted  # noqa: F401
