"""One rerank request, checked and run: what POST /v1/rerank does (no web framework)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hybrid.gate import Cancelled, check_cancelled
from hybrid.redact import hide_paths
from hybrid.rerank import RERANKER_ALIASES, Reranker, rerank_order
from hybrid.service import ModelService

from .problem import ApiError
from .search import check_query, check_texts, limit_error, reranker_or_error
from .settings import ApiSettings


def reranker_names(reranker: Reranker, requested: str) -> list[str]:
    """Names a request may use for the loaded reranker: its name, the name it was asked by, aliases, folder name."""
    names = [reranker.name, requested, *(alias for alias, target in RERANKER_ALIASES.items() if target == reranker.name),
             Path(reranker.name).name]
    return list(dict.fromkeys(hide_paths(n) for n in names if n and n != "auto"))


def run_rerank(service: ModelService, settings: ApiSettings, query: str | None, documents: Sequence[str] | None, *,
               top_n: int | None = None, return_documents: bool = False, model: str | None = None) -> dict[str, Any]:
    """Check and run one rerank request; the answer has the shape rerank servers commonly share.

    Args:
        service: the shared model service (its reranker scores).
        settings: the limits.
        query: the question.
        documents: the texts to order.
        top_n: how many results to return (all when None).
        return_documents: also return each text as ``{"text": ...}``.
        model: the reranker's name, an alias or the name it was started with (None: the loaded one).
    Returns:
        ``{"id", "model", "results": [{"index", "relevance_score", "document"?}], "usage"}``, best first; equal
        scores keep the request's order.
    Raises:
        ApiError: 400 for bad input, 413 over a size limit or the token budget (``max_tokens``), 404 for another
            model, 400/503 when there is no reranker.
    """
    query = check_query(settings, query)
    if not documents:
        raise ApiError(400, "invalid_documents", "documents is empty: send the texts to rerank", "documents")
    if len(documents) > settings.max_rerank:
        raise limit_error(413, "the number of documents", len(documents), settings.max_rerank, "max_rerank",
                          "documents")
    check_texts(documents, "documents", "document", settings)
    reranker = reranker_or_error(service, settings)
    names = reranker_names(reranker, service.reranker_requested)
    if model is not None and hide_paths(model) not in names:
        raise ApiError(404, "model_not_found", f"the reranker {model!r} is not served here; use one of {names} "
                       "(GET /v1/models)", "model")
    texts = list(documents)
    # The same token budget as the texts a request may have embedded: every pair is one forward pass.
    tokens = int(sum(reranker.count_tokens(query, texts)))
    if tokens > settings.max_tokens:
        raise limit_error(413, f"the tokens of the (query, document) prompts (by {names[0]}'s tokenizer)",
                          tokens, settings.max_tokens, "max_tokens", "documents")
    # A batch at a time, so a request whose client left stops after the batch it is on.
    step = max(int(getattr(reranker, "batch_size", 16)), 1)
    parts = []
    try:
        for start in range(0, len(texts), step):
            check_cancelled()
            parts.append(np.asarray(reranker.score(query, texts[start : start + step]), dtype=np.float64))
    except Cancelled:
        raise ApiError(503, "cancelled", "the client disconnected; the work was stopped") from None
    scores = np.concatenate(parts)
    results = []
    for index in rerank_order(scores)[:top_n].tolist():
        result: dict[str, Any] = {"index": index, "relevance_score": float(scores[index])}
        if return_documents:
            result["document"] = {"text": texts[index]}
        results.append(result)
    return {"id": f"rerank-{uuid.uuid4().hex}", "model": names[0], "results": results,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
