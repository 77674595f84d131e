"""Vector retrieval: exact cosine top-k over L2-normalised document vectors."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .topk import top_positions

# Below this many rows the float32 product is about as fast as the int8 pre-scan.
INT8_MIN_ROWS = 8192
# Up to this many rows numkong's single-threaded float32 kernel beats BLAS, whose threads must be woken
# for every search (milliseconds on a busy machine); above it BLAS's memory bandwidth wins.
_SINGLE_THREAD_ROWS = 16384
# Rounding of float32 arithmetic, far above the real error (<= dimension * 2**-24 for unit vectors).
_ROUNDING_SLACK = 1e-4
# The int8 scan first bounds its threshold from every _SAMPLE_STRIDE-th row.
_SAMPLE_STRIDE = 16
# From this many queries a batch gets its int8 scores from one packed matrix product (slower for one).
_PACKED_MIN_QUERIES = 4
# Scores computed at once for a block of queries (bounds the temporary at 64 MB).
_BLOCK_SCORES = 1 << 24


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


class Scan(Protocol):
    """A way to find the exact cosine top-k of a fixed matrix of unit rows."""

    def __init__(self, matrix: np.ndarray) -> None: ...

    def top(self, query: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, float32 cosines) of the ``top`` best rows for a unit ``query``, best first."""
        ...

    def top_many(self, queries: np.ndarray, top: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """``top`` for each row of ``queries`` (unit rows), computed together."""
        ...


def _numkong():
    try:
        import numkong
    except ImportError:
        return None
    return numkong


def dot_rows(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """float32 dot product of every row of ``matrix`` with ``query``."""
    return dot_rows_many(matrix, query[None])[0]


def dot_rows_many(matrix: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """float32 dot products of every row of ``matrix`` with each row of ``queries``: (queries, rows).

    Each query's row equals ``dot_rows`` for that query alone, so batched and single searches agree.
    """
    kernels = _numkong() if matrix.shape[0] <= _SINGLE_THREAD_ROWS else None
    if kernels is None or matrix.shape[0] == 0:
        return queries @ matrix.T if queries.shape[0] > 1 else (matrix @ queries[0])[None]
    out = np.empty((queries.shape[0], matrix.shape[0]), dtype=np.float32)
    kernels.cdist(queries, np.ascontiguousarray(matrix), metric="dot", out=out)
    return out


def _query_blocks(n_queries: int, n_rows: int) -> list[tuple[int, int]]:
    """(start, end) of query blocks whose score matrix holds at most ``_BLOCK_SCORES`` scores (one row at least)."""
    size = max(1, _BLOCK_SCORES // max(n_rows, 1))
    return [(start, min(start + size, n_queries)) for start in range(0, n_queries, size)]


class ExactScan:
    """One float32 matrix-vector product over every row (memory-bound: 4 bytes per dimension and row)."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix

    def top(self, query: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
        scores = dot_rows(self.matrix, query)
        return top_positions(np.arange(scores.shape[0], dtype=np.int64), scores, top)

    def top_many(self, queries: np.ndarray, top: int) -> list[tuple[np.ndarray, np.ndarray]]:
        positions = np.arange(self.matrix.shape[0], dtype=np.int64)
        out = []
        for start, end in _query_blocks(queries.shape[0], self.matrix.shape[0]):
            scores = dot_rows_many(self.matrix, queries[start:end])  # one matrix product for the block
            out.extend(top_positions(positions, row, top) for row in scores)
        return out


class Int8Scan:
    """Exact top-k from an int8 pre-scan: a quarter of the memory traffic of ``ExactScan``, same results.

    Rows are centred first (the mean row m subtracted): ``q . x = q . (x - m) + q . m`` ranks rows alike,
    and embedding models put most of every vector in a shared direction, so the centred rows are short and
    quantise with a smaller error. Each centred row c is stored as ``s * k`` (int8 codes k, one scale s per
    row, ``c' = s k``) with its rounding error ``e = |c - c'|``; the unit query q likewise (error ``eq``).
    The int8 score ``a = q' . c'`` differs from ``q . c`` by at most ``slack = e + eq |c'|``
    (Cauchy-Schwarz). Every row whose upper bound ``a + slack`` reaches the top-th best lower bound
    ``a - slack`` is re-scored exactly in float32, so the top-k and its scores equal the full float32
    scan. The top-th lower bound is found among the rows that reach the top-th best of every 16th row
    (a partition of a sixteenth of the scores). Batches of queries get their int8 scores from one packed
    int8 matrix product. Needs the ``numkong`` package (SIMD int8 dot products).
    """

    def __init__(self, matrix: np.ndarray) -> None:
        kernels = _numkong()
        if kernels is None:
            raise ImportError("the int8 vector scan needs the numkong package: pip install numkong")
        self._kernels = kernels
        self.matrix = matrix
        n = matrix.shape[0]
        self.center = (matrix.mean(axis=0, dtype=np.float64) if n else np.zeros(matrix.shape[1])).astype(np.float32)
        self.codes = np.empty(matrix.shape, dtype=np.int8)
        self.scale = np.empty(n, dtype=np.float32)
        self.error = np.empty(n, dtype=np.float32)
        self.length = np.empty(n, dtype=np.float32)  # |c'|
        for start in range(0, n, 8192):  # blocks keep the temporaries in cache
            rows = matrix[start:start + 8192] - self.center
            scale = np.abs(rows).max(axis=1) * np.float32(1 / 127)
            scale[scale == 0] = 1.0
            codes = np.rint(rows / scale[:, None])
            quantised = codes * scale[:, None]
            residual = rows - quantised
            end = start + rows.shape[0]
            self.codes[start:end] = codes
            self.scale[start:end] = scale
            # float32 rounding of these norms stays far below the slack added at search time
            self.error[start:end] = np.sqrt(np.einsum("ij,ij->i", residual, residual))
            self.length[start:end] = np.sqrt(np.einsum("ij,ij->i", quantised, quantised))
        self._packed = None  # the codes packed for batched products, made on the first batch
        self._lock = threading.Lock()

    @staticmethod
    def _quantize(queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(int8 codes, scales, rounding errors) of unit query rows."""
        q_scale = np.abs(queries).max(axis=1) / np.float32(127)
        q_scale[q_scale == 0] = 1.0
        q_codes = np.rint(queries / q_scale[:, None]).astype(np.int8)
        residual = queries.astype(np.float64) - q_codes * q_scale[:, None].astype(np.float64)
        return q_codes, q_scale, np.linalg.norm(residual, axis=1)

    def _select(self, query: np.ndarray, approx: np.ndarray, q_scale: float, q_error: float,
                top: int) -> tuple[np.ndarray, np.ndarray]:
        """The exact top-k of one query from its int8 dot products with every row (``approx`` is reused)."""
        n = approx.shape[0]
        approx *= self.scale
        approx *= np.float32(q_scale)  # now q' . c'
        slack = self.length * np.float32(q_error)
        slack += self.error
        slack += np.float32(_ROUNDING_SLACK)
        lower = approx - slack
        sample = lower[::_SAMPLE_STRIDE] if n >= _SAMPLE_STRIDE * top * 8 else lower
        rough = np.partition(sample, sample.shape[0] - top)[sample.shape[0] - top]  # <= the top-th lower bound
        pool = lower[lower >= rough]  # holds the `top` best lower bounds
        threshold = np.partition(pool, pool.shape[0] - top)[pool.shape[0] - top]
        approx += slack
        candidates = np.flatnonzero(approx >= threshold)
        if candidates.size * 4 >= n:  # bounds too loose to pay (e.g. many near-duplicate scores)
            return ExactScan(self.matrix).top(query, top)
        return top_positions(candidates, dot_rows(self.matrix[candidates], query), top)

    def top(self, query: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.codes.shape[0]
        if top * 8 >= n:
            return ExactScan(self.matrix).top(query, top)
        q_codes, q_scale, q_error = self._quantize(query[None])
        dots = np.empty((1, n), dtype=np.float32)
        self._kernels.cdist(q_codes, self.codes, metric="dot", out=dots)  # exact: |dot| < 2**24
        return self._select(query, dots[0], float(q_scale[0]), float(q_error[0]), top)

    def top_many(self, queries: np.ndarray, top: int) -> list[tuple[np.ndarray, np.ndarray]]:
        n = self.codes.shape[0]
        if top * 8 >= n or queries.shape[0] < _PACKED_MIN_QUERIES:
            return [self.top(q, top) for q in queries]
        with self._lock:
            if self._packed is None:
                self._packed = self._kernels.dots_pack(self.codes)
        q_codes, q_scale, q_error = self._quantize(queries)
        out = []
        for start, end in _query_blocks(queries.shape[0], n):
            dots = np.asarray(self._kernels.dots_packed(q_codes[start:end], self._packed))  # int32, exact
            for i in range(start, end):
                approx = dots[i - start].astype(np.float32)
                out.append(self._select(queries[i], approx, float(q_scale[i]), float(q_error[i]), top))
        return out


SCANS: dict[str, type] = {
    "exact": ExactScan,
    "int8": Int8Scan,
}


class VectorIndex:
    """A dense matrix of unit vectors searched for the exact cosine top-k.

    Args:
        dimension: vector length.
        vectors: initial rows (normalised on the way in).
        scan: key of SCANS, or "auto": the int8 pre-scan when numkong is installed and the index holds
            at least ``INT8_MIN_ROWS`` rows, else the plain float32 product. Both give the same results.
    """

    def __init__(self, dimension: int, vectors: np.ndarray | None = None, scan: str = "auto") -> None:
        if scan != "auto" and scan not in SCANS:
            raise ValueError(f"unknown vector scan {scan!r}; choose auto or one of {', '.join(SCANS)}")
        if scan == "int8" and _numkong() is None:
            raise ValueError("vector scan 'int8' needs the numkong package: pip install numkong "
                             "(or use scan='exact')")
        self.dimension = int(dimension)
        self.scan = scan
        self._matrix = np.zeros((0, self.dimension), dtype=np.float32)
        self._scanner: Scan | None = None
        self._lock = threading.Lock()
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

    def _set(self, matrix: np.ndarray) -> None:
        with self._lock:
            self._matrix = matrix
            self._scanner = None

    def add(self, vectors: np.ndarray) -> None:
        """Append rows (normalised on the way in)."""
        self._set(np.concatenate([self._matrix, self._check(vectors)]))

    def replace(self, position: int, vector: np.ndarray) -> None:
        """Overwrite one row."""
        matrix = self._matrix.copy()
        matrix[position] = self._check(vector)[0]
        self._set(matrix)

    def remove(self, positions: list[int]) -> None:
        """Delete rows; later positions shift down."""
        self._set(np.delete(self._matrix, list(positions), axis=0))

    def _scan(self) -> Scan:
        with self._lock:
            if self._scanner is None:
                name = self.scan
                if name == "auto":
                    name = "int8" if len(self) >= INT8_MIN_ROWS and _numkong() is not None else "exact"
                self._scanner = SCANS[name](self._matrix)
            return self._scanner

    def search_many(self, queries: np.ndarray, top: int) -> list[VectorMatches]:
        """Cosine top-``top`` for each row of ``queries``, computed together (as ``search`` would, faster).

        Args:
            queries: (m, dimension) array (rows normalised here).
            top: how many documents to return at most per query.
        Returns:
            One VectorMatches per query, in order.
        """
        queries = self._check(queries)
        if len(self) == 0:
            return [VectorMatches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)) for _ in queries]
        found = self._scan().top_many(queries, min(int(top), len(self)))
        return [VectorMatches(docs.astype(np.int64), scores) for docs, scores in found]

    def search(self, query: np.ndarray, top: int) -> VectorMatches:
        """Cosine top-``top`` for one query vector.

        Args:
            query: vector of length ``dimension`` (normalised here).
            top: how many documents to return at most.
        Returns:
            VectorMatches, best first; ties go to the lower position.
        """
        if len(self) == 0:
            return VectorMatches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        docs, scores = self._scan().top(self._check(query)[0], min(int(top), len(self)))
        return VectorMatches(docs.astype(np.int64), scores)
