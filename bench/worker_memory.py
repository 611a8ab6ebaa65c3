"""Memory of the production web server, per process: RSS, PSS and USS of the arbiter and each
worker, after start and after some tools/call requests.

    python bench/worker_memory.py [--workers 2] [--calls 1000] [--tree PATH]

Starts this checkout's production command (`gunicorn -c config/gunicorn.py
config.asgi:application`) with the gateway benchmark's observability on (tracing at
--trace-ratio, default 1 %, to a local OTLP receiver, bench/otlp_sink.py; Prometheus metrics
on), on a throwaway PostgreSQL database (--db, dropped) and Redis db (--redis-db, flushed),
with bench/gateway_bench.py's bench server in front of bench/upstream.py. --tree PATH measures
a second checkout the same way in the same run (its own --tree-db and --tree-redis-db), for
before and after a change:

    git worktree add /tmp/before main
    python bench/worker_memory.py --tree /tmp/before --db specgate_a --tree-db specgate_b
    git worktree remove /tmp/before

The figures come from /proc/PID/smaps_rollup:
- RSS: resident pages, shared ones counted in full in every process that maps them;
- PSS: each shared page divided by the number of processes sharing it (PSS summed over the
  processes is their real footprint);
- USS: pages only this process maps (Private_Clean + Private_Dirty), what stopping it frees.
Pages shared with the arbiter after a fork stay shared until a process writes to them, so a
worker's RSS overstates what it costs and the PSS total is the number to compare. Unlike
wall-clock figures, these do not depend on what else the machine is running.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.gateway_bench import (  # noqa: E402
    CALL,
    VENV,
    Tree,
    baseline_tree,
    free_port,
    prepare,
    process_tree,
    server_env,
    wait_for,
)

DB = "specgate_bench_memory"
REDIS_DB = 13
TREE_DB = "specgate_bench_memory_tree"
TREE_REDIS_DB = 14
FIELDS = ("Rss", "Pss", "Private_Clean", "Private_Dirty")


@dataclass
class Usage:
    """One process's memory in MB."""

    role: str
    pid: int
    rss: float
    pss: float
    uss: float


def usage(role: str, pid: int) -> Usage:
    kb = dict.fromkeys(FIELDS, 0)
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in kb:
            kb[name] = int(rest.split()[0])
    return Usage(
        role, pid, kb["Rss"] / 1024, kb["Pss"] / 1024,
        (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024,
    )  # fmt: skip


def server_usage(arbiter: int) -> list[Usage]:
    workers = sorted(process_tree(arbiter)[1:])
    return [usage("arbiter", arbiter)] + [usage("worker", pid) for pid in workers]


@contextmanager
def started(command: list[str], *, cwd: Path, env: dict[str, str]) -> Iterator[int]:
    process = subprocess.Popen(command, cwd=cwd, env=env)
    try:
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_workers(arbiter: int, workers: int, seconds: float = 60) -> None:
    """Until every worker answers on its socket (gunicorn has forked them all)."""
    deadline = time.monotonic() + seconds
    while len(process_tree(arbiter)) < workers + 1:
        if time.monotonic() > deadline:
            raise SystemExit(f"gunicorn {arbiter} did not start {workers} workers")
        time.sleep(0.2)


def call(url: str, key: str, calls: int) -> None:
    """CALLS tools/call, each on a new connection: the kernel spreads them over the workers."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2025-11-25",
        "Authorization": f"Bearer {key}",
    }
    for _ in range(calls):
        response = httpx2.post(url, json=CALL, headers=headers, timeout=30)
        if response.status_code != 200 or response.json().get("result", {}).get("isError"):
            raise SystemExit(f"tools/call failed: {response.status_code} {response.text}")


def measure(
    name: str, tree: Tree, args: argparse.Namespace, upstream: str, sink: str
) -> dict[str, list[Usage]]:
    env = tree.env(dict(os.environ) | server_env())
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # config/gunicorn.py's private directory
    server = prepare(tree, env, upstream)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env |= {
        "PUBLIC_BASE_URL": base_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink,
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": str(args.trace_ratio),
        "METRICS_TOKEN": Fernet.generate_key().decode(),
    }
    command = [str(tree.bin / "gunicorn"), "-c", "config/gunicorn.py", "-w", str(args.workers),
               "--log-level", "warning", "-b", f"127.0.0.1:{port}",
               "config.asgi:application"]  # fmt: skip
    try:
        with started(command, cwd=tree.root, env=env) as arbiter:
            wait_for(f"{base_url}/healthz", seconds=60)
            wait_for_workers(arbiter, args.workers)
            time.sleep(2)  # the last worker's lifespan startup
            after_start = server_usage(arbiter)
            call(f"{base_url}/mcp/{server['slug']}", server["key"], args.calls)
            time.sleep(1)
            after_calls = server_usage(arbiter)
    finally:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", tree.db],
                       check=False)  # fmt: skip
    print(f"{name}: {tree.root} ({args.calls} tools/call)", file=sys.stderr)
    return {"after start": after_start, f"after {args.calls} calls": after_calls}


def report(results: dict[str, dict[str, list[Usage]]]) -> None:
    print("| tree | when | process | RSS MB | PSS MB | USS MB |")
    print("|---|---|---|---|---|---|")
    for name, stages in results.items():
        for when, processes in stages.items():
            for p in processes:
                print(f"| {name} | {when} | {p.role} {p.pid} "
                      f"| {p.rss:.1f} | {p.pss:.1f} | {p.uss:.1f} |")  # fmt: skip
            rss, pss, uss = (sum(getattr(p, f) for p in processes) for f in ("rss", "pss", "uss"))
            print(f"| {name} | {when} | **total** | {rss:.1f} | **{pss:.1f}** | {uss:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--trace-ratio", type=float, default=0.01)
    parser.add_argument("--db", default=DB, help="throwaway PostgreSQL database (dropped)")
    parser.add_argument("--redis-db", type=int, default=REDIS_DB, help="Redis db (flushed)")
    parser.add_argument("--tree", type=Path, help="a second Specgate checkout to measure")
    parser.add_argument("--tree-db", default=TREE_DB)
    parser.add_argument("--tree-redis-db", type=int, default=TREE_REDIS_DB)
    args = parser.parse_args()
    trees = {"this": Tree(ROOT, VENV, args.db, args.redis_db)}
    if args.tree:
        if args.tree_db == args.db or args.tree_redis_db == args.redis_db:
            raise SystemExit("--tree needs a database and a Redis db of its own")
        trees["tree"] = baseline_tree(args.tree, args.tree_db, args.tree_redis_db)
    upstream_port, sink_port = free_port(), free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    sink = f"http://127.0.0.1:{sink_port}"
    python = str(VENV / "python")
    with ExitStack() as stack:
        stack.enter_context(
            started(
                [python, "bench/upstream.py", str(upstream_port)], cwd=ROOT, env=dict(os.environ)
            )
        )
        stack.enter_context(
            started([python, "bench/otlp_sink.py", str(sink_port)], cwd=ROOT, env=dict(os.environ))
        )
        wait_for(f"{upstream}/items/42")
        wait_for(f"{sink}/count")
        results = {name: measure(name, tree, args, upstream, sink) for name, tree in trees.items()}
    report(results)


if __name__ == "__main__":
    main()
