"""Request bodies of the JSON API (pydantic models; they also make the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hybrid.settings import MODES

_INPUT_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


class EmbeddingsRequest(BaseModel):
    """POST /v1/embeddings (OpenAI schema plus ``input_type``). Unknown fields (e.g. ``user``) are ignored."""

    model_config = ConfigDict(extra="ignore")

    input: Any = Field(..., description="a text or a list of texts", json_schema_extra=_INPUT_SCHEMA)
    model: str | None = Field(None, description="the loaded model's name or an alias (see GET /v1/models)")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="float: lists of numbers; base64: little-endian float32 bytes, base64-encoded")
    dimensions: int | None = Field(None, ge=1, description="shorten vectors (MRL models only), re-normalised")
    input_type: Literal["query", "document"] = Field(
        "document", description="query: the model's query instruction/prefix is applied; document: none")
    user: str | None = Field(None, description="accepted for OpenAI compatibility, unused")


class SearchRequest(BaseModel):
    """POST /search. Unknown fields are refused, so a misspelt option is not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(None, description="the question, any language mix")
    k: int | None = Field(None, ge=1, description="top-k of each list")
    alpha: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False,
                                description="semantic weight (keyword gets 1 - alpha)")
    fusion: str | None = Field(None, description="fusion method, a key of hybrid.fusion.FUSERS")
    normalizer: str | None = Field(None, description="score normaliser, a key of hybrid.fusion.NORMALIZERS")
    mode: str | None = Field(None, description="which lists to compute: " + " | ".join(MODES),
                             json_schema_extra={"enum": [*MODES, None]})
    documents: list[str] | None = Field(
        None, description="texts to search instead of the server's knowledge base (never stored)")
    include_vector: bool = Field(False, description="also return the query embedding")
    rerank: int | None = Field(
        None, ge=0, strict=True, description="how many hybrid hits the server's reranker re-scores into the `reranked` list "
        "(0: none; default: 20 when the server has a reranker)")


class RerankDocument(BaseModel):
    """A document given as an object (``{"text": ...}``), as some rerank clients send them."""

    model_config = ConfigDict(extra="ignore")

    text: str


class RerankRequest(BaseModel):
    """POST /v1/rerank, the schema rerank servers commonly share. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = Field(None, description="the loaded reranker's name or an alias (see GET /v1/models)")
    query: str | None = Field(None, description="the question")
    documents: list[str | RerankDocument] | None = Field(None, description="the texts to order")
    top_n: int | None = Field(None, ge=1, description="return the best N (default: all)")
    return_documents: bool = Field(False, description="also return each text as document.text")
