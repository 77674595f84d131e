"""The demo's events: which handler runs on which action, in which queue group.

Every event here is private: the page's one public endpoint is ``webui.api``'s search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .eval_tab import EvalTab
from .handlers import RESTORED, TEXT_CONCURRENCY, DemoHandlers, render_message
from .i18n import Translator
from .layout import (PAGE_URL_JS, PICK_COLUMN_JS, SHOW_LINK_JS, SHOW_RESULTS_JS, Controls, KnowledgeBasePanel,
                     QueryBar, RerankBar, Results, clamp_js, fusion_updates)

# Embedding is CPU-heavy: two knowledge bases embed at once (a big one never blocks a small one completely),
# more would only share the same cores. Searches are light and run in their own group, so they never wait
# behind an embedding; cheap UI updates (status, labels) are not limited at all, those reading the text box a few at
# a time (TEXT).
EMBED_CONCURRENCY = 2
SEARCH_CONCURRENCY = 8
STATUS_POLL_S = 1.0

PRIVATE: dict[str, Any] = {"api_visibility": "private"}
CHEAP: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden", **PRIVATE}
TEXT: dict[str, Any] = {"concurrency_id": "text", "concurrency_limit": TEXT_CONCURRENCY, "show_progress": "hidden",
                        **PRIVATE}
SEARCHING: dict[str, Any] = {"concurrency_id": "search", "concurrency_limit": SEARCH_CONCURRENCY, **PRIVATE}
# Judgements are read, changed and written back: one at a time (each takes a millisecond), every click queued, so
# two quick clicks never both start from the same judgements and lose one.
JUDGING: dict[str, Any] = {"concurrency_id": "judge", "concurrency_limit": 1, "trigger_mode": "multiple",
                           "show_progress": "hidden", **PRIVATE}
EMBEDDING: dict[str, Any] = {"concurrency_id": "embed", "concurrency_limit": EMBED_CONCURRENCY,
                             "trigger_mode": "always_last", "show_progress": "full", **PRIVATE}


@dataclass
class Page:
    """Every part of the page the events connect."""

    tr: Translator
    language: gr.Radio
    status: gr.HTML
    timer: gr.Timer
    model_state: gr.State
    engine: gr.State  # this visitor's HybridEngine: never shared between sessions
    kb: KnowledgeBasePanel
    query: QueryBar
    controls: Controls
    results: Results
    evaluation: EvalTab | None
    rerank: RerankBar | None = None
    judgements: gr.State | None = None  # this visitor's relevance judgements (``hybrid.judgements``)
    tokenizer: Any = None  # the tokeniser panel (``webui.tokenizer_panel.TokenizerPanel``); None over a store

    def __post_init__(self) -> None:
        # stands for the reranker's top-n on a page without one, so the judgements keep their place
        self._no_top_n = gr.State(None)
        # stand for the tokeniser panel's mode and folding on a page without it
        self._no_tokenizer = [gr.State(None) for _ in range(2)]

    def tokenizer_inputs(self) -> list[Any]:
        """The tokeniser panel's mode and folding (empty states on a page without it)."""
        t = self.tokenizer
        return [t.mode, t.fold] if t is not None else self._no_tokenizer

    def search_inputs(self) -> list[Any]:
        """The inputs of ``DemoHandlers.search``."""
        c = self.controls
        top_n = self.rerank.top_n if self.rerank is not None and self.rerank.top_n is not None else self._no_top_n
        judged = [self.judgements] if self.judgements is not None else []
        return [self.engine, self.query.query, self.kb.kb, self.kb.split, c.alpha, c.fusion, c.normalizer, c.k,
                c.k1, c.b, c.threshold, c.window, self.language, top_n, *judged]

    def restored(self) -> list[Any]:
        """The components ``DemoHandlers.restore`` fills, in its order."""
        parts = {"query": self.query.query, "sample": self.kb.sample, "kb": self.kb.kb,
                 "examples": self.query.examples, "split": self.kb.split, "language": self.language,
                 "share_note": self.query.link_note, "engine": self.engine,
                 **dict(zip(("tok_mode", "tok_fold"), self.tokenizer_inputs())),
                 **{name: getattr(self.controls, name) for name in ("alpha", "fusion", "normalizer", "k", "k1",
                                                                     "b", "threshold", "window")}}
        return [parts[name] for name in RESTORED]


