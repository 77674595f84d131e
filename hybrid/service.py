"""The shared model service: loads the embedding model and the reranker once in the background for every user and engine."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .cache import EmbeddingCache, KnownVectors, PublicTextsCache, model_key
from .engine import HybridEngine, Progress
from .tokenize import Tokenizer
from .gate import FairSlots, SharedEmbedder
from .kb import Document
from .device import cuda_available
from .redact import hide_paths
from .rerank import AUTO, NO_RERANKER, LoadedReranker, Reranker, load_reranker
from .semantic import Embedder, LoadedEmbedder, load_embedder
from .settings import DEFAULT_SETTINGS, Settings

log = logging.getLogger(__name__)

LOADING, READY, FAILED, OFF = "loading", "ready", "failed", "off"


@dataclass(frozen=True)
class ModelStatus:
    """What the UI and /health show about the embedding model.

    Attributes:
        state: "loading" | "ready" | "failed".
        requested: the model asked for ("auto" or a name).
        model, device, dtype, dimension: the loaded model ("" / 0 until ready).
        fallback_reason: why ``auto`` fell back to the packaged model, else None.
        error: why loading failed, else None.
    """

    state: str
    requested: str
    model: str = ""
    device: str = ""
    dtype: str = ""
    dimension: int = 0
    fallback_reason: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RerankerStatus:
    """What the UI and /health show about the reranker.

    Attributes:
        state: "off" (none asked for, or "auto" found no GPU) | "loading" | "ready" | "failed".
        requested: the reranker asked for ("none", "auto" or a name).
        model, device, dtype: the loaded reranker ("" unless ready).
        reason: why "auto" left reranking off, else None.
        error: why loading failed, else None.
    """

    state: str
    requested: str
    model: str = ""
    device: str = ""
    dtype: str = ""
    reason: str | None = None
    error: str | None = None


class ModelService:
    """Owns the one embedding model and the one reranker (loaded on a background thread) and the embedding cache.

    Args:
        model, device, dimension, document_prompt: passed to ``load_embedder`` (document_prompt only when set).
        cache: shared embedding cache; a default on-disk one when None, none when ``False``.
        loader: the function that loads the model (``load_embedder``).
        settings: default settings of the engines this service creates.
        reranker: passed to ``reranker_loader`` after the embedding model has loaded; "none": no reranking;
            "auto" without CUDA is settled at once (no reranker, with the reason).
        reranker_loader: the function that loads the reranker (``load_reranker``).
        embed_slots: how many embedding chunks may run at once, for every caller together (API, UI, the
            server's knowledge base): ``embedder`` hands out the model behind these slots.
        tokenizer: the keyword tokenizer of the engines this service creates (the default one when None).
    """

    def __init__(self, model: str = "auto", device: str = "auto", dimension: int | None = None,
                 cache: EmbeddingCache | None | bool = None,
                 loader: Callable[..., LoadedEmbedder] = load_embedder,
                 settings: Settings = DEFAULT_SETTINGS, document_prompt: str | None = None,
                 reranker: str = NO_RERANKER, reranker_loader: Callable[..., LoadedReranker] = load_reranker,
                 embed_slots: int = 1, tokenizer: Tokenizer | None = None) -> None:
        self.slots = FairSlots(embed_slots)
        self._shared: SharedEmbedder | None = None
        self.reranker_requested = reranker
        self._reranker_loader = reranker_loader
        self._reranker: LoadedReranker | None = None
        self._reranker_error: str | None = None
        self._reranker_ready = threading.Event()
        self.requested = model
        self.device = device
        self.dimension = dimension
        self.document_prompt = document_prompt
        self.settings = settings
        self.tokenizer = tokenizer or Tokenizer()
        self.cache = None if cache is False else (cache if isinstance(cache, EmbeddingCache) else EmbeddingCache())
        self._loader = loader
        self._loaded: LoadedEmbedder | None = None
        self._error: str | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        if reranker == AUTO and not (device != "cpu" and cuda_available()):
            # "auto" without a GPU loads nothing: decided now, so a page built at once knows there is none.
            self._load_reranker()

    def start(self) -> "ModelService":
        """Begin loading in the background (idempotent). Returns self."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
                self._thread.start()
        return self

    def _load(self) -> None:
        try:
            options = {} if self.document_prompt is None else {"document_prompt": self.document_prompt}
            loaded = self._loader(self.requested, device=self.device, dimension=self.dimension, **options)
            self._shared = SharedEmbedder(loaded.embedder, self.slots)
            self._loaded = loaded
            if self._loaded.fallback_reason:
                log.warning("model %r not used: %s", self.requested, self._loaded.fallback_reason)
        except Exception as exc:  # the UI shows the reason; keyword search keeps working
            log.error("embedding model %r failed to load: %s", self.requested, exc)
            self._error = hide_paths(f"{type(exc).__name__}: {exc}")  # shown to visitors; the log has it all
        finally:
            self._ready.set()
        self._load_reranker()

    def _load_reranker(self) -> None:
        # After the embedding model: search works while the (optional) second stage loads.
        if self._reranker_ready.is_set():
            return
        try:
            if self.reranker_requested != NO_RERANKER:
                self._reranker = self._reranker_loader(self.reranker_requested, device=self.device)
                if self._reranker.reason:
                    log.warning("reranker %r not used: %s", self.reranker_requested, self._reranker.reason)
        except Exception as exc:  # searches go on without the second stage; the UI and /health say why
            log.error("reranker %r failed to load: %s", self.reranker_requested, exc)
            self._reranker_error = hide_paths(f"{type(exc).__name__}: {exc}")
        finally:
            self._reranker_ready.set()

    def wait(self, timeout: float | None = None) -> Embedder | None:
        """Block until loading ends (or ``timeout`` seconds); returns the model or None."""
        self.start()
        self._ready.wait(timeout)
        return self.embedder

    def wait_reranker(self, timeout: float | None = None) -> Reranker | None:
        """Block until the reranker has loaded, failed or been left off (or ``timeout`` seconds); returns it or None."""
        self.start()
        self._reranker_ready.wait(timeout)
        return self.reranker

    @property
    def reranker(self) -> Reranker | None:
        """The loaded reranker; None while loading, after a failure, or when none is used."""
        return self._reranker.reranker if self._reranker is not None else None

    def reranker_status(self) -> RerankerStatus:
        """Current state of the reranker (a local folder named by its last part)."""
        requested = hide_paths(self.reranker_requested)
        if self.reranker is not None:
            r = self.reranker
            return RerankerStatus(READY, requested, hide_paths(r.name), r.device, r.dtype)
        if self._reranker_error is not None:
            return RerankerStatus(FAILED, requested, error=self._reranker_error)
        if requested == NO_RERANKER or self._reranker is not None:
            return RerankerStatus(OFF, requested, reason=self._reranker.reason if self._reranker else None)
        return RerankerStatus(LOADING, requested)

    @property
    def embedder(self) -> Embedder | None:
        """The loaded model behind the shared slots (``hybrid.gate.SharedEmbedder``); None while loading or after
        a failure."""
        return self._shared

    def status(self) -> ModelStatus:
        """Current state of the model (a local folder named by its last part: visitors see this)."""
        requested = hide_paths(self.requested)
        if self._loaded is not None:
            e = self._loaded.embedder
            return ModelStatus(READY, requested, hide_paths(e.name), e.device, e.dtype, e.dimension,
                               hide_paths(self._loaded.fallback_reason))
        if self._error is not None:
            return ModelStatus(FAILED, requested, error=self._error)
        return ModelStatus(LOADING, requested)

    def new_engine(self, documents: Sequence[str | Document | Mapping[str, Any]] = (),
                   progress: Progress | None = None, settings: Settings | None = None,
                   shared_cache: bool = False, public_texts: frozenset[str] = frozenset(),
                   tokenizer: Tokenizer | None = None, reuse: HybridEngine | None = None) -> HybridEngine:
        """An engine over ``documents`` using the shared model if it is ready (keyword-only otherwise) and the
        reranker if it is (attach a later one with ``engine.reranker = service.reranker``).

        Args:
            documents: the knowledge base.
            progress: ``progress(done, total)`` while embedding.
            settings: engine defaults; the service's when None.
            shared_cache: reuse and store the documents' vectors in the service's persistent cache. Only for the
                operator's own knowledge base: a visitor's texts found there would come back faster for the next
                visitor who sends them, telling that one what others embedded (and would stay on the disk).
            public_texts: without ``shared_cache``, texts anyone may know (the shipped samples' entries) that
                still use the persistent cache; every other text is embedded afresh.
            tokenizer: the keyword side's tokenizer; the service's when None.
            reuse: an engine whose vectors (of this model) are taken for the texts it holds, instead of embedding
                them again (the same knowledge base with another tokenizer).
        Returns:
            The engine.
        """
        cache = self.known_vectors(reuse, self._cache_view(shared_cache, public_texts))
        embedder = self.embedder
        return HybridEngine(documents, embedder=embedder, settings=settings or self.settings,
                            cache=cache, progress=progress, reranker=self.reranker,
                            tokenizer=tokenizer or self.tokenizer)

    def known_vectors(self, engine: HybridEngine | None, inner: Any = None) -> Any:
        """A cache answering from ``engine``'s own vectors (a session's, so what it already embedded is not
        embedded again; only for the model they were made with), else from ``inner``.

        Args:
            engine: the session's engine, or None.
            inner: the cache asked for every other text (None: embed them).
        Returns:
            A ``KnownVectors`` over ``inner``, or ``inner`` itself.
        """
        if engine is None or self.embedder is None:
            return inner
        # under the engine's lock: an index event may be replacing them; vectors of another model are never used
        model, vectors = engine.vectors_by_text()
        return KnownVectors(model, vectors, inner) if vectors else inner

    def _cache_view(self, shared: bool, public_texts: frozenset[str]) -> EmbeddingCache | PublicTextsCache | None:
        if self.cache is None or shared:
            return self.cache
        return PublicTextsCache(self.cache, public_texts) if public_texts else None
