"""Request bounds: the body-size limit of the JSON routes and the token-bucket rate limiter."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_response
from .settings import ENV_VARS

if TYPE_CHECKING:
    from .uploads import FolderSize


def replay(body: bytes, receive: Receive, chunk: int | None = None) -> Receive:
    """A ``receive`` that hands the app ``body`` (already read by a middleware), whole or in pieces of ``chunk``
    bytes, then the connection's own."""
    sent = 0
    size = chunk or max(len(body), 1)

    async def again() -> Message:
        nonlocal sent
        if sent < len(body) or (sent == 0 and not body):
            piece = body[sent:sent + size]
            sent += max(len(piece), 1)
            return {"type": "http.request", "body": piece, "more_body": sent < len(body)}
        return await receive()

    return again


# An upload is handed to Gradio in pieces of this size: its parser works piece by piece and lets the server's
# other requests run between them (a 30 MB body handed whole held the event loop for about 2 s: the fix review).
UPLOAD_REPLAY_CHUNK = 256 * 1024
# Uploads above this size are checked (``_upload_problem``) in a worker thread, at most UPLOAD_CHECKS at a time.
UPLOAD_CHECK_IN_THREAD = 1 << 20
UPLOAD_CHECKS = 2


class UntrustedForwardingMiddleware:
    """Drops the headers that name the server's own address (``X-Forwarded-Host``, ``X-Gradio-Server``) unless the
    request comes from a proxy of ``--forwarded-allow-ips``; installed outside uvicorn's proxy-header handling, so
    it sees the connection's own peer.

    Gradio builds the app's root URL from them whoever sends them, and its MCP server opens an HTTP client to that
    URL: a visitor's header made the server fetch any host, port and path (attacker review). Without them the root
    URL is the request's own (the share link's name through its tunnel). ``X-Forwarded-Proto`` is kept: it only
    makes the URLs the answers name https.
    """

    HEADERS = frozenset({b"x-forwarded-host", b"x-gradio-server"})

    def __init__(self, app: ASGIApp, trusted: str | None = None) -> None:
        from uvicorn.middleware.proxy_headers import _TrustedHosts  # uvicorn's own reading of the setting

        self.app = app
        self.trusted = _TrustedHosts(trusted) if trusted else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = (scope.get("client") or (None,))[0]
            if self.trusted is None or peer is None or peer not in self.trusted:
                headers = scope.get("headers") or []
                if any(name.lower() in self.HEADERS for name, _ in headers):
                    scope = {**scope, "headers": [(n, v) for n, v in headers if n.lower() not in self.HEADERS]}
        await self.app(scope, receive, send)


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
        await self.app(scope, replay(body, receive), send)


