"""The API's error type and the two JSON shapes it takes (OpenAI-style under /v1, flat elsewhere); no web framework."""

from __future__ import annotations

from typing import Any, Mapping

# Short Chinese label of each error code, shown in the ``error`` field of the non-/v1 routes.
LABELS: dict[str, str] = {
    "empty_query": "请输入查询词",
    "invalid_request": "请求参数无效",
    "limit_exceeded": "超出请求限制",
    "body_too_large": "请求体过大",
    "length_required": "上传须声明 Content-Length",
    "storage_full": "服务器上传空间已满，请稍后再试",
    "url_not_fetched": "服务器不代为获取网址",
    "wrong_host": "请求的主机名不属于本服务器",
    "cross_site": "须从本站页面发出",
    "invalid_documents": "文档无效",
    "no_knowledge_base": "服务器未加载知识库",
    "no_reranker": "服务器未加载重排序模型",
    "model_not_found": "模型不存在",
    "not_ready": "语义模型尚未就绪，请稍后重试或使用 keyword 模式",
    "model_unavailable": "语义模型不可用",
    "unauthorized": "需要有效的 API 密钥",
    "rate_limited": "请求过于频繁",
    "busy": "服务器正忙，请稍后重试",
    "cancelled": "客户端已断开，处理已停止",
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
