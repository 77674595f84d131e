"""Keyword retrieval: an inverted index scored with Lucene's BM25."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from .settings import DEFAULT_SETTINGS
from .topk import top_positions

# With k1/b other than the index's own, a query whose postings add up to less than this share of the
# corpus is accumulated by sorting its postings; a longer one into a dense score array.
_SPARSE_SHARE = 1 / 64
# Postings whose precomputed scores are worked out in one numpy pass (bounds the temporaries at 1M docs).
_IMPACT_BLOCK = 1 << 22


@dataclass(frozen=True)
class KeywordMatches:
    """Documents that matched at least one query token, best first.

    Attributes:
        docs: document positions in the index.
        scores: their BM25 scores (always > 0).
    """

    docs: np.ndarray
    scores: np.ndarray


@dataclass(frozen=True, eq=False)
class Population:
    """The documents a query's BM25 statistics start from. A query is scored with the number of documents
    and the average length of these documents together with every document holding one of its tokens, and
    with each token's document frequency (so a word is as rare as it is wherever it occurs, and no
    document outside both counts). Made by ``BM25Index.population``; valid until the index changes.

    Attributes:
        mask: one bool per document position.
        n_docs: how many documents are in it.
        total_len: their summed length (tokens).
        version: the index's version it was made for.
    """

    mask: np.ndarray
    n_docs: int
    total_len: float
    version: int


def lucene_idf(doc_freq: np.ndarray | float, n_docs: int) -> np.ndarray | float:
    """Lucene / Elasticsearch BM25 idf: ``ln(1 + (N - n + 0.5) / (n + 0.5))``, never negative."""
    return np.log1p((n_docs - doc_freq + 0.5) / (doc_freq + 0.5))


@dataclass
class _Postings:
    """Term-major postings built from the document-major store; never changed once built."""

    n_docs: int
    doc_len: np.ndarray  # float64, tokens per document
    avgdl: float
    df: np.ndarray  # int64 per term id
    indptr: np.ndarray  # int64, postings of term t are [indptr[t], indptr[t + 1])
    docs: np.ndarray  # int32, ascending within a term
    tfs: np.ndarray  # unsigned ints, the smallest type that holds the largest count
    impacts: np.ndarray  # float32: the score each posting adds for the index's own (k1, b)
    length_norms: dict = field(default_factory=dict)  # (k1, b) -> k1 * (1 - b + b * dl / avgdl)
    scratch: list = field(default_factory=list)  # all-zero float32 arrays of n_docs, reused by searches
    marks: list = field(default_factory=list)  # int32 arrays of n_docs (any content), reused by searches
    version: int = 0  # the index's version they were built from

    def length_norm(self, k1: float, b: float) -> np.ndarray:
        key = (float(k1), float(b))
        norm = self.length_norms.get(key)
        if norm is None:
            norm = k1 * (1.0 - b + b * self.doc_len / self.avgdl)
            if len(self.length_norms) >= 4:  # a few settings at a time (UI sliders try many)
                self.length_norms.pop(next(iter(self.length_norms)))
            self.length_norms[key] = norm
        return norm


class BM25Index:
    """BM25 over pre-tokenised documents.

    Score of a document for query tokens q (repeated tokens count again, as in a Lucene bool query):
    ``sum_t idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))`` with Lucene's idf.
    Documents are kept as one document-major array set (term ids and counts); documents can be
    appended, replaced and removed, and the term-major postings are rebuilt on the next search.
    Each posting also stores the score it adds for the index's own ``k1`` and ``b`` (float32), so a
    search with those parameters only adds numbers up; other values are computed per search.

    Args:
        corpus_tokens: documents as token lists.
        k1, b: the BM25 parameters whose per-posting scores are precomputed (the search defaults).
    """

    def __init__(self, corpus_tokens: Iterable[Sequence[str]] = (), k1: float = DEFAULT_SETTINGS.k1,
                 b: float = DEFAULT_SETTINGS.b) -> None:
        if k1 < 0 or not 0.0 <= b <= 1.0:
            raise ValueError(f"BM25 needs k1 >= 0 and b in [0, 1], got k1={k1!r}, b={b!r}")
        self.k1, self.b = float(k1), float(b)
        self._vocab: dict[str, int] = {}
        self._lock = threading.Lock()
        self._dptr = np.zeros(1, dtype=np.int64)  # entries of document d are [dptr[d], dptr[d + 1])
        self._dterms = np.zeros(0, dtype=np.int32)
        self._dtfs = np.zeros(0, dtype=np.uint8)  # term counts; widened when a count needs it
        self._dlen = np.zeros(0, dtype=np.float64)
        self._postings: _Postings | None = None
        self._version = 0  # bumped by every change (populations made before it are refused)
        self.add(corpus_tokens)

    def __len__(self) -> int:
        return int(self._dlen.shape[0])

    @property
    def vocabulary_size(self) -> int:
        """Number of distinct tokens ever seen."""
        return len(self._vocab)

    def _encode(self, corpus_tokens: Iterable[Sequence[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Token lists -> (per-document entry counts, term ids, term counts, document lengths)."""
        docs = [tokens if isinstance(tokens, list) else list(tokens) for tokens in corpus_tokens]
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        vocab = self._vocab
        # Two C-level passes (no Python code per token): new tokens get the next ids in order of first
        # appearance, then every token is looked up.
        for token in dict.fromkeys(itertools.chain.from_iterable(docs)):
            if token not in vocab:
                vocab[token] = len(vocab)
        ids = np.fromiter(map(vocab.__getitem__, itertools.chain.from_iterable(docs)),
                          dtype=np.int64, count=int(lengths.sum()))
        owner = np.repeat(np.arange(len(docs), dtype=np.int64), lengths)
        keys, tfs = np.unique(owner * max(len(vocab), 1) + ids, return_counts=True)
        owners = keys // max(len(vocab), 1)
        counts = np.bincount(owners, minlength=len(docs))
        terms = (keys - owners * max(len(vocab), 1)).astype(np.int32)
        tf_type = np.min_scalar_type(int(tfs.max())) if tfs.size else np.uint8
        return counts, terms, tfs.astype(tf_type), lengths.astype(np.float64)

    def add(self, corpus_tokens: Iterable[Sequence[str]]) -> None:
        """Append documents given as token lists (positions continue from ``len(self)``)."""
        with self._lock:
            counts, terms, tfs, lengths = self._encode(corpus_tokens)
            if lengths.size == 0:
                return
            self._dptr = np.concatenate([self._dptr, self._dptr[-1] + np.cumsum(counts)])
            self._dterms = np.concatenate([self._dterms, terms])
            self._dtfs = np.concatenate([self._dtfs, tfs])
            self._dlen = np.concatenate([self._dlen, lengths])
            self._postings = None
            self._version += 1

    def replace(self, position: int, tokens: Sequence[str]) -> None:
        """Replace the tokens of the document at ``position``."""
        with self._lock:
            if not -len(self) <= position < len(self):
                raise IndexError(f"document position {position} out of range (index holds {len(self)})")
            position %= len(self)
            counts, terms, tfs, lengths = self._encode([tokens])
            lo, hi = self._dptr[position], self._dptr[position + 1]
            shift = int(counts[0]) - int(hi - lo)
            self._dterms = np.concatenate([self._dterms[:lo], terms, self._dterms[hi:]])
            self._dtfs = np.concatenate([self._dtfs[:lo], tfs, self._dtfs[hi:]])
            dptr = self._dptr.copy()
            dptr[position + 1:] += shift
            self._dptr = dptr
            dlen = self._dlen.copy()
            dlen[position] = lengths[0]
            self._dlen = dlen
            self._postings = None
            self._version += 1

    def remove(self, positions: Iterable[int]) -> None:
        """Delete documents; later positions shift down, as in a list."""
        with self._lock:
            keep = np.ones(len(self), dtype=bool)
            keep[np.asarray(list(positions), dtype=np.int64)] = False
            counts = np.diff(self._dptr)
            entries = np.repeat(keep, counts)
            self._dterms = self._dterms[entries]
            self._dtfs = self._dtfs[entries]
            self._dptr = np.concatenate([[0], np.cumsum(counts[keep])]).astype(np.int64)
            self._dlen = self._dlen[keep]
            self._postings = None
            self._version += 1

    def _build(self) -> _Postings:
        n = len(self)
        counts = np.diff(self._dptr)
        order = np.argsort(self._dterms, kind="stable")  # stable: documents stay ascending within a term
        docs = np.repeat(np.arange(n, dtype=np.int32), counts)[order]
        df = np.bincount(self._dterms, minlength=len(self._vocab)).astype(np.int64)
        total = float(self._dlen.sum())
        avgdl = total / n if n and total > 0 else 1.0
        tfs = self._dtfs[order]
        # impact = idf(t) * (k1 + 1) * tf / (tf + k1 * (1 - b + b * dl / avgdl)), always > 0
        weight = (lucene_idf(df.astype(np.float64), n) * (self.k1 + 1.0)).astype(np.float32)
        norm = (self.k1 * (1.0 - self.b + self.b * self._dlen / avgdl)).astype(np.float32)
        impacts = np.empty(tfs.shape[0], dtype=np.float32)
        for lo in range(0, tfs.shape[0], _IMPACT_BLOCK):
            hi = lo + _IMPACT_BLOCK
            tf = tfs[lo:hi].astype(np.float32)
            impacts[lo:hi] = weight[self._dterms[order[lo:hi]]] * tf / (tf + norm[docs[lo:hi]])
        return _Postings(
            n_docs=n,
            doc_len=self._dlen,
            avgdl=avgdl,
            df=df,
            indptr=np.concatenate([[0], np.cumsum(df)]).astype(np.int64),
            docs=docs,
            tfs=tfs,
            impacts=impacts,
            version=self._version,
        )

    def _built(self) -> _Postings:
        postings = self._postings
        if postings is None:
            with self._lock:
                if self._postings is None:
                    self._postings = self._build()
                postings = self._postings
        return postings

    @property
    def version(self) -> int:
        """Bumped by every change: a ``Population`` made at another version is refused."""
        return self._version

    def doc_freq(self, token: str) -> int:
        """Number of documents containing ``token``."""
        postings = self._built()
        term = self._vocab.get(token)
        return 0 if term is None or term >= postings.df.shape[0] else int(postings.df[term])

    def population(self, mask: np.ndarray) -> Population:
        """The documents where ``mask`` (one bool per position) is true, as a ``Population``."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise ValueError(f"a population needs one bool per document ({len(self)}), got shape {mask.shape}")
        return Population(mask, int(np.count_nonzero(mask)), float(self._dlen[mask].sum()), self._version)

    def statistics(self, query_tokens: Sequence[str], population: Population | None = None) -> tuple[int, float]:
        """The number of documents and their average length that a query is scored with: all documents, or
        ``population`` together with every document holding one of ``query_tokens``."""
        p = self._built()
        if population is None:
            return p.n_docs, p.avgdl
        return self._population_statistics(p, self._slices(p, query_tokens), population)

    def _population_statistics(self, p: _Postings, slices: list[tuple[int, int, int]],
                               population: Population) -> tuple[int, float]:
        if population.version != p.version or population.mask.shape != (p.n_docs,):
            raise ValueError("the population was made before the index changed; make it again")
        n, total = population.n_docs, population.total_len
        if slices:
            held = np.concatenate([p.docs[lo:hi] for lo, hi, _ in slices])
            outside = held[~population.mask[held]]
            if outside.size:
                # Distinct documents in O(matches), without a sort: each writes its position into an array of
                # every document, and a document counts once, at whichever of its writes stayed.
                # Whatever an earlier search left there is overwritten for every document read back.
                try:
                    marks = p.marks.pop()
                except IndexError:
                    marks = np.empty(p.n_docs, dtype=np.int32)
                if outside.size > np.iinfo(np.int32).max:  # more matches than an int32 position holds
                    marks = np.empty(p.n_docs, dtype=np.int64)
                positions = np.arange(outside.size, dtype=marks.dtype)
                marks[outside] = positions
                first = outside[marks[outside] == positions]
                p.marks.append(marks)
                n += int(first.size)
                total += float(p.doc_len[first].sum())
        return n, (total / n if n and total > 0 else 1.0)

    def _slices(self, p: _Postings, query_tokens: Sequence[str]) -> list[tuple[int, int, int]]:
        """(start, end, query count) of the postings of each distinct query token present in the index."""
        slices = []
        for token, qtf in Counter(query_tokens).items():
            term = self._vocab.get(token)
            if term is None or term >= p.df.shape[0]:
                continue
            lo, hi = int(p.indptr[term]), int(p.indptr[term + 1])
            if hi > lo:
                slices.append((lo, hi, qtf))
        return slices

    @staticmethod
    def _impact_matches(p: _Postings, slices: list[tuple[int, int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Matched documents (any order) and their float32 scores from the precomputed impacts.

        Scores are added into an all-zero array of every document; reading each matched document back
        sets it to zero again, so a document in several postings lists is read once (its later reads
        give 0 and are dropped) and the array is left clean for the next search. The work is
        proportional to the query's postings, never to the number of documents.
        """
        if len(slices) == 1:
            lo, hi, qtf = slices[0]
            scores = p.impacts[lo:hi]
            return p.docs[lo:hi], scores * np.float32(qtf) if qtf != 1 else scores
        try:
            acc = p.scratch.pop()
        except IndexError:  # first search, or as many concurrent searches as ever before
            acc = np.zeros(p.n_docs, dtype=np.float32)
        slices = sorted(slices, key=lambda s: s[0] - s[1])  # longest first: it is written, not added
        for i, (lo, hi, qtf) in enumerate(slices):
            add = p.impacts[lo:hi] * np.float32(qtf) if qtf != 1 else p.impacts[lo:hi]
            if i == 0:
                acc[p.docs[lo:hi]] = add
            else:
                acc[p.docs[lo:hi]] += add  # a term's postings hold each document once
        docs, scores = [], []
        for lo, hi, _ in slices:
            d = p.docs[lo:hi]
            scores.append(acc[d])
            acc[d] = 0.0
            docs.append(d)
        p.scratch.append(acc)  # only reached with the array all zero again
        docs, scores = np.concatenate(docs), np.concatenate(scores)
        found = scores > 0
        return docs[found], scores[found]

    def _matches(self, query_tokens: Sequence[str], k1: float, b: float,
                 population: Population | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Matched documents (ascending) and their scores computed for ``k1``, ``b`` (float64, all > 0), with
        the statistics of ``population`` (see ``Population``) when given."""
        p = self._built()
        found = self._slices(p, query_tokens)
        if population is None:
            n, norm = p.n_docs, p.length_norm(k1, b)
        else:
            n, avgdl = self._population_statistics(p, found, population)
            norm = None
        slices = [(lo, hi, qtf * lucene_idf(float(hi - lo), n)) for lo, hi, qtf in found]
        if not slices:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)

        def part(lo: int, hi: int, weight: float) -> tuple[np.ndarray, np.ndarray]:
            docs, tf = p.docs[lo:hi], p.tfs[lo:hi].astype(np.float64)
            length = norm[docs] if norm is not None else k1 * (1.0 - b + b * p.doc_len[docs] / avgdl)
            return docs, weight * (k1 + 1.0) * tf / (tf + length)

        if len(slices) == 1:
            docs, scores = part(*slices[0])
            return docs.astype(np.int64), scores
        total = sum(hi - lo for lo, hi, _ in slices)
        if total < _SPARSE_SHARE * p.n_docs:
            pieces = [part(*s) for s in slices]
            all_docs = np.concatenate([d for d, _ in pieces])
            docs, inverse = np.unique(all_docs, return_inverse=True)
            scores = np.bincount(inverse, weights=np.concatenate([s for _, s in pieces]), minlength=docs.size)
            return docs.astype(np.int64), scores
        dense = np.zeros(p.n_docs, dtype=np.float64)
        hit = np.zeros(p.n_docs, dtype=bool)  # nonzero() on bytes is several times faster than on floats
        for s in slices:
            docs, scores = part(*s)
            dense[docs] += scores  # a term's postings hold each document once
            hit[docs] = True
        docs = np.flatnonzero(hit)
        return docs, dense[docs]

    def get_scores(self, query_tokens: Sequence[str], k1: float | None = None, b: float | None = None,
                   population: Population | None = None) -> np.ndarray:
        """BM25 score of every document (0 where no token matched), computed in float64.

        Args:
            query_tokens: tokens of the query.
            k1, b: BM25 parameters; None = the index's.
            population: where the statistics come from (see ``Population``); all documents when None.
        Returns:
            Array of ``len(self)`` scores.
        """
        scores = np.zeros(len(self), dtype=np.float64)
        docs, values = self._matches(query_tokens, self.k1 if k1 is None else k1, self.b if b is None else b,
                                     population)
        scores[docs] = values
        return scores

    def search(self, query_tokens: Sequence[str], top: int, k1: float | None = None,
               b: float | None = None, population: Population | None = None) -> KeywordMatches:
        """The ``top`` best documents among those matching at least one query token.

        With the index's own k1 and b and no population the precomputed per-posting scores are summed
        (float32 sums, equal to the float64 formula within 1e-6 relative); otherwise the formula is
        computed in float64.

        Args:
            query_tokens: tokens of the query.
            top: how many matches to return at most.
            k1, b: BM25 parameters; None = the index's.
            population: where the statistics come from (see ``Population``); all documents when None.
                Every document holding a query token matches, inside it or not.
        Returns:
            KeywordMatches, best first (ties in document order); empty when nothing matched.
        """
        k1 = self.k1 if k1 is None else float(k1)
        b = self.b if b is None else float(b)
        if (k1, b) == (self.k1, self.b) and population is None:
            p = self._built()
            slices = self._slices(p, query_tokens)
            if not slices:
                return KeywordMatches(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
            docs, scores = self._impact_matches(p, slices)
        else:
            docs, scores = self._matches(query_tokens, k1, b, population)
        docs, scores = top_positions(docs, scores, top)
        return KeywordMatches(docs.astype(np.int64), scores.astype(np.float64))

    def matched_tokens(self, position: int, query_tokens: Sequence[str]) -> tuple[str, ...]:
        """Distinct query tokens present in the document at ``position``, in query order."""
        terms = set(self._dterms[self._dptr[position]:self._dptr[position + 1]].tolist())
        seen: list[str] = []
        for token in query_tokens:
            term = self._vocab.get(token)
            if term is not None and term in terms and token not in seen:
                seen.append(token)
        return tuple(seen)
