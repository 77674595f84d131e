"""The demo's page, built section by section: the components only; ``webui.wiring`` connects their events."""

from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gradio as gr

from hybrid.fusion import FUSERS, NORMALIZERS, USES_NORMALIZER
from hybrid.service import LOADING, ModelStatus, RerankerStatus
from hybrid.settings import Settings

from . import format as fmt
from .calibration import calibration_for
from .handlers import APPEND, REPLACE, DemoHandlers
from .i18n import LANGUAGES, TEXTS, Translator, text
from .samples import example_queries, sample_names

NARROW_PX = 800  # below this width the result columns become tabs

# Page-level rules (Gradio applies them to the whole page): the answer-first layout and the phone layout.
# Below NARROW_PX the result columns stack at full width and the column picker shows one at a time; the
# picker sets data-show on #results (hybrid when it was never touched).
PAGE_CSS = """
.gradio-container { max-width: 1440px !important; }
#header h1 { margin: 0 0 2px 0; font-size: 1.5em; }
#header p { margin: 0; color: var(--body-text-color-subdued); }
#column-picker { display: none; }
#share-note:not(:has(.notice)), #kb-notice:not(:has(.notice)), #notice:not(:has(.notice)) { display: none; }
/* Gradio sizes the columns of a table from column_widths and the card's width (on a phone, a character or two
   wide) or, without column_widths, from each column's longest value on one line (a label column then fills the
   card and pushes the numbers out of sight). Here a cell keeps a readable width (the same in the header and the
   body, so columns stay aligned), the table scrolls inside its card when it must, and text breaks only between
   words: a column is never narrower than its longest word, a number never breaks. */
#why-table table, #vector-table table, #why-table .virtual-body, #vector-table .virtual-body {
  width: max-content !important; min-width: 100%%; }
#why-table th, #why-table .body-cell, #vector-table th, #vector-table .body-cell {
  max-width: none !important; flex: 0 0 auto !important; }
#why-table th, #why-table .body-cell { min-width: 4.5em !important; }
/* room for the widest value, "-0.0000": 7 digits of a monospaced font (0.6em each; the `ch` unit is unreliable
   here, 0.5em while the web font is missing); at 1440 px the column_widths give more already */
#vector-table th, #vector-table .body-cell { min-width: calc(4.25em + 2 * var(--size-2)) !important; }
#why-table th:nth-child(2), #why-table .body-cell:nth-child(2) { min-width: 10em !important; }
#why-table th, #vector-table th, #timings th, #eval-table th, #eval-changes th, #eval-overlap th,
#why-table th *, #vector-table th *, #timings th *, #eval-table th *, #eval-changes th *, #eval-overlap th * {
  word-break: normal !important; overflow-wrap: normal !important; }
/* the evaluation tables size their columns from the header and a row of each column's longest value: both
   wrap between words, so the table squeezes into the card down to its longest words and no further */
#eval-table th *, #eval-changes th *, #eval-overlap th *,
#eval-table .sizing-body td, #eval-changes .sizing-body td, #eval-overlap .sizing-body td {
  white-space: normal !important; }
#eval-table .body-cell span, #eval-changes .body-cell span, #eval-overlap .body-cell span {
  white-space: normal !important; text-overflow: clip !important; word-break: normal !important;
  overflow-wrap: break-word !important; }
@media (max-width: %(narrow)dpx) {
  #results { flex-direction: column; gap: 8px; }
  #results > * { min-width: 100%% !important; width: 100%% !important; }
  #column-picker { display: block; }
  %(hide)s { display: none !important; }
  #header-row, #query-row { flex-wrap: wrap; }
  #header-row > *, #query-row > :has(#query) { min-width: 100%% !important; }
  #query-row > button { flex: 1 1 0 !important; min-width: 0 !important; }
  /* a hit's "why" grid stacks: one line per part, each value after its column's name, wrapping between values */
  .why-grid, .why-grid tbody, .why-grid tr, .why-grid th { display: block !important; }
  .why-grid thead { display: none !important; }
  .why-grid tr { margin-bottom: 4px; }
  .why-grid tr, .why-grid th, .why-grid td { border: none !important; padding: 0 !important; background: none !important; }
  .why-grid td, .why-grid .why-total th { display: inline-block !important; margin-right: 10px; }
  .why-grid .why-total { border-top: 1px solid var(--border-color-primary) !important; padding-top: 2px !important; }
  .why-grid td[data-label]::before { content: attr(data-label) " "; color: var(--body-text-color-subdued); }
}
/* numbers in the summary table never break inside ("3.411" over "1"); the text column still wraps */
#why-table .body-cell:not(:nth-child(2)), #why-table .body-cell:not(:nth-child(2)) * {
  white-space: nowrap !important; word-break: normal !important; overflow-wrap: normal !important; }
#why-table th:not(:nth-child(2)), #why-table .body-cell:not(:nth-child(2)) { min-width: 6em !important; }
"""


