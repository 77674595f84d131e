"""Gradio's page client, served with one fix: an event joined while the server closes its event stream is read.

Gradio's page client (6.31) keeps one event stream per session and the server closes it when the session's last
event ends. A click whose ``queue/join`` is answered in the instant before the client reads that close finds the
stream still marked open, so no new stream is opened; its results then wait on the server until some later event
opens one (CI saw the third of three quick judgement clicks shown only after the next search, and an event no
stream reads is stopped by ``GradioGuard`` after its grace). The fix: on a close, a client still waiting for an
event it joined opens the stream again (``unclosed_events`` is the client's own set of joined, unfinished events).
That set must then hold only unfinished events, which Gradio's client did not keep it to: an event whose results
came before its join's answer was added after it had finished, and one finished through its own callback stayed
in it; either would have made every later close open a stream that never closed. So the id goes in before the
results that came early are replayed, leaves when its callback sees the end, and a stream is opened for it only
while it is unfinished.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import posixpath
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

# (Gradio's code, the same code fixed) in the built client, each found exactly once in one asset.
FIXES = (
    # The stream's message handler: ``r`` is its stream status, ``o`` the client, ``t`` the client's unclosed
    # events (destructured at the top of ``open_stream``).
    ("if(s.msg===`close_stream`){wt(r,o.abort_controller);return}",
     "if(s.msg===`close_stream`){wt(r,o.abort_controller);t.size>0&&o.open_stream();return}"),
    # ``submit`` after the join's answer: ``E`` is the event id, ``g`` the results that came before it, ``t`` the
    # event's callback, ``v`` the callbacks, ``y`` the unclosed events, ``h`` the stream status.
    ("E in g&&(g[E].forEach(e=>t(e)),delete g[E]),v[E]=t,y.add(E),h.open||await this.open_stream()",
     "v[E]=t,y.add(E),E in g&&(g[E].forEach(e=>t(e)),delete g[E]),h.open||!y.has(E)||await this.open_stream()"),
    # the event's callback at its end (complete or error)
    ("&&(v[E]&&delete v[E],E in _&&delete _[E],O())", "&&(v[E]&&delete v[E],y.delete(E),E in _&&delete _[E],O())"),
)


@dataclass(frozen=True)
class FixedAsset:
    """The client's asset with the fix: its URL path (``/assets/<name>``), body and ETag."""

    path: str
    body: bytes
    etag: str


def gradio_assets() -> Path:
    """The folder of Gradio's built page assets."""
    import gradio

    return Path(gradio.__file__).parent / "templates" / "frontend" / "assets"


def fixed_client(assets: Path | None = None) -> FixedAsset | None:
    """Find the asset holding the client's stream handler and apply the fix.

    Args:
        assets: the folder of built assets (Gradio's when None).
    Returns:
        the fixed asset, or None (logged) when not exactly one asset holds the handler, or it does not hold each
        code ``FIXES`` replaces exactly once (another Gradio build).
    """
    return _fixed(assets) if assets is not None else _gradio_fixed()


@functools.cache
def _gradio_fixed() -> FixedAsset | None:
    return _fixed(gradio_assets())


def _fixed(folder: Path) -> FixedAsset | None:
    found = []
    for file in sorted(folder.glob("*.js")):
        text = file.read_text(encoding="utf-8", errors="surrogateescape")
        if FIXES[0][0] in text:
            found.append((file, text))
    if len(found) != 1 or any(found[0][1].count(code) != 1 for code, _ in FIXES):
        log.warning("Gradio's page client was not fixed: %d of its assets hold the event stream's close handler "
                    "(expected one, holding each code the fix replaces once); a click made as the stream closes "
                    "may show its result late", len(found))
        return None
    file, text = found[0]
    for code, fixed in FIXES:
        text = text.replace(code, fixed)
    body = text.encode("utf-8", errors="surrogateescape")
    return FixedAsset(f"/assets/{file.name}", body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


class ClientFix:
    """Wraps the mounted Gradio app: ``GET``/``HEAD`` of the client's asset gets the fixed one (``fixed_client``).

    Args:
        app: the Gradio app.
        asset: from ``fixed_client``; None passes every request through.
    """

    def __init__(self, app: ASGIApp, asset: FixedAsset | None) -> None:
        self.app = app
        self.asset = asset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asset = self.asset
        if (asset is None or scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD")
                or _spelled(scope["path"]) != asset.path):
            await self.app(scope, receive, send)
            return
        fresh = Headers(scope=scope).get("if-none-match") == asset.etag
        headers = [(b"etag", asset.etag.encode()), (b"cache-control", b"no-cache")]
        if not fresh:
            headers += [(b"content-type", b"text/javascript; charset=utf-8"),
                        (b"content-length", str(len(asset.body)).encode())]
        await send({"type": "http.response.start", "status": 304 if fresh else 200, "headers": headers})
        body = b"" if fresh or scope["method"] == "HEAD" else asset.body
        await send({"type": "http.response.body", "body": body})


def _spelled(path: str) -> str:
    """``path`` as the file it names: ``/assets/./x.js``, ``/assets//x.js`` and ``/assets/x.js/`` reach the same
    file through Gradio's static route, so they get the fixed client too."""
    return posixpath.normpath("/" + path.lstrip("/"))
