"""Sustained MCP load with PostgreSQL and Redis restarted in the middle: recovery and durability.

    python bench/load_faults.py [--seconds 240] [--concurrency 16] [--timeout 10] [--workers 2]
        [--nodes 1]

Everything runs on loopback and stops by itself (try/finally), leaving the machine's shared
PostgreSQL and Redis alone:
- a private PostgreSQL cluster (initdb into a temp dir, run as the `postgres` user, trust auth,
  port 55432) and a private Redis (port 56379, no persistence);
- Specgate as production runs it (gunicorn + uvicorn workers, config.asgi:application) with
  plan enforcement on (limits high enough that nothing is refused), and the fast upstream
  bench/upstream.py; with --nodes 2, two gunicorn instances on two ports (two web nodes)
  sharing the PostgreSQL and the Redis, the clients spread over them;
- an asyncio load generator: --concurrency clients sending MCP tools/call in a loop, each
  request bounded by --timeout, outcomes counted by kind and successes per second.
At 1/3 of the run PostgreSQL is stopped (fast) and started again after --down seconds; at 2/3
Redis is killed (SIGKILL) and started again after --down seconds. After the load, gunicorn gets
SIGTERM (the lifespan shutdown flushes the usage recorder) and the answered tool calls are
compared with the RequestLog rows (and their distinct ids: no row doubled) and the UsageDaily
rollup in the private database.
Writes bench/.cache/load_faults.json and prints a summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from gateway_bench import CALL, SETUP, SPEC, free_port, server_env, wait_for

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv" / "bin"
DB = "specgate"
BASELINE_SECONDS = 20
RECOVERED_SHARE = 0.8


def port_or_free(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise SystemExit(f"{name} not found under /usr/lib/postgresql/*/bin")
    return str(found[-1])


class Postgres:
    """A throwaway cluster; as root it runs as the `postgres` user (initdb refuses root)."""

    def __init__(self, base: Path, port: int) -> None:
        self.port = port
        self.data = base / "pgdata"
        self.log = base / "postgres.log"
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            shutil.chown(base, user="postgres")
        self.options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"

    def _ctl(self, *args: str, check: bool = True) -> None:
        command = [*self.prefix, pg_bin("pg_ctl"), "-D", str(self.data), *args]
        subprocess.run(command, check=check, capture_output=True)

    def init(self) -> None:
        subprocess.run(
            [*self.prefix, pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
        )
        self.start()
        subprocess.run(
            [pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DB],
            check=True,
        )

    def start(self) -> None:
        self._ctl("start", "-w", "-l", str(self.log), "-o", self.options)

    def stop(self, mode: str = "fast") -> None:
        self._ctl("stop", "-w", "-m", mode, check=False)

    def connections(self) -> int:
        return int(self.query(f"select count(*) from pg_stat_activity where datname = '{DB}'")) - 1

    def query(self, sql: str) -> str:
        out = subprocess.run(
            [pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", DB,
             "-Atc", sql],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip()


class Redis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ping = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True
            )
            if ping.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise SystemExit("private Redis did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


# --- Load -----------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    at: float
    """Seconds into the load when the service went down."""
    restored: float = 0.0
    """Seconds into the load when it was accepting connections again."""
    connections_before: int = 0
    """Specgate's PostgreSQL connections just before the fault."""


@dataclass
class Load:
    start: float = field(default_factory=time.monotonic)
    outcomes: Counter[str] = field(default_factory=Counter)
    ok_per_second: Counter[int] = field(default_factory=Counter)
    errors: list[tuple[float, str]] = field(default_factory=list)
    oks: list[float] = field(default_factory=list)
    """Start times (seconds into the load) of successful calls."""
    latencies: list[tuple[float, float]] = field(default_factory=list)
    """(start, seconds) of every request, seconds into the load."""

    def now(self) -> float:
        return time.monotonic() - self.start

    def note(self, kind: str, started: float) -> None:
        ended = self.now()
        self.latencies.append((started, ended - started))
        self.outcomes[kind] += 1
        if kind in ("ok", "is_error"):
            self.ok_per_second[int(ended)] += 1
            self.oks.append(started)
        else:
            self.errors.append((started, kind))