class UploadLimitMiddleware:
    """Bounds Gradio's upload requests (``applies(path)``): their declared size, their files and each client's
    upload volume; and refuses Gradio's deep-link route, which writes a session's state to disk.

    Gradio streams an upload to disk with no limit on the request (up to 1,000 files, each up to the Blocks'
    ``max_file_size``). An upload must declare its ``Content-Length`` (browsers and ``gradio_client`` do;
    chunked uploads are refused, 411) and stay within ``limit`` (413); it is charged against the client's
    ``budget`` (bytes a minute, 429 when spent) before it is read, an anonymous client's also against its
    address's ``address_budget`` (minting sessions does not multiply it); the upload folder (``disk``) must have
    room for it within ``disk_limit`` bytes (507); then it is read (at most ``limit`` bytes) and
    refused unless it carries at most ``max_files`` parts (413), before Gradio stores any of it.
    """

    def __init__(self, app: ASGIApp, limit: int, file_limit: int, applies: Callable[[str], bool], max_files: int,
                 budget: "RateLimiter", client: Callable[[Scope], tuple[str, str | None]], min_charge: int,
                 address_budget: "RateLimiter", disk: "FolderSize", disk_limit: int) -> None:
        self.app = app
        self.address_budget = address_budget
        self.disk = disk
        self.disk_limit = disk_limit
        self.limit = limit
        self.file_limit = file_limit
        self.applies = applies
        self.max_files = max_files
        self.budget = budget
        self.client = client
        self.min_charge = min_charge
        self._checks: anyio.CapacityLimiter | None = None  # made in the server's loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == DEEP_LINK_ROUTE:
            await error_response(scope["path"], ApiError(
                404, "not_found", "this page makes no Gradio deep links (its share button puts the query and "
                "settings in the link itself)"))(scope, receive, send)
            return
        if scope["type"] != "http" or scope.get("method") != "POST" or not self.applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        error, body = await self._check(scope, receive)
        if error is not None:
            await error_response(scope["path"], error)(scope, receive, send)
            return
        await self.app(scope, replay(body, receive, UPLOAD_REPLAY_CHUNK), send)

    async def _check(self, scope: Scope, receive: Receive) -> tuple[ApiError | None, bytes]:
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length", b"").strip()
        if b"transfer-encoding" in headers or not declared.isdigit():
            return ApiError(411, "length_required", "an upload must declare its size (Content-Length), as browsers "
                            "and gradio_client do; chunked uploads are refused"), b""
        size = int(declared)
        if size > self.limit:
            return ApiError(413, "body_too_large", f"the upload is {size} bytes; the limit is {self.limit} "
                            f"bytes a request, and {self.file_limit} bytes a file"), b""
        held = self.disk.bytes()
        if held + size > self.disk_limit:
            return ApiError(507, "storage_full", f"the server's upload folder holds {held} bytes; with this upload "
                            f"({size} bytes) it would pass its limit of {self.disk_limit} bytes "
                            f"({ENV_VARS['upload_disk_bytes']}, all visitors together). Uploads are removed a day "
                            "after they arrive: retry later, or paste the text instead"), b""
        bucket, address = self.client(scope)
        cost = max(size, self.min_charge)
        wait, budget, who = self.budget.acquire(bucket, cost=cost), self.budget.per_minute, "this client"
        if wait == 0 and address is not None:
            wait, budget = self.address_budget.acquire(address, cost=cost), self.address_budget.per_minute
            who = "the anonymous clients of this address"
        if wait > 0:
            name = ENV_VARS["upload_bytes_per_minute"]
            return ApiError(429, "rate_limited", f"{who} uploaded more than {budget} bytes in the last minute "
                            f"({name}; a request counts at least {self.min_charge}); retry in {math.ceil(wait)} s",
                            headers={"Retry-After": str(math.ceil(wait))}), b""
        self.disk.add(size)
        chunks: list[bytes] = []
        read = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return ApiError(400, "cancelled", "the client went away during the upload"), b""
            chunks.append(message.get("body", b""))
            read += len(chunks[-1])
            if read > size:
                return ApiError(400, "invalid_request", f"the upload sent more than its Content-Length ({size})"), b""
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        parts = _multipart_parts(body, headers.get(b"content-type", b""))
        if parts > self.max_files:
            return ApiError(413, "limit_exceeded", f"the upload carries {parts} files; the limit is "
                            f"{self.max_files} a request (the page sends one, or the three of a labelled set)"), b""
        content_type = headers.get(b"content-type", b"")
        if len(body) > UPLOAD_CHECK_IN_THREAD:  # seconds of parsing for a hostile body: not on the event loop
            if self._checks is None:
                self._checks = anyio.CapacityLimiter(UPLOAD_CHECKS)
            problem = await anyio.to_thread.run_sync(_upload_problem, body, content_type, self.file_limit,
                                                     limiter=self._checks)
        else:
            problem = _upload_problem(body, content_type, self.file_limit)
        if problem:
            return problem, b""
        return None, body


DEEP_LINK_ROUTE = "/gradio_api/deep_link"


