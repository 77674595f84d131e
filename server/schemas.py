"""Request bodies of the JSON API (pydantic models; they also make the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hybrid.settings import MODES

def _json_integer(value: Any) -> Any:
    # JSON Schema's "integer" includes 4.0; strict models refuse strings and booleans for numbers.
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Integers at least 1 / at least 0 (the bound inside the type, where pydantic writes it into the schema).
PositiveInt = Annotated[int, Field(ge=1), BeforeValidator(_json_integer)]
CountInt = Annotated[int, Field(ge=0), BeforeValidator(_json_integer)]

_INPUT_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}


class EmbeddingsRequest(BaseModel):
    """POST /v1/embeddings (OpenAI schema plus ``input_type``). Unknown fields (e.g. ``user``) are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    input: Any = Field(..., description="a text or a list of texts", json_schema_extra=_INPUT_SCHEMA)
    model: str | None = Field(None, description="the loaded model's name or an alias (see GET /v1/models)")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="float: lists of numbers; base64: little-endian float32 bytes, base64-encoded")
    dimensions: PositiveInt | None = Field(None, description="shorten vectors (MRL models only), re-normalised")
    input_type: Literal["query", "document"] = Field(
        "document", description="query: the model's query instruction/prefix is applied; document: none")
    user: str | None = Field(None, description="accepted for OpenAI compatibility, unused")


class SearchRequest(BaseModel):
    """POST /search. Unknown fields are refused, so a misspelt option is not silently ignored."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: str | None = Field(None, description="the question, any language mix")
    k: PositiveInt | None = Field(None, description="top-k of each list")
    alpha: float | None = Field(None, ge=0.0, le=1.0, allow_inf_nan=False,
                                description="semantic weight (keyword gets 1 - alpha)")
    fusion: str | None = Field(None, description="fusion method, a key of hybrid.fusion.FUSERS")
    normalizer: str | None = Field(None, description="score normaliser, a key of hybrid.fusion.NORMALIZERS")
    mode: str | None = Field(None, description="which lists to compute: " + " | ".join(MODES),
                             json_schema_extra={"enum": [*MODES, None]})
    documents: list[str] | None = Field(
        None, description="texts to search instead of the server's knowledge base (never stored)")
    include_vector: bool = Field(False, description="also return the query embedding")
    rerank: CountInt | None = Field(
        None, description="how many hybrid hits the server's reranker re-scores into the `reranked` list "
        "(0: none; default: 20 when the server has a reranker)")


class RerankDocument(BaseModel):
    """A document given as an object (``{"text": ...}``), as some rerank clients send them."""

    model_config = ConfigDict(extra="ignore")

    text: str


class RerankRequest(BaseModel):
    """POST /v1/rerank, the schema rerank servers commonly share. Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)

    model: str | None = Field(None, description="the loaded reranker's name or an alias (see GET /v1/models)")
    query: str | None = Field(None, description="the question")
    documents: list[str | RerankDocument] | None = Field(None, description="the texts to order")
    top_n: PositiveInt | None = Field(None, description="return the best N (default: all)")
    return_documents: bool = Field(False, description="also return each text as document.text")
