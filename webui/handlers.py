"""Event handlers of the demo: UI values in, engine calls, formatted values out. No search logic lives here."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, NamedTuple

import gradio as gr
import pandas as pd
from gradio.utils import get_upload_folder

from hybrid.engine import EmptyQueryError, EngineNotReadyError, HybridEngine
from hybrid.kb import KnowledgeBaseError, entries_from_file, parse_entries
from hybrid.service import FAILED, LOADING, READY, ModelService

from . import format as fmt
from . import plots
from .i18n import text
from .samples import example_queries, sample_text
from .thresholds import threshold_for

log = logging.getLogger(__name__)

# A pasted knowledge base above this many entries is refused with a message (the packaged model embeds
# roughly 50 short entries a second on two cores: 20,000 entries take several minutes).
MAX_ENTRIES = 20_000
MAX_UPLOAD_BYTES = 10_000_000
# With the split switch on, entries longer than this many characters are cut into sentences.
SPLIT_LONGER_THAN = 100


class SearchOutputs(NamedTuple):
    """Everything one search shows, in the order of the search event's outputs."""

    notice: str
    keyword: str
    semantic: str
    hybrid: str
    why: pd.DataFrame
    alpha_note: str
    vector_summary: str
    vector_table: pd.DataFrame
    vector_bar: Any
    vector_histogram: Any
    timings: pd.DataFrame


def is_received_upload(path: str | Path, root: str | Path | None = None) -> bool:
    """Whether ``path`` is a regular file inside ``root`` (Gradio's upload folder when None).

    Symbolic links and ``..`` are resolved first, so a path that starts in the folder and climbs out of it
    (or a link pointing out) is refused: a client can name any path in an event's file data.
    """
    root = Path(root if root is not None else get_upload_folder()).resolve()
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a link loop, a NUL byte
        return False
    return real.is_relative_to(root) and real != root and real.is_file()


def _texts(engine: HybridEngine | None) -> list[str] | None:
    return None if engine is None else [d.text for d in engine.documents]


