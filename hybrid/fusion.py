"""Rank fusion: turning a keyword and a semantic candidate list into one hybrid ranking."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Protocol

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """One retriever's candidates, best first. Only documents the retriever matched appear.

    Attributes:
        docs: document positions.
        scores: the retriever's raw scores (BM25, cosine).
        retrieved: how many leading entries the retriever returned itself (all when None). Entries after
            them are scores of further documents looked up for fusion (the cosine of a keyword-only
            candidate): they are ranked with their true score but never fitted a normaliser or got a
            reciprocal-rank vote.
    """

    docs: np.ndarray
    scores: np.ndarray
    retrieved: int | None = None

    @staticmethod
    def empty() -> "Candidates":
        """No candidates."""
        return Candidates(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))

    def __len__(self) -> int:
        return int(self.docs.shape[0])

    @property
    def own(self) -> int:
        """The number of entries the retriever returned itself."""
        return len(self) if self.retrieved is None else min(int(self.retrieved), len(self))


@dataclass(frozen=True)
class QueryEvidence:
    """What fusion knows about the query beyond the two candidate lists (the same for every document).

    Attributes:
        token_idf: idf of each distinct query token, with the statistics the keyword search used (a token
            absent from the knowledge base gets the highest).
        best_coverage: idf-weighted share of the query tokens found in the best keyword match (0..1).
        cosine_mean, cosine_std: mean and standard deviation of the query's cosine over the knowledge
            base's documents written like the query (None when unknown): the yardstick that puts every
            query's cosines on one scale.
        cosine_count: how many documents those two were measured on.
        blind_spot: some of the best semantic candidates hold no text in any script of the query's tokens
            (an English entry for a Chinese query): keyword matching cannot judge them, so what it says
            about the query's ranking is incomplete.
        query: the query's text (its length and scripts are features of the learned weight).
        matched_tokens: how many distinct query tokens the best keyword match contains.
    """

    token_idf: tuple[float, ...] = ()
    best_coverage: float = 0.0
    cosine_mean: float | None = None
    cosine_std: float | None = None
    blind_spot: bool = False
    cosine_count: int = 0
    query: str = ""
    matched_tokens: int = 0


@dataclass(frozen=True)
class WeightChoice:
    """What the weight model chose for one query.

    Attributes:
        given: the alpha fusion was given (kept unless the model predicts a gain elsewhere).
        chosen: the alpha used (``adaptive_alpha`` of it is the query's semantic weight).
        reasons: the features that moved the weight from ``given`` to ``chosen``, strongest first, as
            ``(feature name, standardised value)``; a value above 0 is above the training queries' mean.
    """

    given: float
    chosen: float
    reasons: tuple[tuple[str, float], ...] = ()


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
            ``keyword_part = keyword_weight * keyword_norm`` and ``semantic_part = semantic_weight * semantic_norm``
            (one pair per query: every document of a query is weighed alike).
        choice: ``learned`` fusion: the alpha it was given, the one it chose and why (None for other methods).
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
    choice: "WeightChoice | None" = None


# --- normalisers: a retriever's raw scores -> [0, 1]. Each is fitted on the candidates the retriever
# returned itself and is monotone (a higher raw score never gets a lower value), so that fusion can keep a
# better document above a worse one; a matched document never gets less than 0, what an unmatched one gets.
# ``floor`` caps min-max's low end: the weakest candidate maps to 0 only when it lies at or below the floor.


def _minmax(scores: np.ndarray, fit: np.ndarray, floor: float | None = None) -> np.ndarray:
    hi = float(fit.max())
    lo = float(fit.min()) if floor is None else min(float(fit.min()), float(floor))
    if hi - lo <= 1e-12:
        return np.where(scores >= lo, 1.0, 0.0)
    return np.clip((scores - lo) / (hi - lo), 0.0, 1.0)


def _max(scores: np.ndarray, fit: np.ndarray, floor: float | None = None) -> np.ndarray:
    hi = float(fit.max())
    if hi <= 1e-12:
        return np.where(scores >= hi, 1.0, 0.0)
    return np.clip(scores / hi, 0.0, 1.0)


def _zscore(scores: np.ndarray, fit: np.ndarray, floor: float | None = None) -> np.ndarray:
    # z-scores shifted so the weakest candidate sits at 0 (an unmatched document gets 0, never more than
    # a matched one), then scaled so that 3 standard deviations span [0, 1].
    std = float(fit.std())
    if std <= 1e-12:
        return np.where(scores >= float(fit.min()), 1.0, 0.0)
    return np.clip((scores - float(fit.min())) / (3.0 * std), 0.0, 1.0)


def _none(scores: np.ndarray, fit: np.ndarray, floor: float | None = None) -> np.ndarray:
    return np.clip(scores, 0.0, None)


NORMALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "minmax": _minmax,
    "max": _max,
    "zscore": _zscore,
    "none": _none,
}


def normalize(scores: np.ndarray, method: str, fit: np.ndarray | None = None,
              floor: float | None = None) -> np.ndarray:
    """Normalise one retriever's scores.

    Args:
        scores: raw scores.
        method: key of NORMALIZERS.
        fit: the scores that set the scale (the candidates the retriever returned); ``scores`` when None.
        floor: the highest raw score ``minmax`` may map to 0 (its low end is the weakest candidate or the
            floor, whichever is lower); None: the weakest candidate.
    Returns:
        Scores in [0, 1] (``none`` only clips negatives), in the same order as ``scores``; a higher raw
        score never gets a lower value.
    """
    try:
        fn = NORMALIZERS[method]
    except KeyError:
        raise ValueError(f"unknown normalizer {method!r}; choose one of {', '.join(NORMALIZERS)}") from None
    scores = np.asarray(scores, dtype=np.float64)
    fit = scores if fit is None else np.asarray(fit, dtype=np.float64)
    if scores.size == 0:
        return scores
    if fit.size == 0:
        return np.zeros_like(scores)
    return fn(scores, fit, floor)


# Min-max of BM25 starts at most at this share of the best match's score: a short list of near-equal
# matches (2.04 and 1.98) is not stretched to 1 and 0, so a near-top match keeps its credit, while a long
# list, whose weakest match is far below the top, normalises as plain min-max (BENCHMARKS.md, "Keyword credit").
KEYWORD_FLOOR_SHARE = 0.75


def keyword_floor(scores: np.ndarray) -> float | None:
    """The ``floor`` of BM25 scores for ``normalize``: ``KEYWORD_FLOOR_SHARE`` of the best (None without any)."""
    scores = np.asarray(scores, dtype=np.float64)
    return KEYWORD_FLOOR_SHARE * float(scores.max()) if scores.size else None


def _normalized(candidates: Candidates, method: str, floor: float | None = None) -> np.ndarray:
    return normalize(candidates.scores, method, candidates.scores[:candidates.own], floor)


class Fuser(Protocol):
    """A fusion method: two candidate lists and a semantic weight in, one ranking out.

    Every method scores a document from its two raw scores alone, with the same rule for every document
    of the query, through functions that never decrease: a document at least as good on both scores as
    another, and better on one, ranks above it.
    """

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


def _spread(candidates: Candidates, values: np.ndarray, index: dict[int, int], n: int,
            fill: float = 0.0) -> np.ndarray:
    out = np.full(n, fill, dtype=np.float64)
    for doc, value in zip(candidates.docs.tolist(), values.tolist()):
        out[index[doc]] = value
    return out


def _combine(keyword: Candidates, semantic: Candidates, keyword_values: np.ndarray,
             semantic_values: np.ndarray, keyword_weight: float, semantic_weight: float, alpha: float) -> Fused:
    """Sum weighted per-retriever values over the union of candidates and sort.

    Equal scores are ordered by the raw cosine, then by the raw BM25 (a document a retriever did not
    score counts as its lowest), then keyword candidates first: a tie never puts a document below one
    it is at least as good as on both scores.
    """
    docs = list(dict.fromkeys(keyword.docs.tolist() + semantic.docs.tolist()))
    index = {doc: i for i, doc in enumerate(docs)}
    n = len(docs)
    kn = _spread(keyword, keyword_values, index, n)
    sn = _spread(semantic, semantic_values, index, n)
    raw_kw = _spread(keyword, keyword.scores, index, n, fill=-np.inf)
    raw_sem = _spread(semantic, semantic.scores, index, n, fill=-np.inf)
    kw = np.full(n, keyword_weight, dtype=np.float64)
    sw = np.full(n, semantic_weight, dtype=np.float64)
    kp, sp = kw * kn, sw * sn
    scores = kp + sp
    doc_arr = np.asarray(docs, dtype=np.int64)
    order = np.lexsort((np.arange(n), -raw_kw, -raw_sem, -scores))
    return Fused(doc_arr[order], scores[order], kn[order], sn[order], kp[order], sp[order], float(alpha),
                 kw[order], sw[order])


def _single(keyword: Candidates, semantic: Candidates, keyword_values: np.ndarray, semantic_values: np.ndarray,
            keyword_weight: float, semantic_weight: float, alpha: float) -> Fused:
    """The ends of alpha: the one retriever with a weight has the whole say, so the ranking is its own list
    (its documents, in its order, ties as it broke them); the other's values are still reported."""
    keyword_only = semantic_weight == 0.0
    own = keyword if keyword_only else semantic
    n = own.own
    docs = own.docs[:n]
    index = {doc: i for i, doc in enumerate(docs.tolist())}
    kn = np.zeros(n)
    sn = np.zeros(n)
    for source, values, out in ((keyword, keyword_values, kn), (semantic, semantic_values, sn)):
        for doc, value in zip(source.docs.tolist(), values.tolist()):
            i = index.get(doc)
            if i is not None and out[i] == 0.0:
                out[i] = value
    kw = np.full(n, keyword_weight, dtype=np.float64)
    sw = np.full(n, semantic_weight, dtype=np.float64)
    kp, sp = kw * kn, sw * sn
    return Fused(docs.astype(np.int64), kp + sp, kn, sn, kp, sp, float(alpha), kw, sw)


def weighted(keyword: Candidates, semantic: Candidates, alpha: float, *, normalizer: str = "minmax",
             rrf_k: int = 60, evidence: QueryEvidence = QueryEvidence()) -> Fused:
    """``alpha * norm(cosine) + (1 - alpha) * norm(bm25)`` over the union of both candidate lists.

    ``minmax`` of BM25 starts at most at ``KEYWORD_FLOOR_SHARE`` of the top (``keyword_floor``), so a
    near-top keyword match keeps its credit.
    """
    combine = _single if alpha in (0.0, 1.0) else _combine
    keyword_values = _normalized(keyword, normalizer, keyword_floor(keyword.scores[:keyword.own]))
    return combine(keyword, semantic, keyword_values, _normalized(semantic, normalizer), 1.0 - alpha, alpha, alpha)


def _reciprocal_ranks(candidates: Candidates, rrf_k: int) -> np.ndarray:
    """``rrf_k / (rrf_k + rank)`` for every entry, the rank counted among the retrieved candidates from 1.

    Equal scores share the best rank among them. A looked-up entry gets the vote of the retrieved
    candidate it ties with, and nothing when it scored below all of them.
    """
    own = candidates.scores[:candidates.own]
    values = np.zeros(len(candidates), dtype=np.float64)
    if own.size:
        ranks = np.searchsorted(-own, -candidates.scores, side="left").astype(np.float64) + 1.0
        inside = candidates.scores >= own[-1]
        values[inside] = rrf_k / (rrf_k + ranks[inside])
    return values


def rrf(keyword: Candidates, semantic: Candidates, alpha: float, *, normalizer: str = "minmax",
        rrf_k: int = 60, evidence: QueryEvidence = QueryEvidence()) -> Fused:
    """Reciprocal-rank fusion ``w / (rrf_k + rank)`` with ``w = alpha`` (semantic), ``1 - alpha`` (keyword).

    Ranks count from 1 and equal scores share a rank. Only the documents a retriever returned get its
    vote. The per-retriever "normalised" values reported are ``rrf_k / (rrf_k + rank)``, so the parts
    stay ``weight / (rrf_k + rank)``.
    """
    # Scale by 1 / rrf_k so that each retriever's part equals weight / (rrf_k + rank).
    combine = _single if alpha in (0.0, 1.0) else _combine
    return combine(keyword, semantic, _reciprocal_ranks(keyword, rrf_k), _reciprocal_ranks(semantic, rrf_k),
                    (1.0 - alpha) / rrf_k, alpha / rrf_k, alpha)


# The adaptive method's constant, chosen on half of the queries of each labelled set (BENCHMARKS.md).
SEMANTIC_SPAN = 10.0  # standard deviations above the knowledge base's mean cosine that count as 1


def adaptive_alpha(alpha: float, evidence: QueryEvidence) -> float:
    """Semantic weight for one query: the keyword share shrinks with what keyword matching can vouch for.

    ``alpha_q = 1 - (1 - alpha) * coverage`` where coverage is the idf-weighted share of query tokens
    present in the best keyword match: a query whose informative words all matched keeps ``alpha``; one
    that matched only weak words leans on the semantic side; no match at all is semantic only. A query
    with a ``blind_spot`` (best semantic candidates keyword matching cannot judge) is semantic only too.
    The weight is the query's: every document gets the same.
    """
    if evidence.blind_spot:
        return 1.0
    coverage = min(max(evidence.best_coverage, 0.0), 1.0)
    return 1.0 - (1.0 - alpha) * coverage


def calibrated_cosine(cosines: np.ndarray, evidence: QueryEvidence) -> np.ndarray | None:
    """Cosines on one scale for every query: ``(cosine - mean) / (SEMANTIC_SPAN * std)`` clipped to [0, 1].

    ``mean`` and ``std`` are those of the query's cosine over the knowledge base (``evidence``), so a value
    says how far a document stands out from the knowledge base for this query, whatever the model's
    cosine range. None when the evidence lacks them.
    """
    mean, std = evidence.cosine_mean, evidence.cosine_std
    if mean is None or std is None or not std > 1e-12:
        return None
    return np.clip((np.asarray(cosines, dtype=np.float64) - mean) / (SEMANTIC_SPAN * std), 0.0, 1.0)


def adaptive(keyword: Candidates, semantic: Candidates, alpha: float, *, normalizer: str = "minmax",
             rrf_k: int = 60, evidence: QueryEvidence = QueryEvidence()) -> Fused:
    """Convex combination of calibrated scores with a per-query weight from the query's evidence.

    - Semantic value: ``calibrated_cosine`` (the cosine's distance from the knowledge base's mean, in its
      standard deviations); min-max over the semantic candidates when the evidence lacks the statistics.
    - Keyword value: min-max of BM25 over the keyword candidates, from at most ``keyword_floor``.
    - Semantic weight: ``adaptive_alpha(alpha, evidence)``, one per query.

    A document no query word matched gets no keyword value, whatever its language: its missing keyword
    part is not made up for, nor held against it beyond that, so it ranks by what its cosine earns.
    ``normalizer`` is not used.
    """
    # alpha 1 is semantic only, as for every method; alpha 0 is no end here: the weight still follows
    # what keyword matching can vouch for (``adaptive_alpha``).
    return _adaptive(keyword, semantic, alpha, evidence, single=alpha == 1.0)


def _adaptive(keyword: Candidates, semantic: Candidates, alpha: float, evidence: QueryEvidence,
              single: bool) -> Fused:
    alpha_q = adaptive_alpha(alpha, evidence) if len(semantic) else 0.0
    semantic_values = calibrated_cosine(semantic.scores, evidence)
    if semantic_values is None:
        semantic_values = _normalized(semantic, "minmax")
    keyword_values = _normalized(keyword, "minmax", keyword_floor(keyword.scores[:keyword.own]))
    combine = _single if single else _combine
    return combine(keyword, semantic, keyword_values, semantic_values, 1.0 - alpha_q, alpha_q, alpha_q)


def learned(keyword: Candidates, semantic: Candidates, alpha: float, *, normalizer: str = "minmax",
            rrf_k: int = 60, evidence: QueryEvidence = QueryEvidence()) -> Fused:
    """``adaptive`` with its alpha chosen per query by the weight model (``hybrid.weight_model``).

    The model predicts, from the query's features, the nDCG@10 gain of each alpha of its grid, and moves
    away from ``alpha`` only to an alpha predicted to gain more than its margin. The alpha chosen is the
    query's: every document gets the same weights (``adaptive_alpha`` of it), so dominance holds. ``alpha``
    1 is semantic only, as for every method. ``choice`` says what was chosen and why.
    ``normalizer`` is not used.
    """
    from .weight_model import active, features

    if alpha == 1.0 or not len(semantic):
        return _adaptive(keyword, semantic, alpha, evidence, single=alpha == 1.0)
    choice = active().choose(features(keyword, semantic, evidence), alpha)
    return replace(_adaptive(keyword, semantic, choice.chosen, evidence, single=False), choice=choice)

# Fusion methods that read the normaliser (the others ignore it).
USES_NORMALIZER = frozenset({"weighted"})

FUSERS: dict[str, Fuser] = {
    "weighted": weighted,
    "rrf": rrf,
    "adaptive": adaptive,
    "learned": learned,
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
        evidence: facts about the query (adaptive method).
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
