"""The JSON routes: /v1/embeddings, /v1/models, /search, /health. Validation and formatting only; hybrid searches."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from hybrid.engine import EmptyQueryError, EngineNotReadyError, HybridEngine
from hybrid.fusion import FUSERS, NORMALIZERS
from hybrid.kb import KnowledgeBaseError
from hybrid.semantic import MODEL_ALIASES, Embedder
from hybrid.service import FAILED, ModelService
from hybrid.settings import MODES

from .errors import ApiError
from .knowledge import FAILED_KB, KEYWORD_ONLY, ServerKnowledgeBase
from .schemas import EmbeddingsRequest, SearchRequest
from .settings import ENV_VARS, ApiSettings

OWNER = "hybrid-search"


def supports_mrl(embedder: Embedder) -> bool:
    """Whether ``embedder`` may be shortened by MRL truncation (its optional ``supports_mrl`` attribute)."""
    return bool(getattr(embedder, "supports_mrl", False))


def model_names(embedder: Embedder, requested: str) -> list[str]:
    """Names a request may use for the loaded model: its name, the name it was asked by, its aliases."""
    names = [embedder.name, requested]
    names += [alias for alias, target in MODEL_ALIASES.items() if target == embedder.name]
    folder = Path(embedder.name).name
    if folder and folder != embedder.name:
        names.append(folder)
    return list(dict.fromkeys(n for n in names if n))


def _limit(status: int, what: str, value: int, limit: int, field: str, param: str | None = None) -> ApiError:
    return ApiError(status, "limit_exceeded",
                    f"{what} is {value}; the limit is {limit} ({ENV_VARS[field]})", param)


def _check_unicode(text: str, where: str, param: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ApiError(400, "invalid_request", f"{where} is not valid Unicode (an unpaired surrogate at character "
                       f"{exc.start}); send UTF-8 text", param) from None


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def build_router(service: ModelService, kb: ServerKnowledgeBase | None, settings: ApiSettings,
                 guard: Callable[..., Any]) -> APIRouter:
    """The API routes, each behind ``guard`` (rate limit + API key).

    Args:
        service: the shared model service.
        kb: the server's knowledge base, None without ``--kb``.
        settings: limits.
        guard: FastAPI dependency run before every route.
    Returns:
        The router.
    """
    router = APIRouter(dependencies=[Depends(guard)])
    loaded_at = int(time.time())

    def model_or_503() -> Embedder:
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

    def check_texts(texts: list[str], param: str, what: str) -> None:
        for i, text in enumerate(texts):
            if len(text) > settings.max_input_chars:
                raise _limit(400, f"the length of {param}[{i}] ({what} characters)", len(text),
                             settings.max_input_chars, "max_input_chars", param)
            _check_unicode(text, f"{param}[{i}]", param)

    @router.post("/v1/embeddings", summary="OpenAI-compatible embeddings")
    def embeddings(body: EmbeddingsRequest) -> JSONResponse:
        raw = body.input
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            tokens = isinstance(texts, list) and all(
                isinstance(t, int) or (isinstance(t, list) and all(isinstance(x, int) for x in t)) for t in texts)
            hint = ("token-id arrays are not supported; send the text itself" if tokens
                    else "send a string or a list of strings")
            raise ApiError(400, "invalid_request", f"input: {hint}", "input")
        if not texts:
            raise ApiError(400, "invalid_request", "input is an empty list: send at least one text", "input")
        if len(texts) > settings.max_inputs:
            raise _limit(400, "the number of inputs", len(texts), settings.max_inputs, "max_inputs", "input")
        empty = next((i for i, t in enumerate(texts) if not t.strip()), None)
        if empty is not None:
            raise ApiError(400, "invalid_request", f"input[{empty}] is empty: every input needs some text", "input")
        check_texts(texts, "input", "text")

        embedder = model_or_503()
        names = model_names(embedder, service.requested)
        if body.model is not None and body.model not in names:
            raise ApiError(404, "model_not_found",
                           f"the model {body.model!r} is not served here; use one of {names} (GET /v1/models)",
                           "model")
        dims = body.dimensions
        if dims is not None and dims != embedder.dimension:
            if not supports_mrl(embedder):
                raise ApiError(400, "invalid_request",
                               f"dimensions={dims} is not possible: {embedder.name} outputs {embedder.dimension} "
                               "dimensions and is not trained for MRL truncation; omit dimensions or send "
                               f"{embedder.dimension}", "dimensions")
            if dims > embedder.dimension:
                raise ApiError(400, "invalid_request",
                               f"dimensions={dims} is more than {embedder.name} outputs ({embedder.dimension}); "
                               f"MRL can only shorten vectors: send 1..{embedder.dimension}", "dimensions")

        if body.input_type == "query":
            vectors = embedder.encode_queries(texts)
        else:
            vectors = embedder.encode_documents(texts)
        vectors = np.asarray(vectors, dtype=np.float32)
        if dims is not None and dims != vectors.shape[1]:
            vectors = _unit_rows(vectors[:, :dims])
        token_count = int(sum(embedder.count_tokens(texts)))
        if body.encoding_format == "base64":
            encoded: list[Any] = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
        else:
            encoded = vectors.astype(np.float64).tolist()
        return JSONResponse({
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(encoded)],
            "model": embedder.name,
            "usage": {"prompt_tokens": token_count, "total_tokens": token_count},
        })

    @router.get("/v1/models", summary="The loaded embedding model")
    def models() -> dict[str, Any]:
        embedder = service.embedder
        data = []
        if embedder is not None:
            data.append({"id": embedder.name, "object": "model", "created": loaded_at, "owned_by": OWNER,
                         "aliases": model_names(embedder, service.requested)[1:],
                         "dimension": embedder.dimension, "supports_mrl": supports_mrl(embedder),
                         "device": embedder.device, "max_tokens": embedder.max_tokens,
                         # What input_type query / document put before the text.
                         "query_prompt": embedder.query_instruction,
                         "document_prompt": getattr(embedder, "document_prefix", None)})
        return {"object": "list", "data": data}

    @router.post("/search", summary="Keyword, semantic and hybrid rankings with the score breakdown")
    def search(body: SearchRequest) -> JSONResponse:
        query = body.query
        if query is None or not query.strip():
            raise ApiError(400, "empty_query", "Please enter a query: the query is empty.", "query")
        if len(query) > settings.max_input_chars:
            raise _limit(400, "the query length (characters)", len(query), settings.max_input_chars,
                         "max_input_chars", "query")
        _check_unicode(query, "query", "query")
        if body.k is not None and body.k > settings.max_k:
            raise _limit(400, "k", body.k, settings.max_k, "max_k", "k")
        if body.mode is not None and body.mode not in MODES:
            raise ApiError(400, "invalid_request", f"unknown mode {body.mode!r}; choose one of {', '.join(MODES)}",
                           "mode")
        if body.fusion is not None and body.fusion not in FUSERS:
            raise ApiError(400, "invalid_request",
                           f"unknown fusion {body.fusion!r}; choose one of {', '.join(FUSERS)}", "fusion")
        if body.normalizer is not None and body.normalizer not in NORMALIZERS:
            raise ApiError(400, "invalid_request",
                           f"unknown normalizer {body.normalizer!r}; choose one of {', '.join(NORMALIZERS)}",
                           "normalizer")
        keyword_only = body.mode == "keyword"
        if body.documents is not None:
            documents = body.documents
            if not documents:
                raise ApiError(400, "invalid_documents", "documents is an empty list: send at least one text, "
                               "or leave documents out to search the server's knowledge base", "documents")
            if len(documents) > settings.max_documents:
                raise _limit(400, "the number of documents", len(documents), settings.max_documents,
                             "max_documents", "documents")
            check_texts(documents, "documents", "document")
            if not keyword_only:
                model_or_503()
            try:
                # A fresh engine per request: ad-hoc documents never reach the server's knowledge base.
                engine = (HybridEngine(documents, settings=service.settings) if keyword_only
                          else service.new_engine(documents))
            except KnowledgeBaseError as exc:
                raise ApiError(400, "invalid_documents", f"documents: {exc}", "documents") from None
            source = "documents"
        elif kb is None:
            raise ApiError(400, "no_knowledge_base",
                           "this server has no knowledge base: start it with --kb FILE, or send the texts to "
                           "search in documents", "documents")
        else:
            engine, source = kb.engine, "knowledge_base"
        try:
            response = engine.search(query, k=body.k, alpha=body.alpha, fusion=body.fusion, mode=body.mode,
                                     normalizer=body.normalizer)
        except EmptyQueryError:
            raise ApiError(400, "empty_query", "Please enter a query: the query is empty.", "query") from None
        except EngineNotReadyError:
            if service.embedder is None:
                model_or_503()
            if source == "knowledge_base" and kb is not None and kb.state in (KEYWORD_ONLY, FAILED_KB):
                raise ApiError(503, "model_unavailable",
                               f"the knowledge base could not be embedded ({kb.error}); only mode='keyword' "
                               "works. See /health.") from None
            raise ApiError(503, "not_ready",
                           "the knowledge base is still being embedded; search with mode='keyword' now or retry in "
                           f"{settings.retry_after_s} s", headers={"Retry-After": str(settings.retry_after_s)}) \
                from None
        except KnowledgeBaseError as exc:
            raise ApiError(400, "invalid_documents", str(exc), "documents") from None
        except ValueError as exc:
            raise ApiError(400, "invalid_request", str(exc)) from None
        out = response.to_dict(include_vector=body.include_vector)
        out["source"] = source
        out["documents"] = len(engine)
        return JSONResponse(out)

    @router.get("/health", summary="Model state, device and knowledge-base size")
    def health() -> dict[str, Any]:
        status = service.status()
        kb_status = kb.status() if kb is not None else None
        if status.state == FAILED or (kb_status and kb_status["state"] in ("keyword-only", "failed")):
            overall = "degraded"
        elif status.state != "ready" or (kb_status and kb_status["state"] == "indexing"):
            overall = "loading"
        else:
            overall = "ready"
        return {
            "status": overall,
            "model": {"state": status.state, "requested": status.requested, "name": status.model,
                      "device": status.device, "dtype": status.dtype, "dimension": status.dimension,
                      "fell_back": status.fallback_reason is not None, "fallback_reason": status.fallback_reason,
                      "error": status.error},
            "device": status.device,
            "knowledge_base": kb_status,
        }

    return router
