"""Measures what the page's colours and the default hybrid ranking are worth on labelled sets.

Run: ``python -m bench.truth_score --out FILE.json [--data ../shared/datasets] [--max-queries 200]``.
For each set (a cut: the first ``--max-queries`` queries, the corpus cut to ``--max-docs``) it prints and
writes nDCG@10 of keyword, semantic, the default hybrid and every fusion method at ``ALPHAS`` (whole cut and
each half), and for every hit of each column's top 5: whether it is judged relevant and what the page's
colour rule sees (``webui.format.hit_evidence``: keyword coverage and the cosine's standing), so that the
share of relevant hits shown green and of the others shown grey can be computed per half.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hybrid import HybridEngine
from hybrid.cache import EmbeddingCache
from hybrid.evaluate import embed_queries, evaluate, load_labelled_set, query_half, subset_corpus
from hybrid.semantic import load_embedder
from hybrid.cache import model_key

SETS = {  # set -> (max queries, max docs): cuts small enough for a 2-core machine
    "qbqtc-test_public": (200, 600),
    "cmrc2018-dev": (150, 200),
    "xquad-mixed": (200, 480),
    "tatoeba-zh2en": (200, 400),
    "cranfield": (80, 300),
}
TOP = 5
ALPHAS = (0.0, 0.3, 0.5, 0.7, 1.0)


def measure(folder: Path, max_queries: int, max_docs: int, embedder, cache) -> dict:
    """nDCG figures and per-hit colour evidence of one set's cut."""
    labelled = subset_corpus(load_labelled_set(folder, max_queries=max_queries), max_docs)
    started = time.perf_counter()
    engine = HybridEngine(list(labelled.documents), embedder=embedder, cache=cache)
    vectors = embed_queries(embedder, [t for _, t in labelled.queries], cache)
    embed_s = time.perf_counter() - started
    report = evaluate(engine, labelled, alphas=ALPHAS, query_vectors=vectors)
    hits = []
    for i, (qid, text) in enumerate(labelled.queries):
        engine._remember_queries([(model_key(embedder), text)], vectors[i][None])  # embedded above
        response = engine.search(text, k=TOP)
        qrels = labelled.qrels[qid]
        for column in ("keyword", "semantic", "hybrid"):
            for h in getattr(response, column):
                hits.append({"half": query_half(text), "column": column, "rank": h.rank,
                             "relevant": qrels.get(h.id, 0) > 0, "cosine": h.semantic_score,
                             "score": h.score, "top": getattr(response, column)[0].score,
                             "evidence": _evidence(response, h)})
    return {"set": folder.name, "queries": len(labelled.queries), "docs": len(labelled.documents),
            "embed_seconds": round(embed_s, 1),
            "ndcg": {name: report["results"][name]["ndcg@10"] for name in ("keyword", "semantic", "hybrid")},
            "ndcg_halves": [{name: h["results"][name]["ndcg@10"] for name in ("keyword", "semantic", "hybrid")}
                            for h in report["halves"]],
            "sweep": [{"fusion": p["fusion"], "alpha": p["alpha"], "ndcg@10": p["ndcg@10"]} for p in report["sweep"]],
            "hits": hits}


def _evidence(response, hit):
    try:
        from webui.format import hit_evidence
    except ImportError:  # before the colour rule existed
        return None
    return hit_evidence(hit, response)


def shares(hits: list[dict], green) -> dict[str, float]:
    """Share of the relevant hits ``green(hit)`` paints green and of the others it leaves grey."""
    rel = [green(h) for h in hits if h["relevant"]]
    other = [not green(h) for h in hits if not h["relevant"]]
    return {"relevant_green": float(np.mean(rel)) if rel else float("nan"),
            "other_grey": float(np.mean(other)) if other else float("nan"), "n_relevant": len(rel),
            "n_other": len(other)}


def standing_of(e: dict, scaled: bool) -> float | None:
    """The cosine's standing, or (``scaled``) that standing over sqrt(2 ln n), what the best of n random
    entries would reach: a knowledge base of 30 entries cannot put any entry as far out as one of 5,000."""
    z, n = e.get("standing"), e.get("count")
    if z is None or (scaled and not n):
        return None
    return z / np.sqrt(2 * np.log(max(n, 3))) if scaled else z


def evidence_rule(coverage_min: float, standing_min: float, scaled: bool = False):
    """Green when the entry holds ``coverage_min`` of the query's words or its cosine stands ``standing_min``
    standard deviations above the knowledge base's mean (``scaled``: ``standing_of``)."""
    def green(h):
        e = h["evidence"] or {}
        z = standing_of(e, scaled)
        return (e.get("coverage") or 0.0) >= coverage_min or (z is not None and z >= standing_min)
    return green


