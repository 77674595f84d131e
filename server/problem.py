"""The API's error type and the two JSON shapes it takes (OpenAI-style under /v1, flat elsewhere); no web framework."""

from __future__ import annotations

from typing import Any, Mapping

# Short English label of each error code, shown in the ``error`` field of the non-/v1 routes (the API answers in
# one language, English; the page translates what it shows).
LABELS: dict[str, str] = {
    "empty_query": "empty query",
    "invalid_request": "invalid request",
    "limit_exceeded": "limit exceeded",
    "body_too_large": "request body too large",
    "length_required": "Content-Length required",
    "storage_full": "the server's upload space is full: retry later",
    "url_not_fetched": "URLs are not fetched",
    "wrong_host": "host name not served here",
    "cross_site": "must come from this site's pages",
    "invalid_documents": "invalid documents",
    "no_knowledge_base": "no knowledge base loaded",
    "no_reranker": "no reranker loaded",
    "model_not_found": "model not found",
    "not_ready": "semantic model not ready: retry later or use mode keyword",
    "model_unavailable": "semantic model unavailable",
    "unauthorized": "a valid API key is required",
    "rate_limited": "too many requests",
    "busy": "server busy",
    "cancelled": "client disconnected; processing stopped",
    "not_found": "no such route",
    "method_not_allowed": "method not allowed",
    "internal_error": "internal server error",
}

# OpenAI's error ``type`` for each HTTP status.
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error",
                 405: "invalid_request_error", 413: "invalid_request_error", 429: "rate_limit_error",
                 503: "server_error", 500: "server_error"}


class ApiError(Exception):
    """An error answered to the client.

    Args:
        status: HTTP status.
        code: key of ``LABELS``.
        message: English explanation saying what went wrong and how to fix it.
        param: the request field at fault, if any.
        headers: extra response headers (Retry-After, WWW-Authenticate).
    """

    def __init__(self, status: int, code: str, message: str, param: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        assert code in LABELS, code
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        self.headers = dict(headers or {})


def is_openai_path(path: str) -> bool:
    """Whether ``path`` answers errors in OpenAI's shape."""
    return path == "/v1" or path.startswith("/v1/")


def error_body(path: str, error: ApiError) -> dict[str, Any]:
    """The JSON body of ``error`` for a request to ``path``.

    /v1 routes: ``{"error": {"message", "type", "param", "code"}}`` (what OpenAI clients parse).
    Others: ``{"error": <short English label>, "message": <English>, "code", "param"}``.
    """
    if is_openai_path(path):
        return {"error": {"message": error.message, "type": _OPENAI_TYPES.get(error.status, "invalid_request_error"),
                          "param": error.param, "code": error.code}}
    return {"error": LABELS[error.code], "message": error.message, "code": error.code, "param": error.param}
