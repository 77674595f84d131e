"""Serves the demo with a stand-in embedding model for the browser tests, the way ``demo.py`` serves it.

``python -m tests.ui_server --model fake|slow|gated [--gate FILE] [--server-kb FILE] [--reranker NAME] [--mcp]
[--config FILE] [--user-dict-bytes N] [--hold-close S] [--hold-join S]``
builds the page with ``demo.build_demo`` and serves it with ``server.app.start`` (the JSON API and the UI on
one loopback port, port 0), prints ``* UI:  <url>`` like ``demo.py`` and runs until it is terminated.
``--reranker`` loads a reranker for real (e.g. a tiny Qwen3 reranker's folder); none by default.

- fake: the one-hot fake model, ready at once;
- slow: the fake embedding 5 documents a second (progress and concurrency are easy to watch);
- gated: the fake, but its loading waits until the file ``--gate`` exists (the page's loading state).

``--hold-close S`` holds each event stream's closing message S seconds before it is sent, so a test can click in
the window where the server has decided to close the stream and the page does not know it yet. ``--hold-join S``
holds each ``queue/join`` answer S seconds (the event is queued and runs meanwhile), so an event's results can
reach the page before its join's answer does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from hybrid.config import config_from_args
from hybrid.semantic import LoadedEmbedder
from hybrid.tokenize import Tokenizer
from hybrid.service import ModelService
from tests.fakes import OneHotEncoder, SlowEncoder


def _loader(kind: str, gate: Path | None):
    def load(model: str, **_options) -> LoadedEmbedder:
        if kind == "gated":
            while gate is None or not gate.exists():
                time.sleep(0.1)
        encoder = SlowEncoder(0.2) if kind == "slow" else OneHotEncoder()
        return LoadedEmbedder(encoder, model)

    return load


class Hold:
    """ASGI middleware: the event stream's ``close_stream`` message is sent ``close`` seconds late, and each
    ``queue/join`` answer ``join`` seconds late."""

    def __init__(self, app, close: float = 0.0, join: float = 0.0) -> None:
        self.app, self.close, self.join = app, close, join

    async def __call__(self, scope, receive, send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""

        async def held(message) -> None:
            if path.endswith("/queue/data") and message["type"] == "http.response.body" \
                    and b'"close_stream"' in message.get("body", b""):
                await asyncio.sleep(self.close)
            elif path.endswith("/queue/join") and message["type"] == "http.response.start":
                await asyncio.sleep(self.join)
            await send(message)

        await self.app(scope, receive, held if path else send)


def main(argv: list[str] | None = None) -> int:
    """Serve until terminated."""
    parser = argparse.ArgumentParser(prog="python -m tests.ui_server")
    parser.add_argument("--model", choices=("fake", "slow", "gated"), default="fake")
    parser.add_argument("--gate", type=Path, help="gated: loading finishes once this file exists")
    parser.add_argument("--server-kb", help="the server's knowledge base (--kb of demo.py), not shown in the UI")
    parser.add_argument("--reranker", default="none",
                        help="a reranker loaded for real (load_reranker, CPU), e.g. a tiny Qwen3 reranker's folder")
    parser.add_argument("--mcp", action="store_true")
    parser.add_argument("--config", help="a setting file, as demo.py --config reads it")
    parser.add_argument("--user-dict-bytes", type=int, default=None,
                        help="bytes the jieba user dictionaries in use may hold together (hybrid.tokenize)")
    parser.add_argument("--hold-close", type=float, default=0.0,
                        help="seconds each event stream's closing message is held (a test of the race it opens)")
    parser.add_argument("--hold-join", type=float, default=0.0,
                        help="seconds each queue/join answer is held (an event's results may arrive first)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    import demo
    from server.app import start
    from server.knowledge import ServerKnowledgeBase

    if args.user_dict_bytes is not None:
        import hybrid.tokenize

        hybrid.tokenize.MAX_USER_DICT_BYTES = args.user_dict_bytes
    if args.hold_close or args.hold_join:
        import server.app

        create_app = server.app.create_app

        def holding(*a, **kw):
            app = create_app(*a, **kw)
            app.add_middleware(Hold, close=args.hold_close, join=args.hold_join)
            return app

        server.app.create_app = holding
    config = config_from_args(args)  # demo.py's reading of --config
    service = ModelService(cache=False, loader=_loader(args.model, args.gate), reranker=args.reranker,
                           device="cpu", settings=config.settings,
                           tokenizer=Tokenizer.from_settings(config.tokenizer)).start()
    server_kb = ServerKnowledgeBase.from_file(args.server_kb, service).start() if args.server_kb else None
    blocks = demo.build_demo(service, server_kb=server_kb)
    running = start(blocks, service, port=0, kb=server_kb, log_level="info",
                    ui_options={"mcp_server": True} if args.mcp else None)
    print(f"* UI:  {running.url}/", flush=True)
    running.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
