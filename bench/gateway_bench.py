"""tools/call throughput and latency: Specgate vs FastMCP and ContextForge vs the upstream itself.

    python bench/gateway_bench.py [--seconds 15] [--rounds 2] [--connections 16] [--workers 1]
                                  [--baseline-tree PATH] [--no-contextforge]

Everything runs on this machine on loopback and stops by itself (--db and --redis-db name the
throwaway PostgreSQL database and Redis db when the defaults are taken):
- a fast upstream (bench/upstream.py, bare ASGI under uvicorn);
- Specgate as production runs it (gunicorn + uvicorn workers, config.asgi:application) on a
  throwaway PostgreSQL database and Redis db 13, with key checks, logging, metering and plan
  enforcement on (limits set high enough that nothing is refused);
- Specgate with logging, metering and enforcement off (bench/asgi_unmetered.py), to price them;
- FastMCP 4.x `from_openapi` (stateless HTTP, JSON responses) proxying the same spec, from the
  virtualenv in bench/.cache/fastmcp-venv (see requirements-bench.txt);
- IBM's ContextForge gateway 1.1.0 (target "contextforge"; --no-contextforge leaves it out), set
  up as its Docker Compose file runs it, by hand (bench/contextforge_peer.py: gunicorn with its
  recommended 2 x cores + 1 workers, --contextforge-workers to change it, its own throwaway
  PostgreSQL database --contextforge-db and Redis db --contextforge-redis-db, JWT bearer auth),
  with the upstream's getItem registered as a REST tool in a virtual server; its virtualenv
  (bench/.cache/contextforge-venv, Python >= 3.12, requirements-bench-contextforge.txt) is
  created on first use;
- the upstream called directly (the ceiling);
- "specgate-oauth": the same Specgate processes as "specgate", called with an OAuth access
  token (a signed JWT verified from the gateway snapshot) instead of an access key.
wrk drives each in turn with 16 connections, alternating, for --rounds rounds. Before the run one
tools/call per MCP target must return the upstream's item; during it, non-2xx responses, socket
errors and 2xx answers that are no tool result (isError, or a JSON-RPC error) are counted (wrk's
timeout is 30 s). Reported per target: requests/s, p50/p99 latency, CPU time per call of the
server processes, and peak RSS per worker. Needs wrk (apt-get install wrk),
PostgreSQL on 127.0.0.1:5432 and Redis on 6379, and the FastMCP peer's virtualenv
(`bench/corpus.py --peer fastmcp` creates it, or by hand: `python3 -m venv
bench/.cache/fastmcp-venv && bench/.cache/fastmcp-venv/bin/pip install -r requirements-bench.txt
uvicorn`).

Before and after a change, in one run: `--baseline-tree PATH` adds a second Specgate checkout
as the target "specgate-baseline", measured in the same rounds, alternating with the others:

    git worktree add /tmp/before <older commit>
    python bench/gateway_bench.py --baseline-tree /tmp/before
    git worktree remove /tmp/before

That tree is set up like this one but apart from it: its own throwaway database
(specgate_bench_gateway_baseline, --baseline-db), Redis db (14, --baseline-redis-db) and data
directory, migrated and given the same bench server by its own manage.py; then its gunicorn
runs from its directory with its config/gunicorn.py and config.asgi:application. It uses
PATH/.venv when it has one and this checkout's .venv otherwise. The bench spec, upstream and
FastMCP peer are this checkout's. It is reported with the same figures as the others, next to
"specgate". Without --baseline-tree the run and its output are as before.

`--observability` measures "specgate" with observability on: tracing exported over OTLP/HTTP
to a local receiver (bench/otlp_sink.py) at --trace-ratio sampling (default 1 %,
parentbased_traceidratio) and Prometheus metrics on (METRICS_TOKEN set); the other targets,
the baseline included, run as before. After the rounds it prints how many calls /metrics
counted and how many spans the receiver got.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.contextforge_peer import ContextForge, ensure_venv, recommended_workers  # noqa: E402

VENV = ROOT / ".venv" / "bin"
PEER_PYTHON = ROOT / "bench" / ".cache" / "fastmcp-venv" / "bin" / "python"
SPEC = ROOT / "bench" / "bench.openapi.yaml"
DB = "specgate_bench_gateway"
REDIS_DB = 13
BASELINE_DB = "specgate_bench_gateway_baseline"
BASELINE_REDIS_DB = 14
CONTEXTFORGE_DB = "specgate_bench_gateway_contextforge"
CONTEXTFORGE_REDIS_DB = 15
ITEM = {"id": "42", "name": "Item 42"}  # what bench/upstream.py answers for itemId 42
# Appended to each MCP target's wrk script: counts 2xx responses that are not a tool result (a
# result flagged isError, or a JSON-RPC error), which wrk's non-2xx count does not see.
COUNT_TOOL_ERRORS = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) tool_errors = 0 end
function response(status, headers, body)
  if body:find('"isError"%s*:%s*true') or body:find('"error"%s*:%s*{') then
    tool_errors = tool_errors + 1
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(threads) do n = n + thread:get("tool_errors") end
  io.write(string.format("Tool errors: %d\\n", n))
end
"""
CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "getItem", "arguments": {"itemId": "42"}},
}
SETUP = """
import json
from accounts.models import User
from servers.services import access_key_create, server_create
from specs.services import spec_create
user = User.objects.create_user(clerk_id="bench", email="bench@example.com")
spec = spec_create(user=user, content=open({spec!r}).read())
server = server_create(user=user, spec_id=spec.id, name="Bench", base_url={upstream!r})
_, key = access_key_create(server=server, name="wrk")
print(json.dumps({{"slug": server.slug, "key": key}}))
"""
# An OAuth access token for the bench server, as the token endpoint would mint it after a
# browser consent (the flow itself is tested in authz/tests): same grant, same signature.
OAUTH_SETUP = """
import json
from oauth2_provider.models import Application
from accounts.models import User
from authz import tokens
from authz.services import authorization_grant
from servers.models import Server
user = User.objects.get(clerk_id="bench")
server = Server.objects.get(slug={slug!r})
client = Application.objects.create(
    name="wrk", client_type="public", authorization_grant_type="authorization-code",
    redirect_uris="http://127.0.0.1:1/cb",
)
grant = authorization_grant(user=user, application=client, server=server, scope="tools:call")
token = tokens.mint(grant_id=str(grant.pk), user_id=str(user.pk), resource=grant.resource,
                    scope=grant.scope, client_id=client.client_id, lifetime=7200)
print(json.dumps({{"token": token}}))
"""


