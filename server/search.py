"""One search request, checked and run: what POST /search and the UI's public search endpoint share (no web framework)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from hybrid.engine import EmptyQueryError, EngineNotReadyError, HybridEngine
from hybrid.fusion import FUSERS, NORMALIZERS
from hybrid.gate import Busy, Cancelled
from hybrid.kb import KnowledgeBaseError, is_blank
from hybrid.redact import hide_paths
from hybrid.results import SearchResponse
from hybrid.rerank import RERANKER_ALIASES, Reranker
from hybrid.service import FAILED, LOADING, ModelService
from hybrid.semantic import Embedder, query_token_limit
from hybrid.settings import MODES

from .knowledge import FAILED_KB, KEYWORD_ONLY, ServerKnowledgeBase
from .problem import ApiError
from .settings import ENV_VARS, ApiSettings

KNOWLEDGE_BASE, DOCUMENTS = "knowledge_base", "documents"


@dataclass(frozen=True)
class SearchOutcome:
    """A search's result and what it searched.

    Attributes:
        response: the engine's rankings, scores and timings.
        source: "knowledge_base" (the server's ``--kb``) or "documents" (texts sent with the request).
        documents: how many documents were searched.
    """

    response: SearchResponse
    source: str
    documents: int

    def to_dict(self, include_vector: bool = False) -> dict[str, Any]:
        """The JSON answer of POST /search: ``SearchResponse.to_dict`` plus ``source`` and ``documents``."""
        out = self.response.to_dict(include_vector=include_vector)
        out["source"] = self.source
        out["documents"] = self.documents
        return out


def limit_error(status: int, what: str, value: int, limit: int, field: str, param: str | None = None) -> ApiError:
    """The error of a request over one of the ``ApiSettings`` limits, naming the limit and its variable."""
    return ApiError(status, "limit_exceeded", f"{what} is {value}; the limit is {limit} ({ENV_VARS[field]})", param)


def check_unicode(text: str, where: str, param: str) -> None:
    """Refuse text JSON can carry but UTF-8 cannot (an unpaired surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(400, "invalid_request", f"{where} is not valid Unicode (an unpaired surrogate at character "
                       f"{exc.start}); send UTF-8 text", param) from None


def check_texts(texts: Sequence[str], param: str, what: str, settings: ApiSettings) -> None:
    """Every text within ``max_input_chars`` and valid Unicode."""
    for i, text in enumerate(texts):
        if len(text) > settings.max_input_chars:
            raise limit_error(413, f"the length of {param}[{i}] ({what} characters)", len(text),
                              settings.max_input_chars, "max_input_chars", param)
        check_unicode(text, f"{param}[{i}]", param)


def model_or_503(service: ModelService, settings: ApiSettings) -> Embedder:
    """The loaded model, or the 503 that says it is loading (with Retry-After) or why it failed (without)."""
    embedder = service.embedder
    if embedder is not None:
        return embedder
    status = service.status()
    if status.state == FAILED:
        raise ApiError(503, "model_unavailable",
                       f"the embedding model {status.requested!r} failed to load: {status.error}. "
                       "Restart the server with a model that loads (see /health).")
    raise ApiError(503, "not_ready",
                   f"the embedding model {status.requested!r} is still loading; retry in "
                   f"{settings.retry_after_s} s", headers={"Retry-After": str(settings.retry_after_s)})


ENABLE_HINT = ("start the server with --reranker NAME (" + ", ".join(sorted(RERANKER_ALIASES))
               + ", a hub id or a local folder; 'auto' picks one on a CUDA GPU)")


def reranker_or_error(service: ModelService, settings: ApiSettings) -> Reranker:
    """The loaded reranker, or the error that says why there is none.

    Raises:
        ApiError: 503 while it loads (with Retry-After) or after it failed (without); 400 ``no_reranker`` when
            the server runs without one.
    """
    reranker = service.reranker
    if reranker is not None:
        return reranker
    status = service.reranker_status()
    if status.state == LOADING:
        raise ApiError(503, "not_ready", f"the reranker {status.requested!r} is still loading; retry in "
                       f"{settings.retry_after_s} s", headers={"Retry-After": str(settings.retry_after_s)})
    if status.state == FAILED:
        raise ApiError(503, "model_unavailable", f"the reranker {status.requested!r} failed to load: {status.error}. "
                       "Restart the server with a reranker that loads (see /health).")
    why = f" ({status.reason})" if status.reason else ""
    raise ApiError(400, "no_reranker", f"this server has no reranker{why}: {ENABLE_HINT}")


def check_budget(embedder: Embedder, texts: Sequence[str], param: str, settings: ApiSettings) -> int:
    """The tokens ``texts`` take by the model's tokenizer, within ``max_tokens``; returns them.

    Raises:
        ApiError: 413 naming the budget and its variable.
    """
    tokens = int(sum(embedder.count_tokens(list(texts))))
    if tokens > settings.max_tokens:
        raise limit_error(413, f"the tokens of {param} (by {hide_paths(embedder.name)}'s tokenizer)", tokens, settings.max_tokens,
                          "max_tokens", param)
    return tokens


def check_query_window(embedder: Embedder, query: str) -> None:
    """Refuse a query longer than the model reads at once: embedded window by window it would hold the shared
    model for seconds (the page cuts such a query, with a notice; an API caller is told).

    Raises:
        ApiError: 413 naming the query's tokens and the model's window.
    """
    limit = query_token_limit(embedder)
    tokens = int(embedder.count_tokens([query])[0])
    if tokens > limit:
        raise ApiError(413, "limit_exceeded",
                       f"the query is {tokens} tokens (by {hide_paths(embedder.name)}'s tokenizer); the model reads "
                       f"at most {limit} of a query at once: send a shorter query, or mode='keyword'", "query")


@contextmanager
def embedding_errors(settings: ApiSettings) -> Iterator[None]:
    """Turn the shared model's refusals into API errors: no turn within ``embed_wait_s`` is a 429, work given up
    because its client left is a 503 (nobody reads it)."""
    try:
        yield
    except Busy as exc:
        raise ApiError(429, "busy", f"{exc}; retry in {settings.retry_after_s} s, or send fewer texts "
                       f"({ENV_VARS['embed_wait_s']} is {settings.embed_wait_s} s)",
                       headers={"Retry-After": str(settings.retry_after_s)}) from None
    except Cancelled:
        raise ApiError(503, "cancelled", "the client disconnected; the work was stopped") from None


# At most this many requests tokenise (and embed) ad-hoc documents at once: a keyword-only search of 4 MB of
# documents is seconds of CPU, and nothing else bounded them (8 at once took 80 s each, the server's /health 1.3 s).
ADHOC_BUILDS = 2
_adhoc = threading.BoundedSemaphore(ADHOC_BUILDS)


@contextmanager
def _adhoc_turn(settings: ApiSettings, documents_param: str) -> Iterator[None]:
    """A turn to index ad-hoc documents, waited for at most ``embed_wait_s``.

    Raises:
        ApiError: 429 when no turn came in time.
    """
    if not _adhoc.acquire(timeout=settings.embed_wait_s):
        raise ApiError(429, "busy", f"the server stayed busy indexing other requests' {documents_param} for "
                       f"{settings.embed_wait_s} s; retry in {settings.retry_after_s} s, or send fewer texts",
                       headers={"Retry-After": str(settings.retry_after_s)})
    try:
        yield
    finally:
        _adhoc.release()


def _empty_query() -> ApiError:
    return ApiError(400, "empty_query", "Please enter a query: the query is empty.", "query")


def check_query(settings: ApiSettings, query: str | None) -> str:
    """A query that is not blank, within ``max_input_chars`` and valid Unicode; returns it.

    Raises:
        ApiError: 400 naming the field ``query``; 413 over ``max_input_chars``.
    """
    if query is None or is_blank(query):  # zero-width characters alone included
        raise _empty_query()
    if len(query) > settings.max_input_chars:
        raise limit_error(413, "the query length (characters)", len(query), settings.max_input_chars,
                          "max_input_chars", "query")
    check_unicode(query, "query", "query")
    return query


def check_search(settings: ApiSettings, query: str | None, k: int | None, mode: str | None, fusion: str | None,
                 normalizer: str | None, documents: Sequence[str] | None, rerank: int | None = None,
                 documents_param: str = DOCUMENTS) -> str:
    """Check a search request against the limits and the registries before any work; returns the query.

    ``documents_param`` is the name the caller sent ``documents`` under, said in every message about them.

    Raises:
        ApiError: 400 naming the field at fault; 413 for too many or too long texts (naming the limit and its
            variable).
    """
    query = check_query(settings, query)
    if k is not None and k > settings.max_k:
        raise limit_error(400, "k", k, settings.max_k, "max_k", "k")
    if rerank is not None and rerank > settings.max_rerank:
        raise limit_error(400, "rerank", rerank, settings.max_rerank, "max_rerank", "rerank")
    if mode is not None and mode not in MODES:
        raise ApiError(400, "invalid_request", f"unknown mode {mode!r}; choose one of {', '.join(MODES)}", "mode")
    if fusion is not None and fusion not in FUSERS:
        raise ApiError(400, "invalid_request", f"unknown fusion {fusion!r}; choose one of {', '.join(FUSERS)}",
                       "fusion")
    if normalizer is not None and normalizer not in NORMALIZERS:
        raise ApiError(400, "invalid_request",
                       f"unknown normalizer {normalizer!r}; choose one of {', '.join(NORMALIZERS)}", "normalizer")
    if documents is not None:
        param = documents_param
        texts = param if param == DOCUMENTS else f"{param} entries"  # "the number of knowledge_base entries"
        if not documents:
            raise ApiError(400, "invalid_documents", f"{param} is an empty list: send at least one text, "
                           f"or leave {param} out to search the server's knowledge base", param)
        if len(documents) > settings.max_documents:
            raise limit_error(413, f"the number of {texts}", len(documents), settings.max_documents,
                              "max_documents", param)
        check_texts(documents, param, "document", settings)
        # POST /search's body limit bounds them there; the page's endpoint (/gradio_api/run/search, gradio_client,
        # MCP) takes page-sized bodies, so the same bound is checked on the texts themselves
        size = sum(len(text.encode("utf-8")) for text in documents)
        if size > settings.max_body_bytes:
            raise limit_error(413, f"the {texts}' total size (bytes, UTF-8)", size, settings.max_body_bytes,
                              "max_body_bytes", param)
    return query


def run_search(service: ModelService, kb: ServerKnowledgeBase | None, settings: ApiSettings, query: str | None, *,
               k: int | None = None, alpha: float | None = None, fusion: str | None = None,
               normalizer: str | None = None, mode: str | None = None,
               documents: Sequence[str] | None = None, rerank: int | None = None,
               documents_param: str = DOCUMENTS) -> SearchOutcome:
    """Check and run one search over the server's knowledge base or over ad-hoc ``documents``.

    Args:
        service: the shared model service.
        kb: the server's knowledge base (``--kb``); None when the server has none.
        settings: the limits.
        query: the question.
        k, alpha, fusion, normalizer, mode: as for ``HybridEngine.search`` (None: the engine's defaults).
        documents: texts searched in a fresh engine instead of ``kb``; never stored.
        rerank: how many hybrid hits the server's reranker re-scores (0: none; None: 20 when it has one).
        documents_param: the name the caller's endpoint gives ``documents`` (the page's Gradio endpoint:
            ``knowledge_base``), said in every message about them.
    Returns:
        The outcome.
    Raises:
        ApiError: 400 for bad input; 413 over a size limit or the token budget; 429 when the shared model
            stays busy (``embed_wait_s``, inside ``hybrid.gate.embedding_scope``); 503 while the model loads or
            the knowledge base is embedded (with Retry-After), or when the model failed (``mode="keyword"``
            works then); for ``rerank`` > 0 400 without a reranker, 503 while it loads or after it failed.
    """
    query = check_search(settings, query, k, mode, fusion, normalizer, documents, rerank, documents_param)
    if rerank:
        reranker_or_error(service, settings)
    keyword_only = mode == "keyword"
    if not keyword_only and service.embedder is not None:
        check_query_window(service.embedder, query)
    if documents is not None:
        if not keyword_only:
            check_budget(model_or_503(service, settings), documents, documents_param, settings)
        try:
            # A fresh engine per request: ad-hoc documents never reach the server's knowledge base.
            with embedding_errors(settings), _adhoc_turn(settings, documents_param):
                engine = (HybridEngine(list(documents), settings=service.settings, tokenizer=service.tokenizer)
                          if keyword_only
                          else service.new_engine(list(documents)))
        except KnowledgeBaseError as exc:
            raise ApiError(400, "invalid_documents", f"{documents_param}: {exc}", documents_param) from None
        source = DOCUMENTS
    elif kb is None:
        raise ApiError(400, "no_knowledge_base",
                       "this server has no knowledge base: start it with --kb FILE, or send the texts to search in "
                       f"{documents_param}", documents_param)
    else:
        engine, source = kb.engine, KNOWLEDGE_BASE
    # The reranker may have finished loading after this engine was built.
    engine.reranker = service.reranker
    try:
        with embedding_errors(settings):
            response = engine.search(query, k=k, alpha=alpha, fusion=fusion, mode=mode, normalizer=normalizer,
                                     rerank=rerank)
    except EmptyQueryError:
        raise _empty_query() from None
    except EngineNotReadyError:
        if service.embedder is None:
            model_or_503(service, settings)
        if source == KNOWLEDGE_BASE and kb is not None and kb.state in (KEYWORD_ONLY, FAILED_KB):
            raise ApiError(503, "model_unavailable",
                           f"the knowledge base could not be embedded ({kb.error}); only mode='keyword' works. "
                           "See /health.") from None
        raise ApiError(503, "not_ready",
                       "the knowledge base is still being embedded; search with mode='keyword' now or retry in "
                       f"{settings.retry_after_s} s", headers={"Retry-After": str(settings.retry_after_s)}) from None
    except KnowledgeBaseError as exc:
        raise ApiError(400, "invalid_documents", str(exc), documents_param) from None
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None
    return SearchOutcome(response, source, len(engine))