def wire_load_and_index(blocks: gr.Blocks, page: Page, h: DemoHandlers) -> None:
    """Page load: the model status (and the model's threshold), then the state a shared link carries, and
    its query is run. Whenever the knowledge base, the split switch or the model changes (and on load): the
    count, and the session's engine is brought up to date (embedding with a progress bar) before the current
    query is re-run against it."""
    kb, status_outputs = page.kb, [page.status, page.model_state, page.timer, page.controls.threshold]
    # A link's tokeniser first, its knowledge base and controls after: every index event the load starts (the
    # model state's, the text box's) then reads the link's engine (``DemoHandlers.restore_tokenizer``).
    restored = blocks.load(h.restore_tokenizer, None, page.restored()[-3:], **CHEAP).then(
        h.status_on_load, [page.model_state, page.language], status_outputs, **CHEAP).then(
        h.restore_rest, page.kb.sample, page.restored()[:-3], **CHEAP)
    restored.then(h.search_if_query, page.search_inputs(), page.results.outputs(), show_progress="hidden",
                  **SEARCHING)
    page.timer.tick(h.status_on_load, [page.model_state, page.language], status_outputs, **CHEAP)
    # the example chips and the sample picker follow the text: a pasted knowledge base of your own names no sample
    gr.on([kb.kb.change, kb.split.change], h.count_on_edit, [kb.kb, kb.split, page.language],
          [kb.kb_info, kb.panel, page.query.examples, kb.sample], **TEXT)
    # The index event's first answer sets the index line, the notice and the columns to "embedding" together; the
    # search after it sets them to "ready" together (it reads the query as it is then, typed while embedding).
    # On load it runs after a shared link's state is restored: it then builds the engine the link's tokeniser
    # asks for (``DemoHandlers.restore``), never one of the server's tokeniser landing after it.
    index_args = (h.index_and_search, page.search_inputs(), [page.engine, kb.index_info, *page.results.outputs()])
    index_kwargs = {"show_progress_on": kb.index_info, **EMBEDDING}
    after_args = (h.search_after_index, page.search_inputs(), [kb.index_info, *page.results.outputs()])
    after_kwargs = {"show_progress": "hidden", **SEARCHING}
    gr.on([kb.kb.change, kb.split.change, page.model_state.change], *index_args, **index_kwargs).then(
        *after_args, **after_kwargs)
    restored.then(*index_args, **index_kwargs).then(*after_args, **after_kwargs)


def wire_knowledge_base(page: Page, h: DemoHandlers) -> None:
    """Uploads, samples and undo change the text box (which re-indexes, see ``wire_load_and_index``)."""
    kb = page.kb
    outputs = [kb.kb, kb.sample, page.query.examples, kb.message, kb.notice, kb.undo_text, kb.undo, kb.upload]
    kb.upload.upload(h.upload, [kb.upload, kb.upload_mode, kb.kb, page.language, kb.undo_text, kb.split], outputs,
                     **TEXT)
    kb.sample.input(h.pick_sample, [kb.sample, kb.kb, page.language, kb.undo_text], outputs, **TEXT)
    kb.undo.click(h.undo, [kb.undo_text, kb.kb, page.language], outputs, **TEXT)


def wire_search(page: Page, h: DemoHandlers) -> None:
    """The button and Enter search (and say so when the query is empty); example chips fill the query and
    search; controls re-rank silently."""
    q, c, outputs = page.query, page.controls, page.results.outputs()
    gr.on([q.search.click, q.query.submit], h.on_search, page.search_inputs(), outputs, trigger_mode="always_last",
          **SEARCHING).then(None, None, None, js=SHOW_RESULTS_JS, **PRIVATE)
    q.examples.click(h.pick_example, q.examples, q.query, **CHEAP).then(
        h.on_search, page.search_inputs(), outputs, **SEARCHING)
    rerank_n = [page.rerank.top_n] if page.rerank is not None and page.rerank.top_n is not None else []
    top_n = [slider.change for slider in rerank_n]
    gr.on([c.alpha.change, c.fusion.change, c.normalizer.change, c.k.change, c.k1.change, c.b.change,
           c.threshold.change, c.window.change, *top_n], h.search_if_query, page.search_inputs(), outputs, trigger_mode="always_last",
          show_progress="hidden", **SEARCHING)
    page.results.picker.change(None, page.results.picker, None, js=PICK_COLUMN_JS, **PRIVATE)
    c.fusion.change(fusion_updates, [c.fusion, page.language], [c.alpha, c.normalizer], **CHEAP)
    for slider in (c.alpha, c.k, c.k1, c.b, c.threshold, c.window, *rerank_n):
        slider.input(None, slider, slider, js=clamp_js(slider), **PRIVATE)  # shows the value the search used


def wire_share(page: Page, h: DemoHandlers) -> None:
    """The share button: a link with the query and settings, shown, put in the address bar and copied."""
    q, c, kb = page.query, page.controls, page.kb
    inputs = [q.page_url, q.query, kb.sample, kb.kb, kb.split, c.alpha, c.fusion, c.normalizer, c.k, c.k1, c.b,
              c.threshold, c.window, page.language, *page.tokenizer_inputs(), page.engine]
    q.share.click(h.share_link, inputs, [q.link, q.link_note], js=PAGE_URL_JS, **TEXT).then(
        None, q.link, None, js=SHOW_LINK_JS, **PRIVATE)


