"""The API's OpenAPI schema as the server really behaves, rebuilt on each request for /openapi.json.

It lists every status the server answers with and their error bodies, the limits it enforces and the models it
serves now.
"""

from __future__ import annotations

import copy
import sys
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from hybrid.fusion import FUSERS, NORMALIZERS
from hybrid.service import FAILED, OFF

from .access import AccessPolicy
from .api import model_names, supports_mrl
from .problem import LABELS
from .rerank import reranker_names
from .settings import ENV_VARS, ApiSettings


def _whitespace_class() -> str:
    """A JSON Schema pattern for "holds a character Python's str.strip() keeps": what the server calls not blank."""
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()]
    return "[^" + "".join(f"\\u{ord(c):04x}" for c in spaces) + "]"


NOT_BLANK = _whitespace_class()


# ----------------------------------------------------------------------------- answers (documentation models)


class FlatError(BaseModel):
    """Errors of /search and /health: a short label, the explanation (both English), a code and the field at fault."""

    error: str = Field(description="short English label of the code")
    message: str = Field(description="what went wrong and how to fix it (English)")
    code: Literal[tuple(LABELS)] = Field(description="machine-readable code")  # type: ignore[valid-type]
    param: str | None = Field(description="the request field at fault, if any")


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: Literal[tuple(LABELS)]  # type: ignore[valid-type]


class OpenAIError(BaseModel):
    """Errors under /v1, in OpenAI's shape (what OpenAI clients parse)."""

    error: OpenAIErrorDetail


class Hit(BaseModel):
    """One document in one ranked list with its score breakdown (``hybrid.results.Hit``)."""

    model_config = ConfigDict(extra="allow")

    rank: int
    id: str
    text: str
    score: float
    keyword_score: float | None
    keyword_score_norm: float
    semantic_score: float | None
    semantic_score_norm: float
    keyword_contribution: float
    semantic_contribution: float
    keyword_weight: float | None
    semantic_weight: float | None
    keyword_rank: int | None
    semantic_rank: int | None
    hybrid_rank: int | None
    matched_tokens: list[str]
    highlights: list[list[int]]
    metadata: dict[str, Any]


class SearchAnswer(BaseModel):
    """POST /search: the rankings of each mode (empty lists for modes not computed), timings and settings."""

    model_config = ConfigDict(extra="allow")

    query: str
    query_tokens: list[str]
    model: str
    device: str
    keyword: list[Hit]
    semantic: list[Hit]
    hybrid: list[Hit]
    timings_ms: dict[str, float]
    settings: dict[str, Any]
    alpha_used: float | None
    source: Literal["knowledge_base", "documents"]
    documents: int
    query_vector: list[float] | None = Field(None, description="with include_vector only")


class EmbeddingItem(BaseModel):
    object: Literal["embedding"]
    index: int
    embedding: list[float] | str = Field(description="numbers, or base64 of little-endian float32")


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingsAnswer(BaseModel):
    """POST /v1/embeddings, OpenAI's answer."""

    object: Literal["list"]
    data: list[EmbeddingItem]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelsAnswer(BaseModel):
    """GET /v1/models: the loaded embedding model and reranker (an empty list while loading)."""

    object: Literal["list"]
    data: list[ModelCard]


class RerankResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int
    relevance_score: float


class RerankAnswer(BaseModel):
    """POST /v1/rerank: the documents' indexes, best first, with their relevance."""

    model_config = ConfigDict(extra="allow")

    id: str
    model: str
    results: list[RerankResult]
    usage: Usage


class Alive(BaseModel):
    """GET /health without credentials on a protected server."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["alive"]


class Health(BaseModel):
    """GET /health: model, reranker and knowledge-base state."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ready", "loading", "degraded"]
    model: dict[str, Any]
    device: str
    knowledge_base: dict[str, Any] | None


ANSWERS = {"/v1/embeddings": EmbeddingsAnswer, "/v1/rerank": RerankAnswer, "/v1/models": ModelsAnswer,
           "/search": SearchAnswer}

# The error statuses each route answers with, and why.
ERRORS: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/v1/embeddings"): {
        400: "a malformed body or a value the loaded model cannot serve (e.g. dimensions)",
        404: "a model that is not served here (see GET /v1/models)",
        413: "a body, a text, the number of inputs or their tokens over a limit",
        503: "the model is loading (Retry-After), failed to load, or the client left"},
    ("post", "/v1/rerank"): {
        400: "a malformed body", 404: "a reranker that is not served here",
        413: "a body, a text or the number of documents over a limit",
        503: "the reranker is loading (Retry-After) or failed to load"},
    ("post", "/search"): {
        400: "a malformed body or an invalid value",
        413: "a body, a text, the number of documents or their tokens over a limit",
        503: "the model is loading or the knowledge base is being embedded (Retry-After; mode=keyword works), the "
             "model failed, or the client left"},
    ("get", "/v1/models"): {},
    ("get", "/health"): {},
}

_RETRY_AFTER = {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}


def _models_schemas() -> dict[str, Any]:
    """The JSON schemas of the answer models, with their nested definitions, as OpenAPI components."""
    components: dict[str, Any] = {}
    for model in (FlatError, OpenAIError, SearchAnswer, EmbeddingsAnswer, ModelsAnswer, RerankAnswer, Alive, Health):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return components


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _text(settings: ApiSettings) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": settings.max_input_chars, "pattern": NOT_BLANK}


