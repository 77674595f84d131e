"""Persistent embedding cache: one float32 vector per (model key, text) in SQLite, rebuilt if corrupt."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

DB_NAME = "embeddings.sqlite3"
SCHEMA_VERSION = 1
_CHUNK = 500  # hashes per IN (...) query, far below SQLite's bound-parameter limit
_CORRUPTION = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def default_folder() -> Path:
    """The default cache folder: platformdirs.user_cache_dir("hybrid-search")/embeddings."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("hybrid-search")) / "embeddings"


def embedder_key(embedder) -> str:
    """The model's identity: "backend:name:dimension" (prompts not included)."""
    return f"{embedder.backend}:{embedder.name}:{embedder.dimension}"


def model_key(embedder) -> str:
    """Cache namespace of an embedder's documents: ``embedder_key`` with "[documents=PREFIX]" after the name
    when the embedder gives documents a prefix (``document_prefix``), since their vectors differ."""
    prefix = getattr(embedder, "document_prefix", None)
    tag = f"[documents={prefix.strip()}]" if prefix and prefix.strip() else ""
    return f"{embedder.backend}:{embedder.name}{tag}:{embedder.dimension}"


def _dimension_from_key(key: str) -> int | None:
    tail = key.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return name in _CORRUPTION
    message = str(exc).lower()
    return "not a database" in message or "malformed" in message


