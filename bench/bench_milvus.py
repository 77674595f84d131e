"""Milvus Lite next to the in-memory store: indexing entries/s, query p50/p99 per mode, memory, disk.

Usage: python -m bench.bench_milvus [--docs 100000] [--also 1000000] [--queries 100] [--stores memory,milvus-lite]
                                    [--vector-index FLAT] [--data-dir DIR [--keep]] [--json FILE]

Each (store, size) runs in its own fresh subprocess, one after the other, on the same generated corpus
(Zipfian Chinese texts from jieba's dictionary, ``bench/common.py``) with random 384-d unit vectors:

- memory: ``HybridEngine(texts, embedder)``: jieba tokens, BM25 postings, vectors, as the demo builds it;
- milvus-lite: ``hybrid.ingest.index_records`` into an embedded Milvus Lite folder (the code path of
  ``python -m hybrid index``: our jieba tokens for document frequencies, Milvus's jieba analyzer and BM25
  function, vectors, batches of 1,000), then the folder reopened read-only, as ``demo.py --store`` serves it.

Queries (2-6 words drawn like the documents) run through ``engine.search(mode=...)`` after one untimed pass
over all of them (query vectors cached, hits seen once), so timings exclude the embedding model: keyword, semantic and hybrid (both retrievals and the
fusion) are timed as the wall clock of the call, and each store's two retrievers (top 100) alone. Memory is the child's peak RSS (getrusage) and its RSS after
building; Milvus Lite runs inside that process (embedded), so its memory is included. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, machine, report, write_json  # noqa: E402

MB = 1024 * 1024
STORES = ("memory", "milvus-lite")
MODES = ("keyword", "semantic", "hybrid")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {_load()}] {message}", file=sys.stderr, flush=True)


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else 0.0


def child(store_name: str, n_docs: int, n_queries: int, dim: int, data_dir: str, vector_index: str) -> dict:
    """Runs in the subprocess: build one store over ``n_docs`` texts, time the queries, measure memory."""
    import gc

    from bench.common import RandomEmbedder, load_vocabulary, sample_queries, sample_texts
    from hybrid.engine import HybridEngine
    from hybrid.kb import Document
    from hybrid.tokenize import Tokenizer

    out: dict = {"store": store_name, "documents": n_docs, "load average at start": _load()}
    tokenizer = Tokenizer()
    tokenizer.tokenize("预热")
    vocab = load_vocabulary()
    texts = sample_texts(vocab, n_docs)
    queries = ["".join(words) for words in sample_queries(vocab, n_queries, seed=11)]
    embedder = RandomEmbedder(dim)
    gc.collect()
    before = _rss_mb()
    out["rss before building MB"] = before
    _log(f"{store_name}: building over {n_docs:,} documents")
    tick = time.perf_counter()
    store = None
    if store_name == "memory":
        engine = HybridEngine(texts, embedder=embedder, tokenizer=tokenizer)
        engine.search(queries[0], k=10)  # builds the BM25 postings and int8 codes, as the first search does
        build_s = time.perf_counter() - tick
    else:
        from hybrid.ingest import Record, index_records
        from hybrid.store import open_store

        path = str(Path(data_dir) / "bench.db")
        writer = open_store(f"milvus:{path}", collection="bench", tokenizer=tokenizer, vector_index=vector_index)
        records = (Record(Document(str(i), t)) for i, t in enumerate(texts))
        progress = _Progress(n_docs)
        index_records(writer, progress.wrap(records), tokenizer, embedder, batch_size=1000, progress=False)
        writer.close()
        index_s = time.perf_counter() - tick
        _log(f"{store_name}: indexed in {index_s:.0f} s; reopening read-only")
        tick2 = time.perf_counter()
        store = open_store(f"milvus:{path}", collection="bench", tokenizer=tokenizer, read_only=True)
        engine = HybridEngine(embedder=embedder, tokenizer=tokenizer, store=store)
        engine.search(queries[0], k=10)  # Milvus Lite builds each segment's BM25 and vector index on first use
        out["reopen + first search s"] = time.perf_counter() - tick2
        build_s = index_s
        out["disk MB"] = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / MB
    out["index s"] = build_s
    out["indexing entries/s"] = n_docs / build_s
    gc.collect()
    out["rss after building MB"] = _rss_mb()
    out["held after building MB"] = _rss_mb() - before
    _log(f"{store_name}: built in {build_s:.0f} s ({n_docs / build_s:,.0f} entries/s); timing {n_queries} queries")
    for q in queries:  # warm-up, untimed: query vectors cached, highlight offsets and Milvus rows read once
        engine.search(q, k=10, mode="all")
    for mode in MODES:
        times = []
        for q in queries:
            t0 = time.perf_counter()
            res = engine.search(q, k=10, mode=mode)
            times.append((time.perf_counter() - t0) * 1000 - res.timings_ms.get("embed", 0.0))
        out[f"{mode} p50 ms"] = _percentile(times, 50)
        out[f"{mode} p99 ms"] = _percentile(times, 99)
        _log(f"{store_name}: {mode} p50 {out[f'{mode} p50 ms']:.1f} ms, p99 {out[f'{mode} p99 ms']:.1f} ms")
    # The two retrievers alone, as the engine calls its store (every search mode runs the keyword one: its
    # matches feed the explanation and adaptive fusion).
    tokens = [tokenizer.tokenize(q) for q in queries]
    vectors = [engine.embed_query(q) for q in queries]
    for name, call in (("store keyword_search", lambda i: engine.store.keyword_search(queries[i], tokens[i], 100,
                                                                                       1.2, 0.75)),
                       ("store vector_search", lambda i: engine.store.vector_search(vectors[i], 100))):
        times = []
        for i in range(len(queries)):
            t0 = time.perf_counter()
            call(i)
            times.append((time.perf_counter() - t0) * 1000)
        out[f"{name} top-100 p50 ms"] = _percentile(times, 50)
        out[f"{name} top-100 p99 ms"] = _percentile(times, 99)
    out["peak rss MB"] = _peak_mb()
    out["load average at end"] = _load()
    if store is not None:
        store.close()
    return out


class _Progress:
    """Logs every 10% of the records passing through."""

    def __init__(self, total: int) -> None:
        self.total, self.step, self.started = total, max(total // 10, 1), time.perf_counter()

    def wrap(self, records):
        for i, record in enumerate(records, 1):
            yield record
            if i % self.step == 0:
                rate = i / (time.perf_counter() - self.started)
                _log(f"milvus-lite: {i:,}/{self.total:,} entries read ({rate:,.0f}/s)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--also", type=int, nargs="*", default=[], help="more corpus sizes, e.g. 1000000")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--stores", default=",".join(STORES), help=f"comma-separated: {', '.join(STORES)}")
    parser.add_argument("--vector-index", default="FLAT", help="dense index of the Milvus collection")
    parser.add_argument("--data-dir", default=None, help="where the Milvus Lite folder goes (default: a temp dir)")
    parser.add_argument("--keep", action="store_true",
                        help="keep each run's Milvus Lite folder under --data-dir (removed by default)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.docs, args.queries, args.dim, args.data_dir, args.vector_index)))
        return {}

    stores = [s for s in args.stores.split(",") if s]
    unknown = [s for s in stores if s not in STORES]
    if unknown:
        raise SystemExit(f"unknown store {unknown[0]!r}; choose from {', '.join(STORES)}")
    print(f"machine: {machine()}")
    results: dict = {"machine": machine(), "dimension": args.dim, "vector index": args.vector_index, "runs": []}
    for size in [args.docs, *args.also]:
        for name in stores:
            if args.data_dir:
                Path(args.data_dir).mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix="bench-milvus-", dir=args.data_dir))
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "bench.bench_milvus", "--child", name, "--docs", str(size),
                     "--queries", str(args.queries), "--dim", str(args.dim), "--data-dir", str(folder),
                     "--vector-index", args.vector_index],
                    cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
            finally:
                if args.keep and args.data_dir:
                    print(f"kept {folder}", file=sys.stderr)
                else:
                    shutil.rmtree(folder, ignore_errors=True)
            if proc.returncode != 0:
                raise SystemExit(f"the {name} run over {size:,} documents failed (exit {proc.returncode})")
            figures = json.loads(proc.stdout.strip().splitlines()[-1])
            results["runs"].append(figures)
            report(f"{name}, {size:,} documents x {args.dim} dims", figures)
            write_json(args.json, results)
    for size in [args.docs, *args.also]:
        runs = {r["store"]: r for r in results["runs"] if r["documents"] == size}
        if {"memory", "milvus-lite"} <= set(runs):
            m, l = runs["memory"], runs["milvus-lite"]
            ratios = {"indexing entries/s, milvus-lite / memory": l["indexing entries/s"] / m["indexing entries/s"],
                      **{f"{mode} p50, milvus-lite / memory": l[f"{mode} p50 ms"] / m[f"{mode} p50 ms"]
                         for mode in MODES},
                      "peak rss, milvus-lite / memory": l["peak rss MB"] / m["peak rss MB"]}
            results[f"ratios at {size}"] = ratios
            report(f"milvus-lite against memory, {size:,} documents", ratios)
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
