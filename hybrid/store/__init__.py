"""Where documents and both indexes live: the Store protocol, the STORES registry and ``open_store(uri)``."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from ..fusion import Candidates
from ..kb import Document


class StoreError(RuntimeError):
    """A store that cannot be opened or cannot do what was asked, with a message for the user."""


class Store(Protocol):
    """Documents, their keyword and vector indexes, and (for stores that have it) persistence.

    Every document has a stable int64 key, chosen by the store when the document is added (the in-memory
    store counts up; the Milvus store derives it from the document id so that re-indexing finds it).
    Retrieval answers with keys; the engine turns them into hits. Scores are raw: BM25 for keyword
    candidates, cosine for vector candidates.

    Attributes:
        name: the registry key ("memory", "milvus").
        read_only: True when the engine must not add, change or remove documents.
        bm25_params: ``(k1, b)`` when the keyword index fixes them (per-search k1/b are then refused);
            None when every search may choose its own.
        vectors_model: the model key (``hybrid.cache.model_key``) of the stored vectors when every document
            has one, else None.
    """

    name: str
    read_only: bool
    bm25_params: tuple[float, float] | None
    vectors_model: str | None

    def __len__(self) -> int: ...

    def describe(self) -> str:
        """One line for people: what the store is and where (no secrets)."""
        ...

    # documents
    def key(self, doc_id: str) -> int:
        """The key of the document with id ``doc_id``. Raises KeyError when there is none."""
        ...

    def documents(self, keys: Sequence[int]) -> list[Document]:
        """The documents of ``keys``, in that order."""
        ...

    def iter_documents(self) -> Iterator[Document]:
        """Every document, in key order."""
        ...

    def tokens(self, keys: Sequence[int]) -> list[list[str]]:
        """The keyword tokens each document was indexed with."""
        ...

    def vectors(self, keys: Sequence[int]) -> np.ndarray:
        """The unit vectors of ``keys``, one row each."""
        ...

    # changes
    def add(self, documents: Sequence[Document], tokens: Sequence[list[str]], vectors: np.ndarray | None,
            model: str | None) -> list[int]:
        """Index new documents (ids not present yet) with their tokens and, when given, vectors of ``model``.

        Returns:
            Their keys.
        """
        ...

    def update(self, key: int, document: Document, tokens: list[str], vector: np.ndarray | None) -> None:
        """Replace one document's text (and tokens, and vector when given)."""
        ...

    def remove(self, keys: Sequence[int]) -> None:
        """Delete documents."""
        ...

    def reset(self, documents: Sequence[Document], tokens: Sequence[list[str]], vectors: np.ndarray | None,
              model: str | None) -> None:
        """Replace everything with ``documents``."""
        ...

    def set_vectors(self, vectors: np.ndarray, model: str) -> None:
        """Replace every document's vector (rows in ``iter_documents`` order) with those of ``model``."""
        ...

    # retrieval
    def keyword_search(self, query: str, tokens: Sequence[str], top: int, k1: float, b: float) -> Candidates:
        """Documents matching at least one query token, best first, with raw BM25 scores.

        Args:
            query: the query text (stores that tokenise on their own side use it).
            tokens: the query's keyword tokens from the engine's tokenizer.
            top: how many at most.
            k1, b: BM25 parameters (ignored where ``bm25_params`` fixes them).
        """
        ...

    def vector_search(self, vector: np.ndarray, top: int) -> Candidates:
        """The ``top`` nearest documents to a unit ``vector``, best first, with cosine scores."""
        ...

    def vector_search_many(self, vectors: np.ndarray, top: int) -> list[Candidates]:
        """``vector_search`` for each row of ``vectors`` (batched where the store can)."""
        ...

    def cosines(self, keys: Sequence[int], vector: np.ndarray) -> np.ndarray:
        """Cosine of each document of ``keys`` with a unit ``vector``."""
        ...

    def vector_sample(self, n: int, script: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` documents spread over the collection (all when it holds at most ``n``): their keys and
        unit vectors, the same arrays until the collection changes. With ``script`` (a
        ``hybrid.lang.document_script`` value), spread over the documents written mainly in it where the
        store can tell (others return the sample of the whole collection; the engine keeps the documents in
        the script either way). The engine measures each query's cosine spread over the knowledge base on
        them."""
        ...

    def doc_freqs(self, tokens: Sequence[str]) -> list[int]:
        """How many documents contain each token (the engine's tokens, counted the same way by every store)."""
        ...

    def keyword_statistics(self, tokens: Sequence[str]) -> tuple[int, list[int]]:
        """The number of documents and each token's document frequency that ``keyword_search`` scores a
        query of these ``tokens`` with (its idf), for adaptive fusion's coverage."""
        ...

    def matched_tokens(self, key: int, tokens: Sequence[str]) -> tuple[str, ...]:
        """Distinct ``tokens`` present in the document, in query order."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


def _memory(target: str, **options: Any) -> Store:
    from .memory import MemoryStore

    if target:
        raise StoreError(f"the memory store takes no location (got {target!r}); "
                         "load a saved index with HybridEngine.load(folder)")
    if options:  # a command line's --store: it serves or fills a collection, which only Milvus has
        raise StoreError("'memory:' is an empty index inside this process, not a collection to open; give a Milvus "
                         "URI (milvus:FILE.db or milvus+http(s)://HOST:PORT), or leave --store out to search in memory")
    return MemoryStore()


def _milvus(target: str, **options: Any) -> Store:
    try:
        from .milvus import MilvusStore
    except ImportError as exc:  # pymilvus (and milvus-lite for files) are optional
        raise StoreError(f"the Milvus store needs pymilvus and milvus-lite: pip install 'hybrid-search[scale]' "
                         f"({exc})") from exc
    return MilvusStore.open(target, **options)


# scheme of the URI -> opener(target after the scheme, **options)
STORES: dict[str, Callable[..., Store]] = {
    "memory": _memory,
    "milvus": _milvus,
}


def open_store(uri: str, **options: Any) -> Store:
    """Open the store a URI names.

    ``memory`` (empty, in this process), ``milvus:FILE.db`` (embedded Milvus Lite), ``milvus+http://HOST:PORT`` / ``milvus+https://...`` (a Milvus
    server or cluster; the token is read from ``MILVUS_TOKEN``).

    Args:
        uri: as above.
        options: passed to the store (e.g. ``collection=`` for Milvus).
    Returns:
        The store.
    Raises:
        StoreError: an unknown scheme (the message lists ``STORES``) or a store that cannot be opened.
    """
    uri = str(uri).strip()
    scheme, _, target = uri.partition(":")
    base, _, transport = scheme.partition("+")
    if base not in STORES:
        raise StoreError(f"unknown store {uri!r}; the URI must start with one of: "
                         + ", ".join(f"{k}:" for k in STORES)
                         + " (a Milvus collection: milvus:FILE.db or milvus+http(s)://HOST:PORT)")
    if transport:
        target = f"{transport}:{target}"
    return STORES[base](target, **options)


__all__ = ["STORES", "Store", "StoreError", "open_store"]
