"""Traditional/Simplified folding: what it changes in keyword and hybrid nDCG@10, and what it costs in tokenising.

Usage: python -m bench.bench_folding [--data qbqtc-dev] [--queries 1000] [--hybrid-queries 300]
                                     [--hybrid-docs 1500] [--speed-docs 20000] [--json FILE]

The Traditional query set is built at run time and never written: the queries of a Chinese labelled set in
``../shared/datasets`` converted with OpenCC ``s2t`` (the corpus stays Simplified). Each query set
(Simplified originals, Traditional) is ranked with folding on and off:

- keyword: BM25 over the whole corpus, ``--queries`` queries (no embedding needed);
- hybrid: ``hybrid.evaluate.run`` (default fusion, packaged model) on the first ``--hybrid-queries`` queries
  with the corpus cut to ``--hybrid-docs`` (every judged document kept): embedding on the CPU is the cost.

Speed: ``Tokenizer.tokenize_many`` in one process on ``--speed-docs`` real entries, folding on and off taking
turns (``--repeat`` pairs), with the load average before and after each run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATASETS, load_average, machine, median, real_texts, report, write_json  # noqa: E402
from hybrid.engine import HybridEngine  # noqa: E402
from hybrid.evaluate import LabelledSet, load_labelled_set, run, subset_corpus  # noqa: E402
from hybrid.metrics import mean_scores, score_query  # noqa: E402
from hybrid.tokenize import Tokenizer, fold_script, normalize  # noqa: E402

METRIC = "ndcg@10"


def traditional(labelled: LabelledSet) -> LabelledSet:
    """The set with its queries converted to Traditional Chinese (OpenCC s2t); documents unchanged."""
    import opencc

    s2t = opencc.OpenCC("s2t")
    queries = tuple((qid, s2t.convert(text)) for qid, text in labelled.queries)
    return LabelledSet(labelled.name + " (queries s2t)", labelled.documents, queries, labelled.qrels,
                       labelled.parents)


def keyword_only(engine: HybridEngine, labelled: LabelledSet) -> dict:
    """Keyword nDCG@10 and the queries whose keyword side found nothing."""
    rows, no_token, no_match = [], 0, 0
    for qid, text in labelled.queries:
        response = engine.search(text, k=10, mode="keyword")
        no_token += not response.query_tokens
        no_match += bool(response.query_tokens) and not response.keyword
        rows.append(score_query([h.id for h in response.keyword], labelled.qrels[qid], (10,)))
    return {METRIC: mean_scores(rows)[METRIC], "no keyword token": no_token, "no keyword match": no_match}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="qbqtc-dev", help="a labelled set in the datasets folder")
    parser.add_argument("--queries", type=int, default=1000, help="queries for the keyword comparison (0: skip)")
    parser.add_argument("--hybrid-queries", type=int, default=300, help="queries for the hybrid comparison (0: skip)")
    parser.add_argument("--hybrid-docs", type=int, default=1500, help="corpus cut of the hybrid comparison")
    parser.add_argument("--speed-docs", type=int, default=20_000, help="entries for the speed comparison (0: skip)")
    parser.add_argument("--repeat", type=int, default=2, help="pairs of speed runs (folding off, on)")
    parser.add_argument("--json", help="write the figures to this JSON file")
    args = parser.parse_args(argv)

    out: dict = {"machine": machine(), "set": args.data}
    simplified = load_labelled_set(DATASETS / args.data, max_queries=args.queries)
    sets = {"simplified queries": simplified, "traditional queries": traditional(simplified)}
    tokenizers = {"fold off": Tokenizer(fold=False), "fold on": Tokenizer()}

    if args.queries:
        started, before = time.perf_counter(), load_average()
        for name, tokenizer in tokenizers.items():
            engine = HybridEngine(list(simplified.documents), tokenizer=tokenizer)
            for set_name, labelled in sets.items():
                for key, value in keyword_only(engine, labelled).items():
                    out[f"keyword {key}, {set_name}, {name}"] = value
        out[f"keyword: {len(simplified.queries)} queries, {len(simplified.documents)} docs; s (load before -> "
            "after)"] = f"{time.perf_counter() - started:.0f} ({before} -> {load_average()})"

    if args.hybrid_queries:
        from hybrid.cache import EmbeddingCache
        from hybrid.semantic import load_embedder

        embedder, cache = load_embedder("auto").embedder, EmbeddingCache()
        cut = subset_corpus(load_labelled_set(DATASETS / args.data, max_queries=args.hybrid_queries),
                            args.hybrid_docs)
        started, before = time.perf_counter(), load_average()
        for set_name, labelled in {"simplified queries": cut, "traditional queries": traditional(cut)}.items():
            for name, tokenizer in tokenizers.items():
                result = run(labelled, embedder, cache, fusions=[], alphas=(), tokenizer=tokenizer)
                for ranking in ("keyword", "semantic", "hybrid"):
                    out[f"hybrid run {ranking} {METRIC}, {set_name}, {name}"] = result["results"][ranking][METRIC]
                out[f"hybrid run flagged, {set_name}, {name}"] = result["flagged"]
        out[f"hybrid run: {len(cut.queries)} queries, {len(cut.documents)} docs, model {embedder.name}; "
            "s (load before -> after)"] = f"{time.perf_counter() - started:.0f} ({before} -> {load_average()})"

    if args.speed_docs:
        texts = real_texts(args.speed_docs)
        for tokenizer in tokenizers.values():
            tokenizer.tokenize("預熱")  # jieba's dictionary and OpenCC's tables load outside the timing
        times: dict[str, list[float]] = {name: [] for name in tokenizers}
        counts = {}
        for turn in range(args.repeat):
            for name, tokenizer in tokenizers.items():
                before = load_average()
                tick = time.perf_counter()
                tokens = tokenizer.tokenize_many(texts, workers=1)
                times[name].append(time.perf_counter() - tick)
                counts[name] = sum(map(len, tokens))
                out[f"speed run {turn + 1}, {name}: s (load before -> after)"] = (
                    f"{times[name][-1]:.1f} ({before} -> {load_average()})")
        for name in tokenizers:
            out[f"speed {name}: tokens/s (median)"] = counts[name] / median(times[name])
        out["SPEED fold on / fold off (tokens/s ratio)"] = (
            out["speed fold on: tokens/s (median)"] / out["speed fold off: tokens/s (median)"])
        # The whole runs take turns on a shared machine, so their ratio carries the load's noise; the
        # folding step alone, timed on the same (normalised) texts, is what folding adds to each entry.
        normalised = [normalize(t) for t in texts]
        fold_times = []
        for _ in range(3):
            tick = time.perf_counter()
            for t in normalised:
                fold_script(t)
            fold_times.append(time.perf_counter() - tick)
        out["fold_script alone: s for all entries (median of 3)"] = median(fold_times)
        out["fold_script alone: share of a fold-off tokenising run (%)"] = (
            100 * median(fold_times) / median(times["fold off"]))
    report("Traditional/Simplified folding", out)
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
