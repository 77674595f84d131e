"""Request bounds: the body-size limit of the JSON routes and the token-bucket rate limiter."""

from __future__ import annotations

import threading
import time
from typing import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_response
from .settings import ENV_VARS


class BodyLimitMiddleware:
    """Refuses request bodies over ``limit`` bytes with a 413 on the paths ``applies(path)`` selects.

    The body is read (at most ``limit`` + 1 bytes) before the route runs, so chunked uploads without a
    Content-Length are bounded too; the route then reads the buffered copy.
    """

    def __init__(self, app: ASGIApp, limit: int, applies: Callable[[str], bool],
                 methods: tuple[str, ...] | None = None, setting: str | None = ENV_VARS["max_body_bytes"]) -> None:
        self.app = app
        self.limit = limit
        self.applies = applies
        self.methods = methods
        self.setting = setting

    def _too_large(self, size: str) -> ApiError:
        setting = f" ({self.setting})" if self.setting else ""
        return ApiError(413, "body_too_large",
                        f"the request body is {size} bytes; the limit is {self.limit} bytes{setting}. "
                        "Send fewer or shorter texts per request.")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or not self.applies(scope["path"])
                or (self.methods is not None and scope.get("method") not in self.methods)):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit:
                    await error_response(path, self._too_large(str(declared)))(scope, receive, send)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await error_response(path, self._too_large(f"more than {self.limit}"))(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class UploadLimitMiddleware:
    """Bounds Gradio's upload requests (``applies(path)``) by their declared size, without buffering them.

    Gradio streams an upload to disk with no limit on the request (up to 1,000 files, each up to the Blocks'
    ``max_file_size``). An upload must declare its ``Content-Length`` (browsers and ``gradio_client`` do; the
    server then reads no more than that) and stay within ``limit``; chunked uploads are refused (411).
    """

    def __init__(self, app: ASGIApp, limit: int, file_limit: int, applies: Callable[[str], bool]) -> None:
        self.app = app
        self.limit = limit
        self.file_limit = file_limit
        self.applies = applies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not self.applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length", b"").strip()
        if b"transfer-encoding" in headers or not declared.isdigit():
            error = ApiError(411, "length_required", "an upload must declare its size (Content-Length), as browsers "
                             "and gradio_client do; chunked uploads are refused")
        elif int(declared) > self.limit:
            error = ApiError(413, "body_too_large", f"the upload is {int(declared)} bytes; the limit is {self.limit} "
                             f"bytes a request, and {self.file_limit} bytes a file")
        else:
            await self.app(scope, receive, send)
            return
        await error_response(scope["path"], error)(scope, receive, send)


class RateLimiter:
    """Token bucket per client: bursts of up to ``per_minute`` requests, refilled at ``per_minute`` a minute.

    Args:
        per_minute: the limit; 0 switches limiting off.
        clock: seconds, monotonic (injectable for tests).
        max_clients: buckets kept before idle (full) ones are dropped, bounding memory.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_clients: int = 10_000) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """Take one request for ``client``. Returns 0 when allowed, else the seconds until it would be."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                allowed = 0.0
            else:
                self._buckets[client] = (tokens, now)
                allowed = (1.0 - tokens) / rate
            if len(self._buckets) > self.max_clients:
                self._prune(now, rate)
        return allowed

    def _prune(self, now: float, rate: float) -> None:
        full = [c for c, (tokens, last) in self._buckets.items() if tokens + (now - last) * rate >= self.per_minute]
        for client in full:
            del self._buckets[client]
