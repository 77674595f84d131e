"""Second-stage rerankers (Qwen3-Reranker through sentence-transformers) behind one Protocol, a registry and load_reranker."""

from __future__ import annotations

import copy
import logging
import threading
from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .device import cuda_available, load_on_device, resolve_device, run_in_batches
from .hub import reach
from .semantic import ModelLoadError

logger = logging.getLogger(__name__)

DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
DEFAULT_GPU_RERANKER = "Qwen/Qwen3-Reranker-4B"
# The model authors' reference code truncates every pair to 8192 tokens.
DEFAULT_MAX_TOKENS = 8192
DEFAULT_BATCH_SIZE = 16  # pairs per forward pass: 20 candidates (the engine's default depth) take two
NO_RERANKER, AUTO = "none", "auto"
RERANKER_ALIASES: dict[str, str] = {
    "qwen3-0.6b": "Qwen/Qwen3-Reranker-0.6B",
    "qwen3-4b": "Qwen/Qwen3-Reranker-4B",
    "qwen3-8b": "Qwen/Qwen3-Reranker-8B",
}

# The official Qwen3-Reranker prompt, in three parts: the instruction, query and document go between them.
QWEN3_SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
                'Note that the answer can only be "yes" or "no".')
QWEN3_PREFIX = f"<|im_start|>system\n{QWEN3_SYSTEM}<|im_end|>\n<|im_start|>user\n"
QWEN3_PAIR = "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"
QWEN3_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def qwen3_prompt(query: str, document: str, instruction: str = DEFAULT_INSTRUCTION) -> str:
    """The exact text Qwen3-Reranker reads for one pair (the model authors' format)."""
    return QWEN3_PREFIX + QWEN3_PAIR.format(instruction=instruction, query=query, document=document) + QWEN3_SUFFIX


def _jinja_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


# sentence-transformers turns a (query, document) pair into messages with the roles "query" and "document"
# and the instruction (its prompt) into a "system" message; this template renders them as the official
# prompt. The text is emitted as one expression so Jinja's whitespace rules cannot drop the final newlines.
QWEN3_CHAT_TEMPLATE = (
    "{%- set instruction = messages | selectattr('role', 'eq', 'system') | map(attribute='content') | first"
    f" | default({_jinja_string(DEFAULT_INSTRUCTION)}) -%}}\n"
    "{%- set query = messages | selectattr('role', 'eq', 'query') | map(attribute='content') | first -%}\n"
    "{%- set document = messages | selectattr('role', 'eq', 'document') | map(attribute='content') | first -%}\n"
    "{{- " + _jinja_string(QWEN3_PREFIX + "<Instruct>: ") + " + instruction + " + _jinja_string("\n<Query>: ")
    + " + query + " + _jinja_string("\n<Document>: ") + " + document + " + _jinja_string(QWEN3_SUFFIX) + " -}}"
)


class RerankerLoadError(ModelLoadError):
    """A reranker that was asked for could not be loaded or cannot rank; the message says why and how to fix it."""


@runtime_checkable
class Reranker(Protocol):
    """What the engine needs from a second-stage model: scores only (the engine sorts)."""

    name: str
    backend: str
    device: str
    dtype: str
    max_tokens: int
    instruction: str

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """Relevance of each text to ``query``; returns (len(texts),) float32 in [0, 1] (P("yes"))."""
        ...

    def count_tokens(self, query: str, texts: Sequence[str]) -> list[int]:
        """Tokens the model reads for each (query, text) pair, prompt included, after truncation."""
        ...


@dataclass(frozen=True)
class LoadedReranker:
    """Result of load_reranker: the reranker (None when none is used), what was asked for, and why none is used.

    Attributes:
        reranker: the model, or None for ``"none"`` and for ``"auto"`` without a usable GPU model.
        requested: the name asked for.
        reason: why ``"auto"`` left reranking off (no GPU, or the GPU model failed to load), else None.
    """

    reranker: Reranker | None
    requested: str
    reason: str | None = None


def _fix_message(name: str) -> str:
    aliases = ", ".join(sorted(RERANKER_ALIASES))
    return (f"If {name!r} is a Hugging Face model id, download it once (needs network) with `hf download {name}`, "
            f"or pass the path of a local folder holding it. Short names: {aliases}.")


