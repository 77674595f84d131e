"""Rank fusion: turning a keyword and a semantic candidate list into one hybrid ranking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """One retriever's candidates, best first. Only documents the retriever matched appear.

    Attributes:
        docs: document positions.
        scores: the retriever's raw scores (BM25, cosine).
    """

    docs: np.ndarray
    scores: np.ndarray

    @staticmethod
    def empty() -> "Candidates":
        """No candidates."""
        return Candidates(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))

    def __len__(self) -> int:
        return int(self.docs.shape[0])


@dataclass(frozen=True)
class QueryEvidence:
    """What the keyword side saw of the query, for methods that adapt their weights per query.

    Attributes:
        token_idf: idf of each distinct query token (0 for tokens absent from the corpus).
        best_coverage: idf-weighted share of the query tokens found in the best keyword match (0..1).
        other_language: candidate documents written in another script than the query (a Chinese query,
            an English document): keyword matching cannot judge them.
    """

    token_idf: tuple[float, ...] = ()
    best_coverage: float = 0.0
    other_language: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Fused:
    """The hybrid ranking, best first, with every part of each score.

    Attributes:
        docs: document positions.
        scores: final hybrid scores.
        keyword_norm, semantic_norm: each retriever's normalised score (0 where it did not match).
        keyword_part, semantic_part: the weighted contributions; ``scores = keyword_part + semantic_part``.
        alpha: the semantic weight actually used (adaptive methods change it per query).
        keyword_weight, semantic_weight: the weights applied to each document's normalised scores, so that
            ``keyword_part = keyword_weight * keyword_norm`` and ``semantic_part = semantic_weight * semantic_norm``.
    """

    docs: np.ndarray
    scores: np.ndarray
    keyword_norm: np.ndarray
    semantic_norm: np.ndarray
    keyword_part: np.ndarray
    semantic_part: np.ndarray
    alpha: float
    keyword_weight: np.ndarray | None = None
    semantic_weight: np.ndarray | None = None


# --- normalisers: raw scores of one retriever's candidates -> [0, 1], matched documents never below 0


def _minmax(scores: np.ndarray) -> np.ndarray:
    if scores.size == 0:
        return scores.astype(np.float64)
    lo, hi = float(scores.min()), float(scores.max())
    if hi - lo <= 1e-12:
        return np.ones_like(scores, dtype=np.float64)
    return (scores - lo) / (hi - lo)


def _max(scores: np.ndarray) -> np.ndarray:
    if scores.size == 0:
        return scores.astype(np.float64)
    hi = float(scores.max())
    if hi <= 1e-12:
        return np.ones_like(scores, dtype=np.float64)
    return np.clip(scores / hi, 0.0, 1.0)


def _zscore(scores: np.ndarray) -> np.ndarray:
    # z-scores shifted so the weakest candidate sits at 0 (an unmatched document gets 0, never more than
    # a matched one), then scaled so that 3 standard deviations span [0, 1].
    if scores.size == 0:
        return scores.astype(np.float64)
    std = float(scores.std())
    if std <= 1e-12:
        return np.ones_like(scores, dtype=np.float64)
    return np.clip((scores - scores.min()) / (3.0 * std), 0.0, 1.0)


def _none(scores: np.ndarray) -> np.ndarray:
    return np.clip(scores.astype(np.float64), 0.0, None)


NORMALIZERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "minmax": _minmax,
    "max": _max,
    "zscore": _zscore,
    "none": _none,
}


def normalize(scores: np.ndarray, method: str) -> np.ndarray:
    """Normalise one retriever's candidate scores.

    Args:
        scores: raw scores.
        method: key of NORMALIZERS.
    Returns:
        Scores in [0, 1] (``none`` only clips negatives).
    """
    try:
        fn = NORMALIZERS[method]
    except KeyError:
        raise ValueError(f"unknown normalizer {method!r}; choose one of {', '.join(NORMALIZERS)}") from None
    return fn(np.asarray(scores, dtype=np.float64))


class Fuser(Protocol):
    """A fusion method: two candidate lists and a semantic weight in, one ranking out."""

    def __call__(
        self,
        keyword: Candidates,
        semantic: Candidates,
        alpha: float,
        *,
        normalizer: str,
        rrf_k: int,
        evidence: QueryEvidence,
    ) -> Fused: ...


def _spread(candidates: Candidates, values: np.ndarray, index: dict[int, int], n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float64)
    for doc, value in zip(candidates.docs.tolist(), values.tolist()):
        out[index[doc]] = value
    return out


def _combine(keyword: Candidates, semantic: Candidates, keyword_values: np.ndarray,
             semantic_values: np.ndarray, keyword_weight: float, semantic_weight: float,
             alpha: float, semantic_only: frozenset[int] = frozenset()) -> Fused:
    """Sum weighted per-retriever values over the union of candidates and sort.

    Documents in ``semantic_only`` get weight 1 on their semantic value and 0 on their keyword value.
    """
    docs = list(dict.fromkeys(keyword.docs.tolist() + semantic.docs.tolist()))
    index = {doc: i for i, doc in enumerate(docs)}
    n = len(docs)
    kn = _spread(keyword, keyword_values, index, n)
    sn = _spread(semantic, semantic_values, index, n)
    kw = np.full(n, keyword_weight, dtype=np.float64)
    sw = np.full(n, semantic_weight, dtype=np.float64)
    only = [index[d] for d in semantic_only if d in index]
    kw[only], sw[only] = 0.0, 1.0
    kp, sp = kw * kn, sw * sn
    scores = kp + sp
    doc_arr = np.asarray(docs, dtype=np.int64)
    order = np.lexsort((np.arange(n), -scores))  # ties: keyword candidates first, then semantic order
    return Fused(doc_arr[order], scores[order], kn[order], sn[order], kp[order], sp[order], float(alpha),
                 kw[order], sw[order])


def weighted(keyword: Candidates, semantic: Candidates, alpha: float, *, normalizer: str = "minmax",
             rrf_k: int = 60, evidence: QueryEvidence = QueryEvidence()) -> Fused:
    """``alpha * norm(cosine) + (1 - alpha) * norm(bm25)`` over the union of both candidate lists."""
    return _combine(keyword, semantic, normalize(keyword.scores, normalizer),
                    normalize(semantic.scores, normalizer), 1.0 - alpha, alpha, alpha)


def rrf(keyword: Candidates, semantic: Candidates, alpha: float, *, normalizer: str = "minmax",
        rrf_k: int = 60, evidence: QueryEvidence = QueryEvidence()) -> Fused:
    """Reciprocal-rank fusion ``w / (rrf_k + rank)`` with ``w = alpha`` (semantic), ``1 - alpha`` (keyword).

    The per-retriever "normalised" values reported are ``rrf_k / (rrf_k + rank)`` (ranks from 1), so the parts stay ``weight / (rrf_k + rank)``.
    """
    def recip(c: Candidates) -> np.ndarray:
        return rrf_k / (rrf_k + np.arange(1, len(c) + 1, dtype=np.float64))

    # Scale by 1 / rrf_k so that each retriever's part equals weight / (rrf_k + rank).
    return _combine(keyword, semantic, recip(keyword), recip(semantic),
                    (1.0 - alpha) / rrf_k, alpha / rrf_k, alpha)


def adaptive_alpha(alpha: float, evidence: QueryEvidence) -> float:
    """Semantic weight for one query: the keyword share shrinks with how much of the query BM25 found.

    ``alpha_q = 1 - (1 - alpha) * coverage`` where coverage is the idf-weighted share of query tokens
    present in the best keyword match: a query whose informative words all matched keeps ``alpha``;
    one that matched only weak words leans on the semantic side; no match at all is semantic only.
    """
    coverage = min(max(evidence.best_coverage, 0.0), 1.0)
    return 1.0 - (1.0 - alpha) * coverage


def adaptive(keyword: Candidates, semantic: Candidates, alpha: float, *, normalizer: str = "minmax",
             rrf_k: int = 60, evidence: QueryEvidence = QueryEvidence()) -> Fused:
    """Weighted fusion that weighs each retriever by the evidence it has for this query and document.

    - The semantic weight is ``adaptive_alpha(alpha, evidence)`` (how much of the query BM25 found).
    - A document in another language than the query that no query word matched is one keyword search
      cannot judge: its absence from the keyword list says nothing, so it is ranked by its semantic
      score alone (semantic weight 1, keyword weight 0) instead of being pulled down by a missing
      keyword part.
    """
    alpha_q = adaptive_alpha(alpha, evidence) if len(semantic) else 0.0
    semantic_only = evidence.other_language - frozenset(keyword.docs.tolist())
    return _combine(keyword, semantic, normalize(keyword.scores, normalizer),
                    normalize(semantic.scores, normalizer), 1.0 - alpha_q, alpha_q, alpha_q, semantic_only)


FUSERS: dict[str, Fuser] = {
    "weighted": weighted,
    "rrf": rrf,
    "adaptive": adaptive,
}


def fuse(keyword: Candidates, semantic: Candidates, alpha: float, method: str = "adaptive", *,
         normalizer: str = "minmax", rrf_k: int = 60, evidence: QueryEvidence = QueryEvidence()) -> Fused:
    """Fuse two candidate lists with the method named ``method``.

    Args:
        keyword: BM25 candidates (matched documents only).
        semantic: cosine candidates.
        alpha: semantic weight in [0, 1]; keyword gets 1 - alpha.
        method: key of FUSERS.
        normalizer: key of NORMALIZERS (score-based methods).
        rrf_k: RRF constant.
        evidence: keyword-side facts about the query (adaptive methods).
    Returns:
        Fused ranking over the union of candidates.
    """
    try:
        fuser = FUSERS[method]
    except KeyError:
        raise ValueError(f"unknown fusion method {method!r}; choose one of {', '.join(FUSERS)}") from None
    if normalizer not in NORMALIZERS:
        raise ValueError(f"unknown normalizer {normalizer!r}; choose one of {', '.join(NORMALIZERS)}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
    return fuser(keyword, semantic, alpha, normalizer=normalizer, rrf_k=rrf_k, evidence=evidence)
