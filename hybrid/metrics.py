"""Ranking metrics for labelled retrieval sets: nDCG@k (graded gains), Recall@k and MRR@k."""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

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
