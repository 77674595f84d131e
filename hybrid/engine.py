"""The hybrid search engine: composes tokenizer, embedder, caches, a store (documents + indexes), fusion and reranking."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import atomic
from .cache import EmbeddingCache, embed_with_cache, model_key
from .fusion import Candidates, Fused, QueryEvidence, fuse, keyword_floor, normalize
from .gate import check_cancelled
from .kb import Document, KnowledgeBaseError, is_blank, to_documents
from .lang import document_script, query_script, scripts_in
from .keyword import lucene_idf
from .redact import hide_paths
from .rerank import Reranker, rerank_order
from .results import Hit, SearchResponse
from .semantic import Embedder
from .settings import DEFAULT_SETTINGS, Settings
from .store import Store, StoreError
from .store.memory import MemoryStore
from .tokenize import Tokenizer, interned

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
INDEX_FORMAT = 1
_QUERY_CACHE_SIZE = 256
_OFFSETS_CACHE_SIZE = 1024  # documents whose token offsets (for highlights) are kept
# Vectors of the entries the last ``set_documents`` replaced, kept so that putting them back (an undo) embeds
# nothing: at most about this many bytes with their texts and tokens (``_kept_bytes``; about 1,800 short entries
# of e5-small, 370 of Qwen3-Embedding-4B, fewer long ones).
REPLACED_BYTES = 4 << 20
_SPREAD_SAMPLE = 4096  # documents a query's cosine spread is measured on (adaptive fusion's yardstick)
_SPREAD_MIN_SAME = 16  # fewer sampled documents in the query's script: measure the spread on all of them
_JUDGED_TOP = 10  # semantic candidates that keyword matching must be able to judge (adaptive fusion)


class EmptyQueryError(ValueError):
    """The query has no text."""

    def __init__(self) -> None:
        super().__init__("the query is empty: type a word or phrase to search for")


class EngineNotReadyError(RuntimeError):
    """Semantic search (or reranking) was asked for but no embedding model (or reranker) is attached."""


def _cancellable(progress: Progress | None) -> Progress:
    """``progress`` that first stops tokenising (``hybrid.gate.Cancelled``) when the caller's work was cancelled."""
    def report(done: int, total: int) -> None:
        check_cancelled()
        if progress is not None:
            progress(done, total)

    return report


class IndexCorruptError(RuntimeError):
    """A saved index folder is incomplete or damaged."""


@dataclass(frozen=True)
class Retrieval:
    """Both retrievers' candidates for one query, before fusion.

    Attributes:
        tokens: the query's keyword tokens.
        keyword: BM25 candidates (matched documents only), best first.
        semantic: cosine candidates, best first (``semantic.own`` of them), followed by the cosines of the
            keyword candidates outside them.
        evidence: facts about the query for adaptive fusion (keyword coverage, cosine spread, blind spot).
        query_vector: the query embedding (None when no semantic search ran).
    """

    tokens: tuple[str, ...]
    keyword: Candidates
    semantic: Candidates
    evidence: QueryEvidence
    query_vector: np.ndarray | None = None

    def fuse(self, alpha: float, fusion: str, normalizer: str = "minmax", rrf_k: int = 60) -> Fused:
        """The hybrid ranking of these candidates (see ``hybrid.fusion.fuse``)."""
        return fuse(self.keyword, self.semantic, alpha, fusion, normalizer=normalizer, rrf_k=rrf_k,
                    evidence=self.evidence)

    def within(self, window: int) -> "Retrieval":
        """These candidates as a search with the smaller candidate ``window`` finds them: each retriever's first
        ``window``, and the cosines of the kept keyword candidates outside the semantic ones, in the order the
        engine puts them (so one retrieval at the widest window serves every narrower one). The evidence is
        kept: it reads the best keyword match and the first ``_JUDGED_TOP`` semantic candidates, the same for
        any window of at least ``_JUDGED_TOP``."""
        own = self.semantic.own
        if len(self.keyword) <= window and own <= window:
            return self
        keyword = Candidates(self.keyword.docs[:window], self.keyword.scores[:window])
        n = min(own, window)
        inside = set(self.semantic.docs[:n].tolist())
        cosine = dict(zip(self.semantic.docs.tolist(), self.semantic.scores.tolist()))
        extra = np.asarray([d for d in keyword.docs.tolist() if d not in inside], dtype=np.int64)
        cosines = np.asarray([cosine[d] for d in extra.tolist()], dtype=np.float64)
        order = np.argsort(-cosines, kind="stable")
        semantic = Candidates(np.concatenate([self.semantic.docs[:n], extra[order]]),
                              np.concatenate([self.semantic.scores[:n], cosines[order]]), retrieved=n)
        return replace(self, keyword=keyword, semantic=semantic)


def _kept_bytes(text: str, tokens: Sequence[str], dimension: int) -> int:
    """About what one kept entry costs in memory: its float32 vector, its text (two bytes a character, as CPython
    holds Chinese), its token list (a pointer and a share of the token strings each) and their holders."""
    return 4 * dimension + 2 * len(text) + 16 * len(tokens) + 400


