"""The in-memory store: documents, the BM25 index and the vector index in this process, saved as files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ..fusion import Candidates
from ..kb import Document
from ..keyword import BM25Index, Population
from ..lang import ALPHABETIC, CJK, document_script, scripts_in
from ..vectors import VectorIndex

DOCUMENTS_FILE = "documents.jsonl"
VECTORS_FILE = "vectors.npy"
_SCRIPT_CODES = {"": 0, CJK: 1, ALPHABETIC: 2}
BM25_STATISTICS = ("script", "collection")


def _script_codes(documents: Sequence[Document]) -> np.ndarray:
    """The script each document is mainly written in, as a code of ``_SCRIPT_CODES``."""
    script = document_script.__wrapped__  # not through its cache: every text is seen once here
    return np.fromiter((_SCRIPT_CODES[script(d.text)] for d in documents), dtype=np.int8, count=len(documents))


class MemoryStore:
    """Everything in Python memory: exact BM25 with any k1/b per search, exact cosine top-k.

    Args:
        bm25_statistics: which entries BM25's statistics (number of entries, average length) count.
            ``"script"`` (default): those written mainly in a script of the query's words
            (``hybrid.lang.document_script``) or without letters, and every entry holding a query word
            (all entries when none is in the query's script), so adding entries in another language
            changes no score unless they hold the query's words. ``"collection"``: every entry, as classic
            BM25 and Milvus's BM25 function count. A word's document frequency counts every entry either way.

    Documents sit at positions (the order they were added in; removing one shifts the later ones down);
    each keeps the key it got when added, so keys rise with position and ties (broken by position in the
    indexes) come out in key order too.
    """

    name = "memory"
    read_only = False
    bm25_params = None

    def __init__(self, bm25_statistics: str = "script") -> None:
        if bm25_statistics not in BM25_STATISTICS:
            raise ValueError(f"unknown bm25_statistics {bm25_statistics!r}; choose one of {', '.join(BM25_STATISTICS)}")
        self.bm25_statistics = bm25_statistics
        self._docs: list[Document] = []
        self._tokens: list[list[str]] = []
        self._keys = np.zeros(0, dtype=np.int64)  # position -> key
        self._at: dict[int, int] = {}  # key -> position
        self._by_id: dict[str, int] = {}  # document id -> key
        self._next_key = 0
        self._keyword = BM25Index()
        self._vectors: VectorIndex | None = None
        self._vectors_model: str | None = None
        self._samples: dict[tuple[int, str | None], tuple[np.ndarray, np.ndarray]] = {}  # dropped on changes
        self._scripts = np.zeros(0, dtype=np.int8)  # position -> script code of the document's text
        self._populations: dict[frozenset[int], Population | None] = {}  # dropped on changes

    def __len__(self) -> int:
        return len(self._docs)

    def describe(self) -> str:
        return f"in memory ({len(self):,} entries)"

    @property
    def vectors_model(self) -> str | None:
        return self._vectors_model if self._vectors is not None else None

    # ------------------------------------------------------------------ documents

    def key(self, doc_id: str) -> int:
        try:
            return self._by_id[str(doc_id)]
        except KeyError:
            raise KeyError(f"no document with id {doc_id!r}") from None

    def _positions(self, keys: Sequence[int]) -> list[int]:
        at = self._at
        return [at[k] for k in (keys.tolist() if isinstance(keys, np.ndarray) else keys)]

    def documents(self, keys: Sequence[int]) -> list[Document]:
        docs = self._docs
        return [docs[p] for p in self._positions(keys)]

    def iter_documents(self) -> Iterator[Document]:
        return iter(list(self._docs))

    def tokens(self, keys: Sequence[int]) -> list[list[str]]:
        return [self._tokens[p] for p in self._positions(keys)]

    def vectors(self, keys: Sequence[int]) -> np.ndarray:
        if self._vectors is None:
            raise LookupError("this store holds no vectors")
        return np.asarray(self._vectors.matrix)[self._positions(keys)]

    # ------------------------------------------------------------------ changes

    def _new_keys(self, documents: Sequence[Document]) -> np.ndarray:
        keys = np.arange(self._next_key, self._next_key + len(documents), dtype=np.int64)
        self._next_key += len(documents)
        return keys

    def add(self, documents: Sequence[Document], tokens: Sequence[list[str]], vectors: np.ndarray | None,
            model: str | None) -> list[int]:
        self._samples = {}
        keys = self._new_keys(documents)
        start = len(self._docs)
        for offset, (doc, key) in enumerate(zip(documents, keys.tolist())):
            self._at[key] = start + offset
            self._by_id[doc.id] = key
        self._docs.extend(documents)
        self._tokens.extend(tokens)
        self._keys = np.concatenate([self._keys, keys])
        self._scripts = np.concatenate([self._scripts, _script_codes(documents)])
        self._populations = {}
        self._keyword.add(tokens)
        if vectors is None:
            self._vectors, self._vectors_model = None, None  # some documents now lack a vector
        elif self._vectors is None or self._vectors_model != model:
            if start == 0:
                self._vectors, self._vectors_model = VectorIndex(vectors.shape[1], vectors), model
            else:
                self._vectors, self._vectors_model = None, None
        else:
            self._vectors.add(vectors)
        return keys.tolist()

    def update(self, key: int, document: Document, tokens: list[str], vector: np.ndarray | None) -> None:
        self._samples = {}
        position = self._positions([key])[0]
        self._docs[position] = document
        self._tokens[position] = tokens
        scripts = self._scripts.copy()
        scripts[position] = _script_codes([document])[0]
        self._scripts, self._populations = scripts, {}
        self._keyword.replace(position, tokens)
        if self._vectors is not None:
            if vector is None:
                self._vectors, self._vectors_model = None, None  # the old vector no longer fits the text
            else:
                self._vectors.replace(position, vector)

    def remove(self, keys: Sequence[int]) -> None:
        self._samples = {}
        positions = sorted(set(self._positions(keys)))
        drop = set(positions)
        self._docs = [d for i, d in enumerate(self._docs) if i not in drop]
        self._tokens = [t for i, t in enumerate(self._tokens) if i not in drop]
        self._keys = np.delete(self._keys, positions)
        self._scripts, self._populations = np.delete(self._scripts, positions), {}
        self._reindex()
        self._keyword.remove(positions)
        if self._vectors is not None:
            self._vectors.remove(positions)

    def _reindex(self) -> None:
        self._at = {k: i for i, k in enumerate(self._keys.tolist())}
        self._by_id = {d.id: k for d, k in zip(self._docs, self._keys.tolist())}

    def reset(self, documents: Sequence[Document], tokens: Sequence[list[str]], vectors: np.ndarray | None,
              model: str | None, scripts: np.ndarray | None = None) -> None:
        self._samples = {}
        self._docs = list(documents)
        self._tokens = list(tokens)
        self._next_key = 0
        self._keys = self._new_keys(self._docs)
        known = scripts is not None and len(scripts) == len(self._docs)
        self._scripts = np.asarray(scripts, dtype=np.int8) if known else _script_codes(self._docs)
        self._populations = {}
        self._reindex()
        self._keyword = BM25Index(self._tokens)  # postings rebuild is cheap next to tokenising
        if vectors is not None:
            self._vectors, self._vectors_model = VectorIndex(vectors.shape[1], vectors), model
        else:
            self._vectors, self._vectors_model = None, None

    def set_vectors(self, vectors: np.ndarray, model: str) -> None:
        self._samples = {}
        self._vectors, self._vectors_model = VectorIndex(vectors.shape[1], vectors), model

    # ------------------------------------------------------------------ retrieval

    def _population(self, tokens: Sequence[str]) -> Population | None:
        """Where the statistics that score ``tokens`` start from: the entries written mainly in a script of
        the tokens, and those without letters (None, meaning all, when that is every entry or none)."""
        if self.bm25_statistics == "collection":
            return None
        wanted = frozenset(_SCRIPT_CODES[s] for t in set(tokens) for s in scripts_in(t))
        populations = self._populations
        held = populations.get(wanted, False)
        if held is False or (held is not None and held.version != self._keyword.version):
            in_script = np.isin(self._scripts, list(wanted))
            mask = in_script | (self._scripts == 0)
            useful = wanted and in_script.any() and not mask.all()
            held = populations[wanted] = self._keyword.population(mask) if useful else None
        return held

    def keyword_search(self, query: str, tokens: Sequence[str], top: int, k1: float, b: float) -> Candidates:
        found = self._keyword.search(tokens, top=top, k1=k1, b=b, population=self._population(tokens))
        return Candidates(self._keys[found.docs], found.scores)

    def vector_search(self, vector: np.ndarray, top: int) -> Candidates:
        if self._vectors is None:
            raise LookupError("this store holds no vectors")
        found = self._vectors.search(vector, top)
        return Candidates(self._keys[found.docs], found.scores.astype(np.float64))

    def vector_search_many(self, vectors: np.ndarray, top: int) -> list[Candidates]:
        if self._vectors is None:
            raise LookupError("this store holds no vectors")
        return [Candidates(self._keys[found.docs], found.scores.astype(np.float64))
                for found in self._vectors.search_many(vectors, top)]

    def cosines(self, keys: Sequence[int], vector: np.ndarray) -> np.ndarray:
        if self._vectors is None:
            raise LookupError("this store holds no vectors")
        return np.asarray(self._vectors.matrix)[self._positions(keys)] @ vector

    def vector_sample(self, n: int, script: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        if self._vectors is None:
            raise LookupError("this store holds no vectors")
        if script is not None and script not in _SCRIPT_CODES:
            raise ValueError(f"unknown script {script!r}; choose one of {', '.join(map(repr, _SCRIPT_CODES))}")
        sample = self._samples.get((n, script))
        if sample is None:
            matrix = np.asarray(self._vectors.matrix)
            rows = (np.arange(len(matrix)) if script is None
                    else np.flatnonzero(self._scripts == _SCRIPT_CODES[script]))
            if len(rows) > n:
                rows = rows[np.unique(np.linspace(0, len(rows) - 1, n).astype(np.int64))]
            sample = self._samples[(n, script)] = (self._keys[rows], matrix[rows])
        return sample

    def doc_freqs(self, tokens: Sequence[str]) -> list[int]:
        return [self._keyword.doc_freq(t) for t in tokens]

    def keyword_statistics(self, tokens: Sequence[str]) -> tuple[int, list[int]]:
        return self._keyword.statistics(tokens, self._population(tokens))[0], self.doc_freqs(tokens)

    def matched_tokens(self, key: int, tokens: Sequence[str]) -> tuple[str, ...]:
        return self._keyword.matched_tokens(self._at[key], tokens)

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ persistence

    def write(self, folder: Path) -> dict[str, Any]:
        """Write documents (with tokens) and vectors into ``folder``.

        Returns:
            What the manifest must record: ``documents`` (count), ``vectors_model`` and ``bm25_statistics``.
        """
        with open(folder / DOCUMENTS_FILE, "w", encoding="utf-8") as f:
            for doc, toks, script in zip(self._docs, self._tokens, self._scripts.tolist()):
                f.write(json.dumps({"id": doc.id, "text": doc.text, "metadata": dict(doc.metadata),
                                    "tokens": toks, "script": script}, ensure_ascii=False) + "\n")
        if self._vectors is not None:
            np.save(folder / VECTORS_FILE, np.asarray(self._vectors.matrix))
        return {"documents": len(self._docs), "vectors_model": self._vectors_model,
                "bm25_statistics": self.bm25_statistics}

    @classmethod
    def read(cls, folder: Path, manifest: dict[str, Any],
             retokenize: Callable[[list[str]], list[list[str]]] | None = None,
             intern: Callable[[list[list[str]]], list[list[str]]] | None = None) -> "MemoryStore":
        """Read what ``write`` wrote (checksums are the caller's job).

        Args:
            folder: the index folder.
            manifest: its manifest (``vectors_model``, ``bm25_statistics``).
            retokenize: tokenises the texts again when the saved tokens came from another tokenizer.
            intern: applied to saved token lists (to share equal strings).
        Raises:
            OSError, ValueError, KeyError: unreadable files.
        """
        records = [json.loads(line) for line in
                   (folder / DOCUMENTS_FILE).read_text(encoding="utf-8").splitlines()]
        docs = [Document(r["id"], r["text"], r.get("metadata") or {}) for r in records]
        if retokenize is not None:
            tokens = retokenize([d.text for d in docs])
        else:
            tokens = [r["tokens"] for r in records]
            if intern is not None:
                tokens = intern(tokens)
        vectors = np.load(folder / VECTORS_FILE) if (folder / VECTORS_FILE).exists() else None
        store = cls(bm25_statistics=manifest.get("bm25_statistics", "script"))
        # the script of each entry, as written (indexes written before it was saved work it out again)
        saved = [r.get("script") for r in records]
        codes = set(_SCRIPT_CODES.values())
        scripts = np.array(saved, dtype=np.int8) if all(type(c) is int and c in codes for c in saved) else None
        store.reset(docs, tokens, vectors, manifest.get("vectors_model") if vectors is not None else None,
                    scripts=scripts)
        return store
