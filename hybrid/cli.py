"""Command line: ``python -m hybrid search|index|embed`` (search a file or a store, fill a Milvus store, batch-embed)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict

from .argtypes import whole_number
from .config import add_config_option, check_store_bm25, config_from_args
from .fusion import FUSERS, NORMALIZERS
from .kb import KnowledgeBaseError, documents_from_file
from .results import Hit, SearchResponse
from .settings import DEFAULT_SETTINGS, MAX_K1, MODES
from .store import StoreError
from .store.milvus import DEFAULT_COLLECTION, TOKEN_ENV, VECTOR_INDEXES
from .tokenize import TOKENIZER_MODES


def _non_negative(text: str) -> float:
    """An argparse type: a number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


# --split-long: 0 turns splitting off; a negative length means nothing.
_SPLIT_LONG = whole_number(0, hint="0: never split")


def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="auto (default), a packaged alias, a hub id or a local folder")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--document-prompt", default=None, metavar="NAME",
                   help="prompt for entries: packaged e5 'query' (default) or 'passage' (long passages); "
                        "other models: a stored prompt name")


def tokenizer_options(p: argparse.ArgumentParser) -> None:
    """``--tokenizer-mode``, ``--user-dict`` and ``--no-fold`` (read them back with ``tokenizer_from_args``)."""
    p.add_argument("--tokenizer-mode", choices=TOKENIZER_MODES, default=None,
                   help="jieba search mode (words plus their sub-words, default) or precise (whole words only)")
    p.add_argument("--user-dict", default=None, metavar="FILE",
                   help="jieba user dictionary: one word per line (`word [freq] [tag]`) that must stay whole, "
                        "e.g. product names and codes")
    p.add_argument("--no-fold", action="store_true",
                   help="match Traditional and Simplified Chinese as different words (default: folded, so a 繁體 "
                        "query finds 简体 entries and the reverse; the shown text is unchanged)")


def tokenizer_from_args(args: argparse.Namespace):
    """The ``Tokenizer`` of ``--tokenizer-mode``, ``--user-dict`` and ``--no-fold``."""
    from .tokenize import Tokenizer

    return Tokenizer(mode=args.tokenizer_mode or "search", user_dict=args.user_dict, fold=not args.no_fold)


