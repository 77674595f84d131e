"""Whole search without the query embedding: HybridEngine.search against its own stage timings and peers.

Usage: python -m bench.bench_search [--docs 100000] [--corpus real|generated] [--vectors model|random]
                                    [--queries 200] [--k 10] [--batch 32] [--naive-queries 30] [--json FILE]

The engine indexes real Chinese text (``real``: a qbqtc title and one or two cmrc2018 sentences an entry,
queries are real qbqtc search queries) or generated text (jieba-dictionary words drawn by frequency). Its
embedder is a stand-in returning vectors shaped like the packaged model's (``model``: the mean and
covariance of real multilingual-e5-small embeddings) or random unit vectors; query vectors are embedded
and cached before timing, so no embedding time is in any figure. Per query, taking turns:
  - ours: ``HybridEngine.search(mode="all", k)`` with the default settings (adaptive fusion, window 100):
    the wall clock minus its embed step, next to the sum of its stage timings (tokenize + keyword +
    vector + fuse); the difference is building the shown hits (documents, highlights, explanations);
  - bm25s + faiss + min-max: bm25s's scoring core for the keyword top-100 on the engine's query tokens
    (see bench_keyword), faiss ``IndexFlatIP`` for the vector top-100, min-max fusion of the union with
    the same alpha, top-k: retrieval and fusion only, no hits built.
On fewer queries, the naive baseline: rank_bm25 ``get_scores`` and a full argsort, ``matrix @ q`` and a full
argsort, min-max fusion over all documents and a full argsort. Then ``search_many`` on batches against
one ``search`` per query.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_keyword import Bm25sCore  # noqa: E402
from bench.common import (  # noqa: E402
    RandomEmbedder, VectorShape, embedded_sample, interleaved, latency, load_average, load_vocabulary, machine,
    median, real_queries, real_texts, report, sample_queries, sample_texts, write_json,
)
from hybrid.engine import HybridEngine  # noqa: E402

STAGES = ("tokenize", "keyword", "vector", "fuse")


def corpus(kind: str, n_docs: int, n_queries: int, seed: int) -> tuple[list[str], list[str]]:
    """(entries, queries) of the chosen kind."""
    if kind == "real":
        return real_texts(n_docs, seed=seed), real_queries(n_queries)
    vocab = load_vocabulary()
    return sample_texts(vocab, n_docs, seed=seed), ["".join(q) for q in sample_queries(vocab, n_queries, seed=seed + 1)]


def stand_in_embedder(kind: str, dimension: int, seed: int) -> RandomEmbedder:
    """Random unit vectors, or vectors with the shape of real e5 embeddings (documents and queries apart)."""
    if kind == "random":
        return RandomEmbedder(dimension, seed=seed)
    documents = VectorShape(embedded_sample(real_texts(2000, seed=seed + 99)))
    queries = VectorShape(embedded_sample(real_queries(2000), queries=True))
    return RandomEmbedder(384, seed=seed, documents=documents, queries=queries)


def minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
    return (x - lo) / (hi - lo) if hi > lo else np.ones_like(x)


class PeerPipeline:
    """bm25s's scoring core + faiss IndexFlatIP + min-max fusion of the two top-``window`` lists."""

    def __init__(self, tokens: list[list[str]], matrix: np.ndarray, window: int, alpha: float) -> None:
        import faiss

        self.bm25 = Bm25sCore(tokens)
        self.flat = faiss.IndexFlatIP(matrix.shape[1])
        self.flat.add(matrix)
        self.window, self.alpha = window, alpha

    def search(self, tokens: list[str], vector: np.ndarray, k: int) -> np.ndarray:
        kw_docs, kw_scores = self.bm25.search(tokens, self.window)
        sem_scores, sem_docs = self.flat.search(vector[None], self.window)
        union = np.union1d(kw_docs, sem_docs[0])
        fused = np.zeros(union.size)
        fused[np.searchsorted(union, kw_docs)] += (1 - self.alpha) * minmax(kw_scores.astype(np.float64))
        fused[np.searchsorted(union, sem_docs[0])] += self.alpha * minmax(sem_scores[0].astype(np.float64))
        return union[np.argsort(-fused, kind="stable")[:k]]


def without_timings(response) -> dict:
    out = response.to_dict(include_vector=True)
    out.pop("timings_ms")
    return out