def classify(response: httpx2.Response) -> str:
    if response.status_code != 200:
        return f"http_{response.status_code}"
    body = response.json()
    if "error" in body:
        return f"rpc_{body['error'].get('code')}"
    return "is_error" if body["result"].get("isError") else "ok"


async def client_loop(
    client: httpx2.AsyncClient, url: str, headers: dict[str, str], load: Load, until: float,
    timeout: float,
) -> None:  # fmt: skip
    body = json.dumps(CALL).encode()
    while load.now() < until:
        started = load.now()
        try:
            async with asyncio.timeout(timeout):
                response = await client.post(url, content=body, headers=headers)
            kind = classify(response)
        except TimeoutError:
            kind = "timeout"
        except httpx2.TimeoutException:
            kind = "timeout"
        except httpx2.TransportError:
            kind = "connection_error"
        load.note(kind, started)
        if kind not in ("ok", "is_error"):
            await asyncio.sleep(0.05)  # a refused connection must not turn into a busy loop


async def inject(
    load: Load,
    fault: Fault,
    down: float,
    stop: Callable[[], None],
    start: Callable[[], None],
    pg: Postgres,
) -> None:
    await asyncio.sleep(max(0.0, fault.at - load.now()))
    fault.connections_before = await asyncio.to_thread(pg.connections)
    fault.at = load.now()
    await asyncio.to_thread(stop)
    await asyncio.sleep(down)
    await asyncio.to_thread(start)
    fault.restored = load.now()


async def drive(
    urls: list[str], headers: dict[str, str], args: argparse.Namespace, pg: Postgres, redis: Redis
) -> tuple[Load, list[Fault]]:
    limits = httpx2.Limits(
        max_connections=args.concurrency, max_keepalive_connections=args.concurrency
    )
    faults = [Fault("postgresql", args.seconds / 3), Fault("redis", args.seconds * 2 / 3)]
    async with httpx2.AsyncClient(limits=limits, timeout=args.timeout) as client:
        load = Load()
        tasks = [
            client_loop(client, urls[n % len(urls)], headers, load, args.seconds, args.timeout)
            for n in range(args.concurrency)
        ]
        tasks.append(inject(load, faults[0], args.down, pg.stop, pg.start, pg))
        tasks.append(inject(load, faults[1], args.down, redis.kill, redis.start, pg))
        await asyncio.gather(*tasks)
    return load, faults


# --- Analysis --------------------------------------------------------------------------------


def baseline(load: Load, before: float) -> float:
    first = max(1, int(before) - BASELINE_SECONDS)
    seconds = range(first, int(before))
    return sum(load.ok_per_second[s] for s in seconds) / max(1, len(seconds))


def fault_report(load: Load, fault: Fault, until: float) -> dict[str, Any]:
    rate = baseline(load, fault.at)
    window = [(t, kind) for t, kind in load.errors if fault.at <= t < until]
    # Recovered: the first whole second, once the service is back, at >= 80% of the baseline.
    recovered = next(
        (s for s in range(int(fault.restored) + 1, int(until))
         if load.ok_per_second[s] >= RECOVERED_SHARE * rate),
        None,
    )  # fmt: skip
    during = [took for started, took in load.latencies if fault.at <= started < until]
    first_ok = next((t for t in sorted(load.oks) if t >= fault.restored), None)
    slowest = min(
        (load.ok_per_second[s] for s in range(int(fault.at) + 1, int(fault.restored) + 2)),
        default=0,
    )
    return {
        "down_at_s": round(fault.at, 2),
        "restored_at_s": round(fault.restored, 2),
        "downtime_s": round(fault.restored - fault.at, 2),
        "baseline_ok_per_s": round(rate, 1),
        "lowest_ok_per_s_while_down": slowest,
        "errors": dict(Counter(kind for _, kind in window)),
        "max_latency_s": round(max(during, default=0.0), 3),
        "db_connections_before": fault.connections_before,
        "last_error_at_s": round(window[-1][0], 2) if window else None,
        "first_ok_started_after_restore_s": since(fault.restored, first_ok),
        "throughput_back_80pct_after_restore_s": since(
            fault.restored, None if recovered is None else recovered + 1
        ),
    }