def _hide_rules() -> str:
    """CSS selectors hiding every column but the picked one (hybrid before any pick)."""
    rules = []
    names = [c.name for c in fmt.ALL_COLUMNS]
    for column in names:
        for other in names:
            if other != column:
                rules.append(f'#results[data-show="{column}"] #col-{other}')
        if column != "hybrid":
            rules.append(f"#results:not([data-show]) #col-{column}")
    return ", ".join(rules)


def page_css() -> str:
    """The page's CSS, with a rule for every result column."""
    return PAGE_CSS % {"narrow": NARROW_PX, "hide": _hide_rules()}


# Runs in the browser when the column picker changes: show that column (phone layout).
PICK_COLUMN_JS = "(column) => { const row = document.getElementById('results'); if (row) row.dataset.show = column; }"
# Runs in the browser after a search from the button or Enter: on a phone (the layout below NARROW_PX) the
# results start a screen or more below the query box; bring them (or the notice above them) into view.
SHOW_RESULTS_JS = """() => { if (window.innerWidth >= %d) return;
  const notice = document.querySelector('#notice .notice');
  const target = notice || document.getElementById('column-picker') || document.getElementById('results');
  if (target) target.scrollIntoView({block: 'start', behavior: 'instant'}); }""" % NARROW_PX
# Runs in the browser before the share handler: hand it the page's own address.
PAGE_URL_JS = "(...values) => [window.location.href, ...values.slice(1)]"
# Runs in the browser after the share handler: show the link in the address bar and copy it.
SHOW_LINK_JS = """(url) => { if (url) { try { history.replaceState(null, '', url); } catch (e) {}
  if (navigator.clipboard) { navigator.clipboard.writeText(url).catch(() => {}); } } }"""


class BoundedSlider(gr.Slider):
    """A slider that clamps a typed value outside its range to the nearest end.

    Gradio's slider refuses such a value with an English error toast (a traceback in the server log) and the
    event's outputs keep their old values; clamped, the event runs with the value the page then shows
    (``clamp_js`` corrects the number box). A subclass, not a patched instance: Gradio rebuilds a component
    from its class when an event updates it. (Gradio writes a stub ``layout.pyi`` beside this file; ignored.)
    """

    def get_block_name(self) -> str:
        return "slider"

    def preprocess(self, payload: float | None) -> float | None:
        """The value, clamped into [minimum, maximum].

        Raises:
            gr.Error: ``payload`` is not a number (text, a list, NaN: only a forged event sends one; it made
                Gradio's check or the handler fail with a traceback in the log), not printed in the log; null (a
                cleared number box) without a toast.
        """
        if isinstance(payload, bool) or not isinstance(payload, (int, float)) or math.isnan(payload):
            # null is what the page sends while its number box is being retyped (cleared, then a digit): the event
            # is dropped without a toast, the next keystroke's runs
            raise gr.Error(f"{self.label or 'this slider'} takes a number from {self.minimum:g} to {self.maximum:g}",
                           visible=payload is not None, print_exception=False)
        return super().preprocess(min(max(float(payload), self.minimum), self.maximum))