def fit_rule(results: list[dict], scaled: bool = False) -> tuple[float, float, float]:
    """The thresholds with the best balanced accuracy on half 0 of every set, each set weighing the same
    (and that accuracy)."""
    grid_c = np.round(np.arange(0.3, 1.01, 0.05), 2)
    grid_z = np.round(np.arange(0.4, 2.01, 0.05), 2) if scaled else np.round(np.arange(1.0, 8.01, 0.25), 2)
    best = None
    for c in grid_c:
        for z in grid_z:
            rule = evidence_rule(c, z, scaled)
            per_set = [shares([h for h in r["hits"] if h["half"] == 0], rule) for r in results]
            score = np.nanmean([(x["relevant_green"] + x["other_grey"]) / 2 for x in per_set])
            if best is None or score > best[0]:
                best = (score, float(c), float(z))
    return best[1], best[2], best[0]


E5_P50 = 63.1980 / 73.0885  # the cosine where the former e5 logistic map crossed P(relevant) = 0.5


def report(before: list[dict], after: list[dict]) -> None:
    """Print the nDCG@10 before/after and the colour shares (rule fitted on half 0, shown on half 1)."""
    print("| set | queries / docs | keyword | semantic | hybrid default before | after | weighted 0.7 before | after |")
    for b, a in zip(before, after):
        w = {(r["fusion"], r["alpha"]): r["ndcg@10"] for r in b["sweep"]}, {(r["fusion"], r["alpha"]): r["ndcg@10"]
                                                                          for r in a["sweep"]}
        print(f"| {a['set']} | {a['queries']} / {a['docs']} | {a['ndcg']['keyword']:.4f} | {a['ndcg']['semantic']:.4f} "
              f"| {b['ndcg']['hybrid']:.4f} | {a['ndcg']['hybrid']:.4f} | {w[0].get(('weighted', 0.7), float('nan')):.4f} "
              f"| {w[1][('weighted', 0.7)]:.4f} |")
        for fusion in ("weighted", "rrf"):
            for alpha, single in ((0.0, "keyword"), (1.0, "semantic")):
                print(f"  {a['set']} {fusion} {alpha}: before {w[0].get((fusion, alpha), float('nan')):.4f} after "
                      f"{w[1][(fusion, alpha)]:.4f} ({single} {a['ndcg'][single]:.4f})")
    fits = {scaled: fit_rule(after, scaled) for scaled in (False, True)}
    for scaled, (c, z, acc) in fits.items():
        print(f"fitted on half 0 (standing{' / sqrt(2 ln n)' if scaled else ''}): coverage >= {c}, standing >= {z}, "
              f"mean balanced accuracy {acc:.3f}")
    scaled = True  # the page's rule (webui.calibration): the standing over sqrt(2 ln n)
    c, z, _ = fits[scaled]
    old = lambda h: h["cosine"] is not None and h["cosine"] >= E5_P50  # noqa: E731
    new = evidence_rule(c, z, scaled)
    print("| set | column | relevant / other hits | before: relevant green | other grey | now: relevant green | other grey |")
    for b, a in zip(before, after):
        for column in ("keyword", "semantic", "hybrid"):
            hb = [h for h in b["hits"] if h["half"] == 1 and h["column"] == column]
            ha = [h for h in a["hits"] if h["half"] == 1 and h["column"] == column]
            sb, sa = shares(hb, old), shares(ha, new)
            print(f"| {a['set']} | {column} | {sa['n_relevant']} / {sa['n_other']} | {sb['relevant_green']:.0%} | "
                  f"{sb['other_grey']:.0%} | {sa['relevant_green']:.0%} | {sa['other_grey']:.0%} |")


def main(argv=None) -> int:
    """Measure every set present and write the figures as JSON (or ``--report BEFORE AFTER``)."""
    p = argparse.ArgumentParser(prog="python -m bench.truth_score", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    p.add_argument("--out", type=Path)
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--report", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                   help="print the tables of two earlier runs (the code before and after a change)")
    args = p.parse_args(argv)
    if args.report:
        before, after = (json.loads(f.read_text(encoding="utf-8")) for f in args.report)
        report(before, after)
        return 0
    embedder = load_embedder("auto").embedder
    cache = EmbeddingCache()
    out = []
    for name in args.sets.split(","):
        if not (args.data / name).is_dir():
            continue
        result = measure(args.data / name, *SETS[name], embedder, cache)
        print(name, result["queries"], result["docs"], result["embed_seconds"], result["ndcg"],
              [(p["fusion"], p["alpha"], round(p["ndcg@10"], 4)) for p in result["sweep"]], flush=True)
        out.append(result)
        args.out.write_text(json.dumps(out), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