def server_env() -> dict[str, str]:
    """What every benchmarked Specgate process runs with: loopback upstreams allowed, a fresh
    encryption key, plan enforcement on with limits no benchmark reaches, warnings only."""
    return {
        "OUTBOUND_ALLOW_PRIVATE": "true",
        "CREDENTIALS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PLAN_ENFORCEMENT": "true",
        "PLAN_FREE_RPM": "100000000",
        "PLAN_FREE_INCLUDED_CALLS": "100000000",
        "LOG_LEVEL": "WARNING",
    }


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not start")


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for child in Path("/proc").glob("[0-9]*"):
        try:
            stat = (child / "stat").read_text()
        except OSError:
            continue
        # The command name in parentheses may hold spaces: the fields after it are fixed.
        if int(stat[stat.rindex(")") + 2 :].split()[1]) in pids:
            pids.append(int(child.name))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pids_named(*names: str) -> list[int]:
    """Every process whose command name is one of NAMES (the database and cache servers)."""
    found = []
    for child in Path("/proc").glob("[0-9]*"):
        try:
            comm = (child / "comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            found.append(int(child.name))
    return found


def peak_rss_mb(pids: list[int]) -> float:
    peak = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peak = max(peak, int(match.group(1)))
    return peak / 1024


@dataclass
class Target:
    name: str
    url: str
    pid: int | None
    headers: dict[str, str]
    post: bool = True
    results: list[dict[str, float]] = field(default_factory=list)


def wrk(target: Target, seconds: int, connections: int, script_dir: Path) -> dict[str, float]:
    script = script_dir / f"{target.name}.lua"
    lines = []
    if target.post:
        lines += ['wrk.method = "POST"', f"wrk.body = {json.dumps(json.dumps(CALL))}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in target.headers.items()]
    if target.post:
        lines.append(COUNT_TOOL_ERRORS)
    script.write_text("\n".join(lines) + "\n")
    pids = process_tree(target.pid) if target.pid else []
    services = pids_named("postgres", "redis-server")
    cpu_before = cpu_seconds(pids)
    services_before = cpu_seconds(services)
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            # wrk's default (2 s) drops slower responses from the latency histogram; ContextForge
            # on a loaded machine answers in 1-2 s, so every target gets 30 s.
            "--timeout",
            "30s",
            "-s",
            str(script),
            target.url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cpu_after = cpu_seconds(pids)
    services_after = cpu_seconds(sorted({*services, *pids_named("postgres", "redis-server")}))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    tool_errors = re.search(r"Tool errors: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )

    def percentile(label: str) -> float:
        value, unit = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": rps,
        "p50_ms": percentile("50"),
        "p99_ms": percentile("99"),
        "errors": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "tool_errors": int(tool_errors.group(1)) if tool_errors else 0,
        "cpu_ms_per_call": (cpu_after - cpu_before) * 1000 / max(total, 1) if pids else 0.0,
        "services_cpu_ms_per_call": (services_after - services_before) * 1000 / max(total, 1),
        "peak_rss_mb": peak_rss_mb(pids[1:] or pids) if pids else 0.0,
    }


@dataclass
class Tree:
    """A Specgate checkout to measure: its directory, its virtualenv, its database and Redis db."""

    root: Path
    bin: Path
    db: str
    redis_db: int

    def env(self, base: dict[str, str]) -> dict[str, str]:
        return base | {
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.db}",
            "REDIS_URL": f"redis://127.0.0.1:6379/{self.redis_db}",
            "DATA_DIR": tempfile.mkdtemp(prefix="specgate-bench-"),
        }


def baseline_tree(path: Path, db: str, redis_db: int) -> Tree:
    root = path.resolve()
    if not (root / "manage.py").is_file() or not (root / "config" / "gunicorn.py").is_file():
        raise SystemExit(f"--baseline-tree {path}: not a Specgate checkout (no manage.py)")
    if root == ROOT:
        raise SystemExit("--baseline-tree is this checkout; give a worktree of another commit")
    own = root / ".venv" / "bin"
    return Tree(root, own if (own / "python").exists() else VENV, db, redis_db)


def prepare(tree: Tree, env: dict[str, str], upstream: str) -> dict[str, str]:
    """A fresh database for TREE, migrated by its own code, holding the bench server."""
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", tree.db],
                   check=True)  # fmt: skip
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", tree.db], check=True)
    subprocess.run(["redis-cli", "-n", str(tree.redis_db), "flushdb"], check=True,
                   capture_output=True)  # fmt: skip
    manage = [str(tree.bin / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=tree.root, env=env, check=True)
    setup = SETUP.format(spec=str(SPEC), upstream=upstream)
    created = subprocess.run(
        [*manage, "shell", "-c", setup], cwd=tree.root, env=env, check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    server: dict[str, str] = json.loads(created.stdout.strip().splitlines()[-1])
    return server


def oauth_token(tree: Tree, env: dict[str, str], slug: str, base_url: str) -> str:
    """An OAuth access token for the server SLUG served at BASE_URL (its audience)."""
    minted = subprocess.run(
        [str(tree.bin / "python"), "manage.py", "shell", "-c", OAUTH_SETUP.format(slug=slug)],
        cwd=tree.root, env=env | {"PUBLIC_BASE_URL": base_url}, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    token: str = json.loads(minted.stdout.strip().splitlines()[-1])["token"]
    return token


def holds_item(value: object) -> bool:
    """Whether VALUE (a tool result, at any depth, JSON text parsed) carries the upstream's item."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return False
    if isinstance(value, dict):
        if all(value.get(key) == expected for key, expected in ITEM.items()):
            return True
        return any(holds_item(inner) for inner in value.values())
    if isinstance(value, list):
        return any(holds_item(inner) for inner in value)
    return False


def check_call(target: Target) -> None:
    """One tools/call must succeed and return the upstream's item, not just any 200."""
    response = httpx2.post(target.url, json=CALL, headers=target.headers, timeout=30)
    body = response.json()
    result = body.get("result", {}) if isinstance(body, dict) else {}
    if response.status_code != 200 or result.get("isError") or not holds_item(result):
        raise SystemExit(f"{target.name}: tools/call failed: {response.status_code} {body}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / ".cache" / "gateway.json")
    parser.add_argument(
        "--baseline-tree",
        type=Path,
        help="a second Specgate checkout (git worktree of an older commit) measured as "
        "specgate-baseline in the same run",
    )
    parser.add_argument("--db", default=DB, help="throwaway PostgreSQL database (dropped)")
    parser.add_argument("--redis-db", type=int, default=REDIS_DB, help="Redis db (flushed)")
    parser.add_argument("--baseline-db", default=BASELINE_DB)
    parser.add_argument("--baseline-redis-db", type=int, default=BASELINE_REDIS_DB)
    parser.add_argument(
        "--no-contextforge", action="store_true", help="leave the ContextForge peer out"
    )
    parser.add_argument("--contextforge-db", default=CONTEXTFORGE_DB, help="dropped after")
    parser.add_argument("--contextforge-redis-db", type=int, default=CONTEXTFORGE_REDIS_DB)
    parser.add_argument(
        "--contextforge-workers",
        type=int,
        default=recommended_workers(),
        help="its gunicorn workers (default: its docs' 2 x cores + 1, at most 16)",
    )
    parser.add_argument("--observability", action="store_true", help="tracing + metrics on")
    parser.add_argument("--trace-ratio", type=float, default=0.01)
    args = parser.parse_args()
    if args.baseline_tree and (
        args.db == args.baseline_db or args.redis_db == args.baseline_redis_db
    ):
        raise SystemExit("the baseline needs a database and a Redis db of its own")
    taken = [(args.db, args.redis_db)]
    if args.baseline_tree:
        taken.append((args.baseline_db, args.baseline_redis_db))
    if not args.no_contextforge and any(
        args.contextforge_db == db or args.contextforge_redis_db == redis_db
        for db, redis_db in taken
    ):
        raise SystemExit("ContextForge needs a database and a Redis db of its own")

    main_tree = Tree(ROOT, VENV, args.db, args.redis_db)
    baseline = (
        baseline_tree(args.baseline_tree, args.baseline_db, args.baseline_redis_db)
        if args.baseline_tree
        else None
    )
    ports = {
        name: free_port()
        for name in ("upstream", "ours", "bare", "peer", "baseline", "contextforge", "sink")
    }
    contextforge = (
        None
        if args.no_contextforge
        else ContextForge(
            ensure_venv(),
            args.contextforge_db,
            args.contextforge_redis_db,
            ports["contextforge"],
            args.contextforge_workers,
        )
    )
    upstream = f"http://127.0.0.1:{ports['upstream']}"
    common = dict(os.environ) | server_env()
    env = main_tree.env(common)
    metrics_token = Fernet.generate_key().decode()
    ours_env = env | (
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{ports['sink']}",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": str(args.trace_ratio),
            "METRICS_TOKEN": metrics_token,
        }
        if args.observability
        else {}
    )
    baseline_env = baseline.env(common) if baseline else {}
    processes: list[subprocess.Popen[bytes]] = []

    def start(
        command: list[str], port: str, *, tree: Tree = main_tree, tree_env: dict[str, str] = env
    ) -> int:
        process_env = tree_env | {"PUBLIC_BASE_URL": f"http://127.0.0.1:{ports[port]}"}
        process = subprocess.Popen(command, cwd=tree.root, env=process_env)
        processes.append(process)
        return process.pid

    def gunicorn(tree: Tree, port: str, app: str) -> list[str]:
        return [str(tree.bin / "gunicorn"), "-c", "config/gunicorn.py", "-w", str(args.workers),
                "--log-level", "warning", "-b", f"127.0.0.1:{ports[port]}", app]  # fmt: skip

    try:
        server = prepare(main_tree, env, upstream)
        ours_url = f"http://127.0.0.1:{ports['ours']}"
        token = oauth_token(main_tree, env, server["slug"], ours_url)
        baseline_server = prepare(baseline, baseline_env, upstream) if baseline else {}
        start([str(VENV / "python"), "bench/upstream.py", str(ports["upstream"])], "upstream")
        ours = start(
            gunicorn(main_tree, "ours", "config.asgi:application"), "ours", tree_env=ours_env
        )
        bare = start(gunicorn(main_tree, "bare", "bench.asgi_unmetered:application"), "bare")
        peer = start(
            [str(PEER_PYTHON), "bench/fastmcp_peer.py", str(SPEC), upstream, str(ports["peer"])],
            "peer",
        )
        started = ["upstream", "ours", "bare", "peer"]
        if contextforge:
            contextforge.prepare()
            forge_process = contextforge.start()
            processes.append(forge_process)
        if args.observability:
            start([str(VENV / "python"), "bench/otlp_sink.py", str(ports["sink"])], "sink")
            started.append("sink")
        if baseline:
            before = start(
                gunicorn(baseline, "baseline", "config.asgi:application"),
                "baseline",
                tree=baseline,
                tree_env=baseline_env,
            )
            started.append("baseline")
        for name in started:
            wait_for(f"http://127.0.0.1:{ports[name]}/")
        if contextforge:
            # Every worker imports the whole gateway; a loaded machine needs a while.
            wait_for(f"{contextforge.base_url}/health", seconds=180)
            forge_token = contextforge.token()
            forge_url = contextforge.register(upstream, forge_token)
        mcp_headers = {
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        }
        keyed = mcp_headers | {"Authorization": f"Bearer {server['key']}"}
        targets = [
            Target("specgate", f"{ours_url}/mcp/{server['slug']}", ours, keyed),
            Target(
                "specgate-oauth",
                f"{ours_url}/mcp/{server['slug']}",
                ours,
                mcp_headers | {"Authorization": f"Bearer {token}"},
            ),
        ]
        if baseline:
            targets.append(
                Target(
                    "specgate-baseline",
                    f"http://127.0.0.1:{ports['baseline']}/mcp/{baseline_server['slug']}",
                    before,
                    mcp_headers | {"Authorization": f"Bearer {baseline_server['key']}"},
                )
            )
        targets += [
            Target(
                "specgate-unmetered",
                f"http://127.0.0.1:{ports['bare']}/mcp/{server['slug']}",
                bare,
                keyed,
            ),
            Target("fastmcp", f"http://127.0.0.1:{ports['peer']}/mcp", peer, mcp_headers),
        ]
        if contextforge:
            targets.append(
                Target(
                    "contextforge",
                    forge_url,
                    forge_process.pid,
                    mcp_headers | {"Authorization": f"Bearer {forge_token}"},
                )
            )
        targets += [
            Target("direct-upstream", f"{upstream}/items/42", None, {}, post=False),
        ]
        for target in targets:
            if target.post:
                check_call(target)
        with tempfile.TemporaryDirectory() as scripts:
            for _ in range(args.rounds):
                for target in targets:
                    target.results.append(
                        wrk(target, args.seconds, args.connections, Path(scripts))
                    )
        if args.observability:
            report_observability(ports, metrics_token)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # then the databases can still be dropped
                process.kill()
                process.wait()
        for tree in (main_tree, baseline):
            if tree:
                subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists",
                                tree.db])  # fmt: skip
        if contextforge:
            contextforge.drop()

    report = {t.name: t.results for t in targets}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(
        "| target | requests/s | p50 ms | p99 ms | non-2xx | socket errors | tool errors "
        "| CPU ms/call "
        "| PostgreSQL + Redis CPU ms/call | peak RSS/worker MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for target in targets:
        cells = [
            span(target.results, "rps", "{:.0f}"),
            span(target.results, "p50_ms", "{:.2f}"),
            span(target.results, "p99_ms", "{:.2f}"),
            span(target.results, "errors", "{:.0f}"),
            span(target.results, "socket_errors", "{:.0f}"),
            span(target.results, "tool_errors", "{:.0f}"),
            span(target.results, "cpu_ms_per_call", "{:.2f}"),
            span(target.results, "services_cpu_ms_per_call", "{:.3f}"),
            span(target.results, "peak_rss_mb", "{:.0f}"),
        ]
        print(f"| {target.name} | " + " | ".join(cells) + " |")


def report_observability(ports: dict[str, int], token: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    time.sleep(6)  # the batch exporters send every 5 s
    scraped = httpx2.get(
        f"http://127.0.0.1:{ports['ours']}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    calls = sum(
        sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.name == "specgate_tool_calls_total"
    )
    spans = httpx2.get(f"http://127.0.0.1:{ports['sink']}/count").text
    print(f"observability: /metrics counted {calls:.0f} tools/call; the receiver got {spans} spans")


def span(results: list[dict[str, float]], key: str, fmt: str) -> str:
    values = [result[key] for result in results]
    low, high = min(values), max(values)
    return fmt.format(low) if low == high else f"{fmt.format(low)} to {fmt.format(high)}"


if __name__ == "__main__":
    main()
