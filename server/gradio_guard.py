"""Requests Gradio would answer with a 500 (or serve needlessly), answered before Gradio sees them.

That is: an unknown endpoint, event or session, unsound JSON or ids, the development reload stream, and routes
the page does not use.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import re
from typing import TYPE_CHECKING, Callable

import anyio
import anyio.to_thread
from pydantic import TypeAdapter
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError, error_response
from .security import replay

if TYPE_CHECKING:
    import gradio as gr

    from .session_state import FairStateHolder

log = logging.getLogger(__name__)

_PREFIX = "/gradio_api"
# POST /gradio_api/{run,api,call,call/v2}/NAME; GET /gradio_api/call[/v2]/NAME/EVENT_ID.
_CALL = re.compile(rf"^{_PREFIX}/(?:run|api|call/v2|call)/(?P<name>[^/]+)/?$")
_RESULT = re.compile(rf"^{_PREFIX}/call(?:/v2)?/(?P<name>[^/]+)/(?P<event>[^/]+)/?$")
# The routes under /gradio_api/ that the page, gradio_client and the MCP server use; Gradio serves more (audio and
# video recording through ffmpeg, media streams, its vibe editor, custom components, profiling, tokens, its
# start-up events) that this page has no use for: they are 404 here.
_USED = re.compile(rf"^{_PREFIX}/(?:info|openapi\.json|theme\.css|queue/(?:join|data)|heartbeat/[^/]+|upload"
                   r"|upload_progress|file=.*|file/.*|cancel|reset|(?:run|api|call|call/v2)/.+|mcp(?:/.*)?)/?$",
                   re.DOTALL)
_INDEX = TypeAdapter(int)
_MCP = re.compile(rf"^{_PREFIX}/mcp(?:/.*)?$", re.DOTALL)
# Gradio also serves MCP's older SSE transport (GET mcp/sse, POST mcp/messages/): not documented here, and its
# sessions answered 404 (attacker review); only streamable HTTP (POST mcp/) is served.
_MCP_SSE = re.compile(rf"^{_PREFIX}/mcp/(?:sse|messages)(?:/.*)?$", re.DOTALL)
# An event whose results nobody reads this long after it was queued is dropped (waiting) or stopped at its next
# embedding turn (running): the page and gradio_client open the event stream at once, a curl caller's GET follows
# its POST; a join without a reader would have run to its end (hours for a page-sized knowledge base).
ORPHAN_GRACE_S = 20.0
_FILE = re.compile(rf"^{_PREFIX}/file[=/]")
# POSTs whose JSON body Gradio reads (an event, a cancel, an MCP message): read here first, so a NaN, an Infinity or a long
# session id is refused before Gradio keeps or chokes on it.
_JSON_POST = re.compile(rf"^{_PREFIX}/(?:queue/join|cancel|reset|(?:run|api|call|call/v2)/[^/]+|mcp(?:/.*)?)/?$",
                        re.DOTALL)  # every POST under mcp/: its SSE messages route takes any path below it
# Gradio's page makes an 11-character session id, gradio_client a uuid4 (36): Gradio keeps every session id (and
# upload id) it is given in its tables (some without a size cap), so a long one would pin its length in memory.
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEARTBEAT = re.compile(rf"^{_PREFIX}/heartbeat/(?P<session>[^/]*)/?$")
# One range of bytes (first-last, first-, -suffix): Gradio's file route parses no other form (a list of ranges
# was a 500 and a traceback); an answer may ignore a Range header (RFC 9110), so any other form is dropped.
_ONE_RANGE = re.compile(rb"^bytes=(?:\d+-\d*|-\d+)$")
# What a file answer may carry: Gradio's ranged answer (206) copies every header of the request into it (Cookie,
# Authorization, X-Forwarded-For; gradio/route_utils.py file route), where a shared cache could keep them.
_FILE_HEADERS = {b"content-type", b"content-length", b"content-range", b"content-disposition", b"accept-ranges",
                 b"content-encoding", b"content-language", b"transfer-encoding", b"last-modified", b"etag", b"expires",
                 b"date", b"server", b"vary", b"cache-control"}


class GradioGuard:
    """Wraps the mounted Gradio app: unknown endpoint names, ``fn_index`` values, events and sessions are 404
    with a short message (Gradio raised KeyError on them: a 500 and a traceback in the log), and
    ``/gradio_api/dev/reload`` is 404 unless Gradio runs in its reload mode (``GRADIO_WATCH_DIRS``): the
    stream polls 20 times a second for as long as a client keeps it open. Every other route under
    ``/gradio_api/`` the page does not use (``_USED``) is 404 too: ``process_recording`` runs ffmpeg on an upload
    for any visitor, ``startup-events`` runs the app's start-up events again. A file answer keeps only a file's
    headers (Gradio's ranged answer repeats the request's, cookies included). An event queued with no reader of
    its results (no event stream of its session) ``orphan_grace_s`` later is dropped or stopped.

    Args:
        app: the Gradio app.
        blocks: its Blocks (the endpoints and the queue).
        orphan_grace_s: how long a queued event waits for a reader of its results (``ORPHAN_GRACE_S``).
        client: the client a request comes from and its address when anonymous, else None
            (``server.access.request_client``); with ``sessions``, the owner of each session id an event names.
        sessions: the Gradio app's ``FairStateHolder``, told who owns each session.
    """

    def __init__(self, app: ASGIApp, blocks: "gr.Blocks", orphan_grace_s: float | None = None,
                 client: Callable[[Scope], tuple[str, str | None]] | None = None,
                 sessions: "FairStateHolder | None" = None) -> None:
        self.app = app
        self.blocks = blocks
        self.client = client
        self.sessions = sessions
        self.orphan_grace_s = ORPHAN_GRACE_S if orphan_grace_s is None else orphan_grace_s
        self._streams: collections.Counter[str] = collections.Counter()  # open result streams per session
        self._reapers: set[asyncio.Task] = set()
        self._large: anyio.CapacityLimiter | None = None  # made in the server's loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope.get("method")
        error = None
        status = 404
        reader = None  # the session whose results this request streams
        upload_id = None  # an upload's id (POST upload, GET upload_progress)
        queues = False  # a POST that queues an event (its answer is {"event_id": ...})
        data = None
        if method == "POST" and _JSON_POST.match(path):
            body = await _read(receive)
            if body is None:
                return
            receive = replay(body, receive)
            if len(body) > LARGE_BODY:  # seconds of work: in a worker thread, a few at a time, never on the loop
                if self._large is None:
                    self._large = anyio.CapacityLimiter(LARGE_BODY_CHECKS)
                data, error = await anyio.to_thread.run_sync(_checked_body, body, limiter=self._large)
            else:
                data, error = _checked_body(body)
            status = 400
            if error is None and isinstance(data, dict):
                error = _bad_session(data.get("session_hash"))
            if error is None:
                status = 404
        if error is None:  # the body was sound: check the route
            if path.rstrip("/") == f"{_PREFIX}/dev/reload" and not getattr(self.blocks, "dev_mode", False):
                error = "Gradio's reload stream is served only in its reload mode (gradio app.py); this server has none"
            elif not _USED.match(path):
                error = (f"{path[:100]} is a Gradio route this page does not use (it records no audio or video and "
                         f"streams no media); GET {_PREFIX}/info lists the endpoints")
            elif method == "POST" and (match := _CALL.match(path)):
                error = self._unknown_name(match["name"]) or self._other_index(match["name"], data)
                queues = path.startswith(f"{_PREFIX}/call/")
            elif method == "GET" and (match := _RESULT.match(path)):
                reader = self._event_session(match["event"])
                error = self._unknown_name(match["name"]) or self._unknown_session(reader)
            elif method == "GET" and path == f"{_PREFIX}/queue/data":
                if error := _bad_query_id(scope, "session_hash"):
                    status = 400
                else:
                    reader = QueryParams(scope.get("query_string", b"")).get("session_hash")
                    error = self._unknown_session(reader) if reader else None
            elif path.rstrip("/") in (f"{_PREFIX}/upload", f"{_PREFIX}/upload_progress"):
                if error := _bad_query_id(scope, "upload_id"):
                    status = 400
                else:
                    upload_id = QueryParams(scope.get("query_string", b"")).get("upload_id")
            elif _MCP_SSE.match(path):
                error = ("this server serves MCP over streamable HTTP only (POST /gradio_api/mcp/); "
                         "the SSE transport is off")
            elif method == "POST" and _MCP.match(path) and (refusal := _mcp_refusal(data)) is not None:
                # answered as JSON-RPC, the way an MCP client reads a method it may not call
                await _json_rpc_response(refusal)(scope, receive, send)
                return
            elif match := _HEARTBEAT.match(path):
                if error := _bad_session(match["session"]):
                    status = 400
            elif method == "POST" and path == f"{_PREFIX}/queue/join":
                error = self._unknown_index(data)
                if error is None and (error := self._bad_event_data(data)):
                    status = 400
                queues = True
            elif _FILE.match(path):
                scope = _one_range_only(scope)
        if error is None and self.sessions is not None and self.client is not None and isinstance(data, dict) \
                and isinstance(data.get("session_hash"), str):
            self.sessions.claim(data["session_hash"], *self.client(scope))  # before Gradio makes its state
        if error is not None:
            code = "not_found" if status == 404 else "invalid_request"
            await error_response(path, ApiError(status, code, error))(scope, receive, send)
        elif reader:
            self._streams[reader] += 1  # counted before Gradio reads the session: the reaper sees a reader
            try:
                await self.app(scope, receive, send)
            finally:
                self._streams[reader] -= 1
                if not self._streams[reader]:
                    del self._streams[reader]
        elif queues:
            await self.app(scope, receive, self._reap_unread(send))
        elif upload_id:
            try:
                await self.app(scope, receive, send)
            finally:
                self._upload_ended(upload_id, progress=path.rstrip("/").endswith("_progress"))
        else:
            await self.app(scope, receive, _file_headers_only(send) if _FILE.match(path) else send)

    def _reap_unread(self, send: Send) -> Send:
        """``send`` that, once the answer names a queued event, checks after ``orphan_grace_s`` that someone reads
        its results."""
        status = []

        async def watching(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            elif message["type"] == "http.response.body" and status == [200]:
                try:
                    event_id = json.loads(message.get("body", b"")).get("event_id")
                except (ValueError, AttributeError):
                    event_id = None
                if isinstance(event_id, str):
                    task = asyncio.create_task(self._reap(event_id))
                    self._reapers.add(task)  # held until done (the loop keeps only weak references)
                    task.add_done_callback(self._reapers.discard)
            await send(message)
        return watching

    async def _reap(self, event_id: str) -> None:
        await asyncio.sleep(self.orphan_grace_s)
        queue = self.blocks._queue
        event = queue.event_ids_to_events.get(event_id)
        if event is None or not event.alive or self._streams.get(event.session_hash):
            return  # done, already given up, or read
        reason = f"stopped: nobody read its results within {self.orphan_grace_s:.0f} s of queueing it"
        log.warning("event %s (%s) %s", event_id[:12],
                    str(getattr(event.fn, "api_name", None) or getattr(event.fn, "name", "?"))[:60], reason)
        await queue.clean_events(event_id=event_id)
        # As Gradio's own /cancel: a completion message, so a late reader learns why and the session's stream
        # (which waits for each pending id's completion) can close; an event given up sends none of its own.
        from gradio.server_messages import ProcessCompletedMessage

        messages = queue.pending_messages_per_session.get(event.session_hash)
        if messages is not None:
            messages.put_nowait(ProcessCompletedMessage(output={"error": f"the event was {reason}"}, success=False,
                                                        event_id=event_id))

    def _upload_ended(self, upload_id: str, progress: bool) -> None:
        # Gradio tracks an upload id from the upload's start and marks it done only when its parse ends well: an
        # upload it refused or failed afterwards left the id tracked and undone, and a progress stream of that id
        # (any number of them) polled 20 times a second for as long as its client kept it open. It also keeps, per
        # id any progress request names, an asyncio.Event it never drops.
        from gradio.routes import file_upload_statuses as statuses

        if progress:
            if upload_id not in statuses._statuses:
                statuses._signals.pop(upload_id, None)
            return
        if upload_id in statuses._statuses:
            statuses.set_done(upload_id)
        loop = asyncio.get_running_loop()
        loop.call_later(UPLOAD_ID_KEEP_S, _forget_upload, upload_id)  # no progress stream read it by then

    def _unknown_name(self, name: str) -> str | None:
        # Only the documented endpoints (those of /gradio_api/info) are called by name: the page's own events go
        # through the queue by fn_index, where their concurrency limits hold. Gradio let any event be called by
        # its name on run/, api/ and call/, the page's private events too, outside those limits.
        if any(fn.api_name == name and fn.fn and fn.api_visibility == "public" for fn in self.blocks.fns.values()):
            return None
        return f"no endpoint named {name[:100]!r}; GET {_PREFIX}/info lists the endpoints"

    def _other_index(self, name: str, data: object) -> str | None:
        # Gradio runs the event a body's fn_index names, whatever name the URL gives (run/, api/): a private event
        # called as "search" with its fn_index ran outside the queue; an unknown index was a traceback.
        if not isinstance(data, dict) or data.get("fn_index") is None:
            return None
        try:
            index = _INDEX.validate_python(data["fn_index"])
        except ValueError:
            return f"fn_index must be the number of the endpoint {name[:100]!r}, or left out"
        fn = self.blocks.fns.get(index)
        if fn is None or fn.api_name != name:
            return (f"fn_index {index} is not the endpoint {name[:100]!r}; leave fn_index out (GET {_PREFIX}/info "
                    "lists the endpoints)")
        return None

    def _unknown_index(self, data: object) -> str | None:
        if not isinstance(data, dict) or data.get("fn_index") is None:
            return None  # Gradio answers a malformed body itself (422)
        try:  # as Gradio's PredictBody reads it: pydantic's int, so "7" and 7.0 are event 7
            index = _INDEX.validate_python(data["fn_index"])
        except ValueError:
            return None  # Gradio answers a value that is no number itself (422)
        fn = self._events(data.get("session_hash")).get(index)
        if fn is None:
            return f"no event with fn_index {index}; /config lists the page's events"
        if fn.fn is None:  # Gradio looked for its (absent) Python function's outputs: IndexError, a traceback
            return f"the event with fn_index {index} runs in the browser only; there is nothing to run here"
        return None

    def _bad_event_data(self, data: object) -> str | None:
        # An event reading what was clicked (gr.SelectData) with no event data, or event data missing its fields:
        # Gradio made the handler's argument from it, a TypeError or a KeyError with a traceback in the log.
        if not isinstance(data, dict):
            return None
        try:
            fn = self._events(data.get("session_hash")).get(_INDEX.validate_python(data.get("fn_index")))
        except ValueError:
            return None
        for kind in _event_data_types(getattr(fn, "fn", None)):
            try:
                kind(None, data.get("event_data"))  # as Gradio makes it (helpers.special_args)
            except (TypeError, KeyError, AttributeError, IndexError, ValueError):
                return (f"the event with fn_index {data.get('fn_index')} reads what was clicked, and this request's "
                        f"event_data does not say it (the page sends it: {kind.__name__} needs "
                        f"{_EVENT_FIELDS.get(kind.__name__, 'its fields')})")
        return None

    def _events(self, session: object) -> dict:
        events = dict(self.blocks.fns)
        state = self.blocks.state_holder.session_data.get(session) if isinstance(session, str) else None
        config = getattr(state, "blocks_config", None)
        if config is not None:  # events a gr.render made for this session
            events.update(config.fns)
        return events

    def _event_session(self, event_id: str) -> str:
        """The session whose stream GET /call/NAME/EVENT_ID reads, found as Gradio's route finds it."""
        queue = self.blocks._queue
        event = queue.event_ids_to_events.get(event_id)
        if event is not None:
            return event.session_hash
        return next((s for s, ids in queue.pending_event_ids_session.items() if event_id in ids), event_id)

    def _unknown_session(self, session: str) -> str | None:
        if session in self.blocks._queue.pending_messages_per_session:
            return None
        return "no such event or session: it never started, or its results were read already"


