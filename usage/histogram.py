"""The fixed latency buckets of the usage rollups, and percentiles read back from them.

Bucket i counts calls with `BOUNDS_MS[i-1] < duration_ms <= BOUNDS_MS[i]`; the last
bucket counts everything slower than the last bound. Changing the bounds needs a
migration of `UsageDaily`'s `lat_*` columns.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

BOUNDS_MS: tuple[int, ...] = (
    5,
    10,
    25,
    50,
    75,
    100,
    150,
    200,
    300,
    500,
    750,
    1000,
    2000,
    5000,
    10000,
    30000,
)
BUCKET_FIELDS: tuple[str, ...] = (
    *(f"lat_le_{bound}" for bound in BOUNDS_MS),
    f"lat_over_{BOUNDS_MS[-1]}",
)


def bucket_of(duration_ms: int) -> int:
    return bisect_left(BOUNDS_MS, duration_ms)


def percentile(histogram: Sequence[int], fraction: float) -> int | None:
    """The duration below which `fraction` of calls fall, interpolated within its bucket.

    An estimate: exact to the bucket, linear inside it. Calls past the last bound
    report the last bound.
    """
    total = sum(histogram)
    if total == 0:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            if index == len(BOUNDS_MS):
                return BOUNDS_MS[-1]
            lower = BOUNDS_MS[index - 1] if index else 0
            upper = BOUNDS_MS[index]
            return round(lower + (upper - lower) * (rank - seen) / count)
        seen += count
    return BOUNDS_MS[-1]
