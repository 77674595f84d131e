"""The typed search result: ranked hits of each mode, the query vector and timings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from .fusion import QueryEvidence, WeightChoice
from .settings import Settings


@dataclass(frozen=True)
class Hit:
    """One document in one ranked list, with everything needed to explain its place.

    Attributes:
        rank: 1-based place in this list.
        id, text, metadata: the document.
        score: this list's score: BM25 (keyword list), cosine (semantic list), fused (hybrid list),
            the reranker's (reranked list).
        keyword_score: raw BM25, None when the document matched no query token (or ranked past the window).
        keyword_score_norm: normalised BM25 as fusion saw it (0 when unmatched).
        semantic_score: cosine similarity to the query, None in keyword-only mode.
        semantic_score_norm: normalised cosine as fusion saw it (0 when fusion had no cosine for it).
        keyword_contribution, semantic_contribution: weighted parts of the hybrid score
            (``score = keyword_contribution + semantic_contribution`` in the hybrid list).
        keyword_weight, semantic_weight: the weights fusion applied to this document's normalised scores
            (``keyword_contribution = keyword_weight * keyword_score_norm``); None outside the hybrid candidates.
        keyword_rank, semantic_rank, hybrid_rank: place in each list's candidates (None when absent); in the
            reranked list ``hybrid_rank - rank`` is how far the reranker moved the hit up.
        rerank_score: the reranker's relevance (P("yes"), 0..1) when this search reranked the document, else None.
        matched_tokens: query tokens found in the document.
        highlights: ``(start, end)`` character spans of matched tokens in ``text``.
    """

    rank: int
    id: str
    text: str
    score: float
    keyword_score: float | None = None
    keyword_score_norm: float = 0.0
    semantic_score: float | None = None
    semantic_score_norm: float = 0.0
    keyword_contribution: float = 0.0
    semantic_contribution: float = 0.0
    keyword_weight: float | None = None
    semantic_weight: float | None = None
    keyword_rank: int | None = None
    semantic_rank: int | None = None
    hybrid_rank: int | None = None
    rerank_score: float | None = None
    matched_tokens: tuple[str, ...] = ()
    highlights: tuple[tuple[int, int], ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        out = asdict(self)
        out["matched_tokens"] = list(self.matched_tokens)
        out["highlights"] = [list(span) for span in self.highlights]
        out["metadata"] = dict(self.metadata)
        return out


@dataclass(frozen=True)
class SearchResponse:
    """Everything one search produced.

    Attributes:
        query: the query as given.
        query_tokens: its keyword tokens.
        keyword, semantic, hybrid: ranked hits (empty for modes not computed).
        reranked: the first ``settings.rerank`` hybrid hits re-ordered by the reranker, top-k (empty when
            this search did not rerank).
        query_vector: the query embedding (None when no semantic search ran).
        timings_ms: tokenize, keyword, embed, vector, fuse, rerank (when reranked), total.
        model, device: the embedding model and its device ("" in keyword-only mode).
        reranker: the reranker's name ("" when this search did not rerank).
        settings: the settings this search used.
        alpha_used: the semantic weight fusion applied to this query (adaptive methods vary it).
        evidence: what the search measured about the query (idf of its tokens, the knowledge base's mean and
            spread of its cosine), for judging hits beyond their rank.
        weight_choice: ``learned`` fusion's choice of alpha for the query and the features behind it (else None).
    """

    query: str
    query_tokens: tuple[str, ...]
    keyword: tuple[Hit, ...]
    semantic: tuple[Hit, ...]
    hybrid: tuple[Hit, ...]
    query_vector: np.ndarray | None
    timings_ms: Mapping[str, float]
    model: str
    device: str
    settings: Settings
    alpha_used: float | None = None
    reranked: tuple[Hit, ...] = ()
    reranker: str = ""
    evidence: QueryEvidence = QueryEvidence()
    weight_choice: WeightChoice | None = None

    def to_dict(self, include_vector: bool = False) -> dict[str, Any]:
        """Plain JSON-ready dict (the vector as a list when ``include_vector``)."""
        out: dict[str, Any] = {
            "query": self.query,
            "query_tokens": list(self.query_tokens),
            "model": self.model,
            "device": self.device,
            "keyword": [h.to_dict() for h in self.keyword],
            "semantic": [h.to_dict() for h in self.semantic],
            "hybrid": [h.to_dict() for h in self.hybrid],
            "reranked": [h.to_dict() for h in self.reranked],
            "reranker": self.reranker,
            "timings_ms": {key: round(value, 3) for key, value in self.timings_ms.items()},
            "settings": asdict(self.settings),
            "alpha_used": self.alpha_used,
        }
        if include_vector:
            out["query_vector"] = None if self.query_vector is None else self.query_vector.astype(float).tolist()
        return out
