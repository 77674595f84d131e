"""Re-indexing an unchanged knowledge base: time against the first indexing (target: at most 5%).

Usage: python -m bench.bench_reindex [--entries 10000] [--model auto|random] [--json FILE]

First indexing: HybridEngine(entries, embedder, cache=EmbeddingCache(empty folder)) — tokenise, embed
every entry, store the vectors. Then the same entries are submitted again two ways:
  - fresh engine, same cache (a new session or process re-submitting the knowledge base):
    HybridEngine(embedder=..., cache=same).set_documents(entries) — re-tokenises, vectors from the cache;
  - same engine: engine.set_documents(entries) — reuses tokens and vectors of unchanged texts.
The model is counted: a re-index that embeds anything is reported as such. `--model auto` loads the
project's default model the way users get it (hybrid.semantic.load_embedder("auto")); `random` is a
stand-in that embeds instantly (only for smoke runs: the ratio then says nothing).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RandomEmbedder, load_vocabulary, machine, report, sample_texts, write_json  # noqa: E402
from hybrid.cache import EmbeddingCache  # noqa: E402
from hybrid.engine import HybridEngine  # noqa: E402


class CountingEmbedder:
    """Wraps an embedder and counts the documents it is asked to embed."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.documents_embedded = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def encode_documents(self, texts, progress=None):
        self.documents_embedded += len(texts)
        return self._inner.encode_documents(texts, progress=progress)


def load_model(name: str, dimension: int):
    """(embedder, description) for --model."""
    if name == "random":
        return RandomEmbedder(dimension), "random unit vectors (stand-in, instant)"
    from hybrid.semantic import load_embedder

    loaded = load_embedder(name, device="cpu")
    e = loaded.embedder
    note = f"{e.name} ({e.backend}, {e.dtype}, {e.dimension}-d, {e.device})"
    if loaded.fallback_reason:
        note += f"; '{name}' resolved to it because: {loaded.fallback_reason}"
    return e, note


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--model", default="auto", help="'auto' (the default model, as users get it) or 'random'")
    parser.add_argument("--dim", type=int, default=384, help="dimension of the random stand-in")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    texts = sample_texts(load_vocabulary(), args.entries, seed=args.seed)
    tick = time.perf_counter()
    model, note = load_model(args.model, args.dim)
    load_s = time.perf_counter() - tick
    embedder = CountingEmbedder(model)
    out: dict = {"machine": machine(), "entries": args.entries, "embedder": note,
                 "model load s (not counted below)": load_s,
                 "mean characters per entry": float(np.mean([len(t) for t in texts]))}
    with tempfile.TemporaryDirectory(prefix="bench-reindex-") as folder:
        cache = EmbeddingCache(folder)

        tick = time.perf_counter()
        first = HybridEngine(texts, embedder=embedder, cache=cache)
        first_s = time.perf_counter() - tick
        out["first indexing s"] = first_s
        out["first indexing: documents embedded"] = embedder.documents_embedded

        embedder.documents_embedded = 0
        tick = time.perf_counter()
        fresh = HybridEngine(embedder=embedder, cache=cache)
        fresh.set_documents(texts)
        fresh_s = time.perf_counter() - tick
        out["re-index, fresh engine + same cache s"] = fresh_s
        out["re-index, fresh engine: documents embedded"] = embedder.documents_embedded
        out["re-index, fresh engine: % of first"] = 100.0 * fresh_s / first_s

        embedder.documents_embedded = 0
        tick = time.perf_counter()
        first.set_documents(texts)
        same_s = time.perf_counter() - tick
        out["re-index, same engine s"] = same_s
        out["re-index, same engine: documents embedded"] = embedder.documents_embedded
        out["re-index, same engine: % of first"] = 100.0 * same_s / first_s
        out["max |difference| of vectors after re-index"] = float(
            np.abs(np.asarray(first.store._vectors.matrix) - np.asarray(fresh.store._vectors.matrix)).max())
        cache.close()
    report(f"re-indexing an unchanged {args.entries:,}-entry knowledge base", out)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
