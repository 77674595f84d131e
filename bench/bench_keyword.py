"""Keyword query speed: BM25Index.search against rank_bm25.BM25Okapi.get_scores on the same tokens.

Usage: python -m bench.bench_keyword [--docs 100000] [--also 1000000] [--queries 200] [--json FILE]

Documents and queries are word lists drawn from jieba's dictionary by corpus frequency (a Zipf law), so
postings have realistic lengths; both engines index exactly these tokens. rank_bm25's BM25Okapi uses a
different idf (ln((N - n + 0.5) / (n + 0.5)), negative for words in more than half the documents, floored
at epsilon * mean idf), so top-10 agreement is checked (1) against BM25Okapi with Lucene's idf patched in
by subclassing (the formulas are then identical: every query) and (2) against the stock BM25Okapi on
queries whose words all have df < N/2 (where both idfs are positive and rank alike).
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
    load_vocabulary, machine, median, report, sample_documents, sample_queries, write_json,
)
from hybrid.keyword import BM25Index, lucene_idf  # noqa: E402


def lucene_okapi():
    """BM25Okapi with Lucene's idf: scores then equal BM25Index's exactly (up to float rounding)."""
    import rank_bm25

    class LuceneIdfBM25(rank_bm25.BM25Okapi):
        def _calc_idf(self, nd):
            self.idf = {word: float(lucene_idf(freq, self.corpus_size)) for word, freq in nd.items()}

    return LuceneIdfBM25


def top10(scores: np.ndarray) -> list[int]:
    """Positions of the 10 best positive scores, ties in document order."""
    order = np.lexsort((np.arange(scores.size), -scores))[:10]
    return [int(i) for i in order if scores[i] > 0]


def same_ranking(ours: list[int], ref_scores: np.ndarray, our_scores: np.ndarray) -> bool:
    """True when both top-10s are equal, or differ only inside a group of equal scores."""
    ref = top10(ref_scores)
    if ours == ref:
        return True
    return len(ours) == len(ref) and np.allclose(np.sort(our_scores[ours]), np.sort(ref_scores[ref]), rtol=1e-9)


def run_size(n_docs: int, n_queries: int, rank_queries: int, seed: int, vocab) -> dict:
    """All measurements at one corpus size."""
    import rank_bm25

    out: dict = {}
    tick = time.perf_counter()
    docs = sample_documents(vocab, n_docs, seed=seed)
    queries = sample_queries(vocab, n_queries, seed=seed + 1)
    out["documents"] = n_docs
    out["mean words per document"] = float(np.mean([len(d) for d in docs]))
    out["corpus generation s"] = time.perf_counter() - tick

    tick = time.perf_counter()
    index = BM25Index(docs)
    index.search(queries[0], top=10)  # postings are built on the first search
    out["BM25Index build s"] = time.perf_counter() - tick
    dfs = [index.doc_freq(w) for q in queries for w in q]
    out["median query-word df"] = float(np.median(dfs))
    out["max query-word df"] = int(max(dfs))

    ours_ms = []
    for q in queries:
        t0 = time.perf_counter()
        index.search(q, top=10)
        ours_ms.append((time.perf_counter() - t0) * 1000)
    out["ours search top-10 median ms"] = median(ours_ms)
    out["ours search top-10 p90 ms"] = float(np.percentile(ours_ms, 90))
    dense_ms = []
    for q in queries[:rank_queries]:
        t0 = time.perf_counter()
        index.get_scores(q)
        dense_ms.append((time.perf_counter() - t0) * 1000)
    out["ours get_scores (all docs) median ms"] = median(dense_ms)

    tick = time.perf_counter()
    okapi = rank_bm25.BM25Okapi(docs, k1=1.2, b=0.75)
    out["rank_bm25 build s"] = time.perf_counter() - tick
    ref_ms, sub = [], queries[:rank_queries]
    stock_scores = []
    for q in sub:
        t0 = time.perf_counter()
        stock_scores.append(okapi.get_scores(q))
        ref_ms.append((time.perf_counter() - t0) * 1000)
    out["rank_bm25 get_scores median ms"] = median(ref_ms)
    out["queries timed on rank_bm25"] = len(sub)
    out["SPEED-UP search vs rank_bm25 get_scores (x)"] = median(ref_ms) / median(ours_ms)
    del okapi
    gc.collect()

    lucene = lucene_okapi()(docs, k1=1.2, b=0.75)
    agree = 0
    for q in sub:
        ours = index.search(q, top=10)
        ours_scores = index.get_scores(q)
        if same_ranking(ours.docs.tolist(), lucene.get_scores(q), ours_scores):
            agree += 1
    out["top-10 equal to BM25Okapi+Lucene idf (queries)"] = f"{agree}/{len(sub)}"
    del lucene
    gc.collect()

    eligible = agree_stock = 0
    for q, ref in zip(sub, stock_scores):
        if all(index.doc_freq(w) < n_docs / 2 for w in q):
            eligible += 1
            ours = index.search(q, top=10).docs.tolist()
            agree_stock += len(set(ours) & set(top10(ref))) / max(len(top10(ref)), 1)
    out["top-10 overlap with stock BM25Okapi, df<N/2 queries"] = (
        f"{agree_stock / eligible:.3f} mean over {eligible}" if eligible else "no eligible query"
    )
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="main corpus size")
    parser.add_argument("--also", type=int, nargs="*", default=[1_000_000], help="further corpus sizes")
    parser.add_argument("--queries", type=int, default=200, help="queries timed on BM25Index")
    parser.add_argument("--rank-queries", type=int, default=30, help="queries timed on rank_bm25 (slow)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    vocab = load_vocabulary()
    print(f"vocabulary: {len(vocab.words):,} jieba dictionary words (stopwords removed), sampled by frequency")
    results = {"machine": machine()}
    for n in [args.docs, *args.also]:
        figures = run_size(n, args.queries, args.rank_queries, args.seed, vocab)
        report(f"keyword query, {n:,} documents", figures)
        results[str(n)] = figures
        gc.collect()
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
