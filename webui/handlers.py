"""Event handlers of the demo: UI values in, engine calls, formatted values out. No search logic lives here."""

from __future__ import annotations

import hashlib
import html
import inspect
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Sequence

import gradio as gr
import pandas as pd

from hybrid.engine import EmptyQueryError, EngineNotReadyError, HybridEngine
from hybrid import judgements as judging
from hybrid.gate import Cancelled
from hybrid.kb import KnowledgeBaseError, entries_from_file, most_entries, parse_entries, split_sentences
from hybrid.redact import hide_paths
from hybrid.semantic import Embedder, query_token_limit
from hybrid.service import FAILED, LOADING, OFF, READY, ModelService
from hybrid.tokenize import Tokenizer
from server.settings import DEFAULT_API_SETTINGS, MAX_UPLOAD_BYTES
from server.uploads import is_received_upload, save_download

from . import format as fmt
from . import plots, share
from .calibration import calibration_for
from .events import event_scope
from .i18n import DEFAULT_LANGUAGE, error_record, explain, text
from .samples import example_queries, sample_names, sample_text

log = logging.getLogger(__name__)

# A pasted knowledge base above this many entries is refused with a message (the packaged model embeds
# roughly 50 short entries a second on two cores: 20,000 entries take several minutes).
MAX_ENTRIES = 20_000
# An entry or a query longer than this many characters (the API's HYBRID_MAX_INPUT_CHARS default) is refused or
# cut before any work: one 20,000-character line held the shared model 25 s (its 40 windows embedded in one
# turn), a 6 MB query cost seconds of tokenising per event.
MAX_TEXT_CHARS = DEFAULT_API_SETTINGS.max_input_chars
# A search over text the session has not indexed (an edit being embedded) builds a keyword-only engine on the
# spot, per search: above this many characters it waits for the index instead. That build took 4.4 s for 500,000
# characters (19,728 entries) on two busy cores, and 24 MB sent in forged search events held every search slot for
# minutes.
ON_THE_FLY_CHARS = 500_000
# With the split switch on, entries longer than this many characters are cut into sentences.
SPLIT_LONGER_THAN = 100
REPLACE, APPEND = "replace", "append"

# A message about the knowledge base, kept as (i18n key, values, is_error) so it can be re-rendered in the
# other language; None when there is none.
KbMessage = tuple[str, Mapping[str, Any], bool] | None


@dataclass(frozen=True)
class SearchOutputs:
    """Everything one search shows; ``values()`` is the order of the search event's outputs."""

    notice: str
    columns: Sequence[str]
    why: pd.DataFrame
    alpha_note: str
    vector_summary: str
    vector_table: pd.DataFrame
    vector_bar: Any
    vector_histogram: Any
    timings: pd.DataFrame
    judged: str = ""  # the judgements' coverage line

    @staticmethod
    def size(columns: int = len(fmt.COLUMNS)) -> int:
        """How many outputs a search event has on a page with ``columns`` result columns."""
        return 9 + columns

    def values(self) -> tuple[Any, ...]:
        """The outputs, columns spread out in the order of the page's columns (``DemoHandlers.columns``)."""
        return (self.notice, *self.columns, self.why, self.alpha_note, self.vector_summary, self.vector_table,
                self.vector_bar, self.vector_histogram, self.timings, self.judged)


@dataclass(frozen=True)
class UndoSlot:
    """What the undo button brings back (the session's ``undo_text`` state).

    Attributes:
        previous: the text the next undo puts in the box.
        previous_loaded: whether ``previous`` was loaded as it is (a file's, a sample's: loaded again with a click).
        loaded: a digest of the box's text when it is such a load, unchanged since; "" when it is the user's.
        replaced: a digest of the text that load replaced ("" after an undo).
    """

    previous: str
    previous_loaded: bool
    loaded: str
    replaced: str = ""


def _digest(text: str | None) -> str:
    return hashlib.sha256((text or "").strip().encode("utf-8")).hexdigest()


def after_replacement(slot: UndoSlot | None, old: str | None, new: str, loaded: bool = True) -> UndoSlot:
    """The undo slot once the box's text ``old`` is replaced by ``new`` (an upload, a sample, a judgements file, a
    query opened from the evaluation; ``loaded``: False when ``new`` is not a load as it is, an append).

    ``old`` becomes what an undo brings back, unless it is a load unchanged since (a file's, a sample's: loaded again
    with a click): then the text before that load stays. So typed text survives any run of uploads and samples (two
    uploads in a row used to leave only the first file one click away), and a load the user edited counts as typed.
    """
    if isinstance(slot, UndoSlot) and loaded and slot.loaded == _digest(new) and slot.replaced == _digest(old):
        # The same replacement again: Chromium's sample picker sends its event twice, and the second one can read the
        # box from before the first one's answer; applied again it made the load itself what undo brings back.
        return slot
    old_loaded = isinstance(slot, UndoSlot) and slot.loaded != "" and slot.loaded == _digest(old)
    if old_loaded and slot.previous.strip() != new.strip():
        return UndoSlot(slot.previous, slot.previous_loaded, _digest(new) if loaded else "", _digest(old))
    return UndoSlot(old or "", old_loaded, _digest(new) if loaded else "", _digest(old))


def after_undo(slot: UndoSlot, box: str | None) -> UndoSlot:
    """The undo slot once an undo swapped the box's text ``box`` with ``slot.previous``."""
    box_loaded = slot.loaded != "" and slot.loaded == _digest(box)
    return UndoSlot(box or "", box_loaded, _digest(slot.previous) if slot.previous_loaded else "")


class KbChange(NamedTuple):
    """What a knowledge-base action (upload, sample, undo) changes, in the order of its event's outputs."""

    kb: Any
    sample: Any
    examples: Any
    message: Any
    notice: Any
    undo_text: Any
    undo_button: Any
    upload: Any