def _check_local_folder(name: str) -> None:
    """A name written as a path (absolute, ./ ../ ~, or more than one /) must be an existing folder; hub ids are
    ``namespace/name``, so such a name would otherwise be reported as a malformed hub id."""
    import os

    expanded = os.path.expanduser(name)
    if not (os.path.isabs(expanded) or name.startswith((".", "~")) or name.count("/") > 1
            or (os.sep != "/" and os.sep in name)):
        return
    if not os.path.isdir(expanded):
        aliases = ", ".join(sorted(RERANKER_ALIASES))
        what = "is a file, not a folder" if os.path.exists(expanded) else "does not exist"
        raise RerankerLoadError(f"Could not load reranker {name!r}: the folder {expanded} {what}. Give the folder "
                                f"a reranker was saved to, a hub id (namespace/name) or a short name: {aliases}.")


def _saved_model_type(model: str, local_files_only: bool = False) -> str | None:
    """The sentence-transformers model type a checkpoint was saved as (None: saved by transformers alone);
    ``local_files_only``: read the local cache only (the hub out of reach)."""
    import json

    from sentence_transformers.util import load_file_path

    if load_file_path(model, "modules.json", local_files_only=local_files_only) is None:
        return None
    config = load_file_path(model, "config_sentence_transformers.json", local_files_only=local_files_only)
    if config is None:
        return "SentenceTransformer"
    with open(config, encoding="utf-8") as f:
        return json.load(f).get("model_type", "SentenceTransformer")


