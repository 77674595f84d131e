"""The Gradio demo: a knowledge base, a query, keyword | semantic | hybrid (| reranked) columns side by side, and the data behind them.

Run ``python demo.py`` (or ``make demo``) and open http://127.0.0.1:7860. ``python demo.py --help`` lists the options.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from dataclasses import replace
from typing import Sequence

import gradio as gr

from hybrid.argtypes import whole_number
from hybrid.cli import tokenizer_options
from hybrid.config import add_config_option, check_store_bm25, config_from_args
from hybrid.kb import SUPPORTED_SUFFIXES, documents_from_file
from hybrid.semantic import resolve_device
from hybrid.service import ModelService
from hybrid.store import StoreError, open_store
from hybrid.store.milvus import DEFAULT_COLLECTION
from hybrid.tokenize import Tokenizer
from server import ApiSettings
from server.access import resolve_access
from server.app import check_forwarded_allow_ips, serve
from server.knowledge import ServerKnowledgeBase
from webui import format as fmt
from webui import layout, wiring
from webui.api import make_search
from webui.eval_tab import build_eval_tab
from webui.export import build_export, wire_export
from webui.handlers import MAX_ENTRIES, DemoHandlers, sample_of
from webui.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator, text
from webui.samples import DEFAULT_SAMPLE, sample_text
from webui.tokenizer_panel import build_tokenizer_panel, wire_tokenizer_panel

log = logging.getLogger("demo")

QUEUE_SIZE = 64
# Gradio's sweep of the files visitors uploaded (frequency, age in seconds): every hour, those older than a day
# go (the page reads an upload at once; the evaluation tab when "run" is pressed). All go when the server stops
# (its upload folder is its own: server.uploads).
UPLOAD_KEEP = (3600, 86400)
# Per-session memory: a visitor's engine (its knowledge base's index) is dropped this long after it was last built,
# and Gradio keeps the state of this many sessions at most (the least recently used go first). Gradio itself drops
# a closed tab's state after an hour; these bound sessions that stay open or never open a page at all.
SESSION_INDEX_TTL_S = 4 * 3600
MAX_SESSIONS = 500


def _blocks(lang: str) -> gr.Blocks:
    # Gradio 6 takes css at launch/mount time; given here it is still applied by launch() and by
    # server.app.mount_ui, so build_demo(...).launch() needs no extra argument.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The parameters have been moved", category=UserWarning)
        return gr.Blocks(title=text("title", lang), analytics_enabled=False, css=layout.page_css(),
                         delete_cache=UPLOAD_KEEP)


def build_demo(service: ModelService, kb_text: str | None = None, *, sample: str = DEFAULT_SAMPLE,
               lang: str = DEFAULT_LANGUAGE, max_entries: int = MAX_ENTRIES,
               server_kb: ServerKnowledgeBase | None = None, api_settings: ApiSettings | None = None,
               session_ttl_s: float = SESSION_INDEX_TTL_S, max_sessions: int = MAX_SESSIONS) -> gr.Blocks:
    """Build the demo UI around a shared, already started (or starting) ``ModelService``.

    Args:
        service: the one embedding model (and reranker, which adds the fourth column) shared by every visitor.
        kb_text: knowledge base shown at start (one entry per line); the sample ``sample`` when None.
        sample: stem of the sample in data/samples/ selected at start.
        lang: "zh" (default) or "en"; every visitor can switch.
        max_entries: knowledge bases with more entries are refused with a message.
        server_kb: the server's knowledge base (``--kb``, or ``--store``), searched by the public ``search``
            endpoint when a call sends none. Over a store, the page searches it too, read-only, for every visitor.
        api_settings: the limits of the public ``search`` endpoint (those of POST /search; from the
            environment when None).
        session_ttl_s: a session's engine is dropped this many seconds after it was last built.
        max_sessions: sessions whose state (engine included) is kept; the least recently used go beyond.
    Returns:
        The Blocks app with its queue configured (serve it with ``server.app.serve`` or ``launch``).
    """
    store_kb = server_kb if server_kb is not None and server_kb.store is not None else None
    h = DemoHandlers(service, max_entries=max_entries, store_kb=store_kb, session_ttl_s=session_ttl_s)
    status = service.status()
    initial_kb = kb_text if kb_text is not None else ("" if store_kb is not None else sample_text(sample))
    first_sample = None if store_kb is not None else (sample if kb_text is None else sample_of(kb_text))
    tr = Translator(lang)
    with _blocks(lang) as demo:
        language, status_line = layout.build_header(tr, status, lang)
        timer = layout.initial_timer(status, wiring.STATUS_POLL_S)
        judgements = gr.State({})  # this visitor's relevance judgements, beside the knowledge base
        engine = gr.State(None, time_to_live=session_ttl_s)
        with gr.Tabs() as tabs:
            with tr.make(gr.Tab, i18n={"label": "tab_search"}, id="search", elem_id="tab-search"):
                kb = layout.build_knowledge_base(tr, h, initial_kb, first_sample, lang)
                query = layout.build_query(tr, first_sample, lang)
                main_controls, top_n = layout.build_ranking_controls(tr, service.settings,
                                                                     fmt.RERANK_COLUMN in h.columns)
                results = layout.build_results(tr, status, lang, h.columns, h.rerank_notes(lang),
                                              judging=store_kb is None)
                rerank = layout.build_rerank_rest(tr, service.reranker_status(), top_n, wiring.STATUS_POLL_S)
                controls = layout.build_more_controls(tr, h, service.settings, main_controls)
                export = build_export(tr)
                # a store is tokenised as its collection was indexed: no tokeniser choice over it
                tokenizer_panel = None if store_kb is not None else build_tokenizer_panel(tr, service.tokenizer)
            with tr.make(gr.Tab, i18n={"label": "tab_evaluate"}, id="evaluate", elem_id="tab-evaluate"):
                evaluation = build_eval_tab(tr, service, controls.alpha, controls.fusion, language,
                                            judged=judgements if store_kb is None else None,
                                            normalizer=controls.normalizer, window=controls.window, tabs=tabs,
                                            query=query.query, kb=kb.kb, split=kb.split, sample=kb.sample,
                                            examples=query.examples,
                                            kb_undo=[kb.message, kb.notice, kb.undo_text, kb.undo, kb.panel],
                                            engine=engine, k=controls.k, upload_root=h.upload_root)
        page = wiring.Page(tr, language, status_line, timer, gr.State(status.state), engine, kb, query,
                           controls, results, evaluation, rerank, judgements if store_kb is None else None,
                           tokenizer_panel)
        wiring.wire(demo, page, h)
        wire_export(export, service, engine, controls, top_n, upload_root=h.upload_root)
        if tokenizer_panel is not None:
            wire_tokenizer_panel(tokenizer_panel, page, h)
        # Not queued: an MCP call then runs in the request that passed the access policy (a queued one would go
        # through Gradio's own loopback client, which carries no credentials). Embedding a sent knowledge base
        # still takes its turn at the model service's embedding gate.
        gr.api(make_search(service, server_kb, api_settings), api_name="search", queue=False)
    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    demo.state_session_capacity = max_sessions  # read when the app is mounted (launch() sets it from its argument)
    return demo


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``user:password`` to a (user, password) pair.

    Raises:
        argparse.ArgumentTypeError: no colon, or an empty user or password.
    """
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise argparse.ArgumentTypeError("--auth expects USER:PASSWORD, e.g. --auth admin:s3cret")
    return user, password


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python demo.py``."""
    p = argparse.ArgumentParser(prog="python demo.py", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=whole_number(0, 65535, "0: any free one"), default=7860, help="port of the UI and the API (0: any free one)")
    p.add_argument("--share", action="store_true",
                   help="also open a public Gradio share link (UI and API); protected by a generated key unless "
                        "--auth, --api-key or --open says otherwise")
    add_config_option(p)  # the page's starting setting, the server's search defaults, the tokenizer and the model
    p.add_argument("--model", default=None,
                   help="embedding model: auto (Qwen3-Embedding on a GPU, else the packaged multilingual-e5-small), "
                        "a packaged name, a short alias, a hub id or a local folder")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps")
    p.add_argument("--document-prompt", default=None, metavar="NAME",
                   help="prompt for knowledge-base entries: packaged e5 'query' (default: entries embedded like "
                        "questions, best for one-line entries) or 'passage' (long passages); other models: a "
                        "stored prompt name")
    p.add_argument("--reranker", default="auto",
                   help="second stage that re-scores the hybrid top-N: auto (Qwen3-Reranker-4B on a CUDA GPU, none "
                        "on the CPU), none, qwen3-0.6b | qwen3-4b | qwen3-8b, a hub id or a local folder")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--kb", metavar="FILE",
                        help=f"preload a knowledge base ({', '.join(SUPPORTED_SUFFIXES)}; UTF-8 or GBK/GB18030)")
    source.add_argument("--store", metavar="URI",
                        help="serve a Milvus collection read-only (built by `python -m hybrid index`): milvus:FILE.db "
                             "or milvus+http(s)://HOST:PORT (token from MILVUS_TOKEN)")
    p.add_argument("--collection", default=DEFAULT_COLLECTION, help="the Milvus collection (with --store)")
    tokenizer_options(p)  # the server's tokenizer: --kb, the page's start and the public endpoint
    p.add_argument("--auth", metavar="USER:PASSWORD", type=parse_auth,
                   help="require this login for everything (page, Gradio API, JSON API); a logged-in browser may "
                        "use the JSON API too")
    p.add_argument("--api-key", metavar="KEY", default=None,
                   help="require this key for everything: 'Authorization: Bearer KEY' from programs (JSON API and "
                        "gradio_client), or typed into the login page; comma-separated for several. Prefer the "
                        "HYBRID_API_KEY variable (a command line is visible to other users of the machine)")
    p.add_argument("--open", action="store_true", dest="open_access",
                   help="with --share or a --host other than loopback: serve without credentials (otherwise a key "
                        "is generated and printed); the --kb text is then searchable but not shown in the page")
    p.add_argument("--forwarded-allow-ips", metavar="IPS", default=None,
                   help="reverse proxies (comma-separated addresses, uvicorn's setting) whose X-Forwarded-For "
                        "names the real client for the rate limit; by default no forwarded header is believed")
    p.add_argument("--lang", choices=sorted(set(LANGUAGES.values())), default=DEFAULT_LANGUAGE,
                   help="language the UI opens in (each visitor can switch)")
    p.add_argument("--no-ui", action="store_true", help="serve the JSON API only, without the web UI")
    p.add_argument("--weight-model", default=None, metavar="FILE",
                   help="the weight model of fusion 'learned' (`python -m hybrid.evaluate --train-weight`); "
                        "default: the packaged one")
    p.add_argument("--mcp", action="store_true",
                   help="also serve the search endpoint as an MCP tool (streamable HTTP at /gradio_api/mcp/)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Start the demo and the JSON API on one port (and the MCP server with ``--mcp``); returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        resolve_device(args.device)
        kb_docs = documents_from_file(args.kb) if args.kb else []  # ids and metadata kept for /search
        kb_text = "\n".join(doc.text for doc in kb_docs) if args.kb else None
        if args.kb and not kb_text:
            raise ValueError(f"{args.kb} holds no entries: one entry per line, or a text column")
        settings = ApiSettings.from_env()
        if args.api_key is not None:
            settings = replace(settings, api_key=args.api_key)
        access = resolve_access(settings.api_key, args.auth, share=args.share, host=args.host,
                                open_access=args.open_access)
        check_forwarded_allow_ips(args.forwarded_allow_ips, args.share)
        if args.mcp and args.no_ui:
            raise ValueError("--mcp serves the page's search endpoint, which --no-ui leaves out")
        if args.weight_model is not None:
            from hybrid.weight_model import given_path, use

            use(given_path(args.weight_model))  # a WeightModelError is a ValueError
        config = config_from_args(args)
        tokenizer = Tokenizer.from_settings(config.tokenizer)
        store = (open_store(args.store, collection=args.collection, read_only=True, tokenizer=tokenizer)
                 if args.store else None)
        if store is not None and args.config:  # a file's k1 / b the collection does not have: said, not dropped
            try:
                check_store_bm25(config, store.bm25_params, store.describe(), args.config)
            except ValueError:
                store.close()
                raise
    except (ValueError, OSError, StoreError) as exc:  # KnowledgeBaseError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    service = ModelService(model=config.model, device=args.device, document_prompt=args.document_prompt,
                           reranker=args.reranker, embed_slots=settings.embed_concurrency,
                           tokenizer=tokenizer, settings=config.settings).start()
    # One knowledge base for POST /search and the page's search endpoint.
    server_kb = ServerKnowledgeBase(service, kb_docs, args.kb).start() if kb_docs else None
    if store is not None:
        server_kb = ServerKnowledgeBase.from_store(store, service).start()
        print(f"* Knowledge base: {store.describe()}, {len(store):,} entries, read-only")
    if kb_text is not None and not access.shows_kb:
        print("* --open: the --kb knowledge base is searchable (POST /search) but not shown in the page")
        kb_text = None
    blocks = None if args.no_ui else build_demo(service, kb_text, lang=args.lang, server_kb=server_kb,
                                                api_settings=settings)
    try:
        serve(blocks, service, host=args.host, port=args.port, share=args.share, auth=args.auth, kb=server_kb,
              api_settings=settings, access=access, forwarded_allow_ips=args.forwarded_allow_ips,
              ui_options={"mcp_server": True} if args.mcp else None)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if store is not None:
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
