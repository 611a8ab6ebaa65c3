"""The clock that timing code reads, so tests can move time instead of waiting for it.

Read `clock.monotonic()` for intervals and `clock.time()` for wall-clock seconds since the
epoch, through the module (`from core import clock`), never `from core.clock import ...`:
`core.testing.ManualClock` replaces these two names for a test. They are the `time`
functions themselves, so a read costs what `time.monotonic()` costs.
"""

from __future__ import annotations

import time as _time

monotonic = _time.monotonic
time = _time.time