class HybridEngine:
    """Keyword, semantic and hybrid search over one knowledge base.

    Args:
        documents: strings, ``Document``s or dicts with ``text`` (and optional ``id``, metadata).
        embedder: an ``Embedder``; None for keyword-only use (attach one later with ``set_embedder``).
        settings: default search settings.
        tokenizer: jieba tokenizer; the default search-mode one when None.
        cache: embedding cache; None embeds without caching.
        progress: ``progress(done, total)`` while embedding documents.
        tokenize_progress: ``progress(done, total)`` while tokenising documents (worker processes share
            the work from ``hybrid.tokenize.PARALLEL_MIN_TEXTS`` documents up).
        store: where documents and indexes live (``hybrid.store.open_store``); a new ``MemoryStore`` when None.
        reranker: a ``Reranker`` that re-scores the first ``settings.rerank`` hybrid hits; None: no reranking.
    """

    def __init__(
        self,
        documents: Sequence[str | Document | Mapping[str, Any]] = (),
        embedder: Embedder | None = None,
        settings: Settings = DEFAULT_SETTINGS,
        tokenizer: Tokenizer | None = None,
        cache: EmbeddingCache | None = None,
        progress: Progress | None = None,
        store: Store | None = None,
        reranker: Reranker | None = None,
        tokenize_progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.reranker = reranker
        self.tokenizer = tokenizer or Tokenizer()
        self.cache = cache
        self.embedder: Embedder | None = None
        self.store: Store = store if store is not None else MemoryStore()
        self._lock = threading.RLock()
        self._query_vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        # Query vectors kept; 0 for an engine that serves many people (a remembered query would answer the next
        # person who asks it faster, telling them someone asked it).
        self.query_cache_size = _QUERY_CACHE_SIZE
        self._offsets_cache: OrderedDict[str, tuple[Tokenizer, list]] = OrderedDict()
        self._scripts_memo: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(sample keys) -> (keys, scripts)
        self._replaced: dict[str, tuple[list[str], np.ndarray]] = {}  # text -> (tokens, vector), REPLACED_BYTES
        self._replaced_model: str | None = None
        if documents:
            self.embedder = embedder  # documents are embedded as they are added
            self.add(documents, progress=progress, tokenize_progress=tokenize_progress)
        if embedder is not None:
            self.set_embedder(embedder, progress=progress)

    # ------------------------------------------------------------------ documents

    def __len__(self) -> int:
        return len(self.store)

    @property
    def documents(self) -> tuple[Document, ...]:
        """The indexed documents in order."""
        return tuple(self.store.iter_documents())

    @property
    def has_vectors(self) -> bool:
        """Whether semantic search is possible now."""
        return self.embedder is not None and self.store.vectors_model == model_key(self.embedder)

    def _writable(self) -> None:
        if self.store.read_only:
            raise StoreError(f"the knowledge base is served read-only from {self.store.describe()}; "
                             "change it with `python -m hybrid index`")

    def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray:
        assert self.embedder is not None
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        if self.cache is not None:
            return embed_with_cache(self.embedder, texts, self.cache, progress=progress)
        return self.embedder.encode_documents(texts, progress=progress)

    def set_embedder(self, embedder: Embedder, progress: Progress | None = None) -> None:
        """Attach an embedding model and embed every document (cached vectors are reused).

        Args:
            embedder: the model.
            progress: ``progress(done, total)`` while embedding.
        """
        with self._lock:
            key = model_key(embedder)
            if self.store.vectors_model != key and self.store.read_only:
                raise StoreError(f"{self.store.describe()} holds vectors of {self.store.vectors_model}, "
                                 f"not of {key}: load that model, or index the collection again with this one")
            self.embedder = embedder
            if self.store.vectors_model != key:
                self.store.set_vectors(self._embed([d.text for d in self.store.iter_documents()], progress), key)
            self._query_vectors.clear()

    def add(self, documents: Sequence[str | Document | Mapping[str, Any]], progress: Progress | None = None,
            tokenize_progress: Progress | None = None) -> list[str]:
        """Index more documents.

        Args:
            documents: as for the constructor; string entries get ids continuing the count.
            progress: ``progress(done, total)`` while embedding.
            tokenize_progress: ``progress(done, total)`` while tokenising.
        Returns:
            The ids of the added documents.
        Raises:
            KnowledgeBaseError: empty text or an id already present.
        """
        self._writable()
        docs = _with_fresh_ids(documents, start=len(self.store) + 1, taken=self._has_id)
        with self._lock:
            tokens = self.tokenizer.tokenize_many([d.text for d in docs], progress=_cancellable(tokenize_progress))
            vectors = self._embed([d.text for d in docs], progress) if self.embedder is not None else None
            self.store.add(docs, tokens, vectors, model_key(self.embedder) if vectors is not None else None)
        return [d.id for d in docs]

    def _has_id(self, doc_id: str) -> bool:
        try:
            self.store.key(doc_id)
        except KeyError:
            return False
        return True

    def update(self, doc_id: str, text: str) -> None:
        """Replace the text of one document (re-tokenised and re-embedded alone)."""
        if not text.strip():
            raise KnowledgeBaseError(f"document {doc_id!r}: the new text is empty")
        self._writable()
        with self._lock:
            key = self.store.key(doc_id)
            old = self.store.documents([key])[0]
            vector = self._embed([text.strip()], None)[0] if self.has_vectors else None
            self.store.update(key, Document(old.id, text.strip(), old.metadata), self.tokenizer.tokenize(text),
                              vector)

    def remove(self, doc_ids: Iterable[str]) -> None:
        """Delete documents by id (unknown ids are an error)."""
        self._writable()
        with self._lock:
            keys = sorted({self.store.key(i) for i in doc_ids})
            self.store.remove(keys)

    def set_documents(self, documents: Sequence[str | Document | Mapping[str, Any]],
                      progress: Progress | None = None, tokenize_progress: Progress | None = None) -> None:
        """Replace the whole knowledge base, reusing tokens and vectors of texts already indexed.

        Re-submitting an unchanged knowledge base re-tokenises and re-embeds nothing; one changed line
        costs one line. The entries a call replaces keep their vectors until the next call (up to
        ``REPLACED_BYTES``), so putting them back, as an undo does, embeds nothing either. ``progress`` reports
        embedding, ``tokenize_progress`` tokenising.
        """
        self._writable()
        docs = to_documents(list(documents))
        with self._lock:
            store = self.store
            old_key: dict[str, int] = {}
            for d in store.iter_documents():
                old_key.setdefault(d.text, store.key(d.id))
            reused = [old_key.get(d.text) for d in docs]
            old_tokens = dict(zip([k for k in reused if k is not None],
                                  store.tokens([k for k in reused if k is not None])))
            key = model_key(self.embedder) if self.embedder is not None else None
            kept = self._replaced if key is not None and self._replaced_model == key else {}
            tokens = [old_tokens[k] if k is not None else kept[d.text][0] if d.text in kept else None
                      for d, k in zip(docs, reused)]
            missing = [i for i, t in enumerate(tokens) if t is None]
            for i, toks in zip(missing, self.tokenizer.tokenize_many([docs[i].text for i in missing],
                                                                     progress=_cancellable(tokenize_progress))):
                tokens[i] = toks
            vectors = None
            if self.embedder is not None:
                vectors = np.zeros((len(docs), self.embedder.dimension), dtype=np.float32)
                reuse = store.vectors_model == key
                rows = [i for i, k in enumerate(reused) if reuse and k is not None]
                if rows:
                    vectors[rows] = store.vectors([reused[i] for i in rows])
                back = [i for i, k in enumerate(reused) if not (reuse and k is not None) and docs[i].text in kept]
                for i in back:
                    vectors[i] = kept[docs[i].text][1]
                new_rows = [i for i, k in enumerate(reused) if not (reuse and k is not None)
                            and docs[i].text not in kept]
                if new_rows:  # no embedding progress when nothing is embedded (a page would show it as embedding)
                    vectors[new_rows] = self._embed([docs[i].text for i in new_rows], progress)
            replaced = self._dropped(old_key, {d.text for d in docs})
            store.reset(docs, tokens, vectors, key if vectors is not None else None)
            self._replaced, self._replaced_model = replaced, store.vectors_model

    def _dropped(self, old_key: dict[str, int], new_texts: set[str]) -> dict[str, tuple[list[str], np.ndarray]]:
        """Tokens and vectors of the indexed texts not in ``new_texts``, as many as ``REPLACED_BYTES`` holds."""
        store = self.store
        if store.vectors_model is None or self.embedder is None or store.vectors_model != model_key(self.embedder):
            return {}
        gone = [(text, k) for text, k in old_key.items() if text not in new_texts]
        gone = gone[:REPLACED_BYTES // (4 * self.embedder.dimension)]  # the most that could fit
        kept: dict[str, tuple[list[str], np.ndarray]] = {}
        used = 0
        for (text, _), toks in zip(gone, store.tokens([k for _, k in gone])):
            used += _kept_bytes(text, toks, self.embedder.dimension)
            if used > REPLACED_BYTES:
                break
            kept[text] = (toks, None)
        if not kept:
            return {}
        vectors = store.vectors([k for text, k in gone[:len(kept)]])
        return {text: (toks, vec) for (text, (toks, _)), vec in zip(kept.items(), vectors)}

    def to_embed(self, texts: Sequence[str]) -> int:
        """How many of ``texts`` a ``set_documents`` call would embed now: those neither indexed with the current
        model nor kept from the last replacement (0 without a model). Reads without the engine's lock (a call
        embedding holds it), so it may be a moment behind one that is finishing."""
        if self.embedder is None:
            return 0
        key = model_key(self.embedder)
        indexed = {d.text for d in self.store.iter_documents()} if self.store.vectors_model == key else set()
        kept = self._replaced if self._replaced_model == key else {}
        return sum(1 for t in texts if t not in indexed and t not in kept)

    def vectors_by_text(self) -> tuple[str | None, dict[str, np.ndarray]]:
        """The model key of the indexed vectors and each indexed text's vector, read under the engine's lock (a
        consistent snapshot while another thread replaces the knowledge base); (None, {}) without vectors."""
        with self._lock:
            if not self.has_vectors:
                return None, {}
            docs = list(self.store.iter_documents())
            vectors = self.store.vectors([self.store.key(d.id) for d in docs])
            return self.store.vectors_model, {d.text: v for d, v in zip(docs, vectors)}

    # ------------------------------------------------------------------ search

    def embed_query(self, query: str) -> np.ndarray:
        """The query's embedding (instruction applied), cached per (model, query)."""
        if self.embedder is None:
            raise EngineNotReadyError("no embedding model is attached: semantic search is not available yet")
        key = (model_key(self.embedder), query)
        with self._lock:
            vector = self._query_vectors.get(key)
            if vector is not None:
                self._query_vectors.move_to_end(key)
                return vector
        vector = np.asarray(self.embedder.encode_queries([query])[0], dtype=np.float32)
        self._remember_queries([key], vector[None])
        return vector

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        """The embeddings of ``queries`` (instruction applied), those not cached computed in one batch.

        Returns:
            (len(queries), dimension) float32.
        """
        if self.embedder is None:
            raise EngineNotReadyError("no embedding model is attached: semantic search is not available yet")
        model = model_key(self.embedder)
        out = np.empty((len(queries), self.embedder.dimension), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, query in enumerate(queries):
                vector = self._query_vectors.get((model, query))
                if vector is None:
                    missing.setdefault(query, []).append(i)
                else:
                    out[i] = vector
        if missing:
            texts = list(missing)
            vectors = np.asarray(self.embedder.encode_queries(texts), dtype=np.float32)
            for text, vector in zip(texts, vectors):
                out[missing[text]] = vector
            self._remember_queries([(model, t) for t in texts], vectors)
        return out

    def _remember_queries(self, keys: list[tuple[str, str]], vectors: np.ndarray) -> None:
        with self._lock:
            for key, vector in zip(keys, vectors):
                self._query_vectors[key] = vector
                self._query_vectors.move_to_end(key)
            while len(self._query_vectors) > self.query_cache_size:
                self._query_vectors.popitem(last=False)

    def search(self, query: str, k: int | None = None, alpha: float | None = None, fusion: str | None = None,
               mode: str | None = None, rerank: int | None = None, **overrides: Any) -> SearchResponse:
        """Rank the knowledge base for ``query``.

        Args:
            query: the question, any language mix.
            k: top-k of each list.
            alpha: semantic weight (keyword gets 1 - alpha).
            fusion: key of ``hybrid.fusion.FUSERS``.
            mode: all | keyword | semantic | hybrid; keyword never touches the embedding model.
            rerank: how many of the first hybrid hits the reranker re-scores (0: none); None: the settings'
                (20) when a reranker is attached and the hybrid list is computed.
            overrides: other ``Settings`` fields (normalizer, k1, b, window, rrf_k).
        Returns:
            SearchResponse with the keyword, semantic and hybrid lists, and the reranked list when reranked.
        Raises:
            EmptyQueryError: blank query.
            KnowledgeBaseError: nothing indexed.
            EngineNotReadyError: semantic results asked for without an embedding model, or ``rerank`` > 0
                without a reranker.
            ValueError: ``rerank`` > 0 in a mode without the hybrid list.
        """
        settings = self._store_bm25(
            self.settings.with_(k=k, alpha=alpha, fusion=fusion, mode=mode, rerank=rerank, **overrides), overrides)
        want_semantic = settings.mode != "keyword"
        want_keyword = settings.mode != "semantic"
        self._check_ready(query, want_semantic)
        depth = self._rerank_depth(settings, explicit=rerank is not None)
        settings = settings.with_(rerank=depth)  # what was done: no reranker (or no hybrid list) reranks nothing
        timings: dict[str, float] = {}
        started = time.perf_counter()
        query = query.strip()
        query_vector = None
        if want_semantic:
            # Embedding is the slow step: done outside the lock so concurrent searches overlap.
            tick = time.perf_counter()
            query_vector = self.embed_query(query)
            timings["embed"] = _ms(tick)
        with self._lock:
            response = self._search(query, settings, want_keyword, want_semantic, timings, started, query_vector,
                                    depth)
        # The reranker is the slowest step: outside the lock, on the hits' own copies of the texts.
        return self._reranked(response, depth, timings, started) if depth else response

    def _rerank_depth(self, settings: Settings, explicit: bool) -> int:
        """How many hybrid hits this search reranks; an explicit request that cannot be met is an error."""
        if settings.rerank == 0:
            return 0
        if self.reranker is None:
            if explicit:
                raise EngineNotReadyError(f"rerank={settings.rerank} needs a reranker, and none is attached: load "
                                          "one (hybrid.rerank.load_reranker) and pass it as reranker=, or rerank=0")
            return 0
        if settings.mode not in ("all", "hybrid"):
            if explicit:
                raise ValueError(f"rerank re-scores the hybrid list, which mode={settings.mode!r} does not "
                                 "compute: use mode 'all' or 'hybrid', or rerank=0")
            return 0
        return settings.rerank

    def _reranked(self, response: SearchResponse, depth: int, timings: dict[str, float],
                  started: float) -> SearchResponse:
        """``response`` with its first ``depth`` hybrid hits reranked (the hybrid list cut back to k)."""
        assert self.reranker is not None
        k, pool = response.settings.k, response.hybrid[:depth]
        tick = time.perf_counter()
        scores = np.asarray(self.reranker.score(response.query, [hit.text for hit in pool]), dtype=np.float64)
        if scores.shape != (len(pool),):
            raise RuntimeError(f"reranker {self.reranker.name} returned {scores.shape} scores for {len(pool)} texts")
        reranked = tuple(replace(pool[i], rank=rank, score=float(scores[i]), rerank_score=float(scores[i]))
                         for rank, i in enumerate(rerank_order(scores)[:k].tolist(), 1))
        timings["rerank"] = _ms(tick)
        timings["total"] = _ms(started)
        by_id = {hit.id: float(score) for hit, score in zip(pool, scores)}

        def marked(hits: tuple[Hit, ...]) -> tuple[Hit, ...]:
            return tuple(replace(h, rerank_score=by_id[h.id]) if h.id in by_id else h for h in hits)

        return replace(response, keyword=marked(response.keyword), semantic=marked(response.semantic),
                       hybrid=marked(response.hybrid[:k]), reranked=reranked, reranker=self.reranker.name)

    def rerank(self, query: str, candidates: Candidates) -> Candidates:
        """Re-order first-stage candidates by the reranker (used by evaluation; ``search`` reranks its hits).

        Args:
            query: the question.
            candidates: document keys best first (e.g. ``retrieval.fuse(...)`` cut to the depth to rerank).
        Returns:
            The same keys ordered by reranker score (ties keep the first-stage order), with those scores.
        Raises:
            EngineNotReadyError: no reranker is attached.
        """
        if self.reranker is None:
            raise EngineNotReadyError("no reranker is attached: pass reranker= to the engine")
        keys = candidates.docs.tolist()
        with self._lock:
            texts = [d.text for d in self.store.documents(keys)]
        scores = np.asarray(self.reranker.score(query.strip(), texts), dtype=np.float64)
        order = rerank_order(scores)
        return Candidates(candidates.docs[order], scores[order])

    def _search(self, query: str, settings: Settings, want_keyword: bool, want_semantic: bool,
                timings: dict[str, float], started: float, query_vector: np.ndarray | None,
                depth: int = 0) -> SearchResponse:
        retrieval = self._retrieve(query, settings, want_semantic, timings, query_vector)
        return self._respond(query, retrieval, settings, want_keyword, want_semantic, timings, started, depth)

    def _respond(self, query: str, retrieval: "Retrieval", settings: Settings, want_keyword: bool,
                 want_semantic: bool, timings: dict[str, float], started: float, depth: int) -> SearchResponse:
        """Fuse the candidates and build the hits that are shown (nothing for the rest of the window)."""
        tick = time.perf_counter()
        fused = None
        if want_keyword and want_semantic:
            fused = retrieval.fuse(settings.alpha, settings.fusion, normalizer=settings.normalizer,
                                   rrf_k=settings.rrf_k)
        timings["fuse"] = _ms(tick)

        k = settings.k
        lists: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if want_keyword:
            lists["keyword"] = (retrieval.keyword.docs[:k], retrieval.keyword.scores[:k])
        if want_semantic:
            top = min(k, retrieval.semantic.own)  # the semantic list, without the looked-up cosines after it
            lists["semantic"] = (retrieval.semantic.docs[:top], retrieval.semantic.scores[:top])
        if fused is not None:
            pool = max(k, depth)  # reranking needs the first `depth` hybrid hits; the caller cuts back to k
            lists["hybrid"] = (fused.docs[:pool], fused.scores[:pool])
        hits = self._hits(lists, retrieval, fused, settings.normalizer)
        timings["total"] = _ms(started)
        embedder = self.embedder if want_semantic else None
        return SearchResponse(
            query=query,
            query_tokens=retrieval.tokens,
            keyword=hits.get("keyword", ()),
            semantic=hits.get("semantic", ()),
            hybrid=hits.get("hybrid", ()),
            query_vector=retrieval.query_vector,
            timings_ms=timings,
            model=hide_paths(embedder.name) if embedder else "",  # shown to visitors
            device=embedder.device if embedder else "",
            settings=settings,
            alpha_used=fused.alpha if fused is not None else None,
            evidence=retrieval.evidence,
            weight_choice=fused.choice if fused is not None else None,
        )

    def search_many(self, queries: Sequence[str], k: int | None = None, alpha: float | None = None,
                    fusion: str | None = None, mode: str | None = None, rerank: int | None = None,
                    **overrides: Any) -> list[SearchResponse]:
        """``search`` for many queries, with the query embeddings and the vector top-k computed as batches.

        Each response holds what ``search`` returns for its query. Batched stages (``embed``, ``vector``)
        report their time divided by the number of queries, and ``total`` adds those shares to the query's
        own stages.

        Args:
            queries: the questions.
            k, alpha, fusion, mode, rerank, overrides: as for ``search``, applied to every query.
        Returns:
            One SearchResponse per query, in order.
        Raises:
            as ``search`` (a blank query anywhere raises EmptyQueryError before any work).
        """
        settings = self._store_bm25(
            self.settings.with_(k=k, alpha=alpha, fusion=fusion, mode=mode, rerank=rerank, **overrides), overrides)
        want_semantic = settings.mode != "keyword"
        want_keyword = settings.mode != "semantic"
        for query in queries:
            self._check_ready(query, want_semantic)
        depth = self._rerank_depth(settings, explicit=rerank is not None)
        settings = settings.with_(rerank=depth)
        queries = [q.strip() for q in queries]
        shared: dict[str, float] = {}
        vectors = None
        if want_semantic and queries:
            tick = time.perf_counter()
            vectors = self.embed_queries(queries)
            shared["embed"] = _ms(tick) / len(queries)
        responses = []
        with self._lock:
            semantic = self._vector_batch(vectors, settings.window, shared) if vectors is not None else None
            for i, query in enumerate(queries):
                started = time.perf_counter() - sum(shared.values()) / 1000.0
                timings = dict(shared)
                retrieval = self._retrieve(query, settings, want_semantic, timings,
                                           None if vectors is None else vectors[i],
                                           semantic=None if semantic is None else semantic[i])
                responses.append(self._respond(query, retrieval, settings, want_keyword, want_semantic, timings,
                                               started, depth))
        if depth:  # as in search: after the lock, on the hits' own copies of the texts
            responses = [self._reranked(r, depth, r.timings_ms, time.perf_counter() - r.timings_ms["total"] / 1000)
                         for r in responses]
        return responses

    def _vector_batch(self, vectors: np.ndarray, top: int, shared: dict[str, float]) -> list[Candidates]:
        tick = time.perf_counter()
        found = self.store.vector_search_many(np.asarray(vectors, dtype=np.float32), top)
        shared["vector"] = _ms(tick) / max(len(found), 1)
        return found

    def retrieve_many(self, queries: Sequence[str], query_vectors: np.ndarray | None = None,
                      **overrides: Any) -> list[Retrieval]:
        """``retrieve`` for many queries, the embeddings and the vector top-k computed as batches.

        Args:
            queries: the questions.
            query_vectors: their embeddings in order if already known (else embedded as one batch).
            overrides: as for ``retrieve``.
        Returns:
            One Retrieval per query, equal to what ``retrieve`` returns for it.
        """
        settings = self._store_bm25(self.settings.with_(**overrides), overrides)
        for query in queries:
            self._check_ready(query, want_semantic=True)
        queries = [q.strip() for q in queries]
        if not queries:
            return []
        vectors = self.embed_queries(queries) if query_vectors is None else np.asarray(query_vectors, np.float32)
        if vectors.shape[0] != len(queries):
            raise ValueError(f"{vectors.shape[0]} query vectors for {len(queries)} queries")
        with self._lock:
            semantic = self._vector_batch(vectors, settings.window, {})
            return [self._retrieve(q, settings, True, {}, vectors[i], semantic=semantic[i])
                    for i, q in enumerate(queries)]

    def retrieve(self, query: str, query_vector: np.ndarray | None = None, **overrides: Any) -> Retrieval:
        """Both retrievers' candidate lists for ``query``, unfused, to re-fuse cheaply with other settings.

        Args:
            query: the question.
            query_vector: its embedding if already known (else embedded with the query cache).
            overrides: ``Settings`` fields that shape the candidates (window, k1, b).
        Returns:
            Retrieval; ``retrieval.fuse(alpha, fusion)`` gives the hybrid ranking ``search`` would give.
        Raises:
            as ``search`` (semantic candidates are always computed).
        """
        settings = self._store_bm25(self.settings.with_(**overrides), overrides)
        self._check_ready(query, want_semantic=True)
        with self._lock:
            return self._retrieve(query.strip(), settings, True, {}, query_vector)

    def _store_bm25(self, settings: Settings, overrides: Mapping[str, Any]) -> Settings:
        """The settings with the store's BM25 k1 and b where the store fixes them (asking for others is an error)."""
        fixed = self.store.bm25_params
        if fixed is None:
            return settings
        for name, value in zip(("k1", "b"), fixed):
            asked = overrides.get(name)
            if asked is not None and abs(float(asked) - value) > 1e-9:
                raise ValueError(f"{self.store.describe()} fixes BM25 k1={fixed[0]:g} and b={fixed[1]:g} when the "
                                 f"collection is built; a search cannot use {name}={asked:g}")
        return settings.with_(k1=fixed[0], b=fixed[1])

    def _check_ready(self, query: Any, want_semantic: bool) -> None:
        if not isinstance(query, str) or is_blank(query):
            raise EmptyQueryError()
        if not len(self.store):
            raise KnowledgeBaseError("知识库为空 (the knowledge base is empty): add at least one entry")
        if want_semantic and not self.has_vectors:
            raise EngineNotReadyError(
                "the embedding model is not ready yet; search with mode='keyword' or wait for it to load"
            )

    def _retrieve(self, query: str, settings: Settings, want_semantic: bool, timings: dict[str, float],
                  query_vector: np.ndarray | None, semantic: Candidates | None = None) -> Retrieval:
        """Both candidate lists of one query; ``semantic`` when its vector search already ran (batches)."""
        tick = time.perf_counter()
        tokens = self.tokenizer.tokenize(query)
        timings["tokenize"] = _ms(tick)

        tick = time.perf_counter()
        keyword = self.store.keyword_search(query, tokens, top=settings.window, k1=settings.k1, b=settings.b)
        evidence = replace(self._evidence(tokens, keyword), query=query)
        timings["keyword"] = _ms(tick)

        if want_semantic:
            if query_vector is None:
                tick = time.perf_counter()
                query_vector = self.embed_query(query)
                timings["embed"] = _ms(tick)
            query_vector = np.asarray(query_vector, dtype=np.float32)
            tick = time.perf_counter()
            if semantic is None:
                semantic = self.store.vector_search(query_vector, settings.window)
            # looking up cosines and measuring the query's spread are part of this stage
            semantic = self._with_keyword_cosines(semantic, keyword, query_vector)
            evidence = replace(evidence, **self._semantic_evidence(query, tokens, semantic, query_vector))
            timings["vector"] = timings.get("vector", 0.0) + _ms(tick)
        else:
            semantic, query_vector = Candidates.empty(), None
        return Retrieval(tuple(tokens), keyword, semantic, evidence, query_vector)

    def _with_keyword_cosines(self, semantic: Candidates, keyword: Candidates, query_vector: np.ndarray) -> Candidates:
        """The semantic candidates followed by the cosines of keyword candidates outside them, so that fusion
        ranks every document by its true cosine (they fit no normaliser and get no rank vote)."""
        inside = set(semantic.docs.tolist())
        extra = [d for d in keyword.docs.tolist() if d not in inside]
        if not extra:
            return semantic
        cosines = np.asarray(self.store.cosines(extra, query_vector), dtype=np.float64)
        order = np.argsort(-cosines, kind="stable")
        return Candidates(np.concatenate([semantic.docs, np.asarray(extra, dtype=np.int64)[order]]),
                          np.concatenate([semantic.scores, cosines[order]]), retrieved=semantic.own)

    def _semantic_evidence(self, query: str, tokens: Sequence[str], semantic: Candidates,
                           query_vector: np.ndarray) -> dict[str, Any]:
        """What the semantic side tells fusion about the query as a whole (``QueryEvidence`` fields).

        - ``cosine_mean``, ``cosine_std``: the query's cosine over up to ``_SPREAD_SAMPLE`` documents written
          in the query's script, spread over them (over the knowledge base, when there are too few): entries
          in another language sit lower and would stretch the yardstick of a mixed knowledge base.
        - ``blind_spot``: one of the semantic top ``_JUDGED_TOP`` holds no text in a script of the query's
          tokens, so keyword matching could not have judged it.
        """
        script = query_script(query)
        unit = query_vector / max(float(np.linalg.norm(query_vector)), 1e-12)
        out: dict[str, Any] = {"cosine_mean": None, "cosine_std": None, "blind_spot": False, "cosine_count": 0}
        same = None
        if script:
            keys, vectors = self.store.vector_sample(_SPREAD_SAMPLE, script)
            if vectors.shape[0] and vectors.shape[1] == unit.shape[0]:
                same = (vectors @ unit)[self._sample_scripts(keys) == script]
        if same is None or len(same) < _SPREAD_MIN_SAME:  # too few in the query's script: all of them
            keys, vectors = self.store.vector_sample(_SPREAD_SAMPLE)
            same = vectors @ unit if len(keys) and vectors.shape[1] == unit.shape[0] else None
        if same is not None and len(same) >= 2:
            out["cosine_mean"], out["cosine_std"] = float(same.mean()), float(same.std())
            out["cosine_count"] = int(len(same))
        wanted = frozenset().union(*(scripts_in(t) for t in tokens)) if tokens else frozenset()
        top = semantic.docs[:min(semantic.own, _JUDGED_TOP)].tolist()
        if wanted and top:
            out["blind_spot"] = any(not scripts_in(d.text) & wanted for d in self.store.documents(top))
        return out

    def _sample_scripts(self, keys: np.ndarray) -> np.ndarray:
        """The script of each sampled document, worked out once per sample (stores hand out the same arrays
        until their collection changes; one sample per script at most)."""
        memo = self._scripts_memo
        held = memo.get(id(keys))
        if held is None or held[0] is not keys:
            scripts = np.array([document_script(d.text) for d in self.store.documents(keys.tolist())], dtype=object)
            if len(memo) >= 4:
                memo.pop(next(iter(memo)))
            held = memo[id(keys)] = (keys, scripts)
        return held[1]

    def _evidence(self, tokens: list[str], keyword: Candidates) -> QueryEvidence:
        distinct = list(dict.fromkeys(tokens))
        n, dfs = self.store.keyword_statistics(distinct)
        idf = [float(lucene_idf(df, n)) for df in dfs]
        if not distinct or len(keyword) == 0:
            return QueryEvidence(tuple(idf), 0.0)
        found = set(self.store.matched_tokens(int(keyword.docs[0]), distinct))
        covered = sum(w for t, w in zip(distinct, idf) if t in found)
        return QueryEvidence(tuple(idf), covered / sum(idf) if sum(idf) > 0 else 0.0,
                             matched_tokens=sum(t in found for t in distinct))

    def _hits(self, lists: dict[str, tuple[np.ndarray, np.ndarray]], retrieval: Retrieval, fused: Fused | None,
              normalizer: str) -> dict[str, tuple[Hit, ...]]:
        """The Hit objects of each shown list: documents, matched tokens, highlights and score explanations
        are looked up once per distinct document shown, never for the rest of the candidate window."""
        keys = list(dict.fromkeys(key for docs, _ in lists.values() for key in docs.tolist()))
        if not keys:
            return {name: () for name in lists}
        documents = dict(zip(keys, self.store.documents(keys)))
        doc_tokens = dict(zip(keys, self.store.tokens(keys)))
        cosines: dict[int, float] = {}
        if retrieval.query_vector is not None:
            cosines = dict(zip(keys, self.store.cosines(keys, retrieval.query_vector).tolist()))
        explain = _Explanations(retrieval.keyword, retrieval.semantic, fused, normalizer)
        distinct = list(dict.fromkeys(retrieval.tokens))
        marked: dict[int, tuple[tuple[str, ...], tuple[tuple[int, int], ...]]] = {}
        for key in keys:
            present = set(doc_tokens[key])
            matched = tuple(t for t in distinct if t in present)
            # documents without a matched token have nothing to highlight
            marked[key] = (matched, self._highlights(documents[key].text, doc_tokens[key], matched) if matched else ())
        out = {}
        for name, (docs, scores) in lists.items():
            hits = []
            for rank, (key, score) in enumerate(zip(docs.tolist(), scores.tolist()), 1):
                d = documents[key]
                matched, highlights = marked[key]
                hits.append(Hit(rank=rank, id=d.id, text=d.text, score=float(score), matched_tokens=matched,
                                highlights=highlights, metadata=d.metadata, semantic_score=cosines.get(key),
                                **explain.of(key)))
            out[name] = tuple(hits)
        return out

    def _highlights(self, text: str, doc_tokens: Sequence[str], matched: Sequence[str]) -> tuple[tuple[int, int], ...]:
        """Character spans of the matched tokens in ``text``, as the tokenizer placed them.

        Every place a token was cut out of the text is an occurrence of that token in the normalised text.
        When a token occurs exactly as often as the document holds it, those occurrences are its spans; when
        it occurs more often (inside a longer word, say "apple" in "pineapple"), the tokenizer is run again
        for this document.
        """
        folded = self.tokenizer.normalize(text)
        spans: list[tuple[int, int]] = []
        for token in matched:
            starts = _occurrences(folded, token)
            if len(starts) != doc_tokens.count(token):
                wanted = set(matched)
                return _merge_spans((t.start, t.end) for t in self._offsets(text) if t.text in wanted)
            spans.extend((start, start + len(token)) for start in starts)
        return _merge_spans(spans)

    def _offsets(self, text: str) -> list:
        """Tokens with offsets of a document text, from a small cache (re-running a search is common)."""
        cached = self._offsets_cache.get(text)
        if cached is not None and cached[0] is self.tokenizer:
            self._offsets_cache.move_to_end(text)
            return cached[1]
        found = self.tokenizer.tokenize_with_offsets(text)
        self._offsets_cache[text] = (self.tokenizer, found)
        while len(self._offsets_cache) > _OFFSETS_CACHE_SIZE:
            self._offsets_cache.popitem(last=False)
        return found

    # ------------------------------------------------------------------ persistence

    def save(self, folder: str | Path) -> Path:
        """Write the index (documents, tokens, vectors, settings) to ``folder`` atomically.

        The new index is written beside the target and swapped in with renames (``hybrid.atomic``): after any
        sequence of crashes the last complete index loads, and the next save or load removes what they left.

        Returns:
            The folder.
        Raises:
            StoreError: a store that keeps its own data. FileExistsError: ``folder`` holds something else.
        """
        if not isinstance(self.store, MemoryStore):
            raise StoreError(f"{self.store.describe()} keeps its own data; save() writes in-memory indexes only")

        def write(tmp: Path) -> dict[str, Any]:
            with self._lock:
                written = self.store.write(tmp)
            return {"format": INDEX_FORMAT, "documents": written["documents"], "tokenizer": self.tokenizer.signature,
                    "vectors_model": written["vectors_model"], "bm25_statistics": written["bm25_statistics"],
                    "settings": self.settings.__dict__}

        return atomic.write_folder(folder, write)

    @classmethod
    def load(cls, folder: str | Path, embedder: Embedder | None = None, cache: EmbeddingCache | None = None,
             tokenizer: Tokenizer | None = None, progress: Progress | None = None) -> "HybridEngine":
        """Read an index written by ``save`` (after an interrupted save: the newest complete one).

        Args:
            folder: the index folder.
            embedder: model for semantic search; saved vectors are used when they came from the same model,
                otherwise documents are re-embedded.
            cache, tokenizer, progress: as for the constructor.
        Returns:
            The engine.
        Raises:
            IndexCorruptError: missing or damaged files.
        """
        folder = Path(folder)
        tokenizer = tokenizer or Tokenizer()
        found = atomic.recover(folder) or folder
        try:
            manifest = atomic.read_manifest(found)
            atomic.verify(found, manifest)
            same_tokens = tokenizer.signature == manifest.get("tokenizer")
            store = MemoryStore.read(
                found, manifest, intern=interned,
                retokenize=None if same_tokens else tokenizer.tokenize_many)
        except atomic.FolderCorruptError as exc:
            raise IndexCorruptError(str(exc)) from exc
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorruptError(f"cannot read the index in {found}: {exc}; rebuild it") from exc
        settings = Settings(**manifest.get("settings", {}))
        engine = cls(settings=settings, tokenizer=tokenizer, cache=cache, store=store)
        if embedder is not None:
            engine.set_embedder(embedder, progress=progress)
        return engine


def _with_fresh_ids(documents: Sequence[Any], start: int, taken: Callable[[str], bool]) -> list[Document]:
    entries = []
    for offset, entry in enumerate(documents):
        if isinstance(entry, str):
            number = start + offset
            while taken(str(number)):
                number += 1_000_000
            entry = Document(str(number), entry)
        entries.append(entry)
    docs = to_documents(entries)
    clash = [d.id for d in docs if taken(d.id)]
    if clash:
        raise KnowledgeBaseError(f"document id {clash[0]!r} is already indexed; use update() to change it")
    return docs


class _Explanations:
    """Where a document stands in each candidate list (rank, raw and normalised score, weights, parts)."""

    def __init__(self, keyword: Candidates, semantic: Candidates, fused: Fused | None, normalizer: str) -> None:
        self.keyword, self.semantic, self.fused = keyword, semantic, fused
        self.keyword_at = {key: i for i, key in enumerate(keyword.docs.tolist())}
        # ranks among the semantic candidates only, not the cosines looked up after them
        self.semantic_at = {key: i for i, key in enumerate(semantic.docs[:semantic.own].tolist())}
        self.hybrid_at = {key: i for i, key in enumerate(fused.docs.tolist())} if fused is not None else {}
        # Without fusion the lists still show each retriever's normalised score.
        self.keyword_norm = (normalize(keyword.scores, normalizer, floor=keyword_floor(keyword.scores))
                             if fused is None else None)
        self.semantic_norm = (normalize(semantic.scores, normalizer, semantic.scores[:semantic.own])
                              if fused is None else None)

    def of(self, key: int) -> dict[str, Any]:
        """The Hit fields that explain document ``key``'s scores."""
        out: dict[str, Any] = {}
        i = self.keyword_at.get(key)
        if i is not None:
            out.update(keyword_score=float(self.keyword.scores[i]), keyword_rank=i + 1)
            if self.keyword_norm is not None:
                out["keyword_score_norm"] = float(self.keyword_norm[i])
        i = self.semantic_at.get(key)
        if i is not None:
            out["semantic_rank"] = i + 1
            if self.semantic_norm is not None:
                out["semantic_score_norm"] = float(self.semantic_norm[i])
        i = self.hybrid_at.get(key)
        if i is not None:
            f = self.fused
            out.update(hybrid_rank=i + 1, keyword_score_norm=float(f.keyword_norm[i]),
                       semantic_score_norm=float(f.semantic_norm[i]), keyword_contribution=float(f.keyword_part[i]),
                       semantic_contribution=float(f.semantic_part[i]), keyword_weight=float(f.keyword_weight[i]),
                       semantic_weight=float(f.semantic_weight[i]))
        return out


def _occurrences(text: str, token: str) -> list[int]:
    """Every start of ``token`` in ``text``, overlapping ones included."""
    starts, at = [], text.find(token)
    while at >= 0:
        starts.append(at)
        at = text.find(token, at + 1)
    return starts


def _merge_spans(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
