"""API errors as FastAPI answers them: ``ApiError`` (server.problem) and every framework error in the API's shapes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .problem import LABELS, ApiError, error_body, is_openai_path

__all__ = ["LABELS", "ApiError", "error_body", "error_response", "install_error_handlers", "is_openai_path"]

log = logging.getLogger(__name__)


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
            detail = ("the body could not be read as JSON: it is not UTF-8, is nested too deeply, or holds a number of "
                      "more than 4300 digits")
        return error_response(path, ApiError(status, code, detail, headers=getattr(exc, "headers", None)))

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(request.url.path, ApiError(
            500, "internal_error", f"internal error ({type(exc).__name__}); the server log has the details"))

    app.add_exception_handler(ApiError, on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)
