"""The hybrid search engine: composes tokenizer, embedder, caches, a store (documents + indexes), fusion and reranking."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import atomic
from .cache import EmbeddingCache, embed_with_cache, model_key
from .fusion import Candidates, Fused, QueryEvidence, fuse, normalize
from .kb import Document, KnowledgeBaseError, to_documents
from .lang import document_script, query_script
from .keyword import lucene_idf
from .rerank import Reranker, rerank_order
from .results import Hit, SearchResponse
from .semantic import Embedder
from .settings import DEFAULT_SETTINGS, Settings
from .store import Store, StoreError
from .store.memory import MemoryStore
from .tokenize import Tokenizer

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
INDEX_FORMAT = 1
_QUERY_CACHE_SIZE = 256
_OFFSETS_CACHE_SIZE = 1024  # documents whose token offsets (for highlights) are kept


class EmptyQueryError(ValueError):
    """The query has no text."""

    def __init__(self) -> None:
        super().__init__("请输入查询词 (please enter a query)")


class EngineNotReadyError(RuntimeError):
    """Semantic search (or reranking) was asked for but no embedding model (or reranker) is attached."""


class IndexCorruptError(RuntimeError):
    """A saved index folder is incomplete or damaged."""


@dataclass(frozen=True)
class Retrieval:
    """Both retrievers' candidates for one query, before fusion.

    Attributes:
        tokens: the query's keyword tokens.
        keyword: BM25 candidates (matched documents only), best first.
        semantic: cosine candidates, best first.
        evidence: keyword-side facts about the query for adaptive fusion.
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


