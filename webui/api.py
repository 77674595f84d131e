"""The demo's one public Gradio endpoint (and MCP tool): ``search``, the same request and answer as POST /search."""

# No ``from __future__ import annotations``: gr.api reads the endpoint's types from its live annotations.

import functools
from typing import Any, Callable

from pydantic import ValidationError

from hybrid.service import ModelService
from server.knowledge import ServerKnowledgeBase
from server.problem import ApiError
from server.schemas import SearchRequest
from server.search import run_search
from server.settings import ApiSettings

from .events import event_scope


def make_search(service: ModelService, server_kb: ServerKnowledgeBase | None = None,
                settings: ApiSettings | None = None) -> Callable[..., dict[str, Any]]:
    """The ``search`` function the page exposes with ``gr.api`` (and as an MCP tool with ``--mcp``).

    Args:
        service: the shared model service (a knowledge base sent here is embedded afresh: only the server's own
            goes through the embedding cache).
        server_kb: the server's knowledge base (``--kb``), searched when a call sends none.
        settings: the API's limits (``ApiSettings.from_env()`` when None), the same as POST /search's.
    Returns:
        The typed, documented function.
    """
    limits = settings if settings is not None else ApiSettings.from_env()
    defaults = service.settings

    def search(query: str, knowledge_base: list[str] | None = None, k: int = defaults.k,
               alpha: float = defaults.alpha, fusion: str = defaults.fusion, mode: str = "all",
               rerank: int | None = None) -> dict[str, Any]:
        """Keyword (BM25), semantic (embedding cosine) and hybrid rankings of a knowledge base for a query.

        Args:
            query: the question, in Chinese, English or a mix of both.
            knowledge_base: the texts to search, one entry each; leave it out to search the server's own
                knowledge base (started with --kb).
            k: how many hits each list returns (top-k).
            alpha: the semantic weight of the hybrid list, 0 to 1 (the keyword side gets 1 - alpha).
            fusion: how the two lists are fused: adaptive, weighted, rrf, or learned (adaptive with a weight
                chosen per query by the server's weight model).
            mode: which lists to compute: all, keyword, semantic or hybrid.
            rerank: how many of the first hybrid hits the server's reranker re-scores into the reranked list
                (0: none; left out: 20 when the server has a reranker, else none).
        Returns:
            The JSON answer of POST /search: query, query_tokens, model, device, the keyword, semantic and
            hybrid hits (rank, text, score, keyword_score, semantic_score, the weighted parts, ranks in the
            other lists), the reranked hits and the reranker's name (rerank_score, hybrid_rank), timings_ms,
            settings, alpha_used, source and documents.
        """
        import gradio as gr

        try:
            _check_types(query=query, documents=knowledge_base, k=k, alpha=alpha, fusion=fusion, mode=mode,
                         rerank=rerank)
            # As POST /search: a turn at the model within HYBRID_EMBED_WAIT, and the work stops when the caller's
            # event stream closes (a queued call: /gradio_api/call/search, gradio_client).
            with event_scope(limits.embed_wait_s):
                outcome = run_search(service, server_kb, limits, query, k=k, alpha=alpha,
                                     fusion=fusion, mode=mode, documents=knowledge_base, rerank=rerank,
                                     documents_param="knowledge_base")
        except ApiError as exc:  # the caller's mistake (or a model still loading): said to the caller, no trace
            raise _caller_error_class()(f"{exc.code}: {exc.message}", print_exception=False) from None
        return outcome.to_dict()

    return search


@functools.cache
def _caller_error_class() -> type:
    import gradio as gr

    class CallerError(gr.Error):
        """``gr.Error`` whose text is its message: Gradio's is its repr (quoted), which MCP sends as the tool's
        error text (``'empty_query: ...'``); the page and gradio_client read ``message`` either way."""

        def __str__(self) -> str:
            return str(self.message)

    return CallerError


def _check_types(**values: Any) -> None:
    """Refuse values of the wrong type as POST /search does (its request model): Gradio passes an endpoint's
    values through as the caller sent them, so a number as the query would reach the search and fail there."""
    try:
        SearchRequest.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:3]:
            name = {"documents": "knowledge_base"}.get(str(err["loc"][0]), str(err["loc"][0])) if err["loc"] else ""
            name += "".join(f"[{part}]" for part in err["loc"][1:])  # which entry: knowledge_base[1]
            problems.append(f"{name}: {err['msg']} (got {type(err.get('input')).__name__})")
        raise ApiError(400, "invalid_request", "; ".join(problems) + "; the endpoint's types are listed by GET "
                       "/gradio_api/info") from None
