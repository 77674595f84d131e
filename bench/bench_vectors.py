"""Exact vector top-k: VectorIndex against numpy and faiss, one query at a time and in batches.

Usage: python -m bench.bench_vectors [--rows 100000] [--also 1000000] [--dim 384] [--vectors model|random]
                                     [--queries 256] [--batch 32] [--k 100] [--json FILE]

Vectors: ``random`` unit vectors (no structure for any index to exploit), or ``model``: vectors with the
mean and covariance of real multilingual-e5-small embeddings of real entries (2,000 entries embedded once
by the packaged model and cached), with real query embeddings. e5's vectors share one large direction,
which is the hard case for the int8 pre-scan's bounds.

Contenders, taking turns query by query (batch by batch), all exact:
  - ours: ``VectorIndex.search`` (int8 pre-scan + exact float32 re-scoring from 8,192 rows) and
    ``VectorIndex.search_many`` for a batch;
  - numpy: ``matrix @ q`` (``Q @ matrix.T`` for a batch), ``argpartition(-scores, k - 1)`` and a sort of
    those k;
  - faiss ``IndexFlatIP.search`` (one query, or the batch).
Agreement: ours returns the same top-k as numpy, up to swaps of scores equal within float32 rounding.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    VectorShape, embedded_sample, interleaved, latency, load_average, machine, median,
    random_unit_vectors, real_queries, real_texts, report, write_json,
)
from hybrid.vectors import VectorIndex  # noqa: E402


def numpy_top(matrix: np.ndarray, query: np.ndarray, k: int) -> np.ndarray:
    scores = matrix @ query
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top], kind="stable")]


def numpy_top_many(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    scores = queries @ matrix.T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def vectors_and_queries(kind: str, rows: int, dim: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "random":
        return random_unit_vectors(rows, dim, seed), random_unit_vectors(n_queries, dim, seed + 1)
    sample = embedded_sample(real_texts(2000, seed=seed + 99))
    queries = embedded_sample(real_queries(n_queries), queries=True)
    return VectorShape(sample).draw(rows, seed), queries


def same_top(got: np.ndarray, want: np.ndarray, matrix: np.ndarray, query: np.ndarray) -> bool:
    if got.tolist() == want.tolist():
        return True
    exact = matrix[got].astype(np.float64) @ query, matrix[want].astype(np.float64) @ query
    return len(got) == len(want) and np.allclose(exact[0], exact[1], atol=1e-6)


def run_size(kind: str, rows: int, dim: int, n_queries: int, batch: int, k: int, seed: int) -> dict:
    import faiss

    out: dict = {"rows": rows, "dimension": dim, "vectors": kind, "load average at start": load_average()}
    tick = time.perf_counter()
    matrix, queries = vectors_and_queries(kind, rows, dim, n_queries, seed)
    out["vector preparation s"] = time.perf_counter() - tick

    tick = time.perf_counter()
    index = VectorIndex(dim, matrix)
    index.search(queries[0], k)
    out["ours build s (int8 codes)"] = time.perf_counter() - tick
    matrix = np.asarray(index.matrix)
    tick = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(matrix)
    out["faiss IndexFlatIP build s"] = time.perf_counter() - tick
    exact = VectorIndex(dim, matrix, scan="exact")

    single = interleaved({
        "ours": lambda q: index.search(q, k),
        "ours float32 scan": lambda q: exact.search(q, k),
        "numpy": lambda q: numpy_top(matrix, q, k),
        "faiss": lambda q: flat.search(q[None], k),
    }, list(queries))
    for name, values in single.items():
        lat = latency(values)
        out[f"one query: {name} median / p99 ms"] = f"{median(values):.3f} / {lat['p99']:.3f}"
    out["ONE QUERY: numpy / ours (x)"] = median(single["numpy"]) / median(single["ours"])
    out["ONE QUERY: faiss / ours (x)"] = median(single["faiss"]) / median(single["ours"])

    batches = [queries[i:i + batch] for i in range(0, len(queries) - batch + 1, batch)]
    many = interleaved({
        "ours": lambda b: index.search_many(b, k),
        "numpy": lambda b: numpy_top_many(matrix, b, k),
        "faiss": lambda b: flat.search(b, k),
    }, batches, rounds=2)
    for name, values in many.items():
        out[f"batch of {batch}: {name} median ms"] = median(values)
    out[f"BATCH OF {batch}: numpy / ours (x)"] = median(many["numpy"]) / median(many["ours"])
    out[f"BATCH OF {batch}: faiss / ours (x)"] = median(many["faiss"]) / median(many["ours"])
    out[f"batch of {batch}: ours per query ms"] = median(many["ours"]) / batch
    out[f"batch of {batch}: ours search_many / one search per query (x)"] = (
        median(single["ours"]) * batch / median(many["ours"]))

    agree_one = sum(same_top(index.search(q, k).docs, numpy_top(matrix, q, k), matrix, q) for q in queries)
    agree_many = 0
    for b in batches:
        for q, got, want in zip(b, index.search_many(b, k), numpy_top_many(matrix, b, k)):
            agree_many += same_top(got.docs, want, matrix, q)
    out[f"top-{k} equal to numpy: one query"] = f"{agree_one}/{len(queries)}"
    out[f"top-{k} equal to numpy: batched"] = f"{agree_many}/{len(batches) * batch}"
    out["load average at end"] = load_average()
    del flat, exact, index
    gc.collect()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--also", type=int, nargs="*", default=[1_000_000], help="further sizes")
    parser.add_argument("--dim", type=int, default=384, help="dimension (random vectors only; model: 384)")
    parser.add_argument("--vectors", choices=("model", "random"), default="model")
    parser.add_argument("--queries", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--k", type=int, default=100, help="top-k (the engine asks for its window, 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.vectors == "model":
        args.dim = 384

    print(f"machine: {machine()}")
    results = {"machine": machine()}
    for rows in [args.rows, *args.also]:
        figures = run_size(args.vectors, rows, args.dim, args.queries, args.batch, args.k, args.seed)
        report(f"vector top-{args.k}, {rows:,} x {args.dim} ({args.vectors} vectors)", figures)
        results[str(rows)] = figures
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