class QuietNumber(gr.Number):
    """``gr.Number`` whose handler checks the value (in the page's language): a number box refuses only what is no
    number at all (null, text, a list: only a forged event sends one), without a traceback in the log. Gradio's own
    ``minimum`` and ``precision`` answered a negative value with an English toast and a traceback, and rounded 2.5
    to 2 silently."""

    def get_block_name(self) -> str:
        return "number"

    def preprocess(self, payload: Any) -> float | None:
        """The number, or None for an empty box.

        Raises:
            gr.Error: ``payload`` is not a number (not printed in the log).
        """
        if payload is None:
            return None
        if isinstance(payload, bool) or not isinstance(payload, (int, float)) or not math.isfinite(payload):
            raise gr.Error(f"{self.label or 'this box'} takes a number", print_exception=False)
        return float(payload)


class ExampleQueries(gr.Dataset):
    """``gr.Dataset`` of example queries; a forged click naming no example (text, a list, an index past the
    examples) is refused without a traceback in the log (Gradio indexed its samples with it)."""

    def get_block_name(self) -> str:
        return "dataset"

    def preprocess(self, payload: Any) -> Any:
        """Gradio's value for the clicked example.

        Raises:
            gr.Error: ``payload`` is not the index of an example (not printed in the log).
        """
        if payload is not None and (isinstance(payload, bool) or not isinstance(payload, int)
                                    or not 0 <= payload < len(self.raw_samples)):
            raise gr.Error("this list takes the index of one of its examples", print_exception=False)
        return super().preprocess(payload)


def _shape_fits(payload: Any, many: bool) -> bool:
    """Whether ``payload`` has the shape of a choice control's value: one text or number, or (``many``) a list of
    them; None (nothing chosen) fits both."""
    def one(value: Any) -> bool:
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)

    if payload is None:
        return True
    return isinstance(payload, list) and all(map(one, payload)) if many else one(payload)


class _QuietChoices:
    """Refuses a value outside the choices as Gradio does, without printing a traceback to the server's log.

    Only a forged request sends such a value (the page offers the choices alone); Gradio printed some 40 lines
    for each, with no limit. The caller still gets Gradio's message.
    """

    def preprocess(self, payload: Any) -> Any:
        """Gradio's value for ``payload``.

        Raises:
            gr.Error: ``payload`` is not among the choices (not printed in the log).
        """
        if not _shape_fits(payload, many=isinstance(self, gr.CheckboxGroup) or getattr(self, "multiselect", False)):
            # refused before Gradio's own check, which writes the whole value into its message (4 s for 25 MB)
            raise gr.Error("this control takes " + ("a list of its choices" if isinstance(self, gr.CheckboxGroup)
                                                    else "one of its choices"), print_exception=False)
        try:
            return super().preprocess(payload)  # type: ignore[misc]
        except gr.Error as exc:
            raise gr.Error(str(exc.message)[:500], print_exception=False) from None


class Dropdown(_QuietChoices, gr.Dropdown):
    """``gr.Dropdown``; a forged value outside its choices, or a list where it takes one value, leaves no traceback
    in the log (Gradio passed a list of choices through to the handler, which failed on it)."""

    def get_block_name(self) -> str:
        return "dropdown"

    def preprocess(self, payload: Any) -> Any:
        """Gradio's value for ``payload``.

        Raises:
            gr.Error: ``payload`` is not among the choices, or is a list and the dropdown takes one value.
        """
        if isinstance(payload, list) and not self.multiselect:
            raise gr.Error(f"{self.label or 'this dropdown'} takes one value, not a list", print_exception=False)
        return super().preprocess(payload)


class Radio(_QuietChoices, gr.Radio):
    """``gr.Radio``; a forged value outside its choices leaves no traceback in the log."""

    def get_block_name(self) -> str:
        return "radio"


class CheckboxGroup(_QuietChoices, gr.CheckboxGroup):
    """``gr.CheckboxGroup``; a forged value outside its choices leaves no traceback in the log."""

    def get_block_name(self) -> str:
        return "checkboxgroup"


def clamp_js(slider: gr.Slider) -> str:
    """Browser code run when ``slider`` changes: a typed value outside its range becomes the nearest end."""
    return f"(v) => Math.min(Math.max(Number(v), {slider.minimum}), {slider.maximum})"


def sample_choices(lang: str) -> list[tuple[str, str]]:
    """The sample dropdown's (display name, sample) pairs."""
    return [(TEXTS[lang].get(f"sample_{name}", name), name) for name in sample_names()]


def _header(lang: str) -> str:
    return f'<div id="header"><h1>{text("title", lang)}</h1><p>{text("subtitle", lang)}</p></div>'