def wire_language(page: Page, h: DemoHandlers) -> None:
    """The language switch: relabel every translated component, then redraw what handlers wrote."""
    kb, lang = page.kb, page.language
    relabeled = page.language.change(page.tr.relabel, lang, page.tr.components, **CHEAP).then(
        h.status_text, lang, page.status, **CHEAP).then(
        h.count_and_examples, [kb.kb, kb.split, lang], [kb.kb_info, kb.panel, page.query.examples], **TEXT).then(
        h.index_line, [page.engine, kb.kb, kb.split, lang], kb.index_info, **TEXT).then(
        render_message, [kb.message, lang], kb.notice, **CHEAP).then(
        h.hide_link, [page.query.link, lang, kb.sample], [page.query.link, page.query.link_note], **CHEAP).then(
        fusion_updates, [page.controls.fusion, lang], [page.controls.alpha, page.controls.normalizer], **CHEAP)
    if page.evaluation is not None:
        relabeled = relabeled.then(page.evaluation.rerender, page.evaluation.inputs(lang),
                                   page.evaluation.outputs(), **CHEAP)
        relabeled = relabeled.then(page.evaluation.drop_message, [page.evaluation.report, page.evaluation.status],
                                   page.evaluation.status, **CHEAP)
    if page.judgements is not None:  # a judgements message in the other language goes
        relabeled = relabeled.then(lambda: "", None, page.results.judge.message, **CHEAP)
    relabeled.then(h.search_if_query, page.search_inputs(), page.results.outputs(), show_progress="hidden",
                   **SEARCHING)


def wire_reranker(page: Page, h: DemoHandlers) -> None:
    """While the reranker loads its state is polled; when it changes (ready, failed) the query is re-run, so
    the reranked column fills in (or says why it cannot)."""
    if page.rerank is None:
        return
    r = page.rerank
    r.timer.tick(h.rerank_on_tick, r.state, [r.state, r.timer], **CHEAP)
    r.state.change(h.search_if_query, page.search_inputs(), page.results.outputs(), show_progress="hidden",
                   **SEARCHING)


def wire_evaluation(page: Page, h: DemoHandlers) -> None:
    """A query opened from the evaluation tab is searched, with the setting the tab put in the controls, even when
    no control changed."""
    if page.evaluation is not None and page.evaluation.opened is not None:
        page.evaluation.opened.then(h.search_if_query, page.search_inputs(), page.results.outputs(),
                                    show_progress="hidden", **SEARCHING)


def wire_judging(page: Page, h: DemoHandlers) -> None:
    """A judgement button on any card updates the session's judgements and redraws the results (badges in every
    column, the coverage line); the judgements download as a zip and upload again."""
    if page.judgements is None:
        return
    j, kb = page.results.judge, page.kb
    # always_last: a redraw asked for while another runs is not dropped (the page would show one judgement short)
    redraw = {"fn": h.search_if_query, "inputs": page.search_inputs(), "outputs": page.results.outputs(),
              "show_progress": "hidden", "trigger_mode": "always_last", **SEARCHING}
    for column in page.results.columns:
        column.click(h.judge, [page.judgements, page.engine, kb.kb, kb.split, page.language],
                     [page.judgements, j.message], **JUDGING).then(**redraw)
    # a zip of up to the page's largest knowledge base: in the search group, whose turns are bounded
    j.download.click(h.judgements_zip, [page.judgements, kb.kb, kb.split, page.language], [j.file, j.message],
                     show_progress="hidden", **SEARCHING)
    j.upload.upload(h.load_judgements, [j.upload, page.judgements, kb.kb, kb.split, page.language, kb.undo_text],
                    [page.judgements, kb.kb, kb.sample, page.query.examples, kb.undo_text, kb.undo, j.message,
                     kb.message, kb.notice, j.upload], **JUDGING).then(**redraw)
    # undo takes back what a loaded file's message said of the knowledge base (it spoke of the replaced one)
    kb.undo.click(lambda: "", None, j.message, **CHEAP)


def wire(blocks: gr.Blocks, page: Page, h: DemoHandlers) -> None:
    """Connect every event of the page."""
    wire_load_and_index(blocks, page, h)
    wire_reranker(page, h)
    wire_knowledge_base(page, h)
    wire_search(page, h)
    wire_share(page, h)
    wire_language(page, h)
    wire_evaluation(page, h)
    wire_judging(page, h)
