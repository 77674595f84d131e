"""Peak memory of an engine over 100k documents with 384-d vectors, measured in a fresh subprocess.

Usage: python -m bench.bench_memory [--docs 100000] [--dim 384] [--json FILE]

The child process generates the texts, notes its resident memory (Python, numpy, jieba, the texts), then
builds HybridEngine(texts, embedder=random 384-d stand-in), runs one search (which builds the BM25
postings and the int8 vector codes) and reports its peak resident set size (getrusage ru_maxrss) and the
memory still held afterwards, with the sizes of the main arrays.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, peak_rss_mb, report, rss_mb, run_child, write_json  # noqa: E402

MB = 1024 * 1024


def child(n_docs: int, dim: int) -> dict:
    """Runs in the subprocess: build, search once, measure."""
    import gc

    from bench.common import RandomEmbedder, load_vocabulary, sample_texts
    from hybrid.engine import HybridEngine
    from hybrid.tokenize import Tokenizer

    start = rss_mb()
    Tokenizer().tokenize("预热")  # loads jieba's dictionary: a fixed cost, not per document
    jieba_mb = rss_mb() - start
    texts = sample_texts(load_vocabulary(), n_docs)
    gc.collect()
    before = rss_mb()
    engine = HybridEngine(texts, embedder=RandomEmbedder(dim))
    engine.search("数据库的性能优化", k=10)
    gc.collect()
    scan = engine.store._vectors._scan()
    kw = engine.store._keyword
    postings = kw._built()
    keyword_mb = sum(a.nbytes for a in (kw._dptr, kw._dterms, kw._dtfs, kw._dlen, postings.docs, postings.tfs,
                                        postings.impacts, postings.indptr, postings.df)) / MB
    return {
        "jieba dictionary (loaded once per process) MB": jieba_mb,
        "rss before building (python, imports, jieba, texts) MB": before,
        "peak rss while building + first search MB": peak_rss_mb(),
        "rss held after build MB": rss_mb(),
        "held by the engine (after - before) MB": rss_mb() - before,
        "float32 vectors MB": engine.store._vectors.matrix.nbytes / MB,
        "int8 codes + scales MB": sum(getattr(scan, a).nbytes for a in ("codes", "scale", "error", "length")) / MB
        if hasattr(scan, "codes") else 0.0,
        "BM25 arrays MB": keyword_mb,
        "token lists kept for save/re-index (count)": sum(len(t) for t in engine.store._tokens),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--json", help="write the figures to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.docs, args.dim)))
        return {}

    print(f"machine: {machine()}")
    figures = run_child("bench.bench_memory", ["--docs", str(args.docs), "--dim", str(args.dim)])
    out = {"machine": machine(), "documents": args.docs, "dimension": args.dim, **figures}
    report(f"memory, {args.docs:,} documents x {args.dim} dims (fresh subprocess)", out)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