@dataclass
class KnowledgeBasePanel:
    """The collapsible knowledge-base editor, and the index line below it."""

    panel: gr.Accordion
    sample: gr.Dropdown
    split: gr.Checkbox
    kb: gr.Textbox
    kb_info: gr.Markdown
    index_info: gr.HTML
    upload: gr.File
    upload_mode: gr.Radio
    notice: gr.HTML
    undo: gr.Button
    message: gr.State  # the last knowledge-base message as (key, values, error), re-rendered on a language switch
    undo_text: gr.State  # what the undo button brings back (``handlers.UndoSlot``)


@dataclass
class QueryBar:
    """Query box, search and share buttons, the share link and the example chips."""

    query: gr.Textbox
    search: gr.Button
    share: gr.Button
    page_url: gr.Textbox
    link: gr.Textbox
    link_note: gr.HTML
    examples: gr.Dataset


@dataclass
class Controls:
    """The ranking controls."""

    alpha: gr.Slider
    fusion: gr.Dropdown
    normalizer: gr.Dropdown
    k: gr.Slider
    more: gr.Accordion
    k1: gr.Slider
    b: gr.Slider
    threshold: gr.Slider
    window: gr.Slider


@dataclass
class RerankBar:
    """The reranker's top-N control (when the server has a reranker), or the line saying how to enable one."""

    top_n: gr.Slider | None
    hint: gr.Markdown | None
    state: gr.State  # the reranker's state name; its change re-runs the query
    timer: gr.Timer  # polls the reranker's state while it loads


@dataclass
class Results:
    """The notice line, the result columns (one per ``fmt.COLUMNS``) and the panels that explain them."""

    notice: gr.HTML
    picker: gr.Radio
    columns: list[gr.HTML]
    why_box: gr.Accordion
    alpha_note: gr.Markdown
    why: gr.Dataframe
    backstage: gr.Accordion
    vector_summary: gr.Markdown
    vector_table: gr.Dataframe
    timings: gr.Dataframe
    vector_bar: gr.Plot
    vector_histogram: gr.Plot
    judge: JudgeBar

    def outputs(self) -> list[Any]:
        """The search event's outputs, in the order of ``SearchOutputs.values()``."""
        return [self.notice, *self.columns, self.why, self.alpha_note, self.vector_summary, self.vector_table,
                self.vector_bar, self.vector_histogram, self.timings, self.judge.line]


@dataclass
class JudgeBar:
    """Under the results: the judgements' coverage line, their message, download and upload."""

    line: gr.HTML
    message: gr.HTML
    download: gr.Button
    file: gr.File
    upload: gr.UploadButton


def build_header(tr: Translator, status: ModelStatus, lang: str) -> tuple[gr.Radio, gr.HTML]:
    """Title, model status line and language switch in one row; returns (language, status)."""
    with gr.Row(equal_height=True, elem_id="header-row"):
        tr.make(gr.HTML, i18n={"value": _header}, scale=4, min_width=300, padding=False)
        status_line = gr.HTML(fmt.status_html(status, lang), css_template=fmt.STATUS_CSS, elem_id="model-status",
                              scale=4, min_width=300, padding=False)
        language = Radio([(name, code) for name, code in LANGUAGES.items()], value=lang,
                            label=text("language", lang), scale=1, min_width=180, elem_id="language")
    return language, status_line