class HybridEngine:
    """Keyword, semantic and hybrid search over one knowledge base.

    Args:
        documents: strings, ``Document``s or dicts with ``text`` (and optional ``id``, metadata).
        embedder: an ``Embedder``; None for keyword-only use (attach one later with ``set_embedder``).
        settings: default search settings.
        tokenizer: jieba tokenizer; the default search-mode one when None.
        cache: embedding cache; None embeds without caching.
        progress: ``progress(done, total)`` while embedding documents.
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
    ) -> None:
        self.settings = settings
        self.reranker = reranker
        self.tokenizer = tokenizer or Tokenizer()
        self.cache = cache
        self.embedder: Embedder | None = None
        self.store: Store = store if store is not None else MemoryStore()
        self._lock = threading.RLock()
        self._query_vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._offsets_cache: OrderedDict[str, tuple[Tokenizer, list]] = OrderedDict()
        if documents:
            self.embedder = embedder  # documents are embedded as they are added
            self.add(documents, progress=progress)
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

    def add(self, documents: Sequence[str | Document | Mapping[str, Any]], progress: Progress | None = None) -> list[str]:
        """Index more documents.

        Args:
            documents: as for the constructor; string entries get ids continuing the count.
            progress: ``progress(done, total)`` while embedding.
        Returns:
            The ids of the added documents.
        Raises:
            KnowledgeBaseError: empty text or an id already present.
        """
        self._writable()
        docs = _with_fresh_ids(documents, start=len(self.store) + 1, taken=self._has_id)
        with self._lock:
            tokens = _tokenize_shared(self.tokenizer, [d.text for d in docs])
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
                      progress: Progress | None = None) -> None:
        """Replace the whole knowledge base, reusing tokens and vectors of texts already indexed.

        Re-submitting an unchanged knowledge base re-tokenises and re-embeds nothing; one changed line
        costs one line.
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
            tokens = [old_tokens[k] if k is not None else None for k in reused]
            missing = [i for i, t in enumerate(tokens) if t is None]
            for i, toks in zip(missing, _tokenize_shared(self.tokenizer, [docs[i].text for i in missing])):
                tokens[i] = toks
            vectors = None
            if self.embedder is not None:
                key = model_key(self.embedder)
                vectors = np.zeros((len(docs), self.embedder.dimension), dtype=np.float32)
                reuse = store.vectors_model == key
                new_rows = [i for i, k in enumerate(reused) if not (reuse and k is not None)]
                if reuse:
                    rows = [i for i, k in enumerate(reused) if k is not None]
                    if rows:
                        vectors[rows] = store.vectors([reused[i] for i in rows])
                if new_rows:
                    vectors[new_rows] = self._embed([docs[i].text for i in new_rows], progress)
                elif progress is not None:
                    progress(len(docs), len(docs))
            store.reset(docs, tokens, vectors, model_key(self.embedder) if vectors is not None else None)

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
        with self._lock:
            self._query_vectors[key] = vector
            while len(self._query_vectors) > _QUERY_CACHE_SIZE:
                self._query_vectors.popitem(last=False)
        return vector

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
        tokens, keyword, semantic = list(retrieval.tokens), retrieval.keyword, retrieval.semantic
        query_vector = retrieval.query_vector

        tick = time.perf_counter()
        fused = None
        if want_keyword and want_semantic:
            fused = retrieval.fuse(settings.alpha, settings.fusion, normalizer=settings.normalizer,
                                   rrf_k=settings.rrf_k)
        info = self._doc_info(keyword, semantic, fused, settings)
        timings["fuse"] = _ms(tick)

        k, shown = settings.k, {}
        hits_kw = self._hits(keyword.docs[:k], keyword.scores[:k], info, tokens, query_vector, shown) if want_keyword else ()
        hits_sem = (self._hits(semantic.docs[:k], semantic.scores[:k], info, tokens, query_vector, shown)
                    if want_semantic else ())
        pool = max(k, depth)  # reranking needs the first `depth` hybrid hits; the caller cuts back to k
        hits_hyb = (self._hits(fused.docs[:pool], fused.scores[:pool], info, tokens, query_vector, shown)
                    if fused is not None else ())
        timings["total"] = _ms(started)
        embedder = self.embedder if want_semantic else None
        return SearchResponse(
            query=query,
            query_tokens=tuple(tokens),
            keyword=hits_kw,
            semantic=hits_sem,
            hybrid=hits_hyb,
            query_vector=query_vector,
            timings_ms=timings,
            model=embedder.name if embedder else "",
            device=embedder.device if embedder else "",
            settings=settings,
            alpha_used=fused.alpha if fused is not None else None,
        )

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
        if not isinstance(query, str) or not query.strip():
            raise EmptyQueryError()
        if not len(self.store):
            raise KnowledgeBaseError("知识库为空 (the knowledge base is empty): add at least one entry")
        if want_semantic and not self.has_vectors:
            raise EngineNotReadyError(
                "the embedding model is not ready yet; search with mode='keyword' or wait for it to load"
            )

    def _retrieve(self, query: str, settings: Settings, want_semantic: bool, timings: dict[str, float],
                  query_vector: np.ndarray | None) -> Retrieval:
        tick = time.perf_counter()
        tokens = self.tokenizer.tokenize(query)
        timings["tokenize"] = _ms(tick)

        tick = time.perf_counter()
        keyword = self.store.keyword_search(query, tokens, top=settings.window, k1=settings.k1, b=settings.b)
        evidence = self._evidence(tokens, keyword)
        timings["keyword"] = _ms(tick)

        semantic = Candidates.empty()
        if want_semantic:
            if query_vector is None:
                tick = time.perf_counter()
                query_vector = self.embed_query(query)
                timings["embed"] = _ms(tick)
            query_vector = np.asarray(query_vector, dtype=np.float32)
            tick = time.perf_counter()
            semantic = self.store.vector_search(query_vector, settings.window)
            timings["vector"] = _ms(tick)
            evidence = replace(evidence, other_language=self._other_language(query, semantic))
        else:
            query_vector = None
        return Retrieval(tuple(tokens), keyword, semantic, evidence, query_vector)

    def _other_language(self, query: str, semantic: Candidates) -> frozenset[int]:
        script = query_script(query)
        if not script:
            return frozenset()
        keys = semantic.docs.tolist()
        return frozenset(key for key, doc in zip(keys, self.store.documents(keys))
                         if document_script(doc.text) not in ("", script))

    def _evidence(self, tokens: list[str], keyword: Candidates) -> QueryEvidence:
        distinct = list(dict.fromkeys(tokens))
        n = len(self.store)
        idf = [float(lucene_idf(df, n)) for df in self.store.doc_freqs(distinct)]
        if not distinct or len(keyword) == 0:
            return QueryEvidence(tuple(idf), 0.0)
        found = set(self.store.matched_tokens(int(keyword.docs[0]), distinct))
        covered = sum(w for t, w in zip(distinct, idf) if t in found)
        return QueryEvidence(tuple(idf), covered / sum(idf) if sum(idf) > 0 else 0.0)

    def _doc_info(self, keyword: Candidates, semantic: Candidates, fused, settings: Settings) -> dict[int, dict]:
        info: dict[int, dict] = {}
        kn = normalize(keyword.scores, settings.normalizer) if fused is None else None
        for rank, (doc, score) in enumerate(zip(keyword.docs.tolist(), keyword.scores.tolist()), 1):
            info.setdefault(doc, {}).update(keyword_score=score, keyword_rank=rank)
            if kn is not None:
                info[doc]["keyword_score_norm"] = float(kn[rank - 1])
        sn = normalize(semantic.scores, settings.normalizer) if fused is None else None
        for rank, doc in enumerate(semantic.docs.tolist(), 1):
            info.setdefault(doc, {}).update(semantic_rank=rank)
            if sn is not None:
                info[doc]["semantic_score_norm"] = float(sn[rank - 1])
        if fused is not None:
            for rank, doc in enumerate(fused.docs.tolist(), 1):
                info[doc].update(
                    hybrid_rank=rank,
                    keyword_score_norm=float(fused.keyword_norm[rank - 1]),
                    semantic_score_norm=float(fused.semantic_norm[rank - 1]),
                    keyword_contribution=float(fused.keyword_part[rank - 1]),
                    semantic_contribution=float(fused.semantic_part[rank - 1]),
                    keyword_weight=float(fused.keyword_weight[rank - 1]),
                    semantic_weight=float(fused.semantic_weight[rank - 1]),
                )
        return info

    def _hits(self, docs: np.ndarray, scores: np.ndarray, info: dict[int, dict], tokens: list[str],
              query_vector: np.ndarray | None, shown: dict[int, tuple] | None = None) -> tuple[Hit, ...]:
        hits = []
        keys = docs.tolist()
        documents = self.store.documents(keys)
        cosines = self.store.cosines(keys, query_vector).tolist() if query_vector is not None and keys else None
        shown = {} if shown is None else shown  # one search's lists share documents: mark each up once
        for rank, (doc, score, d) in enumerate(zip(keys, scores.tolist(), documents), 1):
            extra = dict(info.get(doc, {}))
            if cosines is not None:
                extra["semantic_score"] = float(cosines[rank - 1])
            if doc not in shown:
                matched = self.store.matched_tokens(doc, tokens)
                spans: tuple = ()
                if matched:  # documents without a matched token have nothing to highlight
                    wanted = set(matched)
                    spans = _merge_spans((t.start, t.end) for t in self._offsets(d.text) if t.text in wanted)
                shown[doc] = (matched, spans)
            matched, highlights = shown[doc]
            hits.append(Hit(rank=rank, id=d.id, text=d.text, score=float(score), matched_tokens=matched,
                            highlights=highlights, metadata=d.metadata, **extra))
        return tuple(hits)

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
                    "vectors_model": written["vectors_model"], "settings": self.settings.__dict__}

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
                found, manifest, intern=_interned,
                retokenize=None if same_tokens else (lambda texts: _tokenize_shared(tokenizer, texts)))
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


def _interned(token_lists: list[list[str]]) -> list[list[str]]:
    """The token lists with equal tokens sharing one string object.

    A knowledge base repeats the same words millions of times; kept as separate strings the token lists
    would take several times the memory of the whole search index.
    """
    return [[sys.intern(t) for t in tokens] for tokens in token_lists]


def _tokenize_shared(tokenizer: Tokenizer, texts: list[str], chunk: int = 512) -> list[list[str]]:
    """``tokenizer.tokenize_many`` with shared token strings, a chunk at a time so that the unshared
    strings of one chunk are freed (and their memory reused) before the next is tokenised."""
    out: list[list[str]] = []
    for start in range(0, len(texts), chunk):
        out.extend(_interned(tokenizer.tokenize_many(texts[start:start + chunk])))
    return out


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
