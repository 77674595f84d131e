"""The JSON routes: /v1/embeddings, /v1/rerank, /v1/models, /search, /health. Validation and formatting only; hybrid searches."""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from hybrid.gate import embedding_scope
from hybrid.redact import hide_paths
from hybrid.semantic import MODEL_ALIASES, Embedder
from hybrid.service import FAILED, LOADING, ModelService

from .knowledge import ServerKnowledgeBase
from .errors import error_response
from .problem import ApiError
from .rerank import reranker_names, run_rerank
from .schemas import EmbeddingsRequest, RerankRequest, SearchRequest
from .search import check_budget, check_texts, embedding_errors, limit_error, model_or_503, run_search
from .settings import ApiSettings

OWNER = "hybrid-search"
DISCONNECT_POLL_S = 0.25
T = TypeVar("T")
log = logging.getLogger(__name__)


def supports_mrl(embedder: Embedder) -> bool:
    """Whether ``embedder`` may be shortened by MRL truncation (its optional ``supports_mrl`` attribute)."""
    return bool(getattr(embedder, "supports_mrl", False))


def model_names(embedder: Embedder, requested: str) -> list[str]:
    """Names a request may use for the loaded model: its name, the name it was asked by, its aliases (a local
    folder by its last part: where it lives is not shown)."""
    names = [embedder.name, requested]
    names += [alias for alias, target in MODEL_ALIASES.items() if target == embedder.name]
    folder = Path(embedder.name).name
    if folder and folder != embedder.name:
        names.append(folder)
    return list(dict.fromkeys(hide_paths(n) for n in names if n))


