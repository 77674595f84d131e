"""Keyword query speed: BM25Index.search against bm25s's scoring core and rank_bm25, on the same tokens.

Usage: python -m bench.bench_keyword [--docs 100000] [--also 1000000] [--corpus generated|real]
                                     [--queries 300] [--k 100] [--rank-queries 30] [--json FILE]

Corpora: ``generated`` draws words from jieba's dictionary by corpus frequency (a Zipf law); ``real`` is
real Chinese text from the labelled sets beside the repository (a qbqtc title and one or two cmrc2018
sentences an entry, tokenised by the project's tokenizer) with real qbqtc search queries. Every engine
indexes exactly the same token lists.

Contenders, timed taking turns query by query (so load from other jobs hits all alike):
  - ours: ``BM25Index.search(tokens, top=k)`` with the index's own k1/b (precomputed per-posting scores);
  - ours, computed: the same ranking with the formula worked out per search in float64 (the path taken when
    a user moves the k1/b sliders), also the reference for "same top-10";
  - ours, statistics of half: the path of a knowledge base in two scripts, whose queries are scored with the
    statistics of the entries in their own script (here every other entry) and of the entries they match
    (``BM25Index.search(..., population=...)``), and that statistics step alone (adaptive fusion calls it
    again);
  - bm25s scoring core: bm25s (method "lucene", the same formula up to the constant factor k1 + 1) builds
    its index of precomputed scores; a query looks its tokens up, adds their score columns into a dense
    float32 array (``scores[indices[a:b]] += data[a:b]``, what its numba scorer does, in numpy) and takes
    the top k with ``np.argpartition(-scores, k - 1)`` and a sort of those k.
On fewer queries: bm25s as shipped (``get_scores``, which uses ``np.add.at``, and ``argpartition(scores, -k)``
as its numpy selection does) and rank_bm25's ``BM25Okapi.get_scores`` (no sort). rank_bm25's idf differs
(negative above N/2), so its top-10 agreement is checked with Lucene's idf patched in by subclassing.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    interleaved, latency, load_average, load_vocabulary, machine, median, real_queries, real_texts, report,
    sample_documents, sample_queries, write_json,
)
from hybrid.keyword import BM25Index, lucene_idf  # noqa: E402
from hybrid.topk import top_positions  # noqa: E402

MB = 1024 * 1024


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
    return len(ours) == len(ref) and np.allclose(np.sort(our_scores[ours]), np.sort(ref_scores[ref]), rtol=1e-6)


def same_top(a_docs: list[int], a_scores: np.ndarray, b_docs: list[int], b_scores: np.ndarray) -> bool:
    """Two best-first lists are the same ranking: equal, or differing only among (nearly) equal scores."""
    if a_docs == b_docs:
        return True
    return len(a_docs) == len(b_docs) and np.allclose(a_scores, b_scores, rtol=1e-6)


class Bm25sCore:
    """bm25s's index of precomputed scores, queried the fastest way numpy allows (see the module doc)."""

    def __init__(self, corpus: list[list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        import bm25s

        self.model = bm25s.BM25(method="lucene", k1=k1, b=b)
        self.model.index(corpus, show_progress=False)
        self.data = self.model.scores["data"]
        self.indices = self.model.scores["indices"]
        self.indptr = self.model.scores["indptr"]
        self.n = int(self.model.scores["num_docs"])
        self.vocab = self.model.vocab_dict

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + self.indices.nbytes + self.indptr.nbytes

    def search(self, tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        scores = np.zeros(self.n, dtype=self.data.dtype)
        data, indices, indptr = self.data, self.indices, self.indptr
        for token in tokens:  # repeated tokens count again, as in BM25Index and bm25s
            term = self.vocab.get(token)
            if term is not None:
                lo, hi = indptr[term], indptr[term + 1]
                scores[indices[lo:hi]] += data[lo:hi]  # a column holds each document once
        k = min(k, self.n)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top, scores[top]

    def shipped(self, tokens: list[str], k: int) -> np.ndarray:
        ids = self.model.get_tokens_ids(tokens)
        scores = self.model.get_scores_from_ids(ids) if ids else np.zeros(self.n, dtype=np.float32)
        return np.argpartition(scores, -k)[-k:]  # bm25s.selection's numpy top-k


def corpus_and_queries(kind: str, n_docs: int, n_queries: int, seed: int, vocab) -> tuple[list, list, float]:
    """(document token lists, query token lists, tokenising seconds) for one corpus size."""
    if kind == "generated":
        return sample_documents(vocab, n_docs, seed=seed), sample_queries(vocab, n_queries, seed=seed + 1), 0.0
    from hybrid.tokenize import Tokenizer

    tokenizer = Tokenizer()
    texts = real_texts(n_docs, seed=seed)
    tick = time.perf_counter()
    docs = tokenizer.tokenize_many(texts)
    seconds = time.perf_counter() - tick
    queries = [q for q in tokenizer.tokenize_many(real_queries(n_queries * 2)) if q][:n_queries]
    return docs, queries, seconds


def run_size(kind: str, n_docs: int, n_queries: int, rank_queries: int, k: int, seed: int, vocab) -> dict:
    """All measurements at one corpus size."""
    out: dict = {"documents": n_docs, "corpus": kind, "load average at start": load_average()}
    tick = time.perf_counter()
    docs, queries, tokenize_s = corpus_and_queries(kind, n_docs, n_queries, seed, vocab)
    out["corpus preparation s"] = time.perf_counter() - tick
    if tokenize_s:
        out["jieba tokenising s (not in any build time)"] = tokenize_s
    out["mean tokens per document"] = float(np.mean([len(d) for d in docs]))
    out["queries"] = len(queries)
    out["mean tokens per query"] = float(np.mean([len(q) for q in queries]))
    out["top-k asked"] = k

    gc.collect()
    tick = time.perf_counter()
    index = BM25Index(docs)
    index.search(queries[0], top=k)  # postings and precomputed scores are built on the first search
    out["ours build s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    core = Bm25sCore(docs)
    out["bm25s build s"] = time.perf_counter() - tick
    out["BUILD: bm25s / ours (x)"] = out["bm25s build s"] / out["ours build s"]
    postings = index._built()
    out["ours search arrays MB (postings, precomputed scores, lengths)"] = sum(
        a.nbytes for a in (postings.docs, postings.tfs, postings.impacts, postings.indptr, postings.doc_len)) / MB
    out["ours document-major arrays MB (for updates)"] = sum(
        a.nbytes for a in (index._dptr, index._dterms, index._dtfs)) / MB
    out["bm25s index MB (data, indices, indptr)"] = core.nbytes / MB
    dfs = [index.doc_freq(w) for q in queries for w in q]
    out["median / max df of a query token"] = f"{np.median(dfs):.0f} / {max(dfs)}"
    out["mean postings per query"] = float(np.mean([sum(index.doc_freq(w) * c for w, c in Counter(q).items())
                                                    for q in queries]))

    # A knowledge base half in another script: the statistics start from the other half (every other entry).
    half = index.population(np.arange(len(docs)) % 2 == 0)
    times = interleaved({
        "ours": lambda q: index.search(q, top=k),
        "ours computed": lambda q: top_positions(*index._matches(q, index.k1, index.b), k),
        "ours, statistics of half (mixed knowledge base)": lambda q: index.search(q, top=k, population=half),
        "ours, that half's statistics alone": lambda q: index.statistics(q, half),
        "bm25s core": lambda q: core.search(q, k),
    }, queries)
    for name, values in times.items():
        lat = latency(values)
        out[f"{name} median / p99 ms"] = f"{median(values):.3f} / {lat['p99']:.3f}"
    out["SPEED: bm25s core / ours (x)"] = median(times["bm25s core"]) / median(times["ours"])
    out["SPEED: ours computed / ours precomputed (x)"] = median(times["ours computed"]) / median(times["ours"])
    out["SPEED: bm25s core / ours with half's statistics (x)"] = (
        median(times["bm25s core"]) / median(times["ours, statistics of half (mixed knowledge base)"]))

    sub = queries[:rank_queries]
    if sub:
        shipped = interleaved({"ours": lambda q: index.search(q, top=k), "bm25s": lambda q: core.shipped(q, k)}, sub)
        out["bm25s as shipped (get_scores + its numpy top-k) median ms"] = median(shipped["bm25s"])
        out["SPEED: bm25s as shipped / ours (x)"] = median(shipped["bm25s"]) / median(shipped["ours"])

    same_computed = same_bm25s = 0
    for q in queries:
        ours = index.search(q, top=10)
        docs_c, scores_c = top_positions(*index._matches(q, index.k1, index.b), 10)
        same_computed += same_top(ours.docs.tolist(), ours.scores, docs_c.tolist(), scores_c)
        peer_docs, peer_scores = core.search(q, 10)
        # bm25s's Lucene variant leaves out the constant factor k1 + 1
        same_bm25s += same_top(ours.docs.tolist(), ours.scores, peer_docs.tolist(),
                               peer_scores.astype(np.float64) * (index.k1 + 1.0))
    out["top-10 equal: precomputed vs computed (queries)"] = f"{same_computed}/{len(queries)}"
    out["top-10 equal: ours vs bm25s (queries)"] = f"{same_bm25s}/{len(queries)}"
    del core
    gc.collect()

    if rank_queries > 0:
        import rank_bm25

        tick = time.perf_counter()
        okapi = rank_bm25.BM25Okapi(docs, k1=1.2, b=0.75)
        out["rank_bm25 build s"] = time.perf_counter() - tick
        ref = interleaved({"ours": lambda q: index.search(q, top=k), "rank_bm25": okapi.get_scores}, sub)
        out["rank_bm25 get_scores median ms"] = median(ref["rank_bm25"])
        out["SPEED: rank_bm25 get_scores / ours (x)"] = median(ref["rank_bm25"]) / median(ref["ours"])
        del okapi
        gc.collect()
        lucene = lucene_okapi()(docs, k1=1.2, b=0.75)
        agree = sum(same_ranking(index.search(q, top=10).docs.tolist(), lucene.get_scores(q), index.get_scores(q))
                    for q in sub)
        out["top-10 equal to BM25Okapi+Lucene idf (queries)"] = f"{agree}/{len(sub)}"
        del lucene
        gc.collect()
    out["load average at end"] = load_average()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="main corpus size")
    parser.add_argument("--also", type=int, nargs="*", default=[1_000_000], help="further corpus sizes")
    parser.add_argument("--corpus", choices=("generated", "real"), default="generated")
    parser.add_argument("--queries", type=int, default=300, help="queries timed on ours and bm25s's core")
    parser.add_argument("--k", type=int, default=100, help="top-k asked (the engine asks for its window, 100)")
    parser.add_argument("--rank-queries", type=int, default=30,
                        help="queries timed on bm25s as shipped and rank_bm25 (slow); 0 skips rank_bm25")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    vocab = load_vocabulary() if args.corpus == "generated" else None
    results = {"machine": machine()}
    for n in [args.docs, *args.also]:
        figures = run_size(args.corpus, n, args.queries, args.rank_queries, args.k, args.seed, vocab)
        report(f"keyword query, {n:,} documents ({args.corpus})", figures)
        results[str(n)] = figures
        gc.collect()
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