def build_knowledge_base(tr: Translator, h: DemoHandlers, kb_text: str, sample: str | None,
                         lang: str) -> KnowledgeBasePanel:
    """The knowledge-base panel, collapsed, its label carrying the entry count. Serving a store, the panel
    only says what it holds: there is nothing to edit."""
    kb_info, panel_label = h.count(kb_text, False, lang)
    editable = h.store_kb is None
    with gr.Accordion(panel_label["label"], open=False, elem_id="kb-panel") as panel:
        with gr.Row(equal_height=True, visible=editable):
            sample_box = tr.make(Dropdown, i18n={"choices": sample_choices, "label": "sample_label"},
                                 value=sample, scale=2, elem_id="sample")
            split = tr.make(gr.Checkbox, False, i18n={"label": "split_label"}, scale=1, elem_id="split")
        kb = tr.make(gr.Textbox, kb_text, i18n={"label": "kb_label", "placeholder": "kb_placeholder"},
                     lines=10, max_lines=16, elem_id="kb", visible=editable)
        info = gr.Markdown(kb_info, elem_id="kb-info")
        with gr.Row(equal_height=True, visible=editable):
            # no file_types: Gradio refused other files with an English toast and left the notice below as it was;
            # the upload handler refuses them in the page's language, in the notice (review)
            upload = tr.make(gr.File, i18n={"label": "upload_label"}, type="filepath", height=140, scale=3,
                             elem_id="upload")
            mode = tr.make(Radio, i18n={"choices": lambda code: [(text("upload_replace", code), REPLACE),
                                                                    (text("upload_append", code), APPEND)],
                                           "label": "upload_mode_label"},
                           value=REPLACE, scale=2, elem_id="upload-mode")
        with gr.Row(equal_height=True):
            notice = gr.HTML("", css_template=fmt.NOTICE_CSS, elem_id="kb-notice", padding=False)
            undo = tr.make(gr.Button, i18n={"value": "undo_button"}, visible=False, size="sm", scale=0,
                           min_width=120, elem_id="undo")
    # Outside the panel, so that embedding progress shows while it is collapsed. HTML, not Markdown: Markdown
    # renders a moment after the HTML notice and columns of the same answer, which showed a stale line beside them.
    index_info = gr.HTML("", elem_id="index-info")
    return KnowledgeBasePanel(panel, sample_box, split, kb, info, index_info, upload, mode, notice, undo,
                              gr.State(None), gr.State(None))


def build_query(tr: Translator, sample: str | None, lang: str) -> QueryBar:
    """The query row with its buttons, the share link (hidden until asked for) and the example chips."""
    with gr.Row(equal_height=True, elem_id="query-row"):
        query = tr.make(gr.Textbox, i18n={"label": "query_label", "placeholder": "query_placeholder"},
                        lines=1, max_lines=3, scale=6, elem_id="query")
        search = tr.make(gr.Button, i18n={"value": "search_button"}, variant="primary", scale=1, min_width=110,
                         elem_id="search-button")
        share = tr.make(gr.Button, i18n={"value": "share_button"}, variant="secondary", scale=0, min_width=100,
                        elem_id="share-button")
    page_url = gr.Textbox(visible=False)
    link = tr.make(gr.Textbox, i18n={"label": "share_label"}, visible=False, interactive=False, buttons=["copy"],
                   elem_id="share-link")
    link_note = gr.HTML("", css_template=fmt.NOTICE_CSS, elem_id="share-note", padding=False)
    queries = example_queries(sample, tr.lang) if sample else ()
    examples = tr.make(ExampleQueries, i18n={"label": "examples_label"}, components=[query],
                       samples=[[q] for q in queries], type="values", visible=bool(queries), elem_id="examples")
    return QueryBar(query, search, share, page_url, link, link_note, examples)


def fusion_notes(fusion: str, lang: str) -> dict[str, dict[str, Any]]:
    """What alpha means under ``fusion``, and whether the normaliser does anything there: the properties of
    the alpha slider (``info``) and of the normaliser dropdown (``info``, ``interactive``)."""
    used = fusion in USES_NORMALIZER
    known = fusion if f"alpha_info_{fusion}" in TEXTS[lang] else "weighted"
    return {"alpha": {"info": text(f"alpha_info_{known}", lang)},
            "normalizer": {"info": text("normalizer_info_used", lang) if used
                           else text("normalizer_info_unused", lang, fusion=fusion),
                           "interactive": used}}


def fusion_updates(fusion: str, lang: str) -> tuple[Any, Any]:
    """``gr.update``s of the alpha slider and the normaliser dropdown for ``fusion`` (``fusion_notes``)."""
    notes = fusion_notes(fusion, lang)
    return gr.update(**notes["alpha"]), gr.update(**notes["normalizer"])