async def in_worker(request: Request, settings: ApiSettings, work: Callable[[], T]) -> T:
    """Run ``work`` in a worker thread inside an embedding scope that is cancelled when the client disconnects
    (its embedding stops after the current chunk) and admits it within ``embed_wait_s`` (else a 429)."""
    cancel = threading.Event()

    async def watch() -> None:
        while not await request.is_disconnected():
            await asyncio.sleep(DISCONNECT_POLL_S)
        log.info("%s %s: the client disconnected; its embedding work stops", request.method, request.url.path)
        cancel.set()

    def scoped() -> T:
        with embedding_scope(cancel, settings.embed_wait_s):
            return work()

    watcher = asyncio.ensure_future(watch())
    try:
        return await run_in_threadpool(scoped)
    finally:
        watcher.cancel()


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def build_router(service: ModelService, kb: ServerKnowledgeBase | None, settings: ApiSettings) -> APIRouter:
    """The API routes (the access policy and the rate limit are the app's middleware).

    Args:
        service: the shared model service.
        kb: the server's knowledge base, None without ``--kb``.
        settings: limits.
    Returns:
        The router.
    """
    router = APIRouter()
    loaded_at = int(time.time())

    @router.post("/v1/embeddings", summary="OpenAI-compatible embeddings")
    async def embeddings(body: EmbeddingsRequest, request: Request) -> JSONResponse:
        return await in_worker(request, settings, lambda: embed(body))

    def embed(body: EmbeddingsRequest) -> JSONResponse:
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
            raise limit_error(413, "the number of inputs", len(texts), settings.max_inputs, "max_inputs", "input")
        empty = next((i for i, t in enumerate(texts) if not t.strip()), None)
        if empty is not None:
            raise ApiError(400, "invalid_request", f"input[{empty}] is empty: every input needs some text", "input")
        check_texts(texts, "input", "text", settings)

        embedder = model_or_503(service, settings)
        names = model_names(embedder, service.requested)
        if body.model is not None and hide_paths(body.model) not in names:
            raise ApiError(404, "model_not_found",
                           f"the model {body.model!r} is not served here; use one of {names} (GET /v1/models)",
                           "model")
        dims = body.dimensions
        if dims is not None and dims != embedder.dimension:
            if not supports_mrl(embedder):
                raise ApiError(400, "invalid_request",
                               f"dimensions={dims} is not possible: {names[0]} outputs {embedder.dimension} "
                               "dimensions and is not trained for MRL truncation; omit dimensions or send "
                               f"{embedder.dimension}", "dimensions")
            if dims > embedder.dimension:
                raise ApiError(400, "invalid_request",
                               f"dimensions={dims} is more than {names[0]} outputs ({embedder.dimension}); "
                               f"MRL can only shorten vectors: send 1..{embedder.dimension}", "dimensions")

        token_count = check_budget(embedder, texts, "input", settings)
        with embedding_errors(settings):
            if body.input_type == "query":
                vectors = embedder.encode_queries(texts)
            else:
                vectors = embedder.encode_documents(texts)
        vectors = np.asarray(vectors, dtype=np.float32)
        if dims is not None and dims != vectors.shape[1]:
            vectors = _unit_rows(vectors[:, :dims])
        if body.encoding_format == "base64":
            encoded: list[Any] = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
        else:
            encoded = vectors.astype(np.float64).tolist()
        return JSONResponse({
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(encoded)],
            "model": names[0],
            "usage": {"prompt_tokens": token_count, "total_tokens": token_count},
        })

    @router.post("/v1/rerank", summary="Order documents by relevance to a query with the reranker")
    async def rerank(body: RerankRequest, request: Request) -> JSONResponse:
        documents = None if body.documents is None else [d if isinstance(d, str) else d.text for d in body.documents]
        return JSONResponse(await in_worker(request, settings, lambda: run_rerank(
            service, settings, body.query, documents, top_n=body.top_n, return_documents=body.return_documents,
            model=body.model)))

    @router.get("/v1/models", summary="The loaded embedding model and reranker")
    def models() -> dict[str, Any]:
        embedder = service.embedder
        data = []
        if embedder is not None:
            data.append({"id": hide_paths(embedder.name), "object": "model", "created": loaded_at, "owned_by": OWNER,
                         "aliases": model_names(embedder, service.requested)[1:],
                         "dimension": embedder.dimension, "supports_mrl": supports_mrl(embedder),
                         "device": embedder.device, "max_tokens": embedder.max_tokens,
                         # What input_type query / document put before the text.
                         "query_prompt": embedder.query_instruction,
                         "document_prompt": getattr(embedder, "document_prefix", None)})
        reranker = service.reranker
        if reranker is not None:
            data.append({"id": hide_paths(reranker.name), "object": "model", "created": loaded_at, "owned_by": OWNER,
                         "task": "rerank", "aliases": reranker_names(reranker, service.reranker_requested)[1:],
                         "device": reranker.device, "max_tokens": reranker.max_tokens,
                         "instruction": reranker.instruction})
        return {"object": "list", "data": data}

    @router.post("/search", summary="Keyword, semantic and hybrid rankings with the score breakdown")
    async def search(body: SearchRequest, request: Request) -> JSONResponse:
        outcome = await in_worker(request, settings, lambda: run_search(
            service, kb, settings, body.query, k=body.k, alpha=body.alpha, fusion=body.fusion,
            normalizer=body.normalizer, mode=body.mode, documents=body.documents, rerank=body.rerank))
        return JSONResponse(outcome.to_dict(include_vector=body.include_vector))

    @router.get("/health", summary="Model and reranker state, device and knowledge-base size")
    def health() -> dict[str, Any]:
        status = service.status()
        reranker = service.reranker_status()
        kb_status = kb.status() if kb is not None else None
        if (status.state == FAILED or reranker.state == FAILED
                or (kb_status and kb_status["state"] in ("keyword-only", "failed"))):
            overall = "degraded"
        elif (status.state != "ready" or reranker.state == LOADING
              or (kb_status and kb_status["state"] == "indexing")):
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
            "reranker": {"state": reranker.state, "requested": reranker.requested, "name": reranker.model,
                         "device": reranker.device, "dtype": reranker.dtype, "reason": reranker.reason,
                         "error": reranker.error},
            "knowledge_base": kb_status,
        }

    refuse_other_methods(router)
    return router


def refuse_other_methods(router: APIRouter) -> None:
    """Answer every other method on the router's paths with a 405 naming the allowed ones, in the API's error
    shape (without this, a UI mounted at / would answer them with its own 404)."""
    allowed: dict[str, set[str]] = {}
    for route in router.routes:
        allowed.setdefault(route.path, set()).update(route.methods)  # type: ignore[attr-defined]
    for path, methods in allowed.items():
        # A plain route without methods matches every method the API routes before it did not take.
        router.add_route(path, _Refusal(", ".join(sorted(methods))), include_in_schema=False)


class _Refusal:
    """An ASGI endpoint answering 405 with the allowed methods (an app, so its route takes every method)."""

    def __init__(self, allow: str) -> None:
        self.allow = allow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = ApiError(405, "method_not_allowed", f"{scope['method']} is not allowed on {scope['path']}; use "
                         f"{self.allow}", headers={"Allow": self.allow})
        await error_response(scope["path"], error)(scope, receive, send)
