"""The server's own knowledge base (``--kb FILE`` or ``--store URI``) and when each search mode is ready.

Keyword search works at once; semantic search once the model has embedded it (a store already holds its vectors).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any, Sequence

from hybrid.engine import HybridEngine
from hybrid.kb import Document, KnowledgeBaseError, documents_from_file
from hybrid.redact import hide_paths
from hybrid.service import FAILED, ModelService
from hybrid.store import Store

log = logging.getLogger(__name__)

INDEXING, READY, KEYWORD_ONLY, FAILED_KB = "indexing", "ready", "keyword-only", "failed"


def _serving(engine: HybridEngine) -> HybridEngine:
    """``engine`` made fit to serve every visitor: it keeps no query vectors (see ``HybridEngine.query_cache_size``)."""
    engine.query_cache_size = 0
    return engine


class ServerKnowledgeBase:
    """One shared engine over the server's knowledge base, swapped for an embedded one in the background.

    Requests read ``engine``; a keyword-only engine answers until the shared model has embedded every
    entry, then the embedded engine replaces it in one assignment (searches in flight finish on the old one).

    Args:
        service: the shared model service.
        entries: the knowledge-base entries (texts, or ``Document``s whose ids and metadata the hits carry).
        path: the file they came from (shown by /health).
    """

    def __init__(self, service: ModelService, entries: Sequence[str | Document], path: str | None = None) -> None:
        if not entries:
            raise KnowledgeBaseError(f"{path or 'the knowledge base'} holds no entries")
        self.service = service
        self.path = path
        self.size = len(entries)
        self._entries = list(entries)
        self.engine: HybridEngine = _serving(HybridEngine(self._entries, settings=service.settings,
                                                          tokenizer=service.tokenizer))
        self.state = INDEXING
        self.embedded = 0
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self.store: Store | None = None

    @classmethod
    def from_file(cls, path: str | Path, service: ModelService) -> "ServerKnowledgeBase":
        """Read ``path`` (.txt/.md/.csv/.jsonl, see ``hybrid.kb.documents_from_file``): the file's ids and
        metadata are kept, so /search hits carry them.

        Raises:
            KnowledgeBaseError: the file cannot be used.
        """
        return cls(service, documents_from_file(path), str(path))

    @classmethod
    def from_engine(cls, engine: HybridEngine, service: ModelService) -> "ServerKnowledgeBase":
        """Serve an engine built elsewhere as it is (no background embedding)."""
        kb = cls.__new__(cls)
        kb.service, kb.path, kb.size, kb._entries = service, None, len(engine), []
        kb.engine, kb.error, kb._thread = _serving(engine), None, None
        kb.embedded = len(engine) if engine.has_vectors else 0
        kb.state = READY if engine.has_vectors else KEYWORD_ONLY
        kb.store = None
        return kb

    @classmethod
    def from_store(cls, store: Store, service: ModelService) -> "ServerKnowledgeBase":
        """Serve a store read-only (``--store``): keyword search at once, semantic once the shared model is loaded,
        if it is the model the store's vectors came from (nothing is embedded)."""
        kb = cls.__new__(cls)
        kb.service, kb.path, kb.size, kb._entries, kb.store = service, None, len(store), [], store
        kb.engine = _serving(HybridEngine(settings=service.settings, store=store, tokenizer=service.tokenizer))
        kb.state, kb.embedded, kb.error, kb._thread = INDEXING, 0, None, None
        return kb

    def start(self) -> "ServerKnowledgeBase":
        """Embed in the background once the model is ready (idempotent). Returns self."""
        if self._thread is None and self.state == INDEXING:
            self._thread = threading.Thread(target=self._index, name="kb-indexer", daemon=True)
            self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Block until background indexing ends; returns whether semantic search is possible."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.state == READY

    def _progress(self, done: int, total: int) -> None:
        self.embedded = done

    def _index(self) -> None:
        embedder = self.service.wait()
        if embedder is None:
            self.state = KEYWORD_ONLY
            self.error = self.service.status().error
            return
        if self.store is not None:
            try:
                self.engine.set_embedder(embedder)  # the store's vectors: checked, never recomputed
            except Exception as exc:  # another model: keyword search keeps working, /health says why
                log.error("%s: %s", self.store.describe(), exc)
                self.state, self.error = FAILED_KB, hide_paths(str(exc))
                return
            self.embedded, self.state = len(self.engine), READY
            return
        try:
            engine = _serving(self.service.new_engine(self._entries, progress=self._progress, shared_cache=True))
        except Exception as exc:  # keyword search keeps working; /health shows why semantic does not
            log.error("embedding the knowledge base %s failed: %s", self.path, exc)
            self.state, self.error = FAILED_KB, hide_paths(f"{type(exc).__name__}: {exc}")
            return
        self.engine = engine
        self.embedded = len(engine)
        self.state = READY
        log.info("knowledge base %s: %d entries embedded", self.path, len(engine))

    def status(self) -> dict[str, Any]:
        """What /health shows: path (the file's name), size, state (indexing | ready | keyword-only | failed), progress, error."""
        model_failed = self.service.status().state == FAILED
        state = KEYWORD_ONLY if (self.state == INDEXING and model_failed) else self.state
        # The file's name only: where files live on the server is nobody's business. A store: its kind and collection.
        if self.store is not None:
            where = f"{self.store.name} collection {getattr(self.store, 'collection', '')}".strip()
            error = self.error.replace(self.store.describe(), where) if self.error else None
            return {"path": where, "size": self.size, "state": state, "embedded": self.embedded, "error": error}
        return {"path": Path(self.path).name if self.path else None, "size": self.size, "state": state,
                "embedded": self.embedded, "error": self.error}