def build_controls(tr: Translator, settings: Settings, inside: Callable[[], Any] | None = None
                   ) -> tuple[gr.Slider, gr.Dropdown, gr.Dropdown, gr.Slider]:
    """alpha, fusion, normaliser and k in one row above the results (``inside()`` adds more to the row);
    returns the four."""
    with gr.Row(equal_height=True):
        notes = fusion_notes(settings.fusion, tr.lang)  # the fusion's own, kept by fusion and language changes
        alpha = tr.make(BoundedSlider, 0.0, 1.0, i18n={"label": "alpha_label"}, value=settings.alpha, step=0.05,
                        scale=3, min_width=240, elem_id="alpha", info=notes["alpha"]["info"])
        fusion = tr.make(Dropdown, list(FUSERS), i18n={"label": "fusion_label"}, value=settings.fusion, scale=1,
                         min_width=130, elem_id="fusion")
        normalizer = tr.make(Dropdown, list(NORMALIZERS), i18n={"label": "normalizer_label"},
                             value=settings.normalizer, scale=1, min_width=130, elem_id="normalizer",
                             **notes["normalizer"])
        k = tr.make(BoundedSlider, 1, 20, i18n={"label": "k_label"}, value=settings.k, step=1, scale=1, min_width=150,
                    elem_id="k")
        if inside is not None:
            inside()
    return alpha, fusion, normalizer, k


def build_more_controls(tr: Translator, h: DemoHandlers, settings: Settings,
                        main: tuple[gr.Slider, gr.Dropdown, gr.Dropdown, gr.Slider]) -> Controls:
    """BM25 k1/b, the relevance threshold and the candidate window, folded away below the results; returns every
    control. A store
    that fixes k1 and b (Milvus: when the collection is built) shows its values, which cannot be moved."""
    fixed = h.store_kb.engine.store.bm25_params if h.store_kb is not None else None
    k1_value, b_value = fixed if fixed is not None else (settings.k1, settings.b)
    k1_info, b_info = ("k1_info", "b_info") if fixed is None else (
        (lambda code: text("bm25_fixed", code)),) * 2
    with tr.make(gr.Accordion, i18n={"label": "more_controls"}, open=False, elem_id="more-controls") as more:
        with gr.Row():
            k1 = tr.make(BoundedSlider, 0.0, 3.0, i18n={"label": "k1_label", "info": k1_info}, value=k1_value,
                         step=0.1, elem_id="k1", min_width=160, interactive=fixed is None)
            b = tr.make(BoundedSlider, 0.0, 1.0, i18n={"label": "b_label", "info": b_info}, value=b_value, step=0.05,
                        elem_id="b", min_width=160, interactive=fixed is None)
            threshold = tr.make(BoundedSlider, 0.0, 1.0, i18n={"label": "threshold_label", "info": h.threshold_info},
                                value=h.threshold_value(), step=0.01, elem_id="threshold", min_width=240, scale=2)
            window = tr.make(BoundedSlider, 1, 500, i18n={"label": "window_label", "info": "window_info"},
                             value=settings.window, step=1, elem_id="window", min_width=160)
    return Controls(*main, more, k1, b, threshold, window)


def build_rerank_slider(tr: Translator, settings: Settings) -> gr.Slider:
    """The reranker's top-N control (placed in the controls row)."""
    return tr.make(BoundedSlider, 1, 50, i18n={"label": "rerank_n_label", "info": "rerank_n_info"},
                   value=settings.rerank, step=1, scale=2, min_width=220, elem_id="rerank-n")


def build_ranking_controls(tr: Translator, settings: Settings, reranking: bool
                           ) -> tuple[tuple[gr.Slider, gr.Dropdown, gr.Dropdown, gr.Slider], gr.Slider | None]:
    """The controls row (``build_controls``) with, on a page with a reranker, its top-N slider at the row's end;
    returns the four controls and the slider (None without a reranker)."""
    made: list[gr.Slider] = []
    main = build_controls(tr, settings, (lambda: made.append(build_rerank_slider(tr, settings))) if reranking else None)
    return main, (made[0] if made else None)


def build_rerank_rest(tr: Translator, status: RerankerStatus, top_n: gr.Slider | None, poll_s: float) -> RerankBar:
    """Below the results, on a page without a reranker, the line saying how to start one; the reranker's state
    and its polling timer either way."""
    hint = None if top_n is not None else tr.make(gr.Markdown, i18n={"value": "rerank_hint"}, elem_id="rerank-hint")
    return RerankBar(top_n, hint, gr.State(status.state), gr.Timer(poll_s, active=status.state == LOADING))