_EVENT_FIELDS = {"SelectData": "an object with 'index' and 'value'"}
# How long a finished upload's id stays for its progress stream (the page opens it with the upload).
UPLOAD_ID_KEEP_S = 60.0


def _forget_upload(upload_id: str) -> None:
    from gradio.routes import file_upload_statuses as statuses

    if upload_id in statuses._statuses and statuses._statuses[upload_id].is_done:
        statuses.stop_tracking(upload_id)
    if upload_id not in statuses._statuses:
        statuses._signals.pop(upload_id, None)


# MCP methods that would make Gradio's MCP server open an HTTP client of its own (prompts/get, resources/read:
# ``gradio.mcp`` builds a gradio_client.Client to the root URL it reads from the request's headers, which a
# visitor could point at any host, port and path); this server's MCP has no prompts or resources to serve.
_MCP_REFUSED = frozenset({"prompts/get", "resources/read"})


_METHOD_NOT_FOUND, _INVALID_REQUEST = -32601, -32600  # JSON-RPC 2.0's error codes


def _mcp_refusal(data: object) -> list[dict] | dict | None:
    """The JSON-RPC answer to an MCP message (or batch) holding a refused method, None when it holds none: a
    "method not found" error for each refused request; in a batch, the other requests are not run (their errors say
    to send them alone); notifications get no answer."""
    messages = data if isinstance(data, list) else [data]
    # one pass, by position: a batch of 32,000 messages compared each with every refused one held the event loop
    # for 13 s; a method that is no string (a list: unhashable) is Gradio's to refuse as invalid
    refused = {i for i, m in enumerate(messages)
               if isinstance(m, dict) and isinstance(m.get("method"), str) and m["method"] in _MCP_REFUSED}
    if not refused:
        return None
    names = ", ".join(sorted({messages[i]["method"] for i in refused}))
    answers = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "id" not in message:
            continue
        if i in refused:
            error = {"code": _METHOD_NOT_FOUND,
                     "message": f"MCP method {message['method']!r} is not served: this server's MCP offers the "
                                "search tool only (tools/list, tools/call), with no prompts or resources"}
        else:
            error = {"code": _INVALID_REQUEST,
                     "message": f"not run: its batch holds a method this server does not serve ({names}); send it "
                                "without that method"}
        answers.append({"jsonrpc": "2.0", "id": message["id"], "error": error})
    return answers if isinstance(data, list) else (answers[0] if answers else [])


