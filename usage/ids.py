"""Time-ordered ids for the request log."""

from __future__ import annotations

import os
import time
import uuid


def uuid7(unix_ms: int | None = None) -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, 74 random bits.

    Request-log ids are made on the call path and are the table's primary key; ids that grow
    with time are appended at the right edge of the key's index instead of landing on a random
    page of it, which keeps inserts cheap (fewer pages touched and logged) as the table grows.
    UNIX_MS (default: now) is the time the id carries.
    """
    if unix_ms is None:
        unix_ms = time.time_ns() // 1_000_000
    value = unix_ms << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return uuid.UUID(int=value)