def build_results(tr: Translator, status: ModelStatus, lang: str, shown: Sequence[fmt.Column] = fmt.COLUMNS,
                  notes: dict[str, str] | None = None, judging: bool = True) -> Results:
    """The notice line, the column picker (phones), the result columns ``shown``, the judgements bar (hidden
    without ``judging``) and the two explaining panels; ``notes`` are the first messages of columns that have
    their own (the reranked one while it loads)."""
    notice = gr.HTML("", css_template=fmt.NOTICE_CSS, elem_id="notice", padding=False)
    picker = tr.make(Radio, i18n={"choices": lambda code: [(text(c.short, code), c.name) for c in shown],
                                     "label": "column_picker"},
                     value="hybrid", elem_id="column-picker")
    placeholder = fmt.placeholder_columns(text("results_placeholder", lang), lang, status.model,
                                          calibration_for(status.model), shown, notes)
    with gr.Row(equal_height=False, elem_id="results"):
        columns = [gr.HTML(value, css_template=fmt.COLUMN_CSS, elem_id=f"col-{c.name}", min_width=280, padding=False,
                           js_on_load=fmt.JUDGE_JS)
                   for value, c in zip(placeholder, shown)]
    tr.make(gr.Markdown, i18n={"value": "colour_legend"}, elem_id="colour-legend")  # under the columns: the first
    judge = build_judge_bar(tr, judging)                                          # screen keeps the top hits
    with tr.make(gr.Accordion, i18n={"label": "why_label"}, open=False, elem_id="why") as why_box:
        alpha_note = gr.Markdown("", elem_id="alpha-note")
        why = gr.Dataframe(fmt.why_table_empty(lang), interactive=False, wrap=True, elem_id="why-table",
                           column_widths=["6.5%", "16.5%"] + ["8.5%"] * 9)
    with tr.make(gr.Accordion, i18n={"label": "backstage_label"}, open=False, elem_id="backstage") as backstage:
        vector_summary = gr.Markdown(text("vec_none", lang), elem_id="vector-summary")
        with gr.Row():
            vector_table = gr.Dataframe(fmt.vector_table_empty(lang), interactive=False, scale=3,
                                        column_widths=["12%"] + ["8.8%"] * 10, elem_id="vector-table")
            timings = gr.Dataframe(fmt.timings_table({}, lang), interactive=False, scale=1, min_width=200,
                                   elem_id="timings")
        with gr.Row():
            # The figures carry their titles; the labels are for screen readers.
            vector_bar = tr.make(gr.Plot, i18n={"label": "plot_bar_label"}, show_label=False, elem_id="vector-bar")
            vector_histogram = tr.make(gr.Plot, i18n={"label": "plot_hist_label"}, show_label=False,
                                       elem_id="vector-hist")
    return Results(notice, picker, columns, why_box, alpha_note, why, backstage, vector_summary, vector_table,
                   timings, vector_bar, vector_histogram, judge)


def build_judge_bar(tr: Translator, visible: bool = True) -> JudgeBar:
    """The judgements' line and buttons (see ``JudgeBar``)."""
    line = gr.HTML("", elem_id="judge-line", padding=False)
    message = gr.HTML("", css_template=fmt.NOTICE_CSS, elem_id="judge-message", padding=False)
    with gr.Row(equal_height=True, elem_id="judge-bar", visible=visible):
        download = tr.make(gr.Button, i18n={"value": "judge_download"}, variant="secondary", size="sm", scale=0,
                           min_width=180, elem_id="judge-download")
        upload = tr.make(gr.UploadButton, i18n={"label": "judge_upload"}, file_types=[".zip"], file_count="single",
                         variant="secondary", size="sm", scale=0, min_width=180, elem_id="judge-upload")
        file = tr.make(gr.File, i18n={"label": "judge_file"}, visible=False, interactive=False, scale=3,
                       elem_id="judge-file")
    return JudgeBar(line, message, download, file, upload)


def initial_timer(status: ModelStatus, poll_s: float) -> gr.Timer:
    """The timer that polls the model status while it loads."""
    return gr.Timer(poll_s, active=status.state == LOADING)
