"""API errors: one exception type and the two JSON shapes it takes (OpenAI-style under /v1, flat elsewhere)."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

# Short Chinese label of each error code, shown in the ``error`` field of the non-/v1 routes.
LABELS: dict[str, str] = {
    "empty_query": "请输入查询词",
    "invalid_request": "请求参数无效",
    "limit_exceeded": "超出请求限制",
    "body_too_large": "请求体过大",
    "invalid_documents": "文档无效",
    "no_knowledge_base": "服务器未加载知识库",
    "model_not_found": "模型不存在",
    "not_ready": "语义模型尚未就绪，请稍后重试或使用 keyword 模式",
    "model_unavailable": "语义模型不可用",
    "unauthorized": "需要有效的 API 密钥",
    "rate_limited": "请求过于频繁",
    "not_found": "接口不存在",
    "method_not_allowed": "不支持该请求方法",
    "internal_error": "服务器内部错误",
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
    Others: ``{"error": <Chinese label>, "message": <English>, "code", "param"}``.
    """
    if is_openai_path(path):
        return {"error": {"message": error.message, "type": _OPENAI_TYPES.get(error.status, "invalid_request_error"),
                          "param": error.param, "code": error.code}}
    return {"error": LABELS[error.code], "message": error.message, "code": error.code, "param": error.param}


def error_response(path: str, error: ApiError) -> JSONResponse:
    """``error`` as a response to a request to ``path``."""
    return JSONResponse(error_body(path, error), status_code=error.status, headers=error.headers)


def _describe_validation(exc: RequestValidationError) -> tuple[str, str | None]:
    """One readable sentence for pydantic's errors, and the first field at fault."""
    parts, param = [], None
    for err in exc.errors()[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        kind = err.get("type", "")
        if kind == "json_invalid":
            detail = (err.get("ctx") or {}).get("error", "")
            parts.append(f"the body is not valid JSON ({detail})")
            continue
        if kind in ("model_attributes_type", "dict_type") and not loc:
            parts.append("the body must be a JSON object sent with Content-Type: application/json")
            continue
        if kind == "missing" and not loc:
            parts.append("the request needs a JSON body")
            continue
        # Union members show up as extra path parts (e.g. input.str); keep the field's own path.
        field = ".".join(p for p in loc if not p.startswith(("str", "list[", "int", "float", "bool")))
        param = param or field or None
        parts.append(f"{field or 'body'}: {err.get('msg', 'invalid value')}")
    return "; ".join(dict.fromkeys(parts)) or "invalid request", param


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error of ``app``'s own routes in the API's shapes (a mounted UI handles its own)."""

    async def on_api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request.url.path, exc)

    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _describe_validation(exc)
        return error_response(request.url.path, ApiError(400, "invalid_request", message, param))

    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        path = request.url.path
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 413: "body_too_large",
                429: "rate_limited"}.get(exc.status_code, "invalid_request")
        status = exc.status_code if exc.status_code < 500 else 400
        detail = exc.detail if isinstance(exc.detail, str) else "invalid request"
        if exc.status_code == 404:
            detail = f"no API route {path}; the API serves /v1/embeddings, /v1/models, /search and /health"
        elif exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            detail = f"{request.method} is not allowed on {path}" + (f"; use {allowed}" if allowed else "")
        elif detail == "There was an error parsing the body":
            detail = "the body could not be read as JSON (not UTF-8, or nested too deeply)"
        return error_response(path, ApiError(status, code, detail, headers=getattr(exc, "headers", None)))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request.url.path, ApiError(
            500, "internal_error", f"internal error ({type(exc).__name__}); the server log has the details"))

    app.add_exception_handler(ApiError, on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)