class EmbeddingCache:
    """Thread-safe on-disk cache of document embeddings.

    A corrupt or truncated file is moved aside (to ``embeddings.sqlite3.corrupt``) and rebuilt empty;
    an unusable folder degrades to an in-memory cache. Cache trouble never raises into a search.

    Args:
        folder: where ``embeddings.sqlite3`` lives; default ``default_folder()``.
    """

    def __init__(self, folder: str | os.PathLike[str] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else default_folder()
        self.path = self.folder / DB_NAME
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self.in_memory = False
        with self._lock:
            self._open()

    # ------------------------------------------------------------------ connection management

    def _connect(self, target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(target, timeout=30.0, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA mmap_size=268435456")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS vectors ("
                " model TEXT NOT NULL, hash BLOB NOT NULL, dim INTEGER NOT NULL, vec BLOB NOT NULL,"
                " PRIMARY KEY (model, hash))"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            # quick_check reads every page once: it catches a truncated or overwritten file up front.
            row = conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise sqlite3.DatabaseError(
                    f"database disk image is malformed (quick_check: {row[0] if row else 'no answer'})")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            try:
                self._conn = self._connect(str(self.path))
                return
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError) and not _is_corruption(exc):
                    raise
                self._move_aside(exc)
            self._conn = self._connect(str(self.path))
        except (OSError, sqlite3.Error) as exc:
            logger.warning("Embedding cache at %s is unusable (%s); using an in-memory cache", self.path, exc)
            self._conn = self._connect(":memory:")
            self.in_memory = True

    def _move_aside(self, exc: BaseException) -> None:
        aside = self.path.with_name(DB_NAME + ".corrupt")
        logger.warning("Embedding cache %s is corrupt (%s); moved to %s and rebuilt empty", self.path, exc, aside)
        try:
            os.replace(self.path, aside)
        except OSError:
            self.path.unlink(missing_ok=True)
        for suffix in ("-journal", "-wal", "-shm"):
            Path(str(self.path) + suffix).unlink(missing_ok=True)

    def _rebuild(self, exc: BaseException) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        if self.in_memory:
            self._conn = self._connect(":memory:")
            return
        self._move_aside(exc)
        self._open()

    def close(self) -> None:
        """Close the database (later calls reopen it)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            self._open()
        assert self._conn is not None
        return self._conn

    # ------------------------------------------------------------------ public API

    def get_many(self, model_key: str, texts: Sequence[str], dimension: int | None = None) -> list[np.ndarray | None]:
        """Look up cached vectors.

        Args:
            model_key: the model's namespace (see ``model_key``).
            texts: texts to look up.
            dimension: expected vector length; default parsed from the key's last ":" field. A stored blob
                of another size counts as a miss.
        Returns:
            One float32 vector (read-only) or None per text, in order.
        """
        expected = dimension if dimension is not None else _dimension_from_key(model_key)
        hashes = [_text_hash(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        with self._lock:
            try:
                found = self._select(model_key, list(dict.fromkeys(hashes)), expected)
            except sqlite3.Error as exc:
                if isinstance(exc, sqlite3.DatabaseError) and _is_corruption(exc):
                    self._rebuild(exc)
                else:
                    logger.warning("Embedding cache read failed (%s); embedding without it", exc)
        return [found.get(h) for h in hashes]

    def _select(self, key: str, hashes: list[bytes], expected: int | None) -> dict[bytes, np.ndarray]:
        db = self._db()
        found: dict[bytes, np.ndarray] = {}
        for start in range(0, len(hashes), _CHUNK):
            chunk = hashes[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT hash, dim, vec FROM vectors WHERE model = ? AND hash IN ({marks})", (key, *chunk)
            ).fetchall()
            for h, dim, blob in rows:
                if len(blob) != dim * 4 or (expected is not None and dim != expected):
                    continue  # half-written or foreign row: a miss, re-embedded and overwritten
                found[h] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model_key: str, texts: Sequence[str], vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        """Store one vector per text (float32), in one transaction. Failures are logged, never raised."""
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
        rows = []
        for text, vector in zip(texts, vectors):
            v = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
            rows.append((model_key, _text_hash(text), int(v.shape[0]), v.tobytes()))
        if not rows:
            return
        with self._lock:
            for attempt in (1, 2):
                try:
                    db = self._db()
                    with db:
                        db.execute("BEGIN IMMEDIATE")
                        db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
                    return
                except sqlite3.Error as exc:
                    if attempt == 1 and isinstance(exc, sqlite3.DatabaseError) and _is_corruption(exc):
                        self._rebuild(exc)
                        continue
                    logger.warning("Embedding cache write failed (%s); vectors not cached", exc)
                    return

    def count(self, model_key: str | None = None) -> int:
        """Number of cached vectors (for one model key, or all)."""
        with self._lock:
            try:
                db = self._db()
                if model_key is None:
                    return int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
                return int(db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", (model_key,)).fetchone()[0])
            except sqlite3.DatabaseError as exc:
                logger.warning("Embedding cache count failed: %s", exc)
                return 0

    def clear(self, model_key: str | None = None) -> None:
        """Delete cached vectors (for one model key, or all)."""
        with self._lock:
            db = self._db()
            with db:
                db.execute("BEGIN IMMEDIATE")
                if model_key is None:
                    db.execute("DELETE FROM vectors")
                else:
                    db.execute("DELETE FROM vectors WHERE model = ?", (model_key,))


def embed_with_cache(
    embedder,
    texts: Sequence[str],
    cache: EmbeddingCache,
    progress: Progress | None = None,
    chunk_size: int = 256,
) -> np.ndarray:
    """Embed documents, computing only the texts missing from the cache (each distinct text once).

    New vectors are stored after every chunk, so an interrupted run keeps what it finished.

    Args:
        embedder: an ``Embedder``.
        texts: documents.
        cache: the cache.
        progress: progress(done, total) over len(texts): first the cache hits, then as chunks finish.
        chunk_size: texts embedded (and stored) per step.
    Returns:
        (len(texts), embedder.dimension) float32, in input order.
    """
    texts = list(texts)
    key = model_key(embedder)
    dim = int(embedder.dimension)
    out = np.empty((len(texts), dim), dtype=np.float32)
    cached = cache.get_many(key, texts, dimension=dim)
    positions: dict[str, list[int]] = {}
    for i, (text, vector) in enumerate(zip(texts, cached)):
        if vector is None:
            positions.setdefault(text, []).append(i)
        else:
            out[i] = vector
    total = len(texts)
    done = total - sum(len(p) for p in positions.values())
    if progress is not None:
        progress(done, total)
    # Longest first so each chunk holds similar lengths (less padding in the model's batches).
    missing = sorted(positions, key=len, reverse=True)
    started = time.perf_counter()
    for start in range(0, len(missing), chunk_size):
        chunk = missing[start : start + chunk_size]
        inner = None
        if progress is not None:
            base = done
            inner = lambda d, _n, base=base: progress(min(total, base + d), total)  # noqa: E731
        vectors = np.asarray(embedder.encode_documents(chunk, progress=inner), dtype=np.float32)
        if vectors.shape != (len(chunk), dim):
            raise ValueError(f"{embedder.name} returned shape {vectors.shape}, expected {(len(chunk), dim)}")
        cache.put_many(key, chunk, vectors)
        for text, vector in zip(chunk, vectors):
            for i in positions[text]:
                out[i] = vector
            done += len(positions[text])
        if progress is not None:
            progress(done, total)
    if missing:
        logger.info("Embedded %d new texts with %s in %.1fs (%d from cache)", len(missing), embedder.name,
                    time.perf_counter() - started, total - sum(len(positions[t]) for t in missing))
    return out


class PublicTextsCache:
    """A view of an ``EmbeddingCache`` that reads and stores only texts anyone may know (shipped samples).

    Any other text is reported missing and never written, so a visitor cannot tell from the timing whether
    someone else embedded it, while every session of a shipped sample reuses its vectors.
    """

    def __init__(self, cache: EmbeddingCache, texts: frozenset[str]) -> None:
        self.cache, self.texts = cache, texts

    def get_many(self, model_key: str, texts: Sequence[str], dimension: int | None = None) -> list[np.ndarray | None]:
        """As ``EmbeddingCache.get_many``; texts outside the public set are always None."""
        public = [t for t in texts if t in self.texts]
        found = iter(self.cache.get_many(model_key, public, dimension=dimension) if public else [])
        return [next(found) if t in self.texts else None for t in texts]

    def put_many(self, model_key: str, texts: Sequence[str], vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        """As ``EmbeddingCache.put_many``, keeping only the public texts."""
        keep = [i for i, t in enumerate(texts) if t in self.texts]
        if keep:
            self.cache.put_many(model_key, [texts[i] for i in keep], [vectors[i] for i in keep])


class KnownVectors:
    """A cache view that also answers from vectors already in hand: an engine's own, when only its tokenizer
    changes, so nothing is embedded again (a visitor's texts are never in the persistent cache)."""

    def __init__(self, model_key: str, vectors: Mapping[str, np.ndarray], inner: Any = None) -> None:
        self.key, self.vectors, self.inner = model_key, vectors, inner

    def get_many(self, model_key: str, texts: Sequence[str], dimension: int | None = None) -> list[np.ndarray | None]:
        """As ``EmbeddingCache.get_many``: the vectors in hand for this model first, then the inner cache's."""
        inner = (self.inner.get_many(model_key, texts, dimension=dimension) if self.inner is not None
                 else [None] * len(texts))
        if model_key != self.key:
            return inner
        return [self.vectors.get(t, v) for t, v in zip(texts, inner)]

    def put_many(self, model_key: str, texts: Sequence[str], vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        """As the inner cache's ``put_many`` (nothing without one)."""
        if self.inner is not None:
            self.inner.put_many(model_key, texts, vectors)
