"""The cap on embedding work shared by every caller: fair slots, cancellation, admission within a wait."""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .semantic import Embedder, Progress


class Cancelled(Exception):
    """The work was given up: its caller set the cancel flag (e.g. the client disconnected)."""


class Busy(Exception):
    """No embedding slot freed up within the caller's wait; retry later.

    Attributes:
        waited_s: how long the caller waited.
    """

    def __init__(self, waited_s: float) -> None:
        super().__init__(f"the shared embedding model stayed busy with other work for {waited_s:.0f} s")
        self.waited_s = waited_s


class FairSlots:
    """At most ``n`` holders at a time; waiters are served first come, first served.

    Args:
        n: the number of slots.
    """

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"the number of embedding slots must be at least 1, got {n}")
        self.n = n
        self._held = 0
        self._queue: deque[object] = deque()
        self._cond = threading.Condition()

    @property
    def busy(self) -> int:
        """Slots held now."""
        return self._held

    @property
    def waiting(self) -> int:
        """Callers waiting for a slot now."""
        return len(self._queue)

    def acquire(self, timeout: float | None = None, cancel: threading.Event | None = None) -> bool:
        """Take a slot; False when ``timeout`` seconds passed first.

        Raises:
            Cancelled: ``cancel`` was set while waiting.
        """
        ticket = object()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._queue.append(ticket)
            try:
                while not (self._held < self.n and self._queue[0] is ticket):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return False
                    # Wake up now and then to notice a cancel flag nobody notifies about.
                    self._cond.wait(0.2 if left is None else min(left, 0.2))
                self._held += 1
                return True
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()

    def release(self) -> None:
        """Give a slot back."""
        with self._cond:
            self._held -= 1
            self._cond.notify_all()


@dataclass
class _Scope:
    cancel: threading.Event | None
    admit_within_s: float | None
    admitted: bool = False


_scope: ContextVar[_Scope | None] = ContextVar("embedding_scope", default=None)


@contextmanager
def embedding_scope(cancel: threading.Event | None = None, admit_within_s: float | None = None) -> Iterator[None]:
    """Embedding done inside this block (in this thread or context) stops when ``cancel`` is set, and gives up
    with ``Busy`` when its first slot does not free up within ``admit_within_s`` seconds (None: waits)."""
    token = _scope.set(_Scope(cancel, admit_within_s))
    try:
        yield
    finally:
        _scope.reset(token)


def check_cancelled() -> None:
    """Raise ``Cancelled`` when the current embedding scope was cancelled."""
    scope = _scope.get()
    if scope is not None and scope.cancel is not None and scope.cancel.is_set():
        raise Cancelled()


# Tokens one slot turn embeds at most (a longer text goes alone): 16 long texts in one turn held the model for
# minutes, while every other caller waited.
TURN_TOKENS = 2048


class SharedEmbedder:
    """An embedder behind the shared slots: texts go through in chunks, each chunk holding one slot, so callers
    take turns, a cancelled caller stops after its current chunk, and no more than the slots' number of chunks
    run at once. Every other attribute is the wrapped embedder's.

    Args:
        inner: the loaded embedder.
        slots: the shared slots.
        chunk: texts per slot turn at most.
        turn_tokens: tokens per slot turn at most (by the model's ``count_tokens``; a longer text goes alone).
    """

    def __init__(self, inner: Embedder, slots: FairSlots, chunk: int = 16, turn_tokens: int = TURN_TOKENS) -> None:
        self.inner = inner
        self.slots = slots
        self.chunk = chunk
        self.turn_tokens = turn_tokens

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode_documents(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """The wrapped ``encode_documents``, a chunk per slot turn; progress(done, total) after each chunk."""
        return self._run(texts, self.inner.encode_documents, progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """The wrapped ``encode_queries``, a chunk per slot turn."""
        return self._run(texts, self.inner.encode_queries, None)

    def _acquire(self) -> None:
        scope = _scope.get()
        if scope is None:
            self.slots.acquire()
            return
        wait = None if scope.admitted else scope.admit_within_s
        started = time.monotonic()
        if not self.slots.acquire(wait, scope.cancel):
            raise Busy(time.monotonic() - started)
        scope.admitted = True

    def turns(self, texts: Sequence[str]) -> list[tuple[int, int]]:
        """The (start, stop) of each slot turn over ``texts``: at most ``chunk`` texts and ``turn_tokens`` tokens."""
        if len(texts) <= 1:
            return [(0, len(texts))] if texts else []
        bounds, start, tokens = [], 0, 0
        for i, n in enumerate(self.inner.count_tokens(list(texts))):
            if i > start and (i - start >= self.chunk or tokens + n > self.turn_tokens):
                bounds.append((start, i))
                start, tokens = i, 0
            tokens += n
        bounds.append((start, len(texts)))
        return bounds

    def _run(self, texts: Sequence[str], encode: Callable[[list[str]], Any], progress: Progress | None) -> np.ndarray:
        texts = list(texts)
        parts = []
        for start, stop in self.turns(texts):
            check_cancelled()
            self._acquire()
            try:
                parts.append(np.asarray(encode(texts[start:stop]), dtype=np.float32))
            finally:
                self.slots.release()
            if progress is not None:
                progress(stop, len(texts))
        if not parts:
            return np.zeros((0, self.inner.dimension), dtype=np.float32)
        return np.concatenate(parts)
