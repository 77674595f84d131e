"""The Gradio demo: a knowledge base, a query, keyword | semantic | hybrid columns side by side, and the data behind them.

Run ``python demo.py`` (or ``make demo``) and open http://127.0.0.1:7860. ``python demo.py --help`` lists the options.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from typing import Any, Sequence

import gradio as gr

from hybrid.fusion import FUSERS, NORMALIZERS
from hybrid.kb import SUPPORTED_SUFFIXES, entries_from_file
from hybrid.semantic import resolve_device
from hybrid.service import LOADING, READY, ModelService
from server import ApiSettings
from server.access import resolve_access
from server.app import check_forwarded_allow_ips, serve
from webui import format as fmt
from webui.handlers import MAX_ENTRIES, DemoHandlers, SearchOutputs
from webui.i18n import DEFAULT_LANGUAGE, LANGUAGES, TEXTS, text
from webui.samples import DEFAULT_SAMPLE, example_queries, sample_names, sample_text
from webui.thresholds import DEFAULT_THRESHOLD, threshold_for

try:
    from webui.eval_tab import build_eval_tab
except ModuleNotFoundError as exc:  # the evaluation tab is an optional module; the demo works without it
    if exc.name != "webui.eval_tab":
        raise
    build_eval_tab = None

log = logging.getLogger("demo")

# Embedding is CPU-heavy: two knowledge bases embed at once (a big one never blocks a small one completely),
# more would only share the same cores. Searches are light and run in their own group, so they never wait
# behind an embedding; cheap UI updates (counts, status, labels) are not limited at all.
EMBED_CONCURRENCY = 2
SEARCH_CONCURRENCY = 8
QUEUE_SIZE = 64
STATUS_POLL_S = 1.0

HEADER_CSS = """
.header h1 { margin: 0 0 4px 0; font-size: 1.6em; }
.header p { margin: 0; color: var(--body-text-color-subdued); }
"""


def _header(lang: str) -> str:
    return f'<div class="header"><h1>{text("title", lang)}</h1><p>{text("subtitle", lang)}</p></div>'


def _sample_choices(lang: str) -> list[tuple[str, str]]:
    return [(TEXTS[lang].get(f"sample_{name}", name), name) for name in sample_names()]


def build_demo(service: ModelService, kb_text: str | None = None, *, sample: str = DEFAULT_SAMPLE,
               lang: str = DEFAULT_LANGUAGE, max_entries: int = MAX_ENTRIES) -> gr.Blocks:
    """Build the demo UI around a shared, already started (or starting) ``ModelService``.

    Args:
        service: the one embedding model shared by every visitor.
        kb_text: knowledge base shown at start (one entry per line); the sample ``sample`` when None.
        sample: stem of the sample in data/samples/ selected at start.
        lang: "zh" (default) or "en"; every visitor can switch.
        max_entries: knowledge bases with more entries are refused with a message.
    Returns:
        The Blocks app with its queue configured (serve it with ``server.app.serve`` or ``launch``).
    """
    h = DemoHandlers(service, max_entries=max_entries)
    status0 = service.status()
    settings = service.settings
    threshold0 = threshold_for(status0.model) if status0.state == READY else DEFAULT_THRESHOLD
    initial_kb = kb_text if kb_text is not None else sample_text(sample)

    with gr.Blocks(title=text("title", lang), analytics_enabled=False) as demo:
        engine = gr.State(None)  # this visitor's HybridEngine: never shared between sessions
        model_state = gr.State(status0.state)
        with gr.Row(equal_height=True):
            header = gr.HTML(_header(lang), css_template=HEADER_CSS, scale=5)
            language = gr.Radio([(name, code) for name, code in LANGUAGES.items()], value=lang,
                                label=text("language", lang), scale=1, min_width=180, elem_id="language")
        status = gr.HTML(fmt.status_html(status0, lang), css_template=fmt.STATUS_CSS, elem_id="model-status")
        timer = gr.Timer(STATUS_POLL_S, active=status0.state == LOADING)

        with gr.Tabs():
            with gr.Tab(text("tab_search", lang), id="search"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        kb_header = gr.Markdown(f"### {text('kb_header', lang)}")
                        with gr.Row(equal_height=True):
                            samples = gr.Dropdown(_sample_choices(lang), value=sample if kb_text is None else None,
                                                  label=text("sample_label", lang), scale=2, elem_id="sample")
                            split = gr.Checkbox(False, label=text("split_label", lang), scale=1, elem_id="split")
                        kb = gr.Textbox(initial_kb, lines=11, max_lines=16, label=text("kb_label", lang),
                                        placeholder=text("kb_placeholder", lang), elem_id="kb")
                        kb_info = gr.Markdown(h.count(initial_kb, False, lang), elem_id="kb-info")
                        index_info = gr.Markdown("", elem_id="index-info")
                        upload = gr.File(label=text("upload_label", lang), file_types=list(SUPPORTED_SUFFIXES),
                                         type="filepath", height=110, elem_id="upload")
                        upload_notice = gr.HTML("", css_template=fmt.NOTICE_CSS, elem_id="upload-notice")
                    with gr.Column(scale=1, min_width=320):
                        query_header = gr.Markdown(f"### {text('query_header', lang)}")
                        with gr.Row(equal_height=True):
                            query = gr.Textbox(label=text("query_label", lang), placeholder=text("query_placeholder", lang),
                                               lines=1, max_lines=3, scale=4, elem_id="query")
                            search_btn = gr.Button(text("search_button", lang), variant="primary", scale=1,
                                                   min_width=110, elem_id="search-button")
                        examples = gr.Dataset(components=[query], samples=[[q] for q in example_queries(sample)],
                                              type="index", label=text("examples_label", lang), elem_id="examples")
                        controls_header = gr.Markdown(f"#### {text('controls_label', lang)}")
                        alpha = gr.Slider(0.0, 1.0, value=settings.alpha, step=0.05, label=text("alpha_label", lang),
                                          elem_id="alpha")
                        with gr.Row():
                            fusion = gr.Dropdown(list(FUSERS), value=settings.fusion, label=text("fusion_label", lang),
                                                 elem_id="fusion", min_width=120)
                            normalizer = gr.Dropdown(list(NORMALIZERS), value=settings.normalizer,
                                                     label=text("normalizer_label", lang), elem_id="normalizer",
                                                     min_width=120)
                            k = gr.Slider(1, 20, value=settings.k, step=1, label=text("k_label", lang), elem_id="k",
                                          min_width=140)
                        with gr.Row():
                            k1 = gr.Slider(0.0, 3.0, value=settings.k1, step=0.1, label=text("k1_label", lang),
                                           info=text("k1_info", lang), elem_id="k1", min_width=140)
                            b = gr.Slider(0.0, 1.0, value=settings.b, step=0.05, label=text("b_label", lang),
                                          info=text("b_info", lang), elem_id="b", min_width=140)
                            threshold = gr.Slider(0.0, 1.0, value=threshold0, step=0.01,
                                                  label=text("threshold_label", lang), info=h.threshold_info(lang),
                                                  elem_id="threshold", min_width=200)
                notice = gr.HTML("", css_template=fmt.NOTICE_CSS, elem_id="notice")
                with gr.Row(equal_height=False):
                    placeholder = fmt.placeholder_columns(text("results_placeholder", lang), lang, status0.model)
                    columns = [gr.HTML(value, css_template=fmt.COLUMN_CSS, elem_id=f"col-{name}", min_width=260)
                               for value, name in zip(placeholder, fmt.COLUMNS)]
                with gr.Accordion(text("why_label", lang), open=False, elem_id="why") as why_box:
                    alpha_used = gr.Markdown("")
                    why = gr.Dataframe(fmt.why_table_empty(lang), interactive=False, wrap=True, elem_id="why-table",
                                       column_widths=["6%", "31%"] + ["9%"] * 7)
                with gr.Accordion(text("backstage_label", lang), open=False, elem_id="backstage") as backstage:
                    vector_md = gr.Markdown(text("vec_none", lang), elem_id="vector-summary")
                    with gr.Row():
                        vector_table = gr.Dataframe(fmt.vector_table_empty(lang), interactive=False, scale=3,
                                                    column_widths=["12%"] + ["8.8%"] * 10, elem_id="vector-table")
                        timings = gr.Dataframe(fmt.timings_table({}, lang), interactive=False, scale=1,
                                               min_width=200, elem_id="timings")
                    with gr.Row():
                        vector_bar = gr.Plot(elem_id="vector-bar")
                        vector_hist = gr.Plot(elem_id="vector-hist")
            if build_eval_tab is not None:
                with gr.Tab(text("eval_tab", lang), id="evaluate"):
                    build_eval_tab(service, alpha=alpha, fusion=fusion)

        search_inputs = [engine, query, kb, split, alpha, fusion, normalizer, k, k1, b, threshold, language]
        search_outputs = [notice, *columns, why, alpha_used, vector_md, vector_table, vector_bar, vector_hist, timings]
        assert len(search_outputs) == len(SearchOutputs._fields)
        searching = {"concurrency_id": "search", "concurrency_limit": SEARCH_CONCURRENCY}
        cheap = {"concurrency_limit": None, "show_progress": "hidden"}

        # Model status: polled until the model is ready (or failed), then the timer stops.
        gr.on([demo.load, timer.tick], h.status, inputs=language, outputs=[status, model_state, timer], **cheap)
        model_state.change(h.threshold, inputs=language, outputs=threshold, **cheap)

        # Knowledge base: count at once; index (embedding, with a progress bar on the index line) in its own
        # concurrency group, then re-run the current query against the new index.
        gr.on([kb.change, split.change], h.count, inputs=[kb, split, language], outputs=kb_info, **cheap)
        gr.on([demo.load, kb.change, split.change, model_state.change], h.index,
              inputs=[engine, kb, split, language], outputs=[engine, index_info], concurrency_id="embed",
              concurrency_limit=EMBED_CONCURRENCY, trigger_mode="always_last", show_progress="full").then(
            h.search_if_query, inputs=search_inputs, outputs=search_outputs, show_progress="hidden", **searching)
        samples.input(h.pick_sample, inputs=samples, outputs=[kb, examples], **cheap)
        upload.upload(h.upload, inputs=[upload, language], outputs=[kb, upload_notice, upload], **cheap)

        # Searching: the button and Enter say so when the query is empty; controls re-rank silently.
        gr.on([search_btn.click, query.submit], h.search, inputs=search_inputs, outputs=search_outputs,
              trigger_mode="always_last", **searching)
        examples.click(h.pick_example, inputs=[examples, samples], outputs=query, **cheap).then(
            h.search, inputs=search_inputs, outputs=search_outputs, **searching)
        gr.on([alpha.change, fusion.change, normalizer.change, k.change, k1.change, b.change, threshold.change],
              h.search_if_query, inputs=search_inputs, outputs=search_outputs, trigger_mode="always_last",
              show_progress="hidden", **searching)

        # Language: relabel everything, then redraw the status line and the results in that language.
        relabeled = [header, kb_header, samples, split, kb, upload, query_header, query, search_btn, examples,
                     controls_header, alpha, fusion, normalizer, k, k1, b, threshold, why_box, backstage]

        def relabel(code: str) -> list[Any]:
            return [
                _header(code), f"### {text('kb_header', code)}",
                gr.Dropdown(choices=_sample_choices(code), label=text("sample_label", code)),
                gr.Checkbox(label=text("split_label", code)),
                gr.Textbox(label=text("kb_label", code), placeholder=text("kb_placeholder", code)),
                gr.File(label=text("upload_label", code)), f"### {text('query_header', code)}",
                gr.Textbox(label=text("query_label", code), placeholder=text("query_placeholder", code)),
                gr.Button(text("search_button", code)), gr.Dataset(label=text("examples_label", code)),
                f"#### {text('controls_label', code)}", gr.Slider(label=text("alpha_label", code)),
                gr.Dropdown(label=text("fusion_label", code)), gr.Dropdown(label=text("normalizer_label", code)),
                gr.Slider(label=text("k_label", code)),
                gr.Slider(label=text("k1_label", code), info=text("k1_info", code)),
                gr.Slider(label=text("b_label", code), info=text("b_info", code)),
                gr.Slider(label=text("threshold_label", code), info=h.threshold_info(code)),
                gr.Accordion(label=text("why_label", code)), gr.Accordion(label=text("backstage_label", code)),
            ]

        language.change(relabel, inputs=language, outputs=relabeled, **cheap).then(
            h.status, inputs=language, outputs=[status, model_state, timer], **cheap).then(
            h.count, inputs=[kb, split, language], outputs=kb_info, **cheap).then(
            h.search_if_query, inputs=search_inputs, outputs=search_outputs, show_progress="hidden", **searching)

    demo.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
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
    p.add_argument("--port", type=int, default=7860, help="port of the UI and the API")
    p.add_argument("--share", action="store_true",
                   help="also open a public Gradio share link (UI and API); protected by a generated key unless "
                        "--auth, --api-key or --open says otherwise")
    p.add_argument("--model", default="auto",
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
    p.add_argument("--kb", metavar="FILE",
                   help=f"preload a knowledge base ({', '.join(SUPPORTED_SUFFIXES)}; UTF-8 or GBK/GB18030)")
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Start the demo and the JSON API on one port; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        resolve_device(args.device)
        kb_text = "\n".join(entries_from_file(args.kb)) if args.kb else None
        settings = ApiSettings.from_env()
        if args.api_key is not None:
            settings = replace(settings, api_key=args.api_key)
        access = resolve_access(settings.api_key, args.auth, share=args.share, host=args.host,
                                open_access=args.open_access)
        check_forwarded_allow_ips(args.forwarded_allow_ips, args.share)
    except (ValueError, OSError) as exc:  # KnowledgeBaseError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if kb_text is not None and not access.shows_kb:
        print("* --open: the --kb knowledge base is searchable (POST /search) but not shown in the page")
        kb_text = None
    service = ModelService(model=args.model, device=args.device, document_prompt=args.document_prompt,
                           reranker=args.reranker, embed_slots=settings.embed_concurrency).start()
    blocks = None if args.no_ui else build_demo(service, kb_text, lang=args.lang)
    try:
        serve(blocks, service, host=args.host, port=args.port, share=args.share, auth=args.auth, kb_path=args.kb,
              api_settings=settings, access=access, forwarded_allow_ips=args.forwarded_allow_ips)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
