"""Keyword retrieval: an inverted index scored with Lucene's BM25."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True)
class KeywordMatches:
    """Documents that matched at least one query token, best first.

    Attributes:
        docs: document positions in the index.
        scores: their BM25 scores (always > 0).
    """

    docs: np.ndarray
    scores: np.ndarray


def lucene_idf(doc_freq: np.ndarray | float, n_docs: int) -> np.ndarray | float:
    """Lucene / Elasticsearch BM25 idf: ``ln(1 + (N - n + 0.5) / (n + 0.5))``, never negative."""
    return np.log1p((n_docs - doc_freq + 0.5) / (doc_freq + 0.5))


class BM25Index:
    """BM25 over pre-tokenised documents.

    Score of a document for query tokens q (repeated tokens count again, as in a Lucene bool query):
    ``sum_t idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))`` with Lucene's idf.
    Documents can be appended and removed; postings are rebuilt lazily on the next search.
    """

    def __init__(self, corpus_tokens: Iterable[Sequence[str]] = ()) -> None:
        self._vocab: dict[str, int] = {}
        self._doc_terms: list[np.ndarray] = []
        self._doc_tfs: list[np.ndarray] = []
        self._lock = threading.Lock()
        self._dirty = True
        self.add(corpus_tokens)

    def __len__(self) -> int:
        return len(self._doc_terms)

    @property
    def vocabulary_size(self) -> int:
        """Number of distinct tokens ever seen."""
        return len(self._vocab)

    def _encode(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(tokens)
        terms = np.fromiter((self._vocab.setdefault(t, len(self._vocab)) for t in counts), dtype=np.int64, count=len(counts))
        tfs = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        return terms, tfs

    def add(self, corpus_tokens: Iterable[Sequence[str]]) -> None:
        """Append documents given as token lists (positions continue from ``len(self)``)."""
        with self._lock:
            for tokens in corpus_tokens:
                terms, tfs = self._encode(tokens)
                self._doc_terms.append(terms)
                self._doc_tfs.append(tfs)
            self._dirty = True

    def replace(self, position: int, tokens: Sequence[str]) -> None:
        """Replace the tokens of the document at ``position``."""
        with self._lock:
            self._doc_terms[position], self._doc_tfs[position] = self._encode(tokens)
            self._dirty = True

    def remove(self, positions: Iterable[int]) -> None:
        """Delete documents; later positions shift down, as in a list."""
        drop = set(positions)
        with self._lock:
            self._doc_terms = [t for i, t in enumerate(self._doc_terms) if i not in drop]
            self._doc_tfs = [t for i, t in enumerate(self._doc_tfs) if i not in drop]
            self._dirty = True

    def _build(self) -> None:
        n = len(self._doc_terms)
        lengths = np.fromiter((tf.sum() for tf in self._doc_tfs), dtype=np.float64, count=n)
        self._doc_len = lengths
        self._avgdl = float(lengths.mean()) if n and lengths.sum() > 0 else 1.0
        if n:
            terms = np.concatenate(self._doc_terms) if n else np.zeros(0, np.int64)
            tfs = np.concatenate(self._doc_tfs)
            docs = np.repeat(np.arange(n, dtype=np.int64), [len(t) for t in self._doc_terms])
        else:
            terms = tfs = docs = np.zeros(0)
        order = np.argsort(terms, kind="stable")
        self._post_docs = docs[order].astype(np.int64)
        self._post_tfs = tfs[order].astype(np.float32)
        df = np.bincount(terms.astype(np.int64), minlength=len(self._vocab))
        self._indptr = np.concatenate([[0], np.cumsum(df)])
        self._df = df
        self._dirty = False

    def _ensure_built(self) -> None:
        if self._dirty:
            with self._lock:
                if self._dirty:
                    self._build()

    def doc_freq(self, token: str) -> int:
        """Number of documents containing ``token``."""
        self._ensure_built()
        term = self._vocab.get(token)
        return 0 if term is None else int(self._df[term])

    def _accumulate(self, query_tokens: Sequence[str], k1: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        """Dense scores over all documents and a mask of matched ones."""
        self._ensure_built()
        n = len(self._doc_terms)
        scores = np.zeros(n, dtype=np.float64)
        matched = np.zeros(n, dtype=bool)
        if n == 0:
            return scores, matched
        length_norm = k1 * (1.0 - b + b * self._doc_len / self._avgdl)
        for token, qtf in Counter(query_tokens).items():
            term = self._vocab.get(token)
            if term is None or self._df[term] == 0:
                continue
            lo, hi = self._indptr[term], self._indptr[term + 1]
            docs = self._post_docs[lo:hi]
            tf = self._post_tfs[lo:hi]
            idf = lucene_idf(float(self._df[term]), n)
            scores[docs] += qtf * idf * tf * (k1 + 1.0) / (tf + length_norm[docs])
            matched[docs] = True
        return scores, matched

    def get_scores(self, query_tokens: Sequence[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
        """BM25 score of every document (0 where no token matched).

        Args:
            query_tokens: tokens of the query.
            k1, b: BM25 parameters.
        Returns:
            Array of ``len(self)`` scores.
        """
        return self._accumulate(query_tokens, k1, b)[0]

    def search(self, query_tokens: Sequence[str], top: int, k1: float = 1.2, b: float = 0.75) -> KeywordMatches:
        """The ``top`` best documents among those matching at least one query token.

        Args:
            query_tokens: tokens of the query.
            top: how many matches to return at most.
            k1, b: BM25 parameters.
        Returns:
            KeywordMatches, best first; empty when nothing matched.
        """
        scores, matched = self._accumulate(query_tokens, k1, b)
        docs = np.flatnonzero(matched)
        if docs.size == 0:
            return KeywordMatches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
        doc_scores = scores[docs]
        if docs.size > top:
            part = np.argpartition(-doc_scores, top - 1)[:top]
            docs, doc_scores = docs[part], doc_scores[part]
        order = np.lexsort((docs, -doc_scores))  # ties keep document order
        return KeywordMatches(docs[order], doc_scores[order])

    def matched_tokens(self, position: int, query_tokens: Sequence[str]) -> tuple[str, ...]:
        """Distinct query tokens present in the document at ``position``, in query order."""
        terms = set(self._doc_terms[position].tolist())
        seen: list[str] = []
        for token in query_tokens:
            term = self._vocab.get(token)
            if term is not None and term in terms and token not in seen:
                seen.append(token)
        return tuple(seen)