def latency_summary(load: Load) -> dict[str, float]:
    took = sorted(seconds for _, seconds in load.latencies)
    return {
        "p50": round(took[len(took) // 2], 4),
        "p99": round(took[int(len(took) * 0.99)], 4),
        "max": round(took[-1], 3),
    }


def since(start: float, moment: float | None) -> float | None:
    return None if moment is None else round(moment - start, 2)


def durability(load: Load, pg: Postgres) -> dict[str, Any]:
    answered = load.outcomes["ok"] + load.outcomes["is_error"]
    unanswered = load.outcomes["timeout"] + load.outcomes["connection_error"]
    logs = int(pg.query("select count(*) from usage_requestlog"))
    distinct = int(pg.query("select count(distinct id) from usage_requestlog"))
    rollup = int(pg.query("select coalesce(sum(calls), 0) from usage_usagedaily"))
    # Each row in the partition of its UTC day (PostgreSQL's routing, checked).
    misplaced = int(
        pg.query(
            "select count(*) from usage_requestlog where tableoid::regclass::text <> "
            "'usage_requestlog_p' || to_char(created_at at time zone 'UTC', 'YYYYMMDD')"
        )
    )
    return {
        "answered_tool_calls": answered,
        "unanswered_requests": unanswered,
        "request_logs": logs,
        "distinct_log_ids": distinct,
        "usage_daily_calls": rollup,
        "logs_minus_answered": logs - answered,
        "rollup_minus_logs": rollup - logs,
        "partitions_with_rows": int(
            pg.query("select count(distinct tableoid) from usage_requestlog")
        ),
        "rows_outside_their_days_partition": misplaced,
        # A request the client gave up on (timeout, dropped connection) may still have been
        # served and recorded: those are the only logs allowed beyond the answered calls.
        "within_window": answered <= logs <= answered + unanswered
        and rollup == logs
        and distinct == logs
        and misplaced == 0,
    }


def keep_log(path: Path, report: Path, limit: int = 20_000_000) -> Path:
    """Keep the server log beside the report (the temp dir is removed): head and tail if huge."""
    copy = report.with_suffix(".server.log")
    copy.parent.mkdir(parents=True, exist_ok=True)
    data = path.read_bytes()
    if len(data) > limit:
        data = data[: limit // 2] + b"\n[...]\n" + data[-limit // 2 :]
    copy.write_bytes(data)
    return copy


def log_findings(path: Path) -> dict[str, int]:
    text = path.read_text(errors="replace") if path.exists() else ""
    needles = {
        "usage_flush_failed": "Usage flush failed",
        "records_lost_at_shutdown": "lost",
        "buffer_full_drops": "dropping the oldest",
        "rate_limiter_redis_outage": "Rate limiter cannot reach Redis",
        "mcp_request_failed": "MCP request to",
        "tracebacks": "Traceback",
    }
    return {name: text.count(needle) for name, needle in needles.items()}


# --- Orchestration ---------------------------------------------------------------------------


def setup_server(env: dict[str, str], upstream: str) -> dict[str, str]:
    manage = [str(VENV / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    created = subprocess.run(
        [*manage, "shell", "-c", SETUP.format(spec=str(SPEC), upstream=upstream)],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(created.stdout.strip().splitlines()[-1]))


def stop_gracefully(process: subprocess.Popen[bytes], seconds: float = 60) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


def machine() -> str:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    return f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=240)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    parser.add_argument("--down", type=float, default=5.0, help="seconds each service stays down")
    parser.add_argument("--workers", type=int, default=2, help="per node")
    parser.add_argument("--nodes", type=int, default=1, help="gunicorn instances (web nodes)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / ".cache" / "load_faults.json")
    args = parser.parse_args()
    if args.seconds < 30:
        parser.error("--seconds must be at least 30 (a baseline, two faults and recoveries)")

    # A plain `kill` must still run the cleanup below (stop PostgreSQL, Redis, gunicorn).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base = Path(tempfile.mkdtemp(prefix="specgate-faults-"))
    pg = Postgres(base, port_or_free(55432))
    redis = Redis(port_or_free(56379))
    processes: list[subprocess.Popen[bytes]] = []
    gunicorn_log = base / "gunicorn.log"
    try:
        pg.init()
        redis.start()
        ports = {"upstream": free_port()} | {f"node{n}": free_port() for n in range(args.nodes)}
        nodes = [f"node{n}" for n in range(args.nodes)]
        upstream = f"http://127.0.0.1:{ports['upstream']}"
        env = os.environ | {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{pg.port}/{DB}",
            "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
            "DATA_DIR": str(base),
            **server_env(),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports['node0']}",
        }
        server = setup_server(env, upstream)
        processes.append(
            subprocess.Popen(
                [str(VENV / "python"), "bench/upstream.py", str(ports["upstream"])], cwd=ROOT
            )
        )
        gunicorns = []
        with gunicorn_log.open("wb") as log:
            for node in nodes:
                gunicorns.append(
                    subprocess.Popen(
                        [
                            str(VENV / "gunicorn"),
                            "-c",
                            "config/gunicorn.py",
                            "-w",
                            str(args.workers),
                            "--log-level",
                            "warning",
                            "-b",
                            f"127.0.0.1:{ports[node]}",
                            "config.asgi:application",
                        ],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        processes.extend(gunicorns)
        for name in ports:
            wait_for(f"http://127.0.0.1:{ports[name]}/")
        urls = [f"http://127.0.0.1:{ports[node]}/mcp/{server['slug']}" for node in nodes]
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
            "Authorization": f"Bearer {server['key']}",
        }
        for url in urls:
            check = httpx2.post(url, json=CALL, headers=headers, timeout=10)
            if check.status_code != 200 or classify(check) != "ok":
                raise SystemExit(
                    f"tools/call failed before the load: {check.status_code} {check.text}"
                )
        # The check calls above are answered and recorded too: count them with the load's.
        load, faults = asyncio.run(drive(urls, headers, args, pg, redis))
        load.outcomes["ok"] += len(urls)
        connections_at_end = pg.connections()
        flush_started = time.monotonic()
        exit_codes = [stop_gracefully(gunicorn) for gunicorn in gunicorns]
        flush_seconds = time.monotonic() - flush_started
        report = {
            "command": " ".join(["python", "bench/load_faults.py", *sys.argv[1:]]),
            "machine": machine(),
            "settings": {
                "seconds": args.seconds,
                "concurrency": args.concurrency,
                "timeout_s": args.timeout,
                "down_s": args.down,
                "workers": args.workers,
                "nodes": args.nodes,
            },
            "requests": sum(load.outcomes.values()),
            "outcomes": dict(load.outcomes),
            "latency_s": latency_summary(load),
            "mean_ok_per_s": round(sum(load.ok_per_second.values()) / args.seconds, 1),
            "faults": {
                fault.name: fault_report(load, fault, end)
                for fault, end in zip(faults, [faults[1].at, args.seconds], strict=True)
            },
            "db_connections_at_end": connections_at_end,
            "shutdown": {"gunicorn_exit_codes": exit_codes, "seconds": round(flush_seconds, 2)},
            "durability": durability(load, pg),
            "server_log": log_findings(gunicorn_log),
            "server_log_copy": str(keep_log(gunicorn_log, args.json)),
            "ok_per_second": [load.ok_per_second[s] for s in range(args.seconds)],
            "faults_timeline": [asdict(f) for f in faults],
        }
    finally:
        for process in processes:
            stop_gracefully(process, seconds=30)
        redis.kill()
        pg.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    summary = {k: v for k, v in report.items() if k not in ("ok_per_second", "faults_timeline")}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