def _json_rpc_response(answer: list[dict] | dict) -> Response:
    """``answer`` as MCP's streamable HTTP sends a JSON reply; an empty one (notifications only) is 202."""
    if not answer:
        return Response(status_code=202)
    return JSONResponse(answer)


def _event_data_types(fn: object) -> list[type]:
    """The ``gr.EventData`` kinds a handler's parameters are annotated with (Gradio fills those from the event)."""
    if fn is None:
        return []
    from gradio.events import EventData
    from gradio.utils import get_type_hints

    try:
        hints = get_type_hints(fn)
    except Exception:  # noqa: BLE001 - a handler whose hints do not resolve takes no event data Gradio could fill
        return []
    return [h for h in hints.values() if isinstance(h, type) and issubclass(h, EventData)]


class _BadNumber(ValueError):
    pass


def _not_finite(value: str) -> float:
    raise _BadNumber(f"the JSON body holds {value[:20]}, which is no finite number: send finite numbers only")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400
        raise _BadNumber(f"the JSON body holds {text[:20]}, which is no finite number: send finite numbers only")
    return value


_MAX_DIGITS = 4300  # sys.get_int_max_str_digits()'s default
# Where a surrogate can come from: an escape \uD800-\uDFFF, or its UTF-8 bytes (json.loads decodes a body with
# "surrogatepass"). A body without either (almost every one) needs no encoding check: two copies of 31 MB less.
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


