"""Test doubles: a keyword-one-hot encoder standing in for an embedding model."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

# Each concept lists words that "mean" it; the fake model maps a text to the concepts whose words it
# contains, so it finds synonyms that BM25 cannot (苹果 ~ 吃) and is blind to anything else.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "food": ("吃", "水果", "苹果", "香蕉", "饿", "美食", "食物"),
    "capital": ("首都", "巴黎", "北京", "东京", "capital"),
    "france": ("法国", "巴黎", "france"),
    "ml": ("机器学习", "模型", "神经网络", "深度学习", "machine learning"),
    "laptop": ("笔记本", "电脑", "黑屏", "屏幕", "laptop", "显示器"),
    "weather": ("天气", "下雨", "晴天", "气温"),
}


class OneHotEncoder:
    """Deterministic fake ``Embedder``: one dimension per concept, plus a constant bias dimension."""

    backend = "fake"
    device = "cpu"
    dtype = "float32"
    max_tokens = 512
    query_instruction = None

    def __init__(self, name: str = "fake-onehot") -> None:
        self.name = name
        self.dimension = len(CONCEPTS) + 1
        self.document_calls = 0
        self.documents_embedded = 0
        self.query_calls = 0

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = text.lower()
            for col, words in enumerate(CONCEPTS.values()):
                out[row, col] = sum(lowered.count(w) for w in words)
            out[row, -1] = 0.1
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        self.query_calls += 1
        return self._encode(texts)

    def encode_documents(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        self.document_calls += 1
        self.documents_embedded += len(texts)
        vectors = self._encode(texts)
        if progress is not None:
            progress(len(texts), len(texts))
        return vectors

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]


class SlowEncoder(OneHotEncoder):
    """The one-hot encoder taking ``delay`` seconds a document; records how many calls ran at once at most."""

    def __init__(self, delay: float, name: str = "slow-fake") -> None:
        import threading

        super().__init__(name)
        self.delay = delay
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def encode_documents(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        import time

        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            for done in range(1, len(texts) + 1):
                time.sleep(self.delay)
                with self._lock:
                    self.documents_embedded += 1
                if progress is not None:
                    progress(done, len(texts))
            return self._encode(texts)
        finally:
            with self._lock:
                self.running -= 1


class WordReranker:
    """Deterministic fake ``Reranker``: a text's score is the share of ``favourites`` it contains.

    ``gate`` (a threading.Event), when set up, makes ``score`` wait until it is set: a slow model.
    """

    backend = "fake"
    device = "cpu"
    dtype = "float32"
    max_tokens = 512
    instruction = "fake"

    def __init__(self, favourites: Sequence[str], name: str = "fake-reranker", gate=None) -> None:
        self.name = name
        self.favourites = tuple(favourites)
        self.gate = gate
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        self.calls.append((query, list(texts)))
        if self.gate is not None:
            self.gate.wait(10)
        return np.array([sum(w in t for w in self.favourites) / len(self.favourites) for t in texts],
                        dtype=np.float32)

    def count_tokens(self, query: str, texts: Sequence[str]) -> list[int]:
        return [len(query) + len(t) for t in texts]