def naive_search(okapi, matrix: np.ndarray, tokens: list[str], query_vector: np.ndarray, alpha: float, k: int):
    """Score every document both ways, sort everything, fuse over all documents; returns the top-k."""
    keyword = okapi.get_scores(tokens)
    keyword_order = np.argsort(-keyword, kind="stable")
    semantic = matrix @ query_vector
    semantic_order = np.argsort(-semantic, kind="stable")
    fused = alpha * minmax(semantic) + (1 - alpha) * minmax(keyword)
    order = np.argsort(-fused, kind="stable")
    return keyword_order[:k], semantic_order[:k], order[:k]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--corpus", choices=("real", "generated"), default="real")
    parser.add_argument("--vectors", choices=("model", "random"), default="model")
    parser.add_argument("--dim", type=int, default=384, help="dimension of random vectors (model: 384)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32, help="queries per search_many call")
    parser.add_argument("--naive-queries", type=int, default=30, help="queries timed on the naive baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    out: dict = {"machine": machine(), "documents": args.docs, "corpus": args.corpus, "vectors": args.vectors,
                 "load average at start": load_average()}
    texts, queries = corpus(args.corpus, args.docs, args.queries, args.seed)
    embedder = stand_in_embedder(args.vectors, args.dim, args.seed)
    out["dimension"] = embedder.dimension

    tick = time.perf_counter()
    engine = HybridEngine(texts, embedder=embedder)
    out["engine build s (jieba tokenising dominates)"] = time.perf_counter() - tick
    tick = time.perf_counter()
    engine.search(queries[0], k=args.k)
    out["first search s (builds postings + int8 codes)"] = time.perf_counter() - tick
    vectors = engine.embed_queries(queries)  # cached: no embedding time below
    store = engine.store
    tokens = store.tokens(list(range(len(store))))
    matrix = store.vectors(list(range(len(store))))
    peer = PeerPipeline(tokens, matrix, engine.settings.window, engine.settings.alpha)
    query_tokens = [engine.tokenizer.tokenize(q) for q in queries]

    responses: list = []

    def ours(i: int):
        t0 = time.perf_counter()
        res = engine.search(queries[i], k=args.k, mode="all")
        wall = (time.perf_counter() - t0) * 1000 - res.timings_ms["embed"]
        responses.append((wall, res))

    times = interleaved({"ours": ours, "peer": lambda i: peer.search(query_tokens[i], vectors[i], args.k)},
                        list(range(len(queries))))
    responses = responses[1:]  # the warm-up call
    wall = [w for w, _ in responses]
    stage_sum = [sum(r.timings_ms[s] for s in STAGES) for _, r in responses]
    for name in STAGES:
        out[f"ours {name} median ms"] = median([r.timings_ms[name] for _, r in responses])
    out["ours sum of stages (tokenize+keyword+vector+fuse) median ms"] = median(stage_sum)
    out["ours wall of search() minus embed median ms"] = median(wall)
    lat = latency(wall)
    out["ours wall minus embed p90 / p99 ms"] = f"{lat['p90']:.2f} / {lat['p99']:.2f}"
    out["ours wall minus embed minus stages (building the shown hits) median ms"] = median(
        [w - s for w, s in zip(wall, stage_sum)])
    out["WALL / SUM OF STAGES, median of per-query ratios (x)"] = median([w / s for w, s in zip(wall, stage_sum)])
    out["peer bm25s + faiss + min-max median ms"] = median(times["peer"])
    out["SPEED: peer / ours wall minus embed (x)"] = median(times["peer"]) / median(wall)

    import rank_bm25

    tick = time.perf_counter()
    okapi = rank_bm25.BM25Okapi(tokens, k1=1.2, b=0.75)
    out["naive: rank_bm25 build s"] = time.perf_counter() - tick
    naive, overlap = [], []
    for (_, res), vector in list(zip(responses, vectors))[: args.naive_queries]:
        t0 = time.perf_counter()
        _, sem_top, _ = naive_search(okapi, matrix, list(res.query_tokens), vector, engine.settings.alpha, args.k)
        naive.append((time.perf_counter() - t0) * 1000)
        ours_sem = [store.key(h.id) for h in res.semantic]
        overlap.append(len(set(ours_sem) & set(sem_top.tolist())) / max(len(ours_sem), 1))
    out["naive whole search median ms"] = median(naive)
    out["SPEED: naive / ours wall minus embed (x)"] = median(naive) / median(wall)
    out["semantic top-k equal to the naive full sort (share)"] = float(np.mean(overlap))

    batches = [queries[i:i + args.batch] for i in range(0, len(queries) - args.batch + 1, args.batch)]
    many = interleaved({
        "search_many": lambda b: engine.search_many(b, k=args.k, mode="all"),
        "one search per query": lambda b: [engine.search(q, k=args.k, mode="all") for q in b],
    }, batches)
    out[f"search_many, batch of {args.batch}, per query ms"] = median(many["search_many"]) / args.batch
    out["one search per query, per query ms"] = median(many["one search per query"]) / args.batch
    out["SPEED: one search per query / search_many (x)"] = median(many["one search per query"]) / median(
        many["search_many"])
    same = all(without_timings(a) == without_timings(b)
               for batch in batches[:2]
               for a, b in zip(engine.search_many(batch, k=args.k), [engine.search(q, k=args.k) for q in batch]))
    out["search_many responses equal to search (first two batches)"] = same
    out["load average at end"] = load_average()
    report(f"whole search minus embedding, {args.docs:,} documents ({args.corpus} text, {args.vectors} vectors)", out)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
