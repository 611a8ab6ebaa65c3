"""Instructions per upstream call of `core.outbound.arequest` alone, for before/after comparisons.

    python bench/outbound_profile.py [--calls 300] [--warmup 100] [--tree /path/to/checkout]

Starts bench/upstream.py on loopback and runs a driver, under `valgrind --tool=callgrind` with
instrumentation on only for the measured calls (as bench/hot_path_profile.py does), that makes
`GET /items/{n}` calls one after another through `core.outbound.arequest` on uvloop, as a
gateway worker's event loop makes them. `--tree` runs the driver from another checkout (a
`git worktree` of an older commit) with the same upstream, so two versions of the outbound
stack are compared on the same footing. Every answer is checked (200).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


async def measured(one: Callable[[int], Awaitable[None]], calls: int, warmup: int) -> None:
    """`warmup` calls of `one`, then `calls` more with callgrind's instrumentation on (when the
    driver runs under bench.hot_path_profile.callgrind_instructions)."""
    import ctypes

    marks = os.environ.get("HOT_PATH_CALLGRIND_LIB")
    callgrind = ctypes.CDLL(marks) if marks else None
    for n in range(warmup):
        await one(n)
    if callgrind is not None:
        callgrind.hot_path_start()
    for n in range(calls):
        await one(n)
    if callgrind is not None:
        callgrind.hot_path_stop()


def drive(port: int, calls: int, warmup: int) -> None:
    """The driver: runs in the checkout being measured (its `core.outbound`)."""
    import uvloop

    sys.path.insert(0, os.environ["OUTBOUND_TREE"])  # the checkout measured, before this one
    from core import outbound
    from core.outbound import OutboundOptions

    options = OutboundOptions(allow_private=True)

    async def one(n: int) -> None:
        response = await outbound.arequest(
            "GET",
            f"http://127.0.0.1:{port}/items/{n}",
            options=options,
            headers={"Accept": "application/json"},
        )
        if response.status_code != 200:
            raise SystemExit(f"upstream call failed: {response.status_code}")

    async def run() -> None:
        await measured(one, calls, warmup)
        await outbound.aclose_pools()

    uvloop.run(run())


def run(script: str, drive: Callable[[int, int, int], None], *, tree: bool = False) -> None:
    """The command line of an outbound bench: as itself, it starts the upstream and runs
    `script` again as the driver under callgrind; as the driver (`--driver PORT CALLS`), it
    calls `drive(port, calls, warmup)`. `tree` adds `--tree`, the checkout the driver imports."""
    parser = argparse.ArgumentParser(
        description=(sys.modules["__main__"].__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=100)
    if tree:
        parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--driver", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        drive(args.driver[0], args.driver[1], args.warmup)
        return

    from bench.gateway_bench import free_port, wait_for
    from bench.hot_path_profile import callgrind_instructions

    port = free_port()
    python = str(ROOT / ".venv" / "bin" / "python")
    upstream = subprocess.Popen([python, "bench/upstream.py", str(port)], cwd=ROOT)
    try:
        wait_for(f"http://127.0.0.1:{port}/")
        driver = [python, str(Path(script).resolve()), "--warmup", str(args.warmup)]
        env = dict(os.environ)
        if tree:
            env["OUTBOUND_TREE"] = str(args.tree.resolve())
        loop, _ = callgrind_instructions([*driver, "--driver", str(port), str(args.calls)], env)
        print(json.dumps({"calls": args.calls, "instructions_per_call": loop // args.calls}))
    finally:
        upstream.terminate()
        upstream.wait(10)


if __name__ == "__main__":
    run(__file__, drive, tree=True)
