"""CPU per tools/call of the gateway's hot path, in process, for before/after comparisons.

    python bench/hot_path_profile.py [--calls 2000] [--observability] [--profile cprofile]
                                     [--callgrind] [--stub-upstream]
                                     [--db specgate_speed_prof] [--redis-db 5]

Sets up as bench/gateway_bench.py does (a throwaway PostgreSQL database and Redis db holding
the bench server, bench/upstream.py on loopback, logging, metering and enforcement on; with
--observability tracing at 1 % to bench/otlp_sink.py and metrics on), then runs a driver
process that imports config.asgi as a worker does, runs its lifespan (the request-log
recorder starts) and sends --calls `tools/call` requests through `config.asgi.application`
one after another on one event loop, each a real ASGI exchange whose upstream call goes out
over loopback. It reports CPU time per call (`time.process_time`, the driver process only:
the upstream, PostgreSQL and Redis are other processes) after --warmup calls.

Wall-clock figures move with the machine's load; CPU per call moves less; instruction counts
do not: `--callgrind` runs the driver under `valgrind --tool=callgrind` with instrumentation
off until the warm-up is done (a small helper library, compiled on the fly with gcc from
valgrind's callgrind.h, lets the driver switch it on and off) and reports the instructions
the measured calls cost on the event-loop thread, divided by --calls: start-up and warm-up
are not counted. The worker's other threads (the recorder's flushes, the OTLP batch
exporter) wake on timers, so their count grows with the wall time a call takes under
valgrind, which the machine's load changes: it is printed apart (`all_threads_per_call`).
`--profile cprofile` prints where a call's CPU goes (cumulative and own time, top 40).

`--stub-upstream` measures the gateway's own share of a call: after the warm-up,
`core.outbound.arequest` answers every call at once with the response one real call got, so
the upstream exchange (the outbound wrapper, its pool, HTTP/1.1 and the socket) is left out of
the figures and what the rest of the call path costs stands out.

Every response is checked: status 200 and the upstream's item in the result.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VENV = ROOT / ".venv" / "bin"
CALL = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "getItem", "arguments": {"itemId": "42"}},
    }
).encode()


def drive(
    slug: str, key: str, calls: int, warmup: int, profile: str | None, stub_upstream: bool
) -> None:
    """The driver: runs inside the worker-like process (env set up by main)."""
    import gc

    from config.asgi import application

    gc.freeze()  # as config/gunicorn.py's post_worker_init does
    marks = os.environ.get("HOT_PATH_CALLGRIND_LIB")
    callgrind = ctypes.CDLL(marks) if marks else None
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"mcp-protocol-version", b"2025-11-25"),
        (b"authorization", f"Bearer {key}".encode()),
        (b"content-length", str(len(CALL)).encode()),
        (b"user-agent", b"hot-path-profile"),
    ]
    scope_base: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/mcp/{slug}",
        "raw_path": f"/mcp/{slug}".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    last: list[bytes] = []

    async def one() -> None:
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": CALL, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            else:
                last.append(message.get("body", b""))

        await application(dict(scope_base), receive, send)
        body = last.pop()
        if status != 200 or b"Item 42" not in body or b'"isError":true' in body:
            raise SystemExit(f"tools/call failed: {status} {body[:300]!r}")

    Queue = asyncio.Queue[dict[str, Any]]

    async def lifespan_start() -> tuple[Queue, Queue]:
        inbox: Queue = asyncio.Queue()
        outbox: Queue = asyncio.Queue()
        await inbox.put({"type": "lifespan.startup"})
        asyncio.get_running_loop().create_task(
            application({"type": "lifespan"}, inbox.get, outbox.put)
        )
        await outbox.get()
        return inbox, outbox

    async def stub_outbound() -> None:
        """From now on every upstream call returns, at once, the response of one real call."""
        from core import outbound

        real = outbound.arequest
        responses = []

        async def capture(*args: Any, **kwargs: Any) -> Any:
            responses.append(await real(*args, **kwargs))
            return responses[-1]

        async def stub(*args: Any, **kwargs: Any) -> Any:
            return responses[0]

        outbound.arequest = capture
        await one()
        outbound.arequest = stub

    async def run() -> None:
        inbox, outbox = await lifespan_start()
        for _ in range(warmup):
            await one()
        if stub_upstream:
            await stub_outbound()
        if profile == "cprofile":
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
        if callgrind is not None:
            callgrind.hot_path_start()
        started_cpu = time.process_time()
        started = time.perf_counter()
        for _ in range(calls):
            await one()
        cpu = time.process_time() - started_cpu
        if callgrind is not None:
            callgrind.hot_path_stop()
        wall = time.perf_counter() - started
        if profile == "cprofile":
            profiler.disable()
            profiler.dump_stats(os.environ.get("HOT_PATH_PSTATS", "/tmp/hot_path.pstats"))
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        if calls:
            print(
                json.dumps(
                    {
                        "calls": calls,
                        "cpu_us_per_call": round(cpu / calls * 1e6, 1),
                        "wall_us_per_call": round(wall / calls * 1e6, 1),
                    }
                )
            )

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())


MARKS_C = """
#include <valgrind/callgrind.h>
void hot_path_start(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void hot_path_stop(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""


def callgrind_instructions(command: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Instructions of the measured calls: (event-loop thread, all threads)."""
    with tempfile.TemporaryDirectory() as tmp:
        source, lib = Path(tmp) / "marks.c", Path(tmp) / "marks.so"
        source.write_text(MARKS_C)
        subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-o", lib, source], check=True)
        out = Path(tmp) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--separate-threads=yes",
             f"--callgrind-out-file={out}", *command],
            env=env | {"HOT_PATH_CALLGRIND_LIB": str(lib)},
            check=True,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        per_thread = {}
        for part in Path(tmp).glob("callgrind.out*"):
            text = part.read_text(errors="replace")
            thread = re.search(r"^thread: (\d+)", text, re.M)
            match = re.search(r"^totals: (\d+)", text, re.M)
            if thread and match:
                per_thread[int(thread.group(1))] = int(match.group(1))
        if 1 not in per_thread:
            raise SystemExit("no callgrind totals for the main thread")
        return per_thread[1], sum(per_thread.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--observability", action="store_true")
    parser.add_argument("--profile", choices=["cprofile"], default=None)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument(
        "--stub-upstream", action="store_true", help="leave the upstream exchange out"
    )
    parser.add_argument("--repeat", type=int, default=1, help="driver runs (CPU figure)")
    parser.add_argument("--db", default="specgate_speed_prof")
    parser.add_argument("--redis-db", type=int, default=5)
    parser.add_argument("--python", default=str(VENV / "python"))
    parser.add_argument(
        "--driver", nargs=3, metavar=("SLUG", "KEY", "CALLS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.driver:
        slug, key, calls = args.driver
        drive(slug, key, int(calls), args.warmup, args.profile, args.stub_upstream)
        return

    from cryptography.fernet import Fernet

    from bench.gateway_bench import Tree, free_port, prepare, server_env, wait_for

    tree = Tree(ROOT, VENV, args.db, args.redis_db)
    upstream_port, sink_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    common = dict(os.environ) | server_env() | {"DJANGO_SETTINGS_MODULE": "config.settings"}
    env = tree.env(common)
    metrics_dir = tempfile.mkdtemp(prefix="specgate-prof-metrics-")
    if args.observability:
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.01",
            "METRICS_TOKEN": Fernet.generate_key().decode(),
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
        }
    processes = [
        subprocess.Popen(
            [str(VENV / "python"), "bench/upstream.py", str(upstream_port)], cwd=ROOT, env=env
        )
    ]
    if args.observability:
        processes.append(
            subprocess.Popen(
                [str(VENV / "python"), "bench/otlp_sink.py", str(sink_port)], cwd=ROOT, env=env
            )
        )
    try:
        server = prepare(tree, env, upstream)
        wait_for(f"{upstream}/")
        if args.observability:
            wait_for(f"http://127.0.0.1:{sink_port}/")
        driver = [args.python, "bench/hot_path_profile.py", "--warmup", str(args.warmup)]
        if args.profile:
            driver += ["--profile", args.profile]
        if args.stub_upstream:
            driver.append("--stub-upstream")
        if args.callgrind:
            for _ in range(args.repeat):
                loop, total = callgrind_instructions(
                    [*driver, "--driver", server["slug"], server["key"], str(args.calls)], env
                )
                figures = {
                    "calls": args.calls,
                    "instructions_per_call": loop // args.calls,
                    "all_threads_per_call": total // args.calls,
                }
                print(json.dumps(figures))
        else:
            for _ in range(args.repeat):
                subprocess.run(
                    [*driver, "--driver", server["slug"], server["key"], str(args.calls)],
                    cwd=ROOT,
                    env=env,
                    check=True,
                )
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", args.db], check=False
        )


if __name__ == "__main__":
    main()