def _store_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--store", required=required, metavar="URI",
                   help="milvus:FILE.db (embedded Milvus Lite) or milvus+http(s)://HOST:PORT (a Milvus server or "
                        f"cluster; token from ${TOKEN_ENV})")
    p.add_argument("--collection", default=DEFAULT_COLLECTION, help="Milvus collection name")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m hybrid``."""
    parser = argparse.ArgumentParser(prog="python -m hybrid", description="Hybrid (BM25 + embedding) search.")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("search", help="search a knowledge base file or a store")
    source = s.add_mutually_exclusive_group(required=True)
    source.add_argument("--kb", help="knowledge base: .txt/.md (one entry per line), .csv (a `text` column, optionally "
                        "`id`; the other columns are metadata) or .jsonl (objects with `text`, optionally `id`)")
    source.add_argument("--store", metavar="URI",
                        help="search a Milvus collection read-only: milvus:FILE.db or milvus+http(s)://HOST:PORT")
    s.add_argument("--collection", default=None,
                   help=f"Milvus collection name (with --store; default {DEFAULT_COLLECTION})")
    s.add_argument("--query", required=True)
    add_config_option(s)
    s.add_argument("--k", type=int, default=None, help=f"top-k of each list (default {DEFAULT_SETTINGS.k})")
    s.add_argument("--alpha", type=float, default=None,
                   help=f"semantic weight in [0, 1] (default {DEFAULT_SETTINGS.alpha})")
    s.add_argument("--fusion", choices=sorted(FUSERS), default=None, help=f"default {DEFAULT_SETTINGS.fusion}")
    s.add_argument("--normalizer", choices=sorted(NORMALIZERS), default=None,
                   help=f"default {DEFAULT_SETTINGS.normalizer}")
    s.add_argument("--weight-model", default=None, metavar="FILE",
                   help="the weight model of --fusion learned (`python -m hybrid.evaluate --train-weight`); "
                        "default: the packaged one")
    s.add_argument("--mode", choices=MODES, default="all")
    tokenizer_options(s)
    _model_options(s)
    s.add_argument("--reranker", default="none", metavar="NAME",
                   help="re-score the hybrid top-N with a reranker: qwen3-0.6b | qwen3-4b | qwen3-8b, a hub id, a "
                        "local folder, or auto (one on a CUDA GPU); none (default): no reranking")
    s.add_argument("--rerank", type=int, default=None, metavar="N",
                   help="how many hybrid hits the reranker re-scores (default 20)")
    s.add_argument("--split-long", type=_SPLIT_LONG, default=0, metavar="N",
                   help="split entries longer than N characters into sentences (0: never)")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    i = sub.add_parser("index", help="index a large knowledge base into a Milvus store (resumable), or remove entries")
    i.add_argument("--kb", metavar="FILE|DIR", help="a .txt/.md/.csv/.jsonl file, `hybrid embed` Parquet output, "
                   "or a folder of them")
    _store_options(i, required=True)
    tokenizer_options(i)
    _model_options(i)
    i.add_argument("--batch-size", type=whole_number(1), default=256, help="entries embedded and written together")
    i.add_argument("--split-long", type=_SPLIT_LONG, default=0, metavar="N",
                   help="split entries longer than N characters into sentences (0: never)")
    i.add_argument("--vector-index", choices=VECTOR_INDEXES, default="FLAT",
                   help="dense index of a new collection: FLAT is exact (the same answers as in memory)")
    i.add_argument("--k1", type=float, default=None,
                   help=f"BM25 k1 of a new collection, fixed from then on (default {DEFAULT_SETTINGS.k1})")
    i.add_argument("--b", type=float, default=None,
                   help=f"BM25 b of a new collection, fixed from then on (default {DEFAULT_SETTINGS.b})")
    add_config_option(i)  # its tokenizer, model and BM25 k1 / b (a new collection's)
    i.add_argument("--remove", nargs="+", metavar="ID", default=[], help="delete these entry ids")
    i.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("embed", help="embed a large corpus into Parquet files for `hybrid index` (optionally on Ray)")
    e.add_argument("--kb", required=True, metavar="FILE|DIR", help="a .txt/.md/.csv/.jsonl file or a folder of them")
    e.add_argument("--out", required=True, metavar="DIR", help="folder for the Parquet files")
    _model_options(e)
    e.add_argument("--batch-size", type=whole_number(1), default=64, help="entries per model call")
    e.add_argument("--split-long", type=_SPLIT_LONG, default=0, metavar="N",
                   help="split entries longer than N characters into sentences (0: never)")
    e.add_argument("--overwrite", action="store_true", help="replace Parquet files already in --out")
    e.add_argument("--ray", action="store_true", help="embed with Ray Data actors (pip install 'hybrid-search[scale]')")
    e.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="a running Ray cluster (auto, ray://HOST:10001); default: start Ray on this machine")
    e.add_argument("--num-gpus", type=_non_negative, default=0.0, help="GPUs per Ray actor (1: one actor per GPU)")
    e.add_argument("--concurrency", type=whole_number(1), default=1, help="Ray actors (e.g. the number of GPUs)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _hit_json(hit: Hit) -> dict:
    return hit.to_dict()


def to_json(response: SearchResponse, mode: str) -> dict:
    """The ``--json`` object: model, device, the three lists (those of ``mode``), the reranked one and timings."""
    lists = {name: [] for name in ("keyword", "semantic", "hybrid")}
    for name in lists:
        if mode in ("all", name):
            lists[name] = [_hit_json(h) for h in getattr(response, name)]
    lists["reranked"] = [_hit_json(h) for h in response.reranked]
    return {"model": response.model, "device": response.device, "query": response.query,
            "query_tokens": list(response.query_tokens), **lists,
            "alpha_used": response.alpha_used, "reranker": response.reranker,
            "settings": asdict(response.settings),  # as POST /search answers them: what was applied
            **({"weight_choice": _choice_json(response)} if response.weight_choice else {}),
            "timings_ms": {k: round(v, 3) for k, v in response.timings_ms.items()}}


def _choice_json(response: SearchResponse) -> dict:
    from .weight_model import describe

    choice = response.weight_choice
    return {"given": choice.given, "chosen": choice.chosen, "used": response.alpha_used,
            "reasons": describe(choice, response.evidence)}


def _print_table(response: SearchResponse, mode: str) -> None:
    s = response.settings
    fused = f"hybrid ({s.fusion}, alpha {s.alpha:g}"
    fused += f", semantic weight {response.alpha_used:.2f} for this query)" if response.alpha_used is not None else ")"
    for name, label in (("keyword", "keyword (BM25)"), ("semantic", f"semantic ({response.model})"),
                        ("hybrid", fused)):
        if mode not in ("all", name):
            continue
        print(f"== {label}")
        hits = getattr(response, name)
        if not hits:
            print("   (no match)")
        for h in hits:
            print(f"{h.rank:>3}. {h.score:8.4f}  [{h.id}] {h.text}")
    if response.reranked:
        print(f"== reranked ({response.reranker}; score: P(relevant), hybrid rank in brackets)")
        for h in response.reranked:
            print(f"{h.rank:>3}. {h.score:8.4f}  [{h.id}] ({h.hybrid_rank}) {h.text}")
    choice = response.weight_choice
    if choice is not None:
        from .weight_model import describe

        why = "; ".join(describe(choice, response.evidence)) or "the model predicted no better weight"
        print(f"learned weight: alpha {choice.chosen:g} (given {choice.given:g}), semantic weight "
              f"{response.alpha_used:.2f}: {why}")
    print("timings_ms: " + ", ".join(f"{k}={v:.1f}" for k, v in response.timings_ms.items()))


def _load_model(args: argparse.Namespace):
    from .semantic import load_embedder

    loaded = load_embedder(args.model or "auto", device=args.device, document_prompt=args.document_prompt)
    if loaded.fallback_reason:
        print(f"note: {loaded.fallback_reason}", file=sys.stderr)
    return loaded.embedder


def _load_reranker(args: argparse.Namespace):
    reranker = None
    if args.reranker != "none":
        from .rerank import load_reranker

        loaded = load_reranker(args.reranker, device=args.device)
        if loaded.reason:
            print(f"note: {loaded.reason}", file=sys.stderr)
        reranker = loaded.reranker
    if args.rerank and reranker is None:
        raise ValueError(f"--rerank {args.rerank} needs a reranker: add --reranker NAME (e.g. qwen3-0.6b)")
    return reranker


def _search(args: argparse.Namespace) -> int:
    from .engine import EmptyQueryError, HybridEngine

    store = None
    if args.store and args.split_long:
        print("error: --split-long splits the entries of a --kb file; a --store's entries were split when they were "
              "indexed (`python -m hybrid index --split-long N`): drop --split-long", file=sys.stderr)
        return 2
    if args.kb and args.collection is not None:
        print("error: --collection names a collection of a --store; drop it with --kb", file=sys.stderr)
        return 2
    try:
        config = config_from_args(args, k=args.k, alpha=args.alpha, fusion=args.fusion, normalizer=args.normalizer,
                                  rerank=args.rerank)
        weights = None
        if args.weight_model is not None:
            from .weight_model import given_path, use

            if config.settings.fusion != "learned":
                raise ValueError(f"--weight-model is used only by fusion 'learned', and this search uses "
                                 f"{config.settings.fusion!r}; add --fusion learned, or drop --weight-model")
            weights = use(given_path(args.weight_model))
        from .tokenize import Tokenizer

        tokenizer = Tokenizer.from_settings(config.tokenizer)
        args.model = config.model
        settings = config.settings
        embedder = _load_model(args) if args.mode != "keyword" else None
        if config.settings.fusion == "learned" and embedder is not None and args.mode != "semantic":
            from .weight_model import active, mismatch_notes

            for note in mismatch_notes(weights or active(), embedder.name):
                print(f"note: {note}", file=sys.stderr)
        if args.store:
            from .store import open_store

            store = open_store(args.store, collection=args.collection or DEFAULT_COLLECTION, read_only=True,
                               tokenizer=tokenizer)
            if args.config:  # a file's k1 / b the collection does not have would be dropped without a word
                check_store_bm25(config, store.bm25_params, store.describe(), args.config)
            engine = HybridEngine(store=store, tokenizer=tokenizer, settings=settings)
            if embedder is not None:
                engine.set_embedder(embedder)
        else:
            from .cache import EmbeddingCache
            from .ingest import no_entries

            entries = documents_from_file(args.kb, split_long=args.split_long > 0, max_length=args.split_long or 200)
            if not entries:
                raise no_entries(args.kb)
            engine = HybridEngine(entries, embedder=embedder, cache=EmbeddingCache() if embedder else None,
                                  tokenizer=tokenizer, settings=settings)
        engine.reranker = _load_reranker(args)
        response = engine.search(args.query, mode=args.mode, rerank=args.rerank)
    except (KnowledgeBaseError, EmptyQueryError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.close()
    if args.json:
        print(json.dumps(to_json(response, args.mode), ensure_ascii=False))
    else:
        _print_table(response, args.mode)
    return 0


def _index(args: argparse.Namespace) -> int:
    from .ingest import count_entries, index_records, iter_records, not_empty, remove_ids, source_files
    from .store import open_store
    from .store.milvus import MilvusStore
    from .tokenize import Tokenizer

    if not args.kb and not args.remove:
        print("error: give --kb FILE|DIR to index, or --remove ID... to delete entries", file=sys.stderr)
        return 2
    store = None
    try:
        if args.config:  # the setting's tokenizer, model, k1 and b; explicit flags override them
            config = config_from_args(args)
            tokenizer = Tokenizer.from_settings(config.tokenizer)
            args.model = config.model
            args.k1 = config.settings.k1 if args.k1 is None else args.k1
            args.b = config.settings.b if args.b is None else args.b
        else:
            tokenizer = tokenizer_from_args(args)
        bm25 = (DEFAULT_SETTINGS.k1 if args.k1 is None else args.k1, DEFAULT_SETTINGS.b if args.b is None else args.b)
        if not 0 < bm25[0] <= MAX_K1 or not 0 <= bm25[1] <= 1:  # NaN fails both
            raise ValueError(f"BM25 needs k1 in (0, {MAX_K1:g}] and b in [0, 1] (got k1={bm25[0]:g}, b={bm25[1]:g})")
        if args.kb:  # its first entry read before the store is opened: input refused there leaves the store alone
            records = not_empty(iter_records(args.kb, args.split_long), args.kb)
        store = open_store(args.store, collection=args.collection, tokenizer=tokenizer,
                           vector_index=args.vector_index, bm25=bm25)
        if not isinstance(store, MilvusStore):
            raise StoreError(f"`hybrid index` fills a Milvus store; {args.store!r} is not one")
        asked = {"k1": args.k1, "b": args.b}
        for name, fixed in zip(("k1", "b"), store.bm25_params if store.exists else ()):
            if asked[name] is not None and abs(asked[name] - fixed) > 1e-9:
                raise ValueError(f"{store.describe()} was built with BM25 {name}={fixed:g}; it cannot change "
                                 "(index into a new --collection)")
        if args.kb:
            files = source_files(args.kb)
            only_vectors = all(f.suffix.lower() == ".parquet" for f, _ in files)
            embedder = None
            if not only_vectors or (args.model or "auto") != "auto":
                from .cache import EmbeddingCache

                embedder, cache = _load_model(args), EmbeddingCache()
            else:
                cache = None
            report = index_records(store, records, tokenizer, embedder, cache,
                                   batch_size=args.batch_size, total=count_entries(args.kb),
                                   progress=not args.no_progress)
            print(f"indexed into {store.describe()}: {report.summary()}")
        if args.remove:
            removed = remove_ids(store, args.remove)
            print(f"removed {removed:,} entries from {store.describe()}")
        print(f"{store.describe()} holds {len(store):,} entries")
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    except (KnowledgeBaseError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if store is not None:
            store.close()
    return 0


def _embed(args: argparse.Namespace) -> int:
    from .batch_embed import embed_local, embed_ray

    try:
        if args.ray:
            report = embed_ray(args.kb, args.out, model=args.model or "auto", device=args.device,
                               document_prompt=args.document_prompt, batch_size=args.batch_size,
                               num_gpus=args.num_gpus, concurrency=args.concurrency, address=args.ray_address,
                               split_long=args.split_long, overwrite=args.overwrite)
        else:
            from .cache import EmbeddingCache
            from .ingest import iter_entries, not_empty

            not_empty(iter_entries(args.kb, args.split_long), args.kb)  # refused before the model loads (minutes)
            report = embed_local(args.kb, args.out, _load_model(args), EmbeddingCache(), batch_size=args.batch_size,
                                 split_long=args.split_long, progress=not args.no_progress, overwrite=args.overwrite)
    except (KnowledgeBaseError, FileNotFoundError, FileExistsError, ImportError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    print(f"index them with: python -m hybrid index --kb {args.out} --store URI")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return {"search": _search, "index": _index, "embed": _embed}[args.command](args)
    except KeyboardInterrupt:
        print(f"\ninterrupted{_RESUME_HINTS.get(args.command, '')}", file=sys.stderr)
        return 130


# What an interrupted command leaves behind, and how to go on (Ctrl-C ends a command without a traceback).
_RESUME_HINTS = {
    "index": ": the batches written so far are kept; run the same command again to resume (entries already "
             "stored are skipped, nothing is duplicated)",
    "embed": ": --out may hold part of the Parquet files; run the same command again with --overwrite to "
             "finish (without --ray, entries embedded before come from the embedding cache)",
}
