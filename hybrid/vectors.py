"""Vector retrieval: exact cosine top-k over L2-normalised document vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VectorMatches:
    """The nearest documents, best first.

    Attributes:
        docs: document positions.
        scores: cosine similarities.
    """

    docs: np.ndarray
    scores: np.ndarray


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


class VectorIndex:
    """A dense matrix of unit vectors searched by one matrix-vector product."""

    def __init__(self, dimension: int, vectors: np.ndarray | None = None) -> None:
        self.dimension = int(dimension)
        self._matrix = np.zeros((0, self.dimension), dtype=np.float32)
        if vectors is not None:
            self.add(vectors)

    def __len__(self) -> int:
        return self._matrix.shape[0]

    @property
    def matrix(self) -> np.ndarray:
        """The stored vectors, one row per document (read-only view)."""
        view = self._matrix.view()
        view.flags.writeable = False
        return view

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
        if vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors have dimension {vectors.shape[1]}, the index holds {self.dimension}")
        return l2_normalize(vectors)

    def add(self, vectors: np.ndarray) -> None:
        """Append rows (normalised on the way in)."""
        self._matrix = np.concatenate([self._matrix, self._check(vectors)])

    def replace(self, position: int, vector: np.ndarray) -> None:
        """Overwrite one row."""
        matrix = self._matrix.copy()
        matrix[position] = self._check(vector)[0]
        self._matrix = matrix

    def remove(self, positions: list[int]) -> None:
        """Delete rows; later positions shift down."""
        self._matrix = np.delete(self._matrix, list(positions), axis=0)

    def search(self, query: np.ndarray, top: int) -> VectorMatches:
        """Cosine top-``top`` for one query vector.

        Args:
            query: vector of length ``dimension`` (normalised here).
            top: how many documents to return at most.
        Returns:
            VectorMatches, best first.
        """
        if len(self) == 0:
            return VectorMatches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        scores = self._matrix @ self._check(query)[0]
        top = min(top, scores.shape[0])
        part = np.argpartition(-scores, top - 1)[:top] if top < scores.shape[0] else np.arange(scores.shape[0])
        order = np.lexsort((part, -scores[part]))
        docs = part[order]
        return VectorMatches(docs.astype(np.int64), scores[docs])