def _texts(settings: ApiSettings, most: int) -> dict[str, Any]:
    return {"type": "array", "items": _text(settings), "minItems": 1, "maxItems": most}


def _responses(path: str, method: str, protected: bool) -> dict[str, Any]:
    error = _ref("OpenAIError" if path.startswith("/v1/") else "FlatError")
    out: dict[str, Any] = {}
    if path == "/health":
        body = {"anyOf": [_ref("Health"), _ref("Alive")]}
        out["200"] = {"description": "the server's state (only that it is alive, to the unauthenticated)",
                      **_json(body)}
    else:
        out["200"] = {"description": "the answer", **_json(_ref(ANSWERS[path].__name__))}
    for status, why in ERRORS[(method, path)].items():
        out[str(status)] = {"description": why, **_json(error)}
        if status == 503:
            out["503"]["headers"] = {"Retry-After": _RETRY_AFTER}
    if protected and path != "/health":
        out["401"] = {"description": f"no or a wrong key or login ({ENV_VARS['api_key']}, --api-key, --auth)",
                      "headers": {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
                      **_json(error)}
    out["429"] = {"description": f"over the rate limit ({ENV_VARS['rate_limit_per_minute']}), the login limit "
                               f"({ENV_VARS['login_attempts_per_minute']}), or no embedding turn within "
                               f"{ENV_VARS['embed_wait_s']}",
                  "headers": {"Retry-After": {**_RETRY_AFTER, "required": True}}, **_json(error)}
    return out


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The schema of ``app``'s API as it answers now (limits from its settings, the models it has loaded).

    Args:
        app: from ``create_app`` (``app.state`` holds service, kb, settings and the access policy).
    Returns:
        The OpenAPI document.
    """
    base = getattr(app.state, "openapi_base", None)
    if base is None:
        base = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        app.state.openapi_base = base
    schema = copy.deepcopy(base)
    service, kb, settings = app.state.service, app.state.kb, app.state.settings
    policy: AccessPolicy = app.state.access
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # malformed bodies are 400s in the API's shapes
        schemas.pop(name, None)
    schemas.update(_models_schemas())

    reranker = service.reranker
    no_reranker = reranker is None and service.reranker_status().state in (OFF, FAILED)
    if no_reranker:  # every rerank would be refused: the operation is not offered
        schema["paths"].pop("/v1/rerank", None)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            operation["responses"] = _responses(path, method, policy.protected)
            if policy.protected and path != "/health":
                operation["security"] = [{"bearer": []}]
    if policy.protected:
        components["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "a key the server accepts; a logged-in browser session works too"}}

    search = schemas["SearchRequest"]["properties"]
    schemas["SearchRequest"]["required"] = ["query"] + (["documents"] if kb is None else [])
    search["query"] = {**_text(settings), "description": search["query"].get("description", "")}
    search["k"] = _nullable({"type": "integer", "minimum": 1, "maximum": settings.max_k})
    search["fusion"] = _nullable({"type": "string", "enum": list(FUSERS)})
    search["normalizer"] = _nullable({"type": "string", "enum": list(NORMALIZERS)})
    search["documents"] = {**_nullable(_texts(settings, settings.max_documents)),
                           "description": search["documents"].get("description", "")}
    search["rerank"] = _nullable({"type": "integer", "minimum": 0,
                                  "maximum": 0 if no_reranker else settings.max_rerank})
    # Reranking re-scores the hybrid list: the modes without one take no rerank above 0.
    schemas["SearchRequest"]["if"] = {"required": ["mode"], "properties": {"mode": {"enum": ["keyword", "semantic"]}}}
    schemas["SearchRequest"]["then"] = {"properties": {"rerank": _nullable({"type": "integer", "enum": [0]})}}

    embeddings = schemas["EmbeddingsRequest"]["properties"]
    embeddings["input"] = {"anyOf": [_text(settings), _texts(settings, settings.max_inputs)],
                           "description": "a text or a list of texts; their tokens count against "
                                          f"{ENV_VARS['max_tokens']} ({settings.max_tokens})"}
    embedder = service.embedder
    if embedder is not None:
        embeddings["model"] = _nullable({"type": "string", "enum": model_names(embedder, service.requested)})
        dims = ({"type": "integer", "minimum": 1, "maximum": embedder.dimension} if supports_mrl(embedder)
                else {"type": "integer", "enum": [embedder.dimension]})
        embeddings["dimensions"] = _nullable(dims)

    if "/v1/rerank" in schema["paths"] and "RerankRequest" in schemas:
        rerank = schemas["RerankRequest"]
        rerank["required"] = ["query", "documents"]
        rerank["properties"]["query"] = _text(settings)
        any_text = {"type": "string", "maxLength": settings.max_input_chars}  # a blank document is ranked too
        item = {"anyOf": [any_text, {"type": "object", "properties": {"text": any_text}, "required": ["text"]}]}
        rerank["properties"]["documents"] = {"type": "array", "items": item, "minItems": 1,
                                             "maxItems": settings.max_rerank}
        if reranker is not None:
            rerank["properties"]["model"] = _nullable({"type": "string",
                                                       "enum": reranker_names(reranker, service.reranker_requested)})
    return schema
