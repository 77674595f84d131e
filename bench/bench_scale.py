"""One machine at a million entries: in-memory build time, query p50/p99 per mode and peak memory, by size.

Usage: python -m bench.bench_scale [--docs 100000 1000000] [--corpus real|generated] [--vectors model|random]
                                   [--queries 300] [--json FILE]

Each size runs in its own fresh subprocess (so peak memory is that size's alone), one after the other:
  - build: ``HybridEngine(texts, embedder)`` as the demo builds it: jieba tokenising (worker processes on
    every core), a stand-in embedder (vectors shaped like the packaged e5 model's, or random; drawing them
    is timed apart and is not part of any real model's cost), then the first search, which builds the BM25
    postings with their precomputed scores and the int8 vector codes;
  - queries: ``engine.search(q, k=10, mode=...)`` for keyword, semantic and hybrid, taking turns query by
    query after one untimed pass (query vectors cached), timed as the wall clock minus the embed step;
    then ``search_many`` on batches of 32 (hybrid);
  - memory: resident memory before building (Python, imports, jieba, the texts), peak while building and
    searching (getrusage), held afterwards, and the sizes of the main arrays.
The corpora and vector shapes are those of ``bench_search`` (real qbqtc titles + cmrc2018 sentences, real
qbqtc queries). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import load_average, machine, report, run_child, write_json  # noqa: E402

MB = 1024 * 1024
MODES = ("keyword", "semantic", "hybrid")


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()}] {message}", file=sys.stderr, flush=True)


def child(n_docs: int, corpus_kind: str, vector_kind: str, n_queries: int, batch: int) -> dict:
    """Runs in the subprocess: build one engine, time its queries, read its memory."""
    import gc

    import numpy as np

    from bench.bench_search import corpus, stand_in_embedder
    from bench.common import interleaved, latency, median, peak_rss_mb, rss_mb
    from hybrid.engine import HybridEngine
    from hybrid.tokenize import Tokenizer, available_cores

    out: dict = {"documents": n_docs, "corpus": corpus_kind, "vectors": vector_kind, "cores": available_cores(),
                 "load average at start": load_average()}
    start_rss = rss_mb()
    Tokenizer().tokenize("预热")  # jieba's dictionary: once per process
    embedder = stand_in_embedder(vector_kind, 384, 0)
    texts, queries = corpus(corpus_kind, n_docs, n_queries, 0)
    out["mean characters per entry"] = float(np.mean([len(t) for t in texts]))
    gc.collect()
    before = rss_mb()
    out["jieba dictionary + imports + texts MB"] = before - start_rss

    marks: dict[str, float] = {}

    def tokenised(done: int, total: int) -> None:
        if done == total:
            marks["tokenised"] = time.perf_counter()
        if done % 100_000 < 256 or done == total:
            _log(f"tokenised {done:,}/{total:,}")

    class TimedEmbedder:  # the stand-in's vector drawing, timed so that it can be left out of the build
        def __init__(self, inner):
            self._inner, self.seconds = inner, 0.0

        def __getattr__(self, name):
            return getattr(self._inner, name)

        def encode_documents(self, texts, progress=None):
            t0 = time.perf_counter()
            try:
                return self._inner.encode_documents(texts, progress)
            finally:
                self.seconds += time.perf_counter() - t0

    timed = TimedEmbedder(embedder)
    _log(f"building {n_docs:,} entries")
    tick = time.perf_counter()
    engine = HybridEngine(texts, embedder=timed, tokenize_progress=tokenised)
    built = time.perf_counter()
    engine.search(queries[0], k=10)
    first = time.perf_counter()
    out["tokenising s (jieba, every core)"] = marks["tokenised"] - tick
    out["stand-in vectors s (left out below)"] = timed.seconds
    out["rest of HybridEngine() s (documents, vocabulary, store)"] = built - marks["tokenised"] - timed.seconds
    out["first search s (postings, precomputed scores, int8 codes)"] = first - built
    out["BUILD s (all but the stand-in vectors)"] = first - tick - timed.seconds
    _log("built; timing queries")

    engine.embed_queries(queries)  # cached: no embedding time below
    for mode in MODES:
        for q in queries:
            engine.search(q, k=10, mode=mode)

    def timed_search(mode: str):
        def run(q: str) -> None:
            t0 = time.perf_counter()
            res = engine.search(q, k=10, mode=mode)
            walls[mode].append((time.perf_counter() - t0) * 1000 - res.timings_ms.get("embed", 0.0))
        return run

    walls: dict[str, list[float]] = {m: [] for m in MODES}
    interleaved({m: timed_search(m) for m in MODES}, queries)
    for mode in MODES:
        lat = latency(walls[mode][1:])
        out[f"{mode} p50 / p99 ms"] = f"{lat['p50']:.2f} / {lat['p99']:.2f}"
        out[f"{mode} p50 ms"], out[f"{mode} p99 ms"] = lat["p50"], lat["p99"]
    batches = [queries[i:i + batch] for i in range(0, len(queries) - batch + 1, batch)]
    many = interleaved({"many": lambda b: engine.search_many(b, k=10, mode="hybrid"),
                        "one by one": lambda b: [engine.search(q, k=10, mode="hybrid") for q in b]}, batches)
    out[f"hybrid search_many, batches of {batch}: per query ms"] = median(many["many"]) / batch
    out["hybrid one search per query, same batches: per query ms"] = median(many["one by one"]) / batch

    gc.collect()
    store = engine.store
    postings = store._keyword._built()
    scan = store._vectors._scan()
    out["peak RSS MB"] = peak_rss_mb()
    out["RSS held after MB"] = rss_mb()
    out["held by the engine MB (after - before building)"] = rss_mb() - before
    out["float32 vectors MB"] = store._vectors.matrix.nbytes / MB
    out["int8 codes + scales + bounds MB (+ the same again packed, for batches)"] = sum(
        getattr(scan, a).nbytes for a in ("codes", "scale", "error", "length")) / MB if hasattr(scan, "codes") else 0.0
    out["BM25 arrays MB"] = (sum(a.nbytes for a in (postings.docs, postings.tfs, postings.impacts, postings.indptr,
                                                     postings.df, postings.doc_len))
                             + sum(a.nbytes for a in (store._keyword._dptr, store._keyword._dterms,
                                                      store._keyword._dtfs))) / MB
    out["tokens kept for save/re-index"] = sum(len(t) for t in store._tokens)
    out["load average at end"] = load_average()
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--corpus", choices=("real", "generated"), default="real")
    parser.add_argument("--vectors", choices=("model", "random"), default="model")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.docs[0], args.corpus, args.vectors, args.queries, args.batch)))
        return {}

    print(f"machine: {machine()}")
    results: dict = {"machine": machine()}
    for n in args.docs:
        figures = run_child("bench.bench_scale", ["--docs", str(n), "--corpus", args.corpus, "--vectors",
                                                   args.vectors, "--queries", str(args.queries), "--batch", str(args.batch)])
        report(f"in memory, {n:,} entries ({args.corpus} text, {args.vectors} vectors)", figures)
        results[str(n)] = figures
    sizes = [str(n) for n in args.docs]
    if len(sizes) > 1:
        small, large = results[sizes[0]], results[sizes[-1]]
        growth = {"entries (x)": int(sizes[-1]) / int(sizes[0])}
        for key in ("BUILD s (all but the stand-in vectors)", "peak RSS MB",
                    *(f"{m} p50 ms" for m in MODES), *(f"{m} p99 ms" for m in MODES)):
            growth[f"{key} (x)"] = large[key] / small[key]
        report(f"growth from {int(sizes[0]):,} to {int(sizes[-1]):,} entries", growth)
        results["growth"] = growth
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