class CrossEncoderReranker:
    """A causal-LM reranker loaded as a sentence-transformers ``CrossEncoder`` that scores with P("yes").

    Qwen3 models (``model_type`` qwen3) always read the official Qwen3-Reranker prompt; other yes/no
    rerankers use their own chat template, which must carry the query and the document.
    """

    backend = "sentence-transformers"

    def __init__(self, model: str, *, device: str = "cpu", instruction: str = DEFAULT_INSTRUCTION,
                 max_tokens: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        """Load ``model`` on ``device`` and check that it ranks with the "yes"/"no" logits.

        Args:
            model: hub id or local folder.
            device: "cpu", "cuda", "cuda:N" or "mps" (bfloat16 and flash-attention 2, when installed, on CUDA).
            instruction: the task description the model reads before the query (English works best).
            max_tokens: tokens per pair at most, prompt included; longer documents are cut, the prompt's end
                never is (default: 8192, as in the model authors' code, or the model's limit if lower).
            batch_size: pairs per forward pass.
        Raises:
            RerankerLoadError: the model cannot be loaded, or it does not score with "yes"/"no".
            ValueError: a bad instruction, batch size or token cap.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one tokenizer + model: calls from several threads take turns
        self._ce, self.is_qwen3 = self._load(model, device)
        self.tokenizer = self._ce[0].tokenizer
        self.model_max_tokens = int(self._ce.max_seq_length or DEFAULT_MAX_TOKENS)
        self.dtype = str(next(self._ce.parameters()).dtype).removeprefix("torch.")
        self._check_head()
        self._configure(instruction, max_tokens)
        self._check_prompt()

    @staticmethod
    def _load(model: str, device: str):
        try:
            from sentence_transformers import CrossEncoder
            from transformers import AutoConfig
        except ImportError as exc:
            raise RerankerLoadError(f"Cannot load reranker {model!r}: sentence-transformers is not installed "
                                    f"({exc}). Install the project requirements.") from exc

        def build(model_kwargs: dict | None):
            saved_as = _saved_model_type(model, local)
            if saved_as not in (None, "CrossEncoder"):
                # sentence-transformers would convert it silently and score with an untrained head.
                raise RerankerLoadError(
                    f"{model!r} is a sentence-transformers {saved_as} model (an embedding model), not a reranker. "
                    "Use a Qwen3-Reranker (" + ", ".join(sorted(RERANKER_ALIASES)) + ") or a folder holding one.")
            config = AutoConfig.from_pretrained(model, local_files_only=local)
            is_qwen3 = getattr(config, "model_type", None) == "qwen3"
            # A Qwen3 checkpoint may ship the chat LLM's template (which would pass the roles through
            # unrendered) or none (then the bare pair is scored): install the official prompt instead.
            processor_kwargs = {"chat_template": QWEN3_CHAT_TEMPLATE} if is_qwen3 else None
            return CrossEncoder(model, device=device, model_kwargs=model_kwargs, local_files_only=local,
                                processor_kwargs=processor_kwargs), is_qwen3

        reason, cached = reach(model)
        if reason is not None and not cached:  # said at once, not after a minute of the hub client's retries
            raise RerankerLoadError(f"Could not load reranker {model!r}: it is in no local cache, and {reason}. "
                                    f"{_fix_message(model)}")
        local = reason is not None  # the hub out of reach: the cache, without the hub client's retries
        try:
            return load_on_device(build, device, model)
        except RerankerLoadError:
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes a RerankerLoadError
            raise RerankerLoadError(
                f"Could not load reranker {model!r} with sentence-transformers on {device}: "
                f"{type(error).__name__}: {str(error).strip().rstrip('.')}. {_fix_message(model)}") from error

    def _check_head(self) -> None:
        """Refuse a model whose scores are not the "yes"/"no" logits at the last position."""
        try:
            from sentence_transformers.cross_encoder.modules import LogitScore
        except ImportError:  # sentence-transformers < 5.4 loads causal-LM rerankers with a random head
            raise RerankerLoadError(
                f"{self.name!r} cannot be used: this sentence-transformers version has no LogitScore module, so "
                "causal-LM rerankers would get a random classification head. Install sentence-transformers "
                ">= 5.4 (the project requirements pin it).") from None
        modules = list(self._ce)
        head = modules[-1] if modules else None
        tok = self.tokenizer
        yes, no = (tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")) if tok is not None else (None, None)
        if (len(modules) != 2 or not isinstance(head, LogitScore) or head.true_token_id != yes
                or head.false_token_id != no or yes is None or no is None):
            found = " -> ".join(type(m).__name__ for m in modules)
            task = getattr(modules[0], "transformer_task", None) if modules else None
            found += f" ({task})" if task else ""
            raise RerankerLoadError(
                f"{self.name!r} is not a yes/no reranker: it loads as {found or 'nothing'}"
                + (f" scoring token ids {head.true_token_id}/{head.false_token_id}" if isinstance(head, LogitScore)
                   else "") +
                f", but a reranker here must score with the logits of the tokens \"yes\" (id {yes}) and \"no\" "
                f"(id {no}) at the last position of a causal language model (as Qwen3-Reranker does). "
                "Use a Qwen3-Reranker (" + ", ".join(sorted(RERANKER_ALIASES)) + ") or a folder holding one.")

    def _configure(self, instruction: str, max_tokens: int | None) -> None:
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError("the reranker instruction must be a non-empty text (the task, in English), e.g. "
                             f"{DEFAULT_INSTRUCTION!r}")
        floor = len(self.tokenizer.encode(qwen3_prompt("", "", instruction), add_special_tokens=False)) + 1
        limit = self.model_max_tokens
        if max_tokens is not None and not floor <= max_tokens <= limit:
            raise ValueError(f"max_tokens must be between {floor} (the prompt itself plus one token) and {limit} "
                             f"for {self.name!r}, got {max_tokens}")
        self.instruction = instruction
        self.max_tokens = int(max_tokens) if max_tokens is not None else min(DEFAULT_MAX_TOKENS, limit)

    def _check_prompt(self) -> None:
        """The rendering path must give exactly the official prompt's tokens (Qwen3), or carry the pair (others)."""
        transformer = self._ce[0]
        if "message" not in transformer.modality_config:
            raise RerankerLoadError(
                f"{self.name!r} has no chat template, so sentence-transformers would score the bare "
                "'query document' text instead of a prompt the model was trained on. Add a chat_template that "
                "renders the 'query' and 'document' roles to the model folder.")
        query, document = "什么是 BM25？", "BM25 is a ranking function."
        try:
            ids = self._features([(query, document)])["input_ids"][0].tolist()
        except ValueError as exc:  # sentence-transformers refuses a template that drops the pair's roles
            raise RerankerLoadError(f"{self.name!r} cannot rank: {exc}") from None
        if self.is_qwen3:
            expected = self.tokenizer.encode(qwen3_prompt(query, document, self.instruction), add_special_tokens=False)
            if ids != expected:
                raise RerankerLoadError(
                    f"{self.name!r}: the installed sentence-transformers renders a prompt that differs from the "
                    f"official Qwen3-Reranker prompt ({self.tokenizer.decode(ids)!r}); scores would be wrong. "
                    "Install the sentence-transformers version the project requirements pin.")

    def _features(self, pairs: list[tuple[str, str]]) -> dict:
        kwargs = {"processing_kwargs": {"text": {"max_length": self.max_tokens}}}
        return self._ce[0].preprocess(pairs, prompt=self.instruction, **kwargs)

    def variant(self, *, instruction: str | None = None, max_tokens: int | None = None) -> "CrossEncoderReranker":
        """A copy with another instruction or token cap that shares the loaded weights (no reload).

        Args: as in the constructor; None keeps this reranker's value.
        Raises: ValueError for an impossible value.
        """
        other = copy.copy(self)
        other._configure(self.instruction if instruction is None else instruction,
                         self.max_tokens if max_tokens is None else max_tokens)
        return other

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """P("yes") of each (query, text) pair at the last position of the official prompt.

        Equals the model authors' ``softmax([logit_no, logit_yes])[1]``. Texts that do not fit ``max_tokens``
        lose their end; the prompt's closing tokens are kept.

        Returns:
            (len(texts),) float32, in input order.
        """
        import torch

        pairs = [(query, text) for text in texts]
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        out = np.empty(len(pairs), dtype=np.float32)

        def step(start: int, stop: int) -> None:
            scores = self._ce.predict(pairs[start:stop], prompt=self.instruction, batch_size=stop - start,
                                      activation_fn=torch.nn.Sigmoid(), show_progress_bar=False,
                                      convert_to_numpy=True,
                                      processing_kwargs={"text": {"max_length": self.max_tokens}})
            out[start:stop] = np.asarray(scores, dtype=np.float32).reshape(-1)

        with self._lock:
            run_in_batches(len(pairs), self.batch_size, step, self.name, "pairs", logger)
        return out

    def count_tokens(self, query: str, texts: Sequence[str]) -> list[int]:
        """Tokens of each pair's prompt as the model reads it (truncated to ``max_tokens``)."""
        counts: list[int] = []
        with self._lock:
            for start in range(0, len(texts), self.batch_size):
                batch = [(query, text) for text in texts[start: start + self.batch_size]]
                counts += self._features(batch)["attention_mask"].sum(dim=1).tolist()
        return [int(c) for c in counts]


RERANKERS: dict[str, type] = {
    "sentence-transformers": CrossEncoderReranker,
}


def resolve_reranker(model: str) -> str:
    """Map a user-facing reranker name to its model id by exact alias lookup."""
    return RERANKER_ALIASES.get(model, model)


def load_reranker(model: str = "auto", device: str = "auto", instruction: str = DEFAULT_INSTRUCTION,
                  backend: str | None = None, max_tokens: int | None = None,
                  batch_size: int | None = None) -> LoadedReranker:
    """Load a reranker.

    Args:
        model: "auto", "none", a short alias (RERANKER_ALIASES), a hub id or a local folder.
            "auto": DEFAULT_GPU_RERANKER when CUDA is available (none, with the reason, if it cannot load);
            without CUDA none, with the reason (a reranker on the CPU is slow: name one to use it anyway).
        device: "auto" (cuda > mps > cpu) or an explicit device, which must be available.
        instruction: the task the reranker judges relevance for (English works best, even for Chinese).
        backend: force a registry key of RERANKERS.
        max_tokens: tokens per pair at most (default 8192 or the model's limit).
        batch_size: pairs per forward pass (default DEFAULT_BATCH_SIZE).
    Returns:
        LoadedReranker(reranker or None, requested=model, reason).
    Raises:
        RerankerLoadError: an explicitly named model cannot be loaded or does not rank with "yes"/"no".
        ValueError: unknown backend or device, unavailable device, bad instruction.
    """
    if backend is not None and backend not in RERANKERS:
        raise ValueError(f"Unknown reranker backend {backend!r}; choose one of {sorted(RERANKERS)}.")
    if model == NO_RERANKER:
        return LoadedReranker(None, model, None)
    resolved_device = resolve_device(device)
    options = {"device": resolved_device, "instruction": instruction, "max_tokens": max_tokens}
    if batch_size is not None:
        options["batch_size"] = batch_size
    cls = RERANKERS[backend or "sentence-transformers"]
    if model != AUTO:
        _check_local_folder(resolve_reranker(model))
        return LoadedReranker(cls(resolve_reranker(model), **options), model, None)
    if not (resolved_device.startswith("cuda") and cuda_available()):
        reason = ("no CUDA GPU, so no reranker is loaded (on the CPU a reranker takes tens of seconds per query); "
                  "name one to use it anyway, e.g. --reranker qwen3-0.6b")
        logger.info(reason)
        return LoadedReranker(None, model, reason)
    try:
        return LoadedReranker(cls(DEFAULT_GPU_RERANKER, **options), model, None)
    except RerankerLoadError as exc:
        reason = f"{DEFAULT_GPU_RERANKER} could not be loaded, so results are not reranked. Reason: {exc}"
        logger.warning(reason)
        return LoadedReranker(None, model, reason)


def rerank_order(scores: np.ndarray) -> np.ndarray:
    """Positions of ``scores`` best first; equal scores keep their first-stage order.

    Args:
        scores: reranker scores of candidates given in first-stage order.
    Returns:
        int64 indices into ``scores``.
    """
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