def _whole(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > _MAX_DIGITS:  # Python refuses to read it (ValueError), deep in Gradio or MCP: a 500
        raise _BadNumber(f"the JSON body holds a number of {digits} digits: send numbers of at most {_MAX_DIGITS}")
    return int(text)


def _strict_json(body: bytes) -> tuple[object, str | None]:
    """The body's JSON, and an error for what Gradio (or MCP) answered with a 500 and tracebacks: a number JSON has
    no place for (NaN, Infinity, one past a float's range, more digits than Python reads), a lone surrogate
    (``"\\ud800"``, no character), nesting past Python's recursion limit; a body that is no JSON at all is Gradio's
    to answer (422)."""
    try:
        data = json.loads(body, parse_constant=_not_finite, parse_float=_finite, parse_int=_whole)
        if _SURROGATE.search(body):  # a lone surrogate cannot be encoded (nor answered)
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        return data, None
    except _BadNumber as exc:
        return None, str(exc)
    except UnicodeEncodeError:
        return None, "the JSON body holds a lone surrogate (e.g. \\ud800), which is no character: send valid Unicode"
    except RecursionError:
        return None, "the JSON body is nested too deeply: send the event's values as Gradio's client does"
    except ValueError:
        return None, None


# Gradio keeps an event's input values in the session before a component checks them (gradio/blocks.py), so a
# forged value of millions of JSON values stayed held for as long as the session (78 MB for one 11 MB body). The
# page's events carry a few values (a knowledge base is one string); gradio_client's search at most 1,000 texts.
MAX_JSON_VALUES = 100_000
# An event body of up to 31 MB (a knowledge base typed into the page) takes 0.1 s or more to check; one of 15
# million numbers took 2.6 s, parsed on the server's loop, where it held up every other request. Bodies above this
# size are checked in a worker thread, at most this many at once.
LARGE_BODY = 256 * 1024
LARGE_BODY_CHECKS = 2
_STRING = re.compile(rb'"[^"]*"')  # linear: no escapes are left when it runs (_most_values)
_SCAN_CHUNK = 256 * 1024  # bytes scanned in one C call: the loop's thread waits for the GIL at most that long


def _most_values(body: bytes) -> int:
    """The most JSON values ``body`` can hold, counted without parsing it: one per comma, ``[`` and ``{`` outside
    strings, and one (an empty list or object counts 2). Linear in the body (escapes go first, so the string
    pattern never backtracks), and in chunks, so a body of millions of strings does not hold the GIL for seconds."""
    body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    count, inside = 1, False  # inside: a string opened in an earlier chunk is still open
    for start in range(0, len(body), _SCAN_CHUNK):
        chunk = body[start:start + _SCAN_CHUNK]
        if inside:
            end = chunk.find(b'"')
            if end < 0:
                continue
            chunk, inside = chunk[end + 1:], False
        bare = _STRING.sub(b"", chunk)
        if (opened := bare.find(b'"')) >= 0:  # the one string left open runs into the next chunk
            bare, inside = bare[:opened], True
        count += bare.count(b",") + bare.count(b"[") + bare.count(b"{")
    return count


def _checked_body(body: bytes) -> tuple[object, str | None]:
    """An event body's JSON and why it is refused (None: it is not): not UTF-8, more values than
    ``MAX_JSON_VALUES`` (counted before parsing, so a body of millions is never built), else ``_strict_json``'s
    reasons."""
    if json.detect_encoding(body) not in ("utf-8", "utf-8-sig"):  # json.loads reads UTF-16/32 too; the checks
        # here read UTF-8 bytes (a quote or a surrogate is other bytes there), and every client sends UTF-8
        return None, "send the JSON body in UTF-8 (Gradio's page and gradio_client do)"
    if _most_values(body) > MAX_JSON_VALUES:
        return None, _values_message()
    data, error = _strict_json(body)
    return data, error or _too_many_values(data)


def _values_message() -> str:
    return (f"the JSON body holds more than {MAX_JSON_VALUES:,} values; the page's events and its search endpoint "
            "take far fewer")


def _too_many_values(data: object) -> str | None:
    """Why ``data`` (a parsed JSON body) holds more values than any event of the page's (None: it does not)."""
    count, stack = 0, [data]
    while stack:
        item = stack.pop()
        count += 1
        if count > MAX_JSON_VALUES:
            return _values_message()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _bad_session(session: object, name: str = "session_hash") -> str | None:
    """Why ``session`` is no id Gradio's page or client could have made (None: it is one, or none was given)."""
    if session is None or (isinstance(session, str) and _SESSION.fullmatch(session)):
        return None
    return f"{name} must be 1 to 64 letters, digits, '_' or '-' (gradio_client and the page make such ids)"


def _bad_query_id(scope: Scope, name: str) -> str | None:
    """Why the query's ``name`` (an id Gradio keeps) is refused: given twice, or not a short token."""
    values = QueryParams(scope.get("query_string", b"")).getlist(name)
    if len(values) > 1:
        return f"give {name} once: {len(values)} were given"
    return _bad_session(values[0], name) if values else None


def _one_range_only(scope: Scope) -> Scope:
    """``scope`` without a Range header of any form but one range of bytes (the whole file is answered then)."""
    headers = scope.get("headers", [])
    if all(k.lower() != b"range" or _ONE_RANGE.match(v.strip()) for k, v in headers):
        return scope
    return {**scope, "headers": [(k, v) for k, v in headers if k.lower() != b"range"]}


def _file_headers_only(send: Send) -> Send:
    """``send`` keeping only a file answer's own headers (and CORS's), with ``nosniff``."""
    async def filtered(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() in _FILE_HEADERS or k.lower().startswith(b"access-control-")]
            # an uploaded file is served inline when its type is "safe" (text/plain): never let it be read as HTML
            message = {**message, "headers": [*headers, (b"x-content-type-options", b"nosniff")]}
        await send(message)
    return filtered


async def _read(receive: Receive) -> bytes | None:
    """The whole request body (bounded before this by the body limit); None if the client left."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def refuse_missing_values(blocks: "gr.Blocks") -> None:
    """Make an event called with fewer values than it takes fail with a message naming both counts, instead of
    Gradio's ValueError (a traceback in the log, ``{"error": null}`` for the caller); more values than it takes
    are refused the same way (Gradio dropped the extra ones without a word)."""
    import gradio as gr

    original = blocks.preprocess_data

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):  # noqa: ANN001 - Gradio's signature
        if len(inputs) != len(block_fn.inputs):
            name = str(block_fn.api_name or block_fn.name)[:100]
            raise gr.Error(f"the endpoint {name} takes {len(block_fn.inputs)} values in 'data' (one per parameter, "
                           f"in order) and this call sent {len(inputs)}; GET {_PREFIX}/info lists each endpoint's "
                           "parameters", print_exception=False)
        return await original(block_fn, inputs, state, explicit_call)

    blocks.preprocess_data = preprocess_data  # type: ignore[method-assign]