def _upload_problem(body: bytes, content_type: bytes, file_limit: int) -> ApiError | None:
    """Why Gradio would store part of this upload and then refuse it or leave it unused; None when it would not.

    Gradio writes every file part to a temporary file as it parses, then keeps only the parts named ``files``, and
    refuses a name such as ``..`` (400), a file over its size limit (413) or a file part without a name (a 500 with a
    traceback) only after writing them: those files stayed in the upload folder until the server stopped (the
    hourly sweep removes only files Gradio kept), counting against its disk limit, and the upload's progress stream
    polled forever. The body is parsed here as Gradio's parser reads it (python-multipart, its callbacks).
    """
    from gradio import utils
    from gradio.route_utils import _user_safe_decode  # Gradio's own reading of a part's name and file name
    from gradio_client import utils as client_utils
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        return None  # Gradio refuses it before storing anything (400)
    # Gradio decodes names with the request's charset (a UTF-7 "+AC4ALg-" is ".."; latin-1 when it cannot)
    charset = params.get(b"charset", b"utf-8")
    charset = charset.decode("latin-1") if isinstance(charset, bytes) else str(charset)
    parts: list[dict] = []
    header: dict[str, bytes] = {}

    def begin() -> None:
        parts.append({"disposition": b"", "size": 0})
        header.update(field=b"", value=b"")

    def field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def header_end() -> None:
        if header["field"].lower() == b"content-disposition":
            parts[-1]["disposition"] = header["value"]
        header.update(field=b"", value=b"")

    def data(data: bytes, start: int, end: int) -> None:
        parts[-1]["size"] += end - start

    parser = MultipartParser(boundary, {"on_part_begin": begin, "on_header_field": field, "on_header_value": value,
                                        "on_header_end": header_end, "on_part_data": data})
    try:
        parser.write(body)
        parser.finalize()
    except Exception:  # noqa: BLE001 - Gradio's own parse refuses it the same way, and deletes what it wrote
        return None
    bad = "an upload carries files in parts named 'files', each with a file name, as browsers and gradio_client send"
    for part in parts:
        _, options = parse_options_header(part["disposition"])
        name = _user_safe_decode(options[b"name"], charset) if b"name" in options else None
        filename = _user_safe_decode(options[b"filename"], charset) if b"filename" in options else None
        if name != "files" or filename is None:
            return ApiError(400, "invalid_request", f"{bad}; this one has a part named {_shown(name)}"
                            + ("" if filename is not None else " without a file name"))
        if part["size"] > file_limit:
            return ApiError(413, "body_too_large", f"a file of the upload has {part['size']} bytes; the limit is "
                            f"{file_limit} bytes a file")
        stored = client_utils.strip_invalid_filename_characters(Path(filename).name) if filename else "stored"
        try:
            utils.safe_join(utils.DeveloperPath("/upload"), utils.UserProvidedPath(stored))
        except utils.InvalidPathError:
            return ApiError(400, "invalid_request", f"{bad}; the file name {_shown(filename)} names no file "
                            "(nothing is left of it once its folders are taken off)")
    return None


def _shown(value: str | None) -> str:
    return "none" if value is None else repr(value[:60])


def _multipart_parts(body: bytes, content_type: bytes) -> int:
    """How many parts a multipart body has (its delimiter lines other than the closing one)."""
    from python_multipart.multipart import parse_options_header  # as Gradio's parser reads it

    boundary = parse_options_header(content_type)[1].get(b"boundary")
    if not boundary:
        return 0  # Gradio refuses it (400)
    delimiter = b"--" + boundary
    first = body
    if first[:1] in (b"\r", b"\n"):  # python-multipart skips from a leading line break to the first "-"
        first = first[max(first.find(b"-"), 0):]
    count = first.startswith(delimiter) + first.count(b"\r\n" + delimiter)
    closing = first.startswith(delimiter + b"--") + first.count(b"\r\n" + delimiter + b"--")
    return count - closing


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

    def acquire(self, client: str, cost: float = 1.0) -> float:
        """Take ``cost`` (one request; at most the whole bucket) for ``client``. Returns 0 when allowed, else the
        seconds until it would be."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        cost = min(float(cost), float(self.per_minute))
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens >= cost:
                self._buckets[client] = (tokens - cost, now)
                allowed = 0.0
            else:
                self._buckets[client] = (tokens, now)
                allowed = (cost - tokens) / rate
            if len(self._buckets) > self.max_clients:
                self._prune(now, rate)
        return allowed

    def _prune(self, now: float, rate: float) -> None:
        full = [c for c, (tokens, last) in self._buckets.items() if tokens + (now - last) * rate >= self.per_minute]
        for client in full:
            del self._buckets[client]