class DemoHandlers:
    """The demo's handlers around one shared ``ModelService``; per-user engines come in and go out as values.

    Args:
        service: the shared model service.
        max_entries: knowledge bases above this many entries are refused with a message.
        max_upload_bytes: larger uploads are refused with a message.
        split_longer_than: entry length above which the split switch cuts an entry into sentences.
        upload_root: the only folder uploads are read from; Gradio's upload folder (where it stores the files
            it received) when None.
    """

    def __init__(self, service: ModelService, max_entries: int = MAX_ENTRIES,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES, split_longer_than: int = SPLIT_LONGER_THAN,
                 upload_root: str | Path | None = None) -> None:
        self.service = service
        self.max_entries = max_entries
        self.max_upload_bytes = max_upload_bytes
        self.split_longer_than = split_longer_than
        self.upload_root = upload_root

    # ------------------------------------------------------------------ knowledge base

    def entries(self, kb_text: str | None, split: bool) -> list[str]:
        """The knowledge-base entries of the text box (one per line, optionally split into sentences)."""
        return parse_entries(kb_text or "", split_long=bool(split), max_length=self.split_longer_than)

    def _size_problem(self, entries: list[str], lang: str) -> str | None:
        if not entries:
            return text("kb_empty", lang)
        if len(entries) > self.max_entries:
            return text("kb_too_many", lang, n=f"{len(entries):,}", limit=f"{self.max_entries:,}")
        return None

    def count(self, kb_text: str | None, split: bool, lang: str) -> str:
        """The entry count line under the knowledge base (or why it cannot be indexed)."""
        entries = self.entries(kb_text, split)
        return self._size_problem(entries, lang) or text("kb_count", lang, n=len(entries))

    def index(self, engine: HybridEngine | None, kb_text: str | None, split: bool, lang: str,
              progress: Callable[..., Any] = gr.Progress()) -> tuple[HybridEngine | None, str]:
        """Bring the user's engine up to date with the text box and the shared model.

        An unchanged knowledge base costs nothing; changed lines are embedded alone (``set_documents``);
        an engine built before the model was ready is rebuilt with it. While this runs, the engine held by
        the session is untouched or stale, so that user's searches fall back to keyword-only.

        Args:
            engine: the session's engine (None before the first index).
            kb_text, split: the knowledge base as typed.
            lang: "zh" or "en".
            progress: ``gr.Progress`` (shows embedded/total entries).
        Returns:
            (engine, index status line; empty when the knowledge base cannot be indexed, which the count
            line under the text box explains).
        """
        entries = self.entries(kb_text, split)
        if self._size_problem(entries, lang):
            return engine, ""
        desc, unit = text("progress_embed", lang), text("progress_unit", lang)

        def report(done: int, total: int) -> None:
            progress((done, total), desc=desc, unit=unit)

        embedder = self.service.embedder
        if engine is not None and engine.embedder is embedder:
            if _texts(engine) != entries:
                engine.set_documents(entries, progress=report)
        else:
            engine = self.service.new_engine(entries, progress=report)
        if engine.has_vectors:
            return engine, text("kb_indexed", lang, n=len(entries), model=engine.embedder.name)
        return engine, text("kb_keyword_only", lang, n=len(entries))

    def upload(self, path: str | None, lang: str) -> tuple[Any, str, None]:
        """Read an uploaded file into the text box.

        Returns:
            (new text box value, or ``gr.skip()`` to keep what the user typed; message; None, which empties
            the upload box for the next file).
        """
        if not path:
            return gr.skip(), "", None
        name = Path(path).name
        if not is_received_upload(path, self.upload_root):
            log.warning("refused to read %r: not a file Gradio received as an upload", path)
            return gr.skip(), fmt.notice_html(text("upload_not_received", lang, name=name), error=True), None
        try:
            entries = entries_from_file(path, max_bytes=self.max_upload_bytes)
        except (KnowledgeBaseError, OSError) as exc:
            return gr.skip(), fmt.notice_html(text("upload_failed", lang, error=str(exc)), error=True), None
        if not entries:
            return gr.skip(), fmt.notice_html(text("upload_empty", lang, name=name), error=True), None
        return "\n".join(entries), fmt.notice_html(text("upload_loaded", lang, n=len(entries), name=name)), None

    def pick_sample(self, name: str) -> tuple[str, Any]:
        """Load sample ``name`` into the text box and show its example queries."""
        return sample_text(name), gr.Dataset(components=["textbox"], samples=[[q] for q in example_queries(name)])

    def pick_example(self, index: int | None, sample: str) -> Any:
        """The query of the clicked example (``index`` into the current sample's examples)."""
        queries = example_queries(sample)
        if index is None or not 0 <= index < len(queries):
            return gr.skip()
        return queries[index]

    # ------------------------------------------------------------------ model status

    def status(self, lang: str) -> tuple[str, str, Any]:
        """Model status line, the state name (``loading``/``ready``/``failed``) and the polling timer's update."""
        status = self.service.status()
        return fmt.status_html(status, lang), status.state, gr.Timer(active=status.state == LOADING)

    def threshold_info(self, lang: str) -> str:
        """The threshold slider's help line, naming the loaded model's calibrated value."""
        status = self.service.status()
        if status.state != READY:
            return text("threshold_info_default", lang)
        return text("threshold_info", lang, model=status.model, value=threshold_for(status.model))

    def threshold(self, lang: str) -> Any:
        """The threshold slider set to the loaded model's calibrated value (unchanged until it is loaded)."""
        status = self.service.status()
        if status.state != READY:
            return gr.skip()
        return gr.Slider(value=threshold_for(status.model), info=self.threshold_info(lang))

    # ------------------------------------------------------------------ search

    def _empty(self, message: str, lang: str, error: bool = False) -> SearchOutputs:
        columns = fmt.placeholder_columns(text("results_placeholder", lang), lang, self.service.status().model)
        return SearchOutputs(fmt.notice_html(message, error), *columns, fmt.why_table_empty(lang), "",
                             text("vec_none", lang), fmt.vector_table_empty(lang), None, None,
                             fmt.timings_table({}, lang))

    def search(self, engine: HybridEngine | None, query: str | None, kb_text: str | None, split: bool,
               alpha: float, fusion: str, normalizer: str, k: float, k1: float, b: float, threshold: float,
               lang: str) -> SearchOutputs:
        """Search the user's knowledge base and format all three columns and the panels.

        Searches the session's engine when it holds exactly the typed knowledge base (semantic too once its
        vectors exist); otherwise (an edit being embedded) a keyword-only engine over the typed text, so a
        search never waits for embedding. Bad input becomes a visible message.
        """
        if not query or not query.strip():
            return self._empty(text("notice_empty_query", lang), lang)
        entries = self.entries(kb_text, split)
        if not entries:
            return self._empty(text("notice_empty_kb", lang), lang)
        problem = self._size_problem(entries, lang)
        if problem:
            return self._empty(problem, lang, error=True)
        target = engine
        if engine is None or _texts(engine) != entries:
            target = HybridEngine(entries, settings=self.service.settings)
        notice = None
        if not target.has_vectors:
            state = self.service.status().state
            notice = text({LOADING: "notice_loading", FAILED: "notice_failed"}.get(state, "notice_indexing"), lang)
        try:
            response = target.search(query, k=int(k), alpha=float(alpha), fusion=fusion,
                                     mode="all" if target.has_vectors else "keyword", normalizer=normalizer,
                                     k1=float(k1), b=float(b))
        except (EmptyQueryError, KnowledgeBaseError, EngineNotReadyError, ValueError) as exc:
            return self._empty(text("notice_error", lang, error=str(exc)), lang, error=True)
        except Exception as exc:  # noqa: BLE001 - the user sees a message, the log keeps the trace
            log.exception("search failed")
            return self._empty(text("notice_error", lang, error=f"{type(exc).__name__}: {exc}"), lang, error=True)
        vector = response.query_vector
        dtype = target.embedder.dtype if target.embedder is not None and vector is not None else ""
        return SearchOutputs(
            fmt.notice_html(notice),
            *fmt.results_columns(response, float(threshold), lang),
            fmt.why_table(response, lang),
            fmt.alpha_note(response, lang),
            fmt.vector_summary(response, dtype, lang),
            fmt.vector_table(vector, lang=lang) if vector is not None else fmt.vector_table_empty(lang),
            plots.vector_bar(vector, lang=lang) if vector is not None else None,
            plots.vector_histogram(vector, lang=lang) if vector is not None else None,
            fmt.timings_table(response.timings_ms, lang),
        )

    def search_if_query(self, engine: HybridEngine | None, query: str | None, *rest: Any) -> Any:
        """``search`` after the knowledge base was re-indexed, but only when a query is there to run."""
        if not query or not query.strip():
            return tuple(gr.skip() for _ in SearchOutputs._fields)
        return self.search(engine, query, *rest)
