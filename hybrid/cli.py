"""Command line: ``python -m hybrid search --kb FILE --query TEXT``."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .fusion import FUSERS, NORMALIZERS
from .kb import KnowledgeBaseError, entries_from_file
from .results import Hit, SearchResponse
from .settings import DEFAULT_SETTINGS, MODES


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m hybrid``."""
    parser = argparse.ArgumentParser(prog="python -m hybrid", description="Hybrid (BM25 + embedding) search.")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("search", help="search a knowledge base file")
    s.add_argument("--kb", required=True, help="knowledge base: .txt/.md (one entry per line), .csv or .jsonl")
    s.add_argument("--query", required=True)
    s.add_argument("--k", type=int, default=DEFAULT_SETTINGS.k, help="top-k of each list")
    s.add_argument("--alpha", type=float, default=DEFAULT_SETTINGS.alpha, help="semantic weight in [0, 1]")
    s.add_argument("--fusion", choices=sorted(FUSERS), default=DEFAULT_SETTINGS.fusion)
    s.add_argument("--normalizer", choices=sorted(NORMALIZERS), default=DEFAULT_SETTINGS.normalizer)
    s.add_argument("--mode", choices=MODES, default="all")
    s.add_argument("--model", default="auto", help="auto, a packaged alias, a hub id or a local folder")
    s.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    s.add_argument("--document-prompt", default=None, metavar="NAME",
                   help="prompt for entries: packaged e5 'query' (default) or 'passage' (long passages); "
                        "other models: a stored prompt name")
    s.add_argument("--split-long", type=int, default=0, metavar="N",
                   help="split entries longer than N characters into sentences (0: never)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _hit_json(hit: Hit) -> dict:
    return hit.to_dict()


def to_json(response: SearchResponse, mode: str) -> dict:
    """The ``--json`` object: model, device, the three lists (those of ``mode``) and timings."""
    lists = {name: [] for name in ("keyword", "semantic", "hybrid")}
    for name in lists:
        if mode in ("all", name):
            lists[name] = [_hit_json(h) for h in getattr(response, name)]
    return {"model": response.model, "device": response.device, "query": response.query,
            "query_tokens": list(response.query_tokens), **lists,
            "alpha_used": response.alpha_used,
            "timings_ms": {k: round(v, 3) for k, v in response.timings_ms.items()}}


def _print_table(response: SearchResponse, mode: str) -> None:
    for name, label in (("keyword", "keyword (BM25)"), ("semantic", f"semantic ({response.model})"),
                        ("hybrid", "hybrid")):
        if mode not in ("all", name):
            continue
        print(f"== {label}")
        hits = getattr(response, name)
        if not hits:
            print("   (no match)")
        for h in hits:
            print(f"{h.rank:>3}. {h.score:8.4f}  [{h.id}] {h.text}")
    print("timings_ms: " + ", ".join(f"{k}={v:.1f}" for k, v in response.timings_ms.items()))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from .engine import EmptyQueryError, HybridEngine

    try:
        entries = entries_from_file(args.kb, split_long=args.split_long > 0, max_length=args.split_long or 200)
        embedder = None
        if args.mode != "keyword":
            from .cache import EmbeddingCache
            from .semantic import load_embedder

            loaded = load_embedder(args.model, device=args.device, document_prompt=args.document_prompt)
            if loaded.fallback_reason:
                print(f"note: {loaded.fallback_reason}", file=sys.stderr)
            embedder = loaded.embedder
        engine = HybridEngine(entries, embedder=embedder, cache=EmbeddingCache() if embedder else None)
        response = engine.search(args.query, k=args.k, alpha=args.alpha, fusion=args.fusion,
                                 normalizer=args.normalizer, mode=args.mode)
    except (KnowledgeBaseError, EmptyQueryError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(to_json(response, args.mode), ensure_ascii=False))
    else:
        _print_table(response, args.mode)
    return 0
