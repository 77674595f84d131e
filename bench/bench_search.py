"""Whole-search speed without the query embedding: keyword + vector + fuse at 100k documents x 384 dims.

Usage: python -m bench.bench_search [--docs 100000] [--dim 384] [--queries 100] [--json FILE]

The engine indexes generated Chinese texts (jieba-dictionary words drawn by frequency) with an embedder
that returns random unit vectors; query vectors come from the same stand-in and are embedded once before
timing (the engine caches them), so no embedding time is in any figure. Per query we time:
  - engine: HybridEngine.search(mode="all"): its own timings_ms keyword + vector + fuse, and the wall clock
    of the whole call minus its embed step (this adds tokenising the query and building the Hit objects);
  - naive: rank_bm25 BM25Okapi.get_scores on the engine's own tokens, a full argsort of those scores, the
    full matrix-vector product and its full argsort, then min-max fusion over all documents and a full
    argsort of the fused scores (what a straightforward implementation does).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    RandomEmbedder, load_vocabulary, machine, median, report, sample_queries, sample_texts, write_json,
)
from hybrid.engine import HybridEngine  # noqa: E402
from hybrid.vectors import VectorIndex  # noqa: E402


def naive_search(okapi, matrix: np.ndarray, tokens: list[str], query_vector: np.ndarray, alpha: float, k: int):
    """Score every document both ways, sort everything, fuse over all documents; returns the top-k."""
    keyword = okapi.get_scores(tokens)
    keyword_order = np.argsort(-keyword, kind="stable")
    semantic = matrix @ query_vector
    semantic_order = np.argsort(-semantic, kind="stable")

    def minmax(x: np.ndarray) -> np.ndarray:
        lo, hi = x.min(), x.max()
        return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)

    fused = alpha * minmax(semantic) + (1 - alpha) * minmax(keyword)
    order = np.argsort(-fused, kind="stable")
    return keyword_order[:k], semantic_order[:k], order[:k]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--naive-queries", type=int, default=30, help="queries timed on the naive baseline")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    import rank_bm25

    print(f"machine: {machine()}")
    vocab = load_vocabulary()
    texts = sample_texts(vocab, args.docs, seed=args.seed)
    queries = ["".join(q) for q in sample_queries(vocab, args.queries, seed=args.seed + 1)]
    out: dict = {"machine": machine(), "documents": args.docs, "dimension": args.dim}

    tick = time.perf_counter()
    engine = HybridEngine(texts, embedder=RandomEmbedder(args.dim, seed=args.seed))
    out["engine build s (jieba tokenising dominates)"] = time.perf_counter() - tick
    engine.search(queries[0], k=args.k)  # builds postings and the int8 codes
    out["first search s (builds postings + int8 codes)"] = time.perf_counter() - tick - out[
        "engine build s (jieba tokenising dominates)"]
    for q in queries:
        engine.embed_query(q)  # excluded from every timing: the engine caches query vectors

    kvf, wall, parts = [], [], {"tokenize": [], "keyword": [], "vector": [], "fuse": []}
    responses = []
    for q in queries:
        t0 = time.perf_counter()
        res = engine.search(q, k=args.k, mode="all")
        elapsed = (time.perf_counter() - t0) * 1000
        t = res.timings_ms
        kvf.append(t["keyword"] + t["vector"] + t["fuse"])
        wall.append(elapsed - t["embed"])
        for name in parts:
            parts[name].append(t[name])
        responses.append(res)
    for name, values in parts.items():
        out[f"engine {name} median ms"] = median(values)
    out["engine keyword+vector+fuse median ms"] = median(kvf)
    out["engine whole search minus embed median ms"] = median(wall)

    matrix = np.asarray(engine.store._vectors.matrix)
    vectors = [r.query_vector for r in responses]
    for scan in ("exact", "int8"):
        index = VectorIndex(args.dim, matrix, scan=scan)
        index.search(vectors[0], 100)
        times = []
        for v in vectors:
            t0 = time.perf_counter()
            index.search(v, 100)
            times.append((time.perf_counter() - t0) * 1000)
        out[f"vector top-100 scan={scan} median ms"] = median(times)
        del index

    tick = time.perf_counter()
    okapi = rank_bm25.BM25Okapi(engine.store._tokens, k1=1.2, b=0.75)
    out["naive: rank_bm25 build s"] = time.perf_counter() - tick
    alpha = engine.settings.alpha
    naive, overlap = [], []
    for q, res in list(zip(queries, responses))[: args.naive_queries]:
        tokens = list(res.query_tokens)
        t0 = time.perf_counter()
        _, sem_top, hyb_top = naive_search(okapi, matrix, tokens, res.query_vector, alpha, args.k)
        naive.append((time.perf_counter() - t0) * 1000)
        ours_sem = [engine.store.key(h.id) for h in res.semantic]
        overlap.append(len(set(ours_sem) & set(sem_top.tolist())) / max(len(ours_sem), 1))
    out["naive whole search median ms"] = median(naive)
    out["queries timed on naive"] = len(naive)
    out["semantic top-k equal to naive full sort (share)"] = float(np.mean(overlap))
    out["SPEED-UP keyword+vector+fuse vs naive (x)"] = median(naive) / median(kvf)
    out["SPEED-UP whole search minus embed vs naive (x)"] = median(naive) / median(wall)
    report(f"whole search minus embedding, {args.docs:,} documents x {args.dim} dims", out)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
