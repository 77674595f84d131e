"""Ranking metrics: nDCG@k (graded gains), Recall@k, MRR@k, bootstrap intervals and overlap (Jaccard@k, RBO)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

Qrels = Mapping[str, int]
METRICS = ("ndcg", "recall", "mrr")


def _relevant(qrels: Qrels) -> dict[str, int]:
    return {doc: int(rel) for doc, rel in qrels.items() if int(rel) > 0}


def ndcg_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """Normalised discounted cumulative gain at ``k`` with linear gains (trec_eval's ``ndcg_cut``).

    Args:
        ranking: document ids, best first (duplicates count once, at their first place).
        qrels: relevance grade per judged document; grades <= 0 are non-relevant.
        k: cut-off.
    Returns:
        ``DCG@k / IDCG@k`` with ``DCG = sum rel_i / log2(i + 1)``; 0 when nothing is relevant.
    """
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(_dedupe(ranking)[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(rel / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg


def recall_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """Share of the relevant documents found in the top ``k`` (0 when nothing is relevant)."""
    relevant = _relevant(qrels)
    if not relevant:
        return 0.0
    return sum(doc in relevant for doc in _dedupe(ranking)[:k]) / len(relevant)


def mrr_at_k(ranking: Sequence[str], qrels: Qrels, k: int) -> float:
    """Reciprocal rank of the first relevant document within the top ``k`` (0 if none)."""
    relevant = _relevant(qrels)
    for i, doc in enumerate(_dedupe(ranking)[:k]):
        if doc in relevant:
            return 1.0 / (i + 1)
    return 0.0


def _dedupe(ranking: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ranking))


def score_query(ranking: Sequence[str], qrels: Qrels, ks: Iterable[int] = (10,)) -> dict[str, float]:
    """All metrics of one query at every cut-off in ``ks``.

    Returns:
        ``{"ndcg@10": ..., "recall@10": ..., "mrr@10": ...}`` (and the same for each other k).
    """
    out: dict[str, float] = {}
    for k in dict.fromkeys(ks):
        out[f"ndcg@{k}"] = ndcg_at_k(ranking, qrels, k)
        out[f"recall@{k}"] = recall_at_k(ranking, qrels, k)
        out[f"mrr@{k}"] = mrr_at_k(ranking, qrels, k)
    return out


def mean_scores(per_query: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Average each metric over queries (empty input gives an empty dict)."""
    if not per_query:
        return {}
    return {name: sum(q[name] for q in per_query) / len(per_query) for name in per_query[0]}


# ---------------------------------------------------------------------------------------- trust figures

BOOTSTRAP_RESAMPLES = 1000


def bootstrap_ci(values: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES,
                 level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of the mean of per-query ``values`` (queries resampled with replacement).

    The resampled query indices depend only on ``seed``, ``resamples`` and ``len(values)``, so two lists over
    the same queries are resampled alike (what makes ``paired_delta`` paired).

    Returns:
        ``[lo, hi]``, the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled means.
    Raises:
        ValueError: no values.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    index = np.random.default_rng(seed).integers(0, values.size, size=(resamples, values.size), dtype=np.int32)
    means = values[index].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return [float(lo), float(hi)]


def paired_delta(values: Sequence[float], baseline: Sequence[float], seed: int = 0,
                 resamples: int = BOOTSTRAP_RESAMPLES) -> dict[str, Any]:
    """Mean per-query difference ``values - baseline`` and its bootstrap interval (the same queries resampled
    for both): ``{"mean", "ci95": [lo, hi]}``."""
    diff = np.asarray(values, dtype=np.float64) - np.asarray(baseline, dtype=np.float64)
    return {"mean": float(diff.mean()), "ci95": bootstrap_ci(diff, seed, resamples)}


def jaccard_at_k(left: Sequence[str], right: Sequence[str], k: int = 10) -> float:
    """``|L ∩ R| / |L ∪ R|`` of the two top-``k`` sets (1 when both are empty)."""
    a, b = set(_dedupe(left)[:k]), set(_dedupe(right)[:k])
    return 1.0 if not a | b else len(a & b) / len(a | b)


def rbo(left: Sequence[str], right: Sequence[str], p: float = 0.9) -> float:
    """Rank-biased overlap, extrapolated (``RBO_ext``, Webber, Moffat and Zobel 2010, eq. 32): the lists are
    what is known, and the agreement seen at the end of the shorter one is assumed to continue.

    Identical lists give 1, disjoint ones 0 (two empty lists: 1, one empty: 0); lists of unequal length are
    handled as in the paper (the shorter one's set is compared with the longer one's growing prefix).
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"rbo needs 0 < p < 1, got {p!r}")
    short, long_ = _dedupe(left), _dedupe(right)
    if len(short) > len(long_):
        short, long_ = long_, short
    s, l = len(short), len(long_)
    if l == 0:
        return 1.0
    if s == 0:
        return 0.0
    seen_short: set[str] = set()
    seen_long: set[str] = set()
    overlap = 0
    total = 0.0
    x_s = 0
    for d in range(1, l + 1):
        new_long = long_[d - 1]
        if d <= s:
            new_short = short[d - 1]
            if new_short == new_long:
                overlap += 1
            else:
                overlap += (new_short in seen_long) + (new_long in seen_short)
            seen_short.add(new_short)
        else:
            overlap += new_long in seen_short
        seen_long.add(new_long)
        if d == s:
            x_s = overlap
        total += overlap / d * p ** d
        if d > s:
            total += x_s * (d - s) / (s * d) * p ** d
    return (1 - p) / p * total + ((overlap - x_s) / l + x_s / s) * p ** l


def top_k_overlap(left: Sequence[str], right: Sequence[str], k: int = 10) -> dict[str, int]:
    """How many of the two top-``k`` entries are shared, only in ``left`` and only in ``right``."""
    a, b = set(_dedupe(left)[:k]), set(_dedupe(right)[:k])
    return {"shared": len(a & b), "only_left": len(a - b), "only_right": len(b - a)}