def fit_query(query: str, embedder: Embedder | None) -> tuple[str, int | None]:
    """Cut ``query`` to what the embedding model reads at once.

    A longer query would be embedded window by window (or truncated by the model) at a cost of many seconds;
    keyword and semantic search both get the same prefix.

    Args:
        query: the query.
        embedder: the model (None: nothing to fit).
    Returns:
        (the query or its longest prefix within the model's token limit, the token limit when it was cut).
    """
    if embedder is None:
        return query, None
    limit = query_token_limit(embedder)
    if embedder.count_tokens([query])[0] <= limit:
        return query, None
    lo, hi = 1, len(query)  # the longest prefix that fits: count_tokens is monotone in the prefix length
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if embedder.count_tokens([query[:mid]])[0] <= limit:
            lo = mid
        else:
            hi = mid - 1
    return query[:lo], int(embedder.max_tokens)


def sample_of(kb_text: str | None) -> str | None:
    """The sample whose text ``kb_text`` is (ignoring surrounding blanks), else None."""
    stripped = (kb_text or "").strip()
    return next((name for name in sample_names() if sample_text(name) == stripped), None)


def examples_update(sample: str | None, lang: str = DEFAULT_LANGUAGE) -> Any:
    """The example-query chips of ``sample`` in ``lang`` (hidden for a knowledge base that is no sample)."""
    queries = example_queries(sample, lang) if sample else ()
    return gr.update(samples=[[q] for q in queries], visible=bool(queries))


def render_message(message: KbMessage, lang: str) -> str:
    """The knowledge-base message box in ``lang`` ("" when there is no message)."""
    if not message:
        return ""
    key, values, error = message
    values = {name: explain(v, lang) if isinstance(v, Mapping) else v for name, v in values.items()}
    return fmt.notice_html(text(key, lang, **values), error=error)


def _one_line(text: str) -> str:
    return " ".join(text.splitlines()).strip()


def _texts(engine: HybridEngine | None) -> list[str] | None:
    return None if engine is None else [d.text for d in engine.documents]


# A text box of more lines than this many times the page's entry limit (room for blank lines) is refused before
# it is split: ten million one-character lines, one event's worth, took 340 MB as strings, and such events run
# side by side.
OVERLONG_FACTOR = 20
# Events that split the text box (counts, uploads, samples, the share link) run at most this many at once: each holds
# a few copies of the text (up to a 31 MB event body) while it works, and they would otherwise be unlimited.
TEXT_CONCURRENCY = 4


class _Overlong(list):
    """No entries: a knowledge-base text of up to ``most`` entries, far more than the page indexes, left unsplit."""

    def __init__(self, most: int) -> None:
        super().__init__()
        self.most = most


def page_entries(kb_text: str | None, split: bool, max_entries: int = MAX_ENTRIES,
                 max_length: int = SPLIT_LONGER_THAN) -> list[str]:
    """The knowledge-base entries of the text box (one per line, sentences of lines longer than ``max_length``
    when ``split``); none (an ``_Overlong``) for a text of far more than ``max_entries``, which is not split."""
    most = most_entries(kb_text or "", bool(split))
    if most > OVERLONG_FACTOR * max_entries:
        return _Overlong(most)
    return parse_entries(kb_text or "", split_long=bool(split), max_length=max_length)


class DemoHandlers:
    """The demo's handlers around one shared ``ModelService``; per-user engines come in and go out as values.

    Args:
        service: the shared model service.
        max_entries: knowledge bases above this many entries are refused with a message.
        max_upload_bytes: larger uploads are refused with a message.
        split_longer_than: entry length above which the split switch cuts an entry into sentences.
        upload_root: the only folder uploads are read from; Gradio's upload folder (where it stores the files
            it received) when None.
        session_ttl_s: how long the server keeps a session's engine after building it (named in a notice).
        max_text_chars: knowledge bases with a longer entry are refused with a message; longer queries are cut.
        store_kb: the server's knowledge base over a store (``demo.py --store``, a
            ``server.knowledge.ServerKnowledgeBase``): every visitor searches it, read-only, instead of a text box.
    """

    def __init__(self, service: ModelService, max_entries: int = MAX_ENTRIES,
                 max_upload_bytes: int = MAX_UPLOAD_BYTES, split_longer_than: int = SPLIT_LONGER_THAN,
                 upload_root: str | Path | None = None, store_kb: Any = None,
                 max_text_chars: int = MAX_TEXT_CHARS, session_ttl_s: float | None = None) -> None:
        self.service = service
        self.session_ttl_s = session_ttl_s
        self.max_text_chars = max_text_chars
        self.on_the_fly_chars = ON_THE_FLY_CHARS
        self.store_kb = store_kb
        self.max_entries = max_entries
        self.max_upload_bytes = max_upload_bytes
        self.split_longer_than = split_longer_than
        self.upload_root = upload_root
        # The shipped samples' entries (split or not) are public: sessions share their vectors through the cache.
        self.public_texts = frozenset(entry for name in sample_names() for split in (False, True)
                                      for entry in self.entries(sample_text(name), split))
        # The reranked column is on the page when the server has (or is loading) a reranker.
        self.columns = fmt.page_columns(service.reranker_status().state != OFF)

    # ------------------------------------------------------------------ knowledge base

    def entries(self, kb_text: str | None, split: bool) -> list[str]:
        """The knowledge-base entries of the text box (``page_entries``)."""
        return page_entries(kb_text, split, self.max_entries, self.split_longer_than)

    def _count(self, kb_text: str | None) -> int:
        """How many entries (unsplit) a text holds; for an overlong one, the most it can hold."""
        entries = self.entries(kb_text, False)
        return entries.most if isinstance(entries, _Overlong) else len(entries)

    def _size_problem(self, entries: list[str], lang: str) -> str | None:
        if isinstance(entries, _Overlong):
            return text("kb_too_many_lines", lang, n=f"{entries.most:,}", limit=f"{self.max_entries:,}")
        if not entries:
            return text("kb_empty", lang)
        if len(entries) > self.max_entries:
            return text("kb_too_many", lang, n=f"{len(entries):,}", limit=f"{self.max_entries:,}")
        longest = max(range(len(entries)), key=lambda i: len(entries[i]))
        if len(entries[longest]) > self.max_text_chars:
            # the split switch is offered only where it would cut the entry (not when on, nor without a sentence end)
            splits = len(split_sentences(entries[longest])) > 1
            return text("kb_entry_too_long" if splits else "kb_entry_too_long_unsplittable", lang, n=longest + 1,
                        chars=f"{len(entries[longest]):,}", limit=f"{self.max_text_chars:,}")
        return None

    def count(self, kb_text: str | None, split: bool, lang: str) -> tuple[str, Any]:
        """The entry count line under the knowledge base (or why it cannot be indexed), and the knowledge-base
        panel's label, which carries the count (and the sample's name) while the panel is collapsed."""
        if self.store_kb is not None:
            line = self.store_line(lang)
            return line, gr.update(label=text("kb_panel_store", lang, summary=line))
        entries = self.entries(kb_text, split)
        problem = self._size_problem(entries, lang)
        line = problem or text("kb_count", lang, n=len(entries))
        sample = sample_of(kb_text)
        summary = line if problem or not sample else text(
            "kb_count_sample", lang, sample=text(f"sample_{sample}", lang), n=len(entries))
        return line, gr.update(label=text("kb_panel", lang, summary=summary))

    def count_and_examples(self, kb_text: str | None, split: bool, lang: str) -> tuple[Any, Any, Any]:
        """``count`` and the example chips of the text box's sample in ``lang`` (after a language switch)."""
        chips = gr.skip() if self.store_kb is not None else examples_update(sample_of(kb_text), lang)
        return (*self.count(kb_text, split, lang), chips)

    def count_on_edit(self, kb_text: str | None, split: bool, lang: str) -> tuple[Any, Any, Any, Any]:
        """``count_and_examples`` and the sample picker after an edit: a text that is no sample names none."""
        sample = gr.skip() if self.store_kb is not None else sample_of(kb_text)
        return (*self.count_and_examples(kb_text, split, lang), sample)

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
        if self.store_kb is not None:
            return None, self.index_line(None, kb_text, split, lang)
        entries = self.entries(kb_text, split)
        if self._size_problem(entries, lang):
            return engine, ""
        desc, unit = text("progress_embed", lang), text("progress_unit", lang)

        def report(done: int, total: int) -> None:
            progress((done, total), desc=desc, unit=unit)

        embedder = self.service.embedder
        try:
            with event_scope():  # a page closed while its knowledge base is embedded stops within a turn
                if engine is not None and engine.embedder is embedder:
                    if _texts(engine) != entries:
                        engine.set_documents(entries, progress=report)
                else:
                    # a rebuilt engine keeps the session's tokeniser (webui.tokenizer_panel)
                    engine = self.service.new_engine(entries, progress=report, public_texts=self.public_texts,
                                                     tokenizer=engine.tokenizer if engine is not None else None)
        except Cancelled:
            log.info("an index event's client left: its embedding stopped")
            return engine, ""
        return engine, self.index_line(engine, kb_text, split, lang)

    def page_state(self, engine: HybridEngine | None, entries: list[str]) -> str:
        """The one state the index line, the search notice and the waiting semantic columns are all derived
        from: ``loading`` or ``failed`` (the model), ``embedding`` (the model is ready, the knowledge base not yet
        embedded with it), ``reembedding`` (an edited knowledge base not yet embedded), ``reindexing`` (an edited
        knowledge base whose every entry has a vector already, as after an undo: only its index is rebuilt) or
        ``ready``."""
        state = self.service.status().state
        if state in (LOADING, FAILED, OFF):
            return LOADING if state == LOADING else FAILED
        if engine is not None and len(engine) and _texts(engine) != entries:  # an empty one: a link's tokeniser
            return "reembedding" if self._to_embed(engine, entries) else "reindexing"
        return READY if engine is not None and engine.has_vectors and _texts(engine) == entries else "embedding"

    def _to_embed(self, engine: HybridEngine, entries: list[str]) -> int:
        """Entries ``index`` would embed: those the engine has no vector for, all when another model serves."""
        return engine.to_embed(entries) if engine.embedder is self.service.embedder else len(entries)

    # page state: (index line, search notice, waiting semantic columns)
    _STATE_TEXTS = {LOADING: ("kb_keyword_only", "notice_loading", "semantic_waiting"),
                    FAILED: ("kb_failed", "notice_failed", "semantic_failed"),
                    "embedding": ("kb_embedding", "notice_embedding", "semantic_embedding"),
                    "reembedding": ("kb_reembedding", "notice_indexing", "semantic_embedding"),
                    "reindexing": ("kb_reindexing", "notice_reindexing", "semantic_reindexing"),
                    READY: ("kb_indexed", "", "")}

    def _state_text(self, part: int, engine: HybridEngine | None, entries: list[str], lang: str) -> str:
        status = self.service.status()
        key = self._STATE_TEXTS[self.page_state(engine, entries)][part]
        model = engine.embedder.name if key == "kb_indexed" else status.model or status.requested
        n = self._to_embed(engine, entries) if key == "kb_reembedding" else len(entries)  # what will be embedded
        return text(key, lang, n=n, model=model, error=status.error or "") if key else ""

    def index_line(self, engine: HybridEngine | None, kb_text: str | None, split: bool, lang: str) -> str:
        """The line saying what the session's engine holds or is about to do (``page_state``), as HTML; "" when
        the knowledge base cannot be indexed (the count line says why)."""
        return html.escape(self._index_text(engine, kb_text, split, lang))

    def _index_text(self, engine: HybridEngine | None, kb_text: str | None, split: bool, lang: str) -> str:
        if self.store_kb is not None:
            engine, status = self.store_kb.engine, self.store_kb.status()
            if engine.has_vectors:
                return text("kb_store_ready", lang, model=engine.embedder.name)
            if status["error"]:
                return text("kb_store_keyword_only", lang, error=status["error"])
            return text("kb_store_loading", lang)
        entries = self.entries(kb_text, split)
        if self._size_problem(entries, lang):
            return ""
        return self._state_text(0, engine, entries, lang)

    def _page_inputs(self, inputs: Sequence[Any]) -> tuple[Any, Any, Any, str]:
        """(engine, knowledge base text, split, language) of ``search``'s inputs, found by parameter name."""
        named = dict(zip(inspect.signature(self.search).parameters, inputs))
        return named["engine"], named["kb_text"], named["split"], named["lang"]

    def index_and_search(self, progress: Any = gr.Progress(), *inputs: Any) -> Iterator[tuple[Any, ...]]:
        """``index`` as an event whose first answer, before any embedding, sets the index line, the notice and
        the columns to what is about to happen, together (keyword results of the typed text, the semantic
        columns waiting for the embedding); its last answer is the engine only: ``search_after_index``, chained
        after it, shows the ready line with the current query's results, again together. No moment shows a
        "ready" line beside an "embedding" notice or the reverse.

        Args:
            progress: ``gr.Progress`` (first, because ``inputs`` may end with the reranker's top-n or not).
            inputs: ``search``'s.
        Yields:
            (engine, index line, *``SearchOutputs.values()``); outputs that need no change are skipped.
        """
        engine, kb_text, split, lang = self._page_inputs(inputs)
        entries = self.entries(kb_text, split)
        if self.store_kb is None and not self._size_problem(entries, lang) and self.page_state(
                engine, entries) in ("embedding", "reembedding"):
            yield (gr.skip(), self.index_line(engine, kb_text, split, lang), *self.search_if_query(*inputs))
        engine, _ = self.index(engine, kb_text, split, lang, progress)
        yield (engine, *(gr.skip() for _ in range(1 + SearchOutputs.size(len(self.columns)))))

    def search_after_index(self, *inputs: Any) -> tuple[Any, ...]:
        """The index line and the current query's results (``search_if_query``; ``inputs`` are ``search``'s) as
        one answer, after ``index_and_search``: the line turns "ready" as the semantic results appear."""
        engine, kb_text, split, lang = self._page_inputs(inputs)
        return (self.index_line(engine, kb_text, split, lang), *self.search_if_query(*inputs))

    def store_line(self, lang: str) -> str:
        """What the served store holds: its kind, collection and entry count (never where it lives)."""
        status = self.store_kb.status()
        return text("kb_store", lang, where=status["path"], n=f"{status['size']:,}")

    def _read_upload(self, path: str, lang: str) -> tuple[list[str] | None, KbMessage]:
        name = Path(path).name
        if not is_received_upload(path, self.upload_root):
            log.warning("refused to read %r: not a file Gradio received as an upload", path)
            return None, ("upload_not_received", {"name": name}, True)
        try:
            entries = entries_from_file(path, max_bytes=self.max_upload_bytes)
        except (KnowledgeBaseError, OSError) as exc:
            return None, ("upload_failed", {"error": error_record(exc)}, True)
        if not entries:
            return None, ("upload_empty", {"name": name}, True)
        return entries, None

    def upload(self, path: str | None, mode: str, kb_text: str | None, lang: str,
               undo: UndoSlot | None = None, split: bool = False) -> KbChange:
        """Read an uploaded file into the knowledge base, replacing it (undoable) or appending to it.

        Args:
            path: the uploaded file (only files in the upload folder are read).
            mode: "replace" or "append".
            kb_text: what the text box holds now (kept for undo, or appended to).
            lang: "zh" or "en".
            undo: the session's undo slot (``after_replacement``).
            split: the split switch (whether the new text would be indexed is judged as the page indexes it).
        Returns:
            The change; a file that cannot be read leaves the text box alone and says why. The upload box is
            emptied for the next file either way.
        """
        skip = gr.skip()
        if not path:
            return KbChange(skip, skip, skip, skip, skip, skip, skip, None)
        entries, problem = self._read_upload(path, lang)
        if entries is None:
            return KbChange(skip, skip, skip, problem, render_message(problem, lang), skip, skip, None)
        name, old = Path(path).name, kb_text or ""
        if mode == APPEND and old.strip():
            new = old.rstrip("\n") + "\n" + "\n".join(entries)
            message: KbMessage = ("upload_appended", {"name": name, "n": len(entries),
                                                      "total": self._count(new)}, False)
        else:
            new = "\n".join(entries)
            message = ("upload_replaced", {"name": name, "n": len(entries), "old": self._count(old)}, False)
        if self._size_problem(self.entries(new, split), lang):  # read, kept, but not indexed: not a plain success
            message = (f"{message[0]}_unindexed", message[1], True)
        sample = sample_of(new)
        return KbChange(new, sample, examples_update(sample, lang), message, render_message(message, lang),
                        after_replacement(undo, old, new, loaded=message[0].startswith("upload_replaced")),
                        gr.update(visible=True), None)

    def pick_sample(self, name: str | None, kb_text: str | None, lang: str, undo: UndoSlot | None = None) -> KbChange:
        """Load sample ``name`` into the text box (the previous text stays one click away) and show its
        example queries."""
        skip = gr.skip()
        if not name or name not in sample_names():
            return KbChange(skip, skip, skip, skip, skip, skip, skip, skip)
        new = sample_text(name)
        message: KbMessage = ("sample_loaded", {"sample": text(f"sample_{name}", lang), "n": self._count(new)},
                              False)
        changed = (kb_text or "").strip() != new
        return KbChange(new, name, examples_update(name, lang), message, render_message(message, lang),
                        after_replacement(undo, kb_text, new) if changed else skip,
                        gr.update(visible=True) if changed else skip, skip)

    def undo(self, slot: UndoSlot | None, kb_text: str | None, lang: str) -> KbChange:
        """Swap the text box with what ``slot`` holds: the text before the last replacements (``after_replacement``;
        a second click swaps back)."""
        skip = gr.skip()
        if not isinstance(slot, UndoSlot):
            return KbChange(skip, skip, skip, skip, skip, skip, gr.update(visible=False), skip)
        previous = slot.previous
        sample = sample_of(previous)
        message: KbMessage = ("kb_restored", {"n": self._count(previous)}, False)
        return KbChange(previous, sample, examples_update(sample, lang), message, render_message(message, lang),
                        after_undo(slot, kb_text), skip, skip)

    @staticmethod
    def pick_example(values: Sequence[str] | None) -> Any:
        """The query of the clicked example chip."""
        return values[0] if values else gr.skip()

    # ------------------------------------------------------------------ model status

    def status_text(self, lang: str) -> str:
        """The model status line."""
        return fmt.status_html(self.service.status(), lang)

    def status_on_load(self, previous: str | None, lang: str) -> tuple[str, str, Any, Any]:
        """Model status line, the state name (``loading``/``ready``/``failed``), the polling timer's update, and
        the threshold slider: set to the model's calibrated default when the model has just become ready
        (left alone otherwise, so a visitor's or a link's value stays)."""
        status = self.service.status()
        threshold = gr.skip()
        if status.state == READY and previous != READY:
            threshold = gr.Slider(value=self.threshold_value(), info=self.threshold_info(lang))
        return fmt.status_html(status, lang), status.state, gr.Timer(active=status.state == LOADING), threshold

    def threshold_value(self) -> float:
        """The loaded model's calibrated threshold (the uncalibrated default while it loads)."""
        return calibration_for(self.service.status().model).threshold

    def threshold_info(self, lang: str) -> str:
        """The threshold slider's help line: what the bar shows for the loaded model, and its default."""
        return fmt.threshold_info(self.service.status(), lang)

    # ------------------------------------------------------------------ search

    # ------------------------------------------------------------------ reranker

    def _reranking(self) -> bool:
        return fmt.RERANK_COLUMN in self.columns

    def rerank_notes(self, lang: str) -> dict[str, str]:
        """Why the reranked column is empty while its model loads or after it failed (nothing otherwise)."""
        status = self.service.reranker_status()
        if not self._reranking() or status.state == READY:
            return {}
        if status.state == FAILED:
            return {"reranked": text("rerank_failed", lang, error=status.error)}
        return {"reranked": text("rerank_loading", lang, model=status.requested)}

    def rerank_on_tick(self, previous: str | None) -> tuple[str, Any]:
        """The reranker's state name (its change re-runs the query) and its polling timer's update."""
        state = self.service.reranker_status().state
        return state, gr.Timer(active=state == LOADING)

    # ------------------------------------------------------------------ search

    def _empty(self, message: str, lang: str, error: bool = False, refused: bool | None = None) -> SearchOutputs:
        model = self.service.status().model
        # after a refused search (an error, or nothing to search) the columns point at the message, not at the
        # search the visitor just made
        refused = error if refused is None else refused
        placeholder = text("results_placeholder_refused" if refused else "results_placeholder", lang)
        columns = fmt.placeholder_columns(placeholder, lang, model, calibration_for(model), self.columns,
                                          self.rerank_notes(lang))
        return SearchOutputs(fmt.notice_html(message, error), columns, fmt.why_table_empty(lang), "",
                             text("vec_none", lang), fmt.vector_table_empty(lang), None, None,
                             fmt.timings_table({}, lang))

    def on_search(self, *inputs: Any) -> tuple[Any, ...]:
        """``search`` as the search event's outputs (``SearchOutputs.values()``); its work stops when the page
        leaves (nothing is shown then)."""
        try:
            with event_scope():
                return self.search(*inputs).values()
        except Cancelled:
            return tuple(gr.skip() for _ in range(SearchOutputs.size(len(self.columns))))

    def search(self, engine: HybridEngine | None, query: str | None, kb_text: str | None, split: bool,
               alpha: float, fusion: str, normalizer: str, k: float, k1: float, b: float, threshold: float,
               window: float | None, lang: str, rerank_n: float | None = None,
               judgements: judging.Judgements | None = None) -> SearchOutputs:
        """Search the user's knowledge base and format every column and panel.

        Searches the session's engine when it holds exactly the typed knowledge base (semantic too once its
        vectors exist); otherwise (an edit being embedded) a keyword-only engine over the typed text, so a
        search never waits for embedding. A query longer than the model reads is cut, with a notice. Bad
        input becomes a visible message. With the server's reranker loaded, the first ``rerank_n`` hybrid
        hits are reranked into the fourth column. ``window`` is how many candidates each retriever hands fusion
        (the server's setting when None). ``judgements`` (the session's) turn on the judgement buttons and badges
        and the coverage line (not over a served store, whose documents the session cannot export).
        """
        if not query or not query.strip():
            return self._empty(text("notice_empty_query", lang), lang)
        if self.store_kb is not None:
            target, entries = self.store_kb.engine, []
        else:
            entries = self.entries(kb_text, split)
            if not entries and not isinstance(entries, _Overlong):
                return self._empty(text("notice_empty_kb", lang), lang, refused=True)
            problem = self._size_problem(entries, lang)
            if problem:
                return self._empty(problem, lang, error=True)
            target = engine
            if engine is None or _texts(engine) != entries:
                size = sum(map(len, entries))
                if size > self.on_the_fly_chars:
                    return self._empty(text("notice_wait_for_index", lang, chars=f"{size:,}",
                                            limit=f"{self.on_the_fly_chars:,}"), lang, refused=True)
                target = HybridEngine(entries, settings=self.service.settings,
                                      tokenizer=engine.tokenizer if engine is not None else self.service.tokenizer)
        notices = []
        if not target.has_vectors:
            state = self.service.status().state
            if self.store_kb is not None and state == READY:  # loaded, but not the model of the store's vectors
                notices.append(self._index_text(None, kb_text, split, lang))
            elif engine is None and state == READY and self.session_ttl_s is not None:
                notices.append(text("notice_no_index", lang, hours=f"{self.session_ttl_s / 3600:g}"))
            else:
                notices.append(self._state_text(1, engine, entries, lang))
        embedder = target.embedder if target.has_vectors else None
        query = query.strip()
        if len(query) > self.max_text_chars:
            notices.append(text("notice_query_cut", lang, chars=f"{len(query):,}", limit=f"{self.max_text_chars:,}"))
            query = query[: self.max_text_chars]
        fitted, limit = fit_query(query, embedder)
        if limit is not None:
            notices.append(text("notice_truncated", lang, chars=f"{len(query):,}", limit=f"{limit:,}",
                                kept=f"{len(fitted):,}", model=embedder.name))
        # The reranker may have loaded after this session's engine was built.
        target.reranker = self.service.reranker if self._reranking() else None
        rerank = int(rerank_n or self.service.settings.rerank) if target.reranker and target.has_vectors else 0
        try:
            response = target.search(fitted, k=int(k), alpha=float(alpha), fusion=fusion,
                                     mode="all" if target.has_vectors else "keyword", normalizer=normalizer,
                                     k1=float(k1), b=float(b), rerank=rerank,
                                     window=int(window) if window else None)
        except Cancelled:
            raise
        except (EmptyQueryError, KnowledgeBaseError, EngineNotReadyError, ValueError) as exc:
            return self._empty(text("notice_error", lang, error=hide_paths(str(exc))), lang, error=True)
        except Exception as exc:  # noqa: BLE001 - the user sees a message, the log keeps the trace
            log.exception("search failed")
            return self._empty(text("notice_error", lang, error=hide_paths(f"{type(exc).__name__}: {exc}")), lang,
                               error=True)
        if not response.keyword:
            notices.append(text("notice_no_keyword", lang, tokens=" ".join(response.query_tokens))
                           if response.query_tokens else text("notice_no_query_words", lang))
        vector = response.query_vector
        calibration = calibration_for(response.model or None)
        notes = self.rerank_notes(lang)
        if not target.has_vectors and self.store_kb is None:  # the semantic columns say what they wait for
            waiting = self._state_text(2, engine, entries, lang)
            notes.update({c.name: waiting for c in self.columns if c.semantic and c.name != "reranked"})
        grades = judging.grades_for(judgements, response.query) if judgements is not None and self.store_kb is None \
            else None
        if grades:  # judgements of entries this knowledge base no longer holds count for nothing here (as in the
            here = set(entries)  # evaluation tab): an edit must not turn them into misses
            grades = {t: g for t, g in grades.items() if t in here}
        judged = ""
        if grades is not None:
            shown = {c.name: c.hits(response) for c in self.columns
                     if c.hits(response) or not c.semantic or (target.has_vectors and c.name != fmt.RERANK_COLUMN.name)}
            cut = min(int(k), judging.NDCG_CUT)  # the hits shown are all a column's ranking here
            covered = judging.coverage({name: [hit.text for hit in hits] for name, hits in shown.items()}, grades,
                                       cut, ids={name: [hit.id for hit in hits] for name, hits in shown.items()})
            judged = fmt.judge_line(covered, judging.count(judgements), lang, k=cut,
                                    names={c.name: text(c.short, lang) for c in self.columns})
        return SearchOutputs(
            fmt.notice_html(notices),
            fmt.results_columns(response, calibration, float(threshold), lang, self.columns, notes, grades),
            fmt.why_table(response, lang),
            fmt.alpha_note(response, lang),
            fmt.vector_summary(response, embedder.dtype if embedder is not None else "", lang),
            fmt.vector_table(vector, lang=lang) if vector is not None else fmt.vector_table_empty(lang),
            plots.vector_bar(vector, lang=lang) if vector is not None else None,
            plots.vector_histogram(vector, lang=lang) if vector is not None else None,
            fmt.timings_table(response.timings_ms, lang),
            judged,
        )

    def search_if_query(self, engine: HybridEngine | None, query: str | None, *rest: Any) -> tuple[Any, ...]:
        """``on_search`` when a query is there to run (after a re-index or a control moved); else nothing."""
        if not query or not query.strip():
            return tuple(gr.skip() for _ in range(SearchOutputs.size(len(self.columns))))
        return self.on_search(engine, query, *rest)

    # ------------------------------------------------------------------ judgements

    def _shown_text(self, engine: HybridEngine | None, kb_text: str | None, split: bool, doc_id: Any) -> str | None:
        """The text of the shown document ``doc_id`` (a card's ``data-id``): the session engine's document when it
        holds the typed knowledge base, else the entry at that position (a keyword-only search numbers entries
        from 1); None for an id the knowledge base does not have."""
        entries = self.entries(kb_text, split)
        if not isinstance(doc_id, str) or len(doc_id) > 64:
            return None
        if engine is not None and _texts(engine) == entries:
            return next((d.text for d in engine.documents if d.id == doc_id), None)
        return entries[int(doc_id) - 1] if doc_id.isdigit() and 1 <= int(doc_id) <= len(entries) else None

    def judge(self, judgements: judging.Judgements | None, engine: HybridEngine | None, kb_text: str | None,
              split: bool, lang: str, evt: gr.EventData) -> tuple[Any, str]:
        """A click on a card's judgement button (the column's event data: ``query``, ``id``, ``grade`` or None to
        clear): the session's judgements with it, and a message when it could not be kept. Event data a page
        did not send (any shape, any value) changes nothing and raises nothing.

        Returns:
            (the new judgements, or no change; the judgement message, "" when all went well).
        """
        data = getattr(evt, "_data", None)
        if self.store_kb is not None or not isinstance(data, Mapping):
            return gr.skip(), gr.skip()
        query, doc_id, grade = data.get("query"), data.get("id"), data.get("grade")
        if not isinstance(query, str) or (grade is not None and (type(grade) is not int or grade not in judging.GRADES)):
            return gr.skip(), gr.skip()
        document = self._shown_text(engine, kb_text, split, doc_id)
        if document is None:
            return gr.skip(), fmt.notice_html(text("judge_stale", lang), error=True)
        try:
            return judging.judge(judgements, query, document, grade), ""
        except judging.JudgementsError as exc:
            return gr.skip(), fmt.notice_html(explain(exc, lang), error=True)

    def judgements_zip(self, judgements: judging.Judgements | None, kb_text: str | None, split: bool,
                       lang: str) -> tuple[Any, str]:
        """The session's judgements and knowledge base as the evaluation's files in one zip (``judging.to_zip``).

        Returns:
            (the file box, shown, holding the zip, or hidden when there is nothing to save; the message).
        """
        n = judging.count(judgements)
        if not n:
            return gr.File(value=None, visible=False), fmt.notice_html(text("judge_none", lang), error=True)
        entries = self.entries(kb_text, split)
        problem = self._size_problem(entries, lang)  # what the page would index, and no more, goes in the zip
        if problem is not None:
            return gr.File(value=None, visible=False), fmt.notice_html(problem, error=True)
        path, = save_download("judgements-", {"judgements.zip": judging.to_zip(judgements, entries)})
        return (gr.File(value=str(path), visible=True),
                fmt.notice_html(text("judge_downloaded", lang, n=n, q=len(judgements or {}), docs=len(entries))))

    def load_judgements(self, path: str | None, judgements: judging.Judgements | None, kb_text: str | None,
                        split: bool, lang: str, undo: UndoSlot | None = None) -> tuple[Any, ...]:
        """Read a judgements zip (``judgements_zip``'s) into the session: its judgements join the session's (the
        file's grade wins), and when its documents are not the knowledge base's, they become the knowledge base
        (the previous one stays one click away, as after an upload).

        Returns:
            (judgements, knowledge-base text, sample, example chips, undo text, undo button, message, the
            knowledge-base panel's message and notice (when the knowledge base is replaced), the upload button
            emptied); a file that cannot be used changes nothing and says why.
        """
        skip = gr.skip()
        if not path:
            return (*(skip,) * 9, None)
        result = self._load_judgements(path, judgements, kb_text, split, lang, undo)
        return (*result, None)  # emptied: the same file picked again is read again (review)

    def _load_judgements(self, path: str, judgements: judging.Judgements | None, kb_text: str | None, split: bool,
                         lang: str, undo: UndoSlot | None) -> tuple[Any, ...]:
        skip = gr.skip()
        if not is_received_upload(path, self.upload_root):
            log.warning("refused to read %r: not a file Gradio received as an upload", path)
            return (*(skip,) * 6, fmt.notice_html(text("upload_not_received", lang, name=Path(path).name), error=True),
                    skip, skip)
        try:
            with open(path, "rb") as handle:
                data = handle.read(judging.MAX_ZIP_BYTES + 1)
            loaded, documents = judging.from_files(judging.read_zip(data))
            # a knowledge-base entry is one trimmed line: texts of the file become the entries they would be
            # one copy per distinct text: a text judged for 20,000 queries was copied for each (a 140 KB zip held
            # 660 MB)
            lines: dict[str, str] = {}

            def line(text_: str) -> str:
                if text_ not in lines:
                    lines[text_] = _one_line(text_)
                return lines[text_]

            loaded = {q: {line(t): g for t, g in grades.items()} for q, grades in loaded.items()}
            merged = {q: dict(g) for q, g in (judgements or {}).items()}
            for query, grades in loaded.items():
                merged.setdefault(query, {}).update(grades)
            if judging.count(merged) > judging.MAX_JUDGEMENTS:
                raise judging.JudgementsError("too many judgements", "judge_too_many",
                                              limit=f"{judging.MAX_JUDGEMENTS:,}")
            if sum(map(len, merged)) > judging.MAX_QUERIES_CHARS:
                raise judging.JudgementsError("judged queries too long", "judge_queries_too_long",
                                              limit=f"{judging.MAX_QUERIES_CHARS:,}")
        except (judging.JudgementsError, OSError) as exc:
            return (*(skip,) * 6, fmt.notice_html(text("judge_failed", lang, error=explain(exc, lang)), error=True),
                    skip, skip)
        n, q = judging.count(loaded), len(loaded)
        documents = [_one_line(d) for d in documents if d.strip()]
        if documents == self.entries(kb_text, split) or self.store_kb is not None:
            return (merged, skip, skip, skip, skip, skip, fmt.notice_html(text("judge_loaded", lang, n=n, q=q)),
                    skip, skip)
        new = "\n".join(documents)
        problem = self._size_problem(self.entries(new, False), lang)
        if problem:
            return (*(skip,) * 6, fmt.notice_html(text("judge_failed", lang, error=problem), error=True), skip, skip)
        sample = sample_of(new)
        # the panel's notice says so too: it still spoke of the text replaced before (review)
        message: KbMessage = ("judge_replaced_kb", {"n": len(documents), "old": self._count(kb_text or "")}, False)
        return (merged, new, sample, examples_update(sample, lang), after_replacement(undo, kb_text, new),
                gr.update(visible=True),
                fmt.notice_html(text("judge_loaded_kb", lang, n=n, q=q, docs=len(documents))),
                message, render_message(message, lang))

    # ------------------------------------------------------------------ shareable state

    def share_link(self, page_url: str, query: str | None, sample: str | None, kb_text: str | None, split: bool,
                   alpha: float, fusion: str, normalizer: str, k: float, k1: float, b: float, threshold: float,
                   window: float, lang: str, mode: str | None = None, fold: bool | None = None,
                   engine: HybridEngine | None = None) -> tuple[Any, str]:
        """A link that reproduces the query, the sample, the controls' settings and the tokeniser panel's mode and
        folding.

        Args:
            page_url: the page's address as the browser sees it (behind proxies and share links too).
            query ... lang: the page's values.
            mode, fold: the tokeniser panel's (None on a page without it).
            engine: the session's; a dictionary of the visitor's own that it uses is not carried, only said.
        Returns:
            (the link box, shown, holding the link; a note when the knowledge base or the dictionary is the
            user's own, which the link cannot carry).
        """
        if not isinstance(page_url, str):  # the page's script always sends one; a forged event may not
            page_url = ""
        own_kb = sample_of(kb_text) is None and self.store_kb is None
        values = {"q": (query or "").strip()[: share.MAX_QUERY_CHARS] or None,
                  "sample": None if own_kb else sample, "kb": share.OWN_KB if own_kb else None, "split": bool(split), "alpha": float(alpha),
                  "fusion": fusion, "normalizer": normalizer, "k": int(k), "k1": float(k1), "b": float(b),
                  "threshold": float(threshold), "window": int(window), "lang": lang}
        if self.store_kb is None and mode is not None:  # a store is searched as its collection was tokenised
            own_dict = engine is not None and engine.tokenizer.user_dict not in (None, self.service.tokenizer.user_dict)
            values.update({"tok": mode, "fold": bool(fold), "dict": True if own_dict else None})
        notes = [text(key, lang, which=self._dictionary_name(lang))
                 for key, own in (("share_custom_kb", own_kb), ("share_own_dict", values.get("dict"))) if own]
        note = fmt.notice_html(" ".join(notes)) if notes else ""
        return gr.Textbox(value=share.link(page_url, values), visible=True, label=text("share_label", lang)), note

    def hide_link(self, link: str | None, lang: str, shown_sample: str | None = None,
                  request: gr.Request | None = None) -> tuple[Any, Any]:
        """After a language switch, hide the share link and its note when the link carries another language
        (it is out of date); a link made after the switch (the share button pressed while the switch's
        events still ran) stays. Without a link, the note is a shared link's recipient's (``restore``): it is
        written again in ``lang`` (it stayed in the link's language: review).

        Args:
            link: the link box's value.
            lang: the page's language now.
            shown_sample: the page's sample (as ``restore`` reads it).
            request: the page's request, whose address holds the shared link's parameters.
        Returns:
            (the link box, its note): hidden and emptied, or both left as they are.
        """
        if not link:
            values, _ = share.decode(dict(request.query_params) if request is not None else {})
            note = self._recipient_note(values, shown_sample, lang)
            return gr.Textbox(visible=False), note if note else gr.skip()
        if share.language_of(link) == lang:
            return gr.skip(), gr.skip()
        return gr.Textbox(visible=False), ""

    def _dictionary_name(self, lang: str) -> str:
        """What a session gets without a dictionary of its own: the server's (``demo.py --user-dict``) or jieba's."""
        return text("dict_server" if self.service.tokenizer.user_dict else "dict_jieba", lang)

    def _recipient_note(self, values: Mapping[str, Any], shown_sample: str | None, lang: str) -> str:
        """The note a shared link's recipient reads: the link was made on the sharer's own knowledge base (and
        which one the results are from: the link's sample, else ``shown_sample``) or dictionary ("" for none)."""
        notes = []
        if values.get("kb") == share.OWN_KB and self.store_kb is None:
            shown = values.get("sample") or shown_sample
            notes.append(text("share_opened_own_kb", lang, sample=text(f"sample_{shown}", lang) if shown else "—"))
        if values.get("dict") and self.store_kb is None:
            notes.append(text("share_opened_own_dict", lang, which=self._dictionary_name(lang)))
        return fmt.notice_html(" ".join(notes)) if notes else ""

    def restore_tokenizer(self, request: gr.Request) -> tuple[Any, Any, Any]:
        """A shared link's tokeniser, before anything else of the link (``restore_rest``): the session's engine
        and the tokeniser panel's mode and folding.

        The page's events that index the knowledge base read the session's engine; one sent as the link's
        knowledge base arrives could read it before an engine set in the same step was stored, and built one
        of the server's tokeniser (a review found 7 of 8 links with a sample searched so)."""
        values, _ = share.decode(dict(request.query_params) if request is not None else {})
        return self._link_engine(values)

    def restore_rest(self, shown_sample: str | None, request: gr.Request) -> tuple[Any, ...]:
        """``restore`` without the tokeniser (``restore_tokenizer`` set it): ``RESTORED`` but its last three."""
        return self.restore(shown_sample, request, with_tokenizer=False)[:-3]

    def _link_engine(self, values: Mapping[str, Any]) -> tuple[Any, Any, Any]:
        """(engine, mode, folding) of a link's ``tok`` / ``fold`` (skips where the link names none, or the
        server's own)."""
        skip = gr.skip()
        engine = mode = fold = skip
        if self.store_kb is None and ("tok" in values or "fold" in values):
            server = self.service.tokenizer
            mode, fold = values.get("tok", server.mode), values.get("fold", server.fold)
            if (mode, fold) != (server.mode, server.fold):
                # The session's first engine, empty, with the link's tokeniser: the page's first index fills it,
                # so no engine of the server's tokeniser can land after the panel's.
                try:
                    tokenizer = Tokenizer(mode=mode, user_dict=server.user_dict, fold=fold)
                except (OSError, ValueError) as exc:  # the server's dictionary went away: the link's rest applies
                    log.warning("a shared link's tokeniser could not be made: %s", exc)
                    mode = fold = skip
                else:
                    engine = self.service.new_engine([], tokenizer=tokenizer, public_texts=self.public_texts)
        return engine, mode, fold

    def restore(self, shown_sample: str | None, request: gr.Request, with_tokenizer: bool = True) -> tuple[Any, ...]:
        """The page's values from the URL's parameters (``share.PARAMS``), in the order of ``RESTORED``.

        Parameters that are absent or invalid leave their control as it is. A link made on the sharer's own
        knowledge base (``kb=own``) says so in the share note, and which knowledge base the results are from
        instead (``shown_sample``, the page's sample, when the link names none). ``with_tokenizer`` False: the
        last three (engine, mode, folding) are skips.
        """
        values, rejected = share.decode(dict(request.query_params) if request is not None else {})
        if rejected:
            log.info("ignored invalid URL parameters: %s", ", ".join(rejected))
        skip = gr.skip()
        sample = values.get("sample") if self.store_kb is None else None  # a served store has no samples
        kb = sample_text(sample) if sample else skip
        examples = examples_update(sample, values.get("lang", DEFAULT_LANGUAGE)) if sample else skip
        lang = values.get("lang", DEFAULT_LANGUAGE)
        note = self._recipient_note(values, shown_sample, lang) or skip
        engine, mode, fold = self._link_engine(values) if with_tokenizer else (skip, skip, skip)
        return (values.get("q", skip), sample or skip, kb, examples, values.get("split", skip),
                values.get("alpha", skip), values.get("fusion", skip), values.get("normalizer", skip),
                values.get("k", skip), values.get("k1", skip), values.get("b", skip), values.get("threshold", skip),
                values.get("window", skip), values.get("lang", skip), note, engine, mode, fold)


# The components ``DemoHandlers.restore`` fills, in order (names of ``webui.layout.SearchTab`` fields, the
# session's engine, and the tokeniser panel's mode and folding).
RESTORED = ("query", "sample", "kb", "examples", "split", "alpha", "fusion", "normalizer", "k", "k1", "b",
            "threshold", "window", "language", "share_note", "engine", "tok_mode", "tok_fold")
