"""The Milvus store: documents, BM25 (Milvus full-text search, jieba analyzer) and vectors in a Milvus collection.

The same code serves an embedded Milvus Lite folder (``milvus:./kb.db``) and a Milvus server or cluster
(``milvus+http://host:19530``, token from ``MILVUS_TOKEN``). Milvus scores BM25 and cosine; the engine fuses
and explains, so hits look the same as from the in-memory store.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from ..fusion import Candidates
from ..kb import Document, KnowledgeBaseError
from ..tokenize import Tokenizer, _is_content, user_dict_words
from ..vectors import l2_normalize
from . import StoreError

log = logging.getLogger(__name__)

FORMAT = "1"
DEFAULT_COLLECTION = "hybrid"
TOKEN_ENV = "MILVUS_TOKEN"
VECTOR_INDEXES = ("FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX")
MAX_TEXT_BYTES = 65_535  # Milvus VARCHAR limit
MAX_ID_BYTES = 1_024
MAX_TOKENS = 4_096  # Milvus ARRAY capacity limit: distinct tokens kept per entry
MAX_TOKEN_BYTES = 256
_ROW_FIELDS = ["doc_id", "text", "metadata", "tokens"]
_CACHE_ROWS = 8_192
_CACHE_SECONDS = 30.0  # rows, document frequencies and the count are re-read after this long
# vector_sample (a yardstick, not an answer) is re-read in the background after this long, so that no search
# waits for its 4,096 rows; this process's own writes drop it at once.
_SAMPLE_SECONDS = 600.0
_WRITE_BATCH = 1_000
_UNUSED = np.zeros(2, dtype=np.float32)
# Punctuation and symbols the engine's tokenizer drops; Milvus's jieba analyzer keeps them unless they
# are stop words (Milvus Lite honours no other filter).
_PUNCTUATION = sorted(
    ch for ch in map(chr, [*range(0x21, 0x80), *range(0x2010, 0x2060), *range(0x3000, 0x3040),
                           *range(0xFF01, 0xFF66), 0xB7, 0xA7, 0xB0, 0xD7, 0xF7])
    if not _is_content(ch) and not ch.isspace()
)


def doc_key(doc_id: str) -> int:
    """The int64 primary key of a document id: the first 63 bits of its BLAKE2b hash (stable everywhere)."""
    digest = hashlib.blake2b(str(doc_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


def literal(text: str) -> str:
    """``text`` as a Milvus filter string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") \
        .replace("\t", "\\t") + '"'


def analyzer_params(tokenizer: Tokenizer) -> dict[str, Any]:
    """Milvus analyzer settings that tokenise like ``tokenizer``: jieba in the same mode, its user dictionary
    words added to the default dictionary, its stopwords and punctuation dropped.

    Milvus Lite runs Python jieba (``cut_for_search`` / ``cut``) and lowercases; a Milvus server runs jieba-rs.
    """
    # The analyzer sees ``tokenizer.normalize``d text (folded), so the dictionary words are normalised alike.
    words = [tokenizer.normalize(w) for w in user_dict_words(tokenizer.user_dict)] if tokenizer.user_dict else []
    jieba = {"type": "jieba", "mode": "search" if tokenizer.mode == "search" else "exact",
             "hmm": bool(tokenizer.hmm), "dict": ["_default_", *words]}
    return {"tokenizer": jieba, "filter": [{"type": "stop", "stop_words": sorted(tokenizer.stopwords) + _PUNCTUATION}]}


def _client(target: str, token: str | None, timeout: float):
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    if _is_file(target):
        uri = _LITE.open(target)
        try:
            return MilvusClient(uri=uri, timeout=timeout)
        except MilvusException as exc:
            _LITE.release(target)
            raise StoreError(f"cannot open Milvus Lite {target}: {exc.message}") from exc
    try:
        return MilvusClient(uri=target, token=token if token is not None else os.environ.get(TOKEN_ENV, ""),
                            timeout=timeout)
    except MilvusException as exc:
        raise StoreError(f"cannot open Milvus at {shown(target)}: {exc.message} (check that a Milvus server "
                         f"answers at that host and port, and that ${TOKEN_ENV} holds its token if it needs one; a "
                         "local one: `milvus-lite server --data-dir DIR --host 127.0.0.1 --port PORT`)") from exc


class _LiteServers:
    """The Milvus Lite folders this process has open, each served on a unix socket in a private folder.

    pymilvus would serve a ``.db`` folder on a loopback TCP port with no credentials, which every local user can
    connect to (list, read and delete entries). A socket in a fresh ``0700`` temporary folder can be reached only
    by this user; a folder this creates is ``0700`` too, so other users cannot read the files either.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, tuple[Any, Any, str]] = {}  # folder -> (gRPC server, MilvusLite, socket folder)
        self._users: Counter = Counter()

    def open(self, folder: str) -> str:
        """Serve ``folder`` (or reuse this process's server of it); returns the ``unix:`` URI to connect to."""
        path = os.path.abspath(folder)
        with self._lock:
            if path not in self._open:
                self._open[path] = self._serve(path)
            self._users[path] += 1
            return f"unix:{self._open[path][2]}/milvus.sock"

    @staticmethod
    def _serve(path: str) -> tuple[Any, Any, str]:
        import tempfile

        from milvus_lite.adapter.grpc.server import DEFAULT_MAX_WORKERS, _build_server  # milvus-lite 3.2.2
        from milvus_lite.db import MilvusLite
        from milvus_lite.exceptions import DataDirLockedError

        try:
            Path(path).mkdir(mode=0o700, exist_ok=True)
            db = MilvusLite(path)
        except DataDirLockedError as exc:
            raise StoreError(f"cannot open Milvus Lite {path}: another process has it open (a Milvus Lite folder "
                             "is opened by one process at a time; to share it, serve it with `milvus-lite server "
                             f"--data-dir {path} --host 127.0.0.1 --port 19530`, which asks no credentials, and use "
                             "milvus+http://127.0.0.1:19530)") from exc
        except OSError as exc:
            raise StoreError(f"cannot open Milvus Lite {path}: {exc}") from exc
        sockets = tempfile.mkdtemp(prefix="hybrid-milvus-")  # 0700: only this user may enter
        try:
            server = _build_server(db, DEFAULT_MAX_WORKERS)
            server.add_insecure_port(f"unix:{sockets}/milvus.sock")
            server.start()
        except BaseException as exc:
            db.close()
            os.rmdir(sockets)
            if isinstance(exc, RuntimeError):  # gRPC could not bind
                raise StoreError(f"cannot serve Milvus Lite {path} on a unix socket in {sockets} ({exc}); a "
                                 "socket's path must be shorter than 108 bytes: point TMPDIR at a shorter "
                                 "folder") from exc
            raise
        return server, db, sockets

    def release(self, folder: str) -> None:
        """Stop serving ``folder`` once every store opened on it has released it."""
        path = os.path.abspath(folder)
        with self._lock:
            self._users[path] -= 1
            if self._users[path] > 0:
                return
            del self._users[path]
            server, db, sockets = self._open.pop(path)
        server.stop(grace=2).wait()
        db.close()
        with contextlib.suppress(OSError):
            os.remove(f"{sockets}/milvus.sock")
        with contextlib.suppress(OSError):
            os.rmdir(sockets)

    def release_all(self) -> None:
        """Stop every server (at exit: the folders' locks are released and the socket folders removed)."""
        with self._lock:
            folders = list(self._users.elements())
        for folder in folders:
            self.release(folder)


_LITE = _LiteServers()
atexit.register(_LITE.release_all)


def shown(target: str) -> str:
    """``target`` fit to print: a password or token written into a server URI (``user:pass@host``) is dropped."""
    if _is_file(target):
        return target
    scheme, sep, rest = target.partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host.rpartition('@')[2]}{slash}{path}"


def _is_file(target: str) -> bool:
    return not target.startswith(("http://", "https://", "tcp://", "unix:"))


class _Cache:
    """A small LRU of values that expire after ``_CACHE_SECONDS`` (other processes may write meanwhile)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None or time.monotonic() - item[0] > _CACHE_SECONDS:
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def drop(self, keys: Iterable[Any]) -> None:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class MilvusStore:
    """A Milvus collection holding the knowledge base, plus a companion collection of document frequencies.

    Schema: ``key`` INT64 primary key (``doc_key(id)``), ``doc_id``, ``text`` (as shown),
    ``search_text`` (the text normalised as the engine's tokenizer does, analysed by jieba, feeding a BM25
    function into ``sparse``), ``tokens`` (the engine's distinct tokens, for document frequencies and
    highlights), ``metadata`` (JSON) and ``vector`` (unit vectors, cosine index). ``<collection>__df`` keeps
    how many entries hold each engine token; BM25's k1 and b are fixed when the collection is created.

    Use ``MilvusStore.open``.
    """

    name = "milvus"

    def __init__(self, client: Any, target: str, collection: str, read_only: bool, tokenizer: Tokenizer,
                 vector_index: str, bm25: tuple[float, float]) -> None:
        self._client = client
        self.target = target
        self.collection = collection
        self.df_collection = f"{collection}__df"
        self.read_only = read_only
        self._tokenizer = tokenizer
        self._vector_index = vector_index
        self._bm25 = (float(bm25[0]), float(bm25[1]))
        self._properties: dict[str, str] = {}
        self._rows = _Cache(_CACHE_ROWS)  # key -> (Document, tuple of tokens)
        self._vectors = _Cache(_CACHE_ROWS)  # key -> unit vector
        self._df = _Cache(1 << 16)  # token -> document frequency
        self._count = _Cache(1)
        self._sample: tuple[float, int, tuple[np.ndarray, np.ndarray]] | None = None  # (read at, n, sample)
        self._sample_generation = 0  # bumped by every change, so a refresh read before it is not kept
        self._sample_refreshing = threading.Lock()  # held while a background re-read runs
        self._sample_guard = threading.Lock()  # the generation and the held sample change together
        self._closed = False
        self._last_cosines: tuple[bytes, dict[int, float]] = (b"", {})
        self._bulk: Counter | None = None  # df changes held back while a bulk() block runs
        self._lock = threading.RLock()
        self._exists = False
        if self.exists:
            self._properties = self._read_properties()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, target: str, collection: str = DEFAULT_COLLECTION, read_only: bool = False,
             token: str | None = None, tokenizer: Tokenizer | None = None, vector_index: str = "FLAT",
             bm25: tuple[float, float] = (1.2, 0.75), timeout: float = 30.0) -> "MilvusStore":
        """Connect to Milvus and a collection (created on the first write when absent and not read-only).

        Args:
            target: ``./kb.db`` (a Milvus Lite folder, created if missing) or ``http(s)://host:port``.
            collection: the collection name.
            read_only: refuse every change (serving).
            token: for servers; ``$MILVUS_TOKEN`` when None (``user:password`` or an API key).
            tokenizer: the engine's tokenizer (the analyzer of a new collection follows it; an existing
                collection must have been indexed with the same one).
            vector_index: dense index of a new collection: FLAT (exact, as the in-memory store), HNSW,
                IVF_FLAT or AUTOINDEX.
            bm25: ``(k1, b)`` of a new collection.
            timeout: seconds to wait for the connection.
        Raises:
            StoreError: unreachable, a read-only collection that does not exist, another format.
        """
        if vector_index not in VECTOR_INDEXES:
            raise StoreError(f"unknown vector index {vector_index!r}; choose one of {', '.join(VECTOR_INDEXES)}")
        if not collection or not collection.replace("_", "a").isalnum() or not collection[0].isalpha():
            raise StoreError(f"collection name {collection!r}: use letters, digits and _ , starting with a letter")
        if _is_file(target):
            if not target.endswith(".db"):
                raise StoreError(f"a Milvus Lite location must end in .db (got {target!r}), e.g. milvus:./kb.db")
            if read_only and not Path(target).exists():
                raise StoreError(f"{target} does not exist: build it first with "
                                 f"`python -m hybrid index --kb FILE --store milvus:{target}`")
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        tokenizer = tokenizer or Tokenizer()
        store = cls(_client(target, token, timeout), target, collection, read_only, tokenizer, vector_index, bm25)
        try:
            if store.exists:
                store._check_format()
                store._client.load_collection(collection)
                if store._client.has_collection(store.df_collection):
                    store._client.load_collection(store.df_collection)
                if store._properties.get("hybrid.df_state") == "dirty":
                    log.warning("%s: document frequencies were left incomplete by an interrupted write; "
                                "`python -m hybrid index` on this collection repairs them", store.describe())
            elif read_only:
                names = [n for n in store._client.list_collections() if not n.endswith("__df")]
                raise StoreError(f"no collection {collection!r} at {shown(target)} (collections there: "
                                 f"{', '.join(names) or 'none'}); index one with `python -m hybrid index`")
        except BaseException:
            store.close()  # a Milvus Lite folder's lock too
            raise
        return store

    @property
    def exists(self) -> bool:
        """Whether the collection has been created (asked once, then kept: only this object creates or drops it)."""
        if not self._exists:
            self._exists = bool(self._client.has_collection(self.collection))
        return self._exists

    def _read_properties(self) -> dict[str, str]:
        return dict(self._client.describe_collection(self.collection).get("properties") or {})

    def _check_format(self) -> None:
        found = self._properties.get("hybrid.format")
        if found != FORMAT:
            raise StoreError(f"collection {self.collection!r} at {shown(self.target)} was not written by this tool "
                             f"(format {found!r}, expected {FORMAT!r}); pick another --collection")
        signature = self._properties.get("hybrid.tokenizer")
        if signature != self._tokenizer.signature:
            raise StoreError(f"collection {self.collection!r} was indexed with tokenizer {signature}; this "
                             f"process tokenises with {self._tokenizer.signature}: use the same jieba mode, "
                             "user dictionary, stopwords and script folding (--tokenizer-mode, --user-dict, "
                             "--no-fold), or index into a new --collection")
        k1, _, b = self._properties.get("hybrid.bm25", "").partition(",")
        if not (k1 and b):
            raise StoreError(f"collection {self.collection!r} does not record its BM25 parameters; index it again")
        self._bm25 = (float(k1), float(b))

    def _create(self, dimension: int, model: str) -> None:
        from pymilvus import DataType, Function, FunctionType

        client = self._client
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.INT64, is_primary=True)
        schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_ID_BYTES)
        schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES)
        schema.add_field("search_text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
                         analyzer_params=analyzer_params(self._tokenizer))
        schema.add_field("tokens", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=MAX_TOKENS,
                         max_length=MAX_TOKEN_BYTES)
        schema.add_field("metadata", DataType.JSON)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dimension))
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                     input_field_names=["search_text"], output_field_names=["sparse"]))
        index = client.prepare_index_params()
        bm25 = {"bm25_k1": self._bm25[0], "bm25_b": self._bm25[1]}
        # pymilvus 3 sends index parameters as top-level keys (what a Milvus server reads); Milvus Lite 3.2.2
        # reads only a JSON "params" key and would silently score with its own k1 = 1.5. Both are sent.
        index.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={**bm25, "params": bm25})
        index.add_index(field_name="vector", index_type=self._vector_index, metric_type="COSINE")
        self._properties = {"hybrid.format": FORMAT, "hybrid.vectors_model": model,
                            "hybrid.bm25": f"{self._bm25[0]!r},{self._bm25[1]!r}",
                            "hybrid.tokenizer": self._tokenizer.signature,
                            "hybrid.df_state": "clean" if self._bulk is None else "dirty"}
        _create(client, self.collection, schema, index, self._properties)
        self._exists = True
        self._create_df()

    def _create_df(self) -> None:
        from pymilvus import DataType

        client = self._client
        if client.has_collection(self.df_collection):
            client.drop_collection(self.df_collection)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("token", DataType.VARCHAR, is_primary=True, max_length=MAX_TOKEN_BYTES)
        schema.add_field("df", DataType.INT64)
        schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
        index = client.prepare_index_params()
        index.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
        _create(client, self.df_collection, schema, index, {})

    def _set_property(self, name: str, value: str) -> None:
        if self._properties.get(name) != value:
            self._client.alter_collection_properties(self.collection, properties={name: value})
            self._properties[name] = value

    # ------------------------------------------------------------------ facts

    @property
    def bm25_params(self) -> tuple[float, float]:
        return self._bm25

    @property
    def vectors_model(self) -> str | None:
        return self._properties.get("hybrid.vectors_model") or None

    @property
    def tokenizer_signature(self) -> str | None:
        return self._properties.get("hybrid.tokenizer") or self._tokenizer.signature

    def __len__(self) -> int:
        count = self._count.get("n")
        if count is None:
            if not self.exists:
                return 0
            count = int(self._client.query(self.collection, filter="", output_fields=["count(*)"])[0]["count(*)"])
            self._count.put("n", count)
        return count

    def describe(self) -> str:
        where = f"Milvus Lite {self.target}" if _is_file(self.target) else f"Milvus {shown(self.target)}"
        return f"{where}, collection {self.collection}"

    # ------------------------------------------------------------------ reading rows

    def _fetch(self, keys: list[int], vectors: bool = False) -> tuple[dict[int, Any], dict[int, np.ndarray]]:
        """Read rows by key into the caches; returns the rows and vectors read, by key (callers use these,
        not the caches: on a slow server the first rows of a large read can expire before the last arrive)."""
        fields = _ROW_FIELDS + (["vector"] if vectors else [])
        rows: dict[int, Any] = {}
        vecs: dict[int, np.ndarray] = {}
        for start in range(0, len(keys), _WRITE_BATCH):
            found = self._remember(self._client.get(self.collection, ids=keys[start:start + _WRITE_BATCH],
                                                    output_fields=fields))
            rows.update(found[0])
            vecs.update(found[1])
        return rows, vecs

    def _remember(self, rows: Iterable[dict]) -> tuple[dict[int, Any], dict[int, np.ndarray]]:
        found: dict[int, Any] = {}
        vecs: dict[int, np.ndarray] = {}
        for row in rows:
            key = int(row["key"])
            entity = row.get("entity", row)
            if "doc_id" in entity:
                doc = Document(entity["doc_id"], entity["text"], entity.get("metadata") or {})
                found[key] = (doc, tuple(entity.get("tokens") or ()))
                self._rows.put(key, found[key])
            if entity.get("vector") is not None:
                vecs[key] = np.asarray(entity["vector"], dtype=np.float32)
                self._vectors.put(key, vecs[key])
        return found, vecs

    def _row(self, key: int) -> tuple[Document, tuple[str, ...]] | None:
        row = self._rows.get(key)
        if row is None:
            row = self._fetch([key])[0].get(key)
        return row

    def _rows_of(self, keys: Sequence[int]) -> list[tuple[Document, tuple[str, ...]]]:
        keys = [int(k) for k in keys]
        rows = {k: self._rows.get(k) for k in keys}
        missing = [k for k, row in rows.items() if row is None]
        if missing:
            rows.update(self._fetch(missing)[0])
        out = []
        for key in keys:
            row = rows.get(key)
            if row is None:
                raise KeyError(f"no document with key {key} in {self.describe()}")
            out.append(row)
        return out

    def key(self, doc_id: str) -> int:
        key = doc_key(doc_id)
        row = self._row(key) if self.exists else None
        if row is None or row[0].id != str(doc_id):
            raise KeyError(f"no document with id {doc_id!r}")
        return key

    def documents(self, keys: Sequence[int]) -> list[Document]:
        return [row[0] for row in self._rows_of(keys)]

    def iter_documents(self) -> Iterator[Document]:
        if not self.exists:
            return
        iterator = self._client.query_iterator(self.collection, batch_size=_WRITE_BATCH, filter="",
                                               output_fields=_ROW_FIELDS)
        try:
            while True:
                batch = iterator.next()
                if not batch:
                    break
                for row in batch:
                    yield Document(row["doc_id"], row["text"], row.get("metadata") or {})
        finally:
            iterator.close()

    def tokens(self, keys: Sequence[int]) -> list[list[str]]:
        """The distinct tokens of each document (Milvus keeps no repeats: BM25 counts them on its side)."""
        return [list(row[1]) for row in self._rows_of(keys)]

    def vectors(self, keys: Sequence[int]) -> np.ndarray:
        keys = [int(k) for k in keys]
        known = {k: self._vectors.get(k) for k in keys}
        missing = [k for k, vector in known.items() if vector is None]
        if missing:
            known.update(self._fetch(missing, vectors=True)[1])
        rows = []
        for key in keys:
            vector = known.get(key)
            if vector is None:
                raise KeyError(f"no document with key {key} in {self.describe()}")
            rows.append(vector)
        return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)

    # ------------------------------------------------------------------ retrieval

    def keyword_search(self, query: str, tokens: Sequence[str], top: int, k1: float, b: float) -> Candidates:
        if not self.exists or not tokens:
            return Candidates.empty()
        result = self._client.search(self.collection, data=[self._tokenizer.normalize(query)], anns_field="sparse",
                                     limit=int(min(top, 16_384)), search_params={"metric_type": "BM25"},
                                     output_fields=_ROW_FIELDS)[0]
        self._remember(result)
        keys = np.fromiter((int(hit["key"]) for hit in result), dtype=np.int64, count=len(result))
        # Milvus Lite reports BM25 negated (a distance); a server reports the score. Scores are always > 0.
        scores = np.abs(np.fromiter((float(hit["distance"]) for hit in result), dtype=np.float64,
                                    count=len(result)))
        return _ordered(keys, scores)

    def vector_search(self, vector: np.ndarray, top: int) -> Candidates:
        if not self.exists:
            return Candidates.empty()
        query = l2_normalize(vector)
        result = self._client.search(self.collection, data=[query.tolist()], anns_field="vector",
                                     limit=int(min(top, 16_384)), search_params={"metric_type": "COSINE"},
                                     output_fields=_ROW_FIELDS)[0]
        self._remember(result)
        keys = np.fromiter((int(hit["key"]) for hit in result), dtype=np.int64, count=len(result))
        scores = np.fromiter((float(hit["distance"]) for hit in result), dtype=np.float64, count=len(result))
        self._last_cosines = (query.tobytes(), dict(zip(keys.tolist(), scores.tolist())))
        return _ordered(keys, scores)

    def vector_search_many(self, vectors: np.ndarray, top: int) -> list[Candidates]:
        return [self.vector_search(vector, top) for vector in vectors]

    def cosines(self, keys: Sequence[int], vector: np.ndarray) -> np.ndarray:
        query = l2_normalize(vector)
        known = self._last_cosines[1] if self._last_cosines[0] == query.tobytes() else {}
        keys = [int(k) for k in keys]
        out = np.empty(len(keys), dtype=np.float64)
        others = [i for i, k in enumerate(keys) if k not in known]
        for i, k in enumerate(keys):
            if k in known:
                out[i] = known[k]  # the score Milvus gave this candidate, so list and explanation agree
        if others:
            out[others] = self.vectors([keys[i] for i in others]) @ query
        return out

    def vector_sample(self, n: int, script: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        # the collection keeps no script per entry: the sample of the whole collection, for every script
        held = self._sample
        if held is None or held[1] != n:
            generation = self._sample_generation
            sample = self._read_sample(n)
            self._keep_sample(generation, n, sample)
            return sample
        if time.monotonic() - held[0] > _SAMPLE_SECONDS and self._sample_refreshing.acquire(blocking=False):
            if self._closed:  # close() waits on this lock, so it sees no re-read start after it
                self._sample_refreshing.release()
            else:
                threading.Thread(target=self._refresh_sample, args=(n,), name="milvus-sample", daemon=True).start()
        return held[2]

    def _keep_sample(self, generation: int, n: int, sample: tuple[np.ndarray, np.ndarray]) -> None:
        """Hold ``sample`` unless the collection changed since its read began (``generation``)."""
        with self._sample_guard:
            if generation == self._sample_generation:
                self._sample = (time.monotonic(), n, sample)

    def _read_sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        rows = (self._client.query(self.collection, filter="", limit=int(min(n, 16_384)),
                                   output_fields=["key", "vector"]) if self.exists else [])
        keys = np.fromiter((int(row["key"]) for row in rows), dtype=np.int64, count=len(rows))
        vectors = (np.asarray([row["vector"] for row in rows], dtype=np.float32) if rows
                   else np.zeros((0, 0), dtype=np.float32))
        return keys, vectors

    def _refresh_sample(self, n: int) -> None:
        """Re-read the sample (other processes may have written); the same rows keep the same arrays, so
        what callers worked out per sample stays valid. After a failure the held sample is kept for
        another ``_SAMPLE_SECONDS``."""
        try:
            generation = self._sample_generation
            held = self._sample
            try:
                keys, vectors = self._read_sample(n)
            except Exception as exc:  # the server is away: keep what is held, try again later
                log.warning("re-reading the vector sample of %s failed (the one held stays in use): %s",
                            self.describe(), exc)
                if held is not None:
                    self._keep_sample(generation, n, held[2])
                return
            if held is not None and held[1] == n and np.array_equal(keys, held[2][0]) \
                    and np.array_equal(vectors, held[2][1]):
                keys, vectors = held[2]
            self._keep_sample(generation, n, (keys, vectors))
        finally:
            self._sample_refreshing.release()

    def doc_freqs(self, tokens: Sequence[str]) -> list[int]:
        wanted = [t for t in dict.fromkeys(tokens) if self._df.get(t) is None]
        if wanted and self.exists:
            found = self._read_df(wanted)
            for token in wanted:
                self._df.put(token, found.get(token, 0))
        return [int(self._df.get(t) or 0) for t in tokens]

    def keyword_statistics(self, tokens: Sequence[str]) -> tuple[int, list[int]]:
        # Milvus's BM25 function counts every entry of the collection
        return len(self), self.doc_freqs(tokens)

    def _read_df(self, tokens: Sequence[str]) -> dict[str, int]:
        tokens = [t for t in tokens if len(t.encode("utf-8")) <= MAX_TOKEN_BYTES]
        found: dict[str, int] = {}
        for start in range(0, len(tokens), _WRITE_BATCH):
            for row in self._client.get(self.df_collection, ids=tokens[start:start + _WRITE_BATCH],
                                        output_fields=["df"]):
                found[row["token"]] = int(row["df"])
        return found

    def matched_tokens(self, key: int, tokens: Sequence[str]) -> tuple[str, ...]:
        row = self._row(int(key))
        present = set(row[1]) if row is not None else set()
        return tuple(dict.fromkeys(t for t in tokens if t in present))

    # ------------------------------------------------------------------ changes

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.describe()} is open read-only")

    def _rows_for(self, documents: Sequence[Document], tokens: Sequence[list[str]],
                  vectors: np.ndarray | None, model: str | None) -> list[dict]:
        if vectors is None or model is None:
            raise StoreError("the Milvus store keeps a vector for every entry: attach an embedding model "
                             "(or give vectors) before indexing")
        if len(vectors) != len(documents) or len(tokens) != len(documents):
            raise ValueError("documents, tokens and vectors differ in length")
        if not self.exists:
            self._create(vectors.shape[1], model)
        elif self.vectors_model != model:
            raise StoreError(f"{self.describe()} holds vectors of {self.vectors_model}, not of {model}: index "
                             "with that model, or into a new collection (--collection)")
        vectors = l2_normalize(vectors)
        rows = []
        for doc, toks, vector in zip(documents, tokens, vectors):
            size = len(doc.text.encode("utf-8"))
            if size > MAX_TEXT_BYTES:
                raise KnowledgeBaseError(f"entry {doc.id!r} is {size:,} bytes; Milvus keeps at most "
                                         f"{MAX_TEXT_BYTES:,}: split long entries (--split-long N)")
            if len(doc.id.encode("utf-8")) > MAX_ID_BYTES:
                raise KnowledgeBaseError(f"entry id {doc.id[:40]!r}... is longer than {MAX_ID_BYTES} bytes")
            distinct = _distinct(toks)
            if len(distinct) > MAX_TOKENS:
                raise KnowledgeBaseError(f"entry {doc.id!r} has {len(distinct):,} distinct words; Milvus keeps "
                                         f"at most {MAX_TOKENS:,} per entry: split long entries (--split-long N)")
            rows.append({"key": doc_key(doc.id), "doc_id": doc.id, "text": doc.text,
                         "search_text": self._tokenizer.normalize(doc.text), "tokens": distinct,
                         "metadata": json.loads(json.dumps(dict(doc.metadata), ensure_ascii=False, default=str)),
                         "vector": vector})  # numpy rows convert several times faster than lists
        return rows

    def add(self, documents: Sequence[Document], tokens: Sequence[list[str]], vectors: np.ndarray | None,
            model: str | None) -> list[int]:
        self._writable()
        rows = self._rows_for(documents, tokens, vectors, model)
        keys = [r["key"] for r in rows]
        with self._lock:
            taken = self._existing(keys)
            if taken:
                raise KnowledgeBaseError(f"document id {next(iter(taken.values()))[0].id!r} is already indexed; "
                                         "use update() to change it")
            with self._df_change() as delta:
                for start in range(0, len(rows), _WRITE_BATCH):
                    self._client.insert(self.collection, rows[start:start + _WRITE_BATCH])
                for row in rows:
                    delta.update(row["tokens"])
            self._after_write(keys)
        return keys

    def put(self, documents: Sequence[Document], tokens: Sequence[list[str]], vectors: np.ndarray,
            model: str) -> list[int]:
        """Add documents or replace those whose id is present (by key), keeping document frequencies right.

        Returns:
            Their keys.
        """
        self._writable()
        rows = self._rows_for(documents, tokens, vectors, model)
        keys = [r["key"] for r in rows]
        with self._lock:
            old = self._existing(keys)
            with self._df_change() as delta:
                # insert is cheaper than upsert (nothing to look up and retire); upsert only replaces
                self._write(self.collection, [r for r in rows if r["key"] not in old], [r for r in rows if r["key"] in old])
                for key, (_, old_tokens) in old.items():
                    delta.subtract(old_tokens)
                for row in rows:
                    delta.update(row["tokens"])
            self._after_write(keys)
        return keys

    def stored_texts(self, doc_ids: Sequence[str]) -> dict[str, str]:
        """The stored text of each id present (to skip unchanged entries when indexing again)."""
        if not self.exists:
            return {}
        keys = [doc_key(i) for i in doc_ids]
        out: dict[str, str] = {}
        for start in range(0, len(keys), _WRITE_BATCH):
            for row in self._client.get(self.collection, ids=keys[start:start + _WRITE_BATCH],
                                        output_fields=["doc_id", "text"]):
                out[row["doc_id"]] = row["text"]
        return out

    def _existing(self, keys: list[int]) -> dict[int, tuple[Document, tuple[str, ...]]]:
        """Rows already stored under ``keys`` (read fresh: the cache may be behind other writers)."""
        self._rows.drop(keys)
        return self._fetch(keys)[0]

    def _after_write(self, keys: Iterable[int]) -> None:
        self._rows.drop(keys)
        self._vectors.drop(keys)
        self._count.clear()
        self._drop_sample()
        self._last_cosines = (b"", {})

    def _drop_sample(self) -> None:
        with self._sample_guard:
            self._sample_generation += 1
            self._sample = None

    def update(self, key: int, document: Document, tokens: list[str], vector: np.ndarray | None) -> None:
        self._writable()
        if int(key) != doc_key(document.id):
            raise ValueError(f"key {key} is not the key of document {document.id!r}")
        if vector is None:
            raise StoreError("the Milvus store keeps a vector for every entry: attach an embedding model first")
        self.put([document], [tokens], np.asarray(vector, dtype=np.float32)[None, :], self.vectors_model or "")

    def remove(self, keys: Sequence[int]) -> None:
        self._writable()
        keys = [int(k) for k in keys]
        with self._lock:
            old = self._existing(keys)
            if len(old) != len(set(keys)):
                missing = sorted(set(keys) - set(old))
                raise KeyError(f"no document with key {missing[0]} in {self.describe()}")
            with self._df_change() as delta:
                self._client.delete(self.collection, ids=keys)
                for _, old_tokens in old.values():
                    delta.subtract(old_tokens)
            self._after_write(keys)

    def reset(self, documents: Sequence[Document], tokens: Sequence[list[str]], vectors: np.ndarray | None,
              model: str | None) -> None:
        self._writable()
        with self._lock:
            for name in (self.collection, self.df_collection):
                if self._client.has_collection(name):
                    self._client.drop_collection(name)
            self._properties, self._exists = {}, False
            for cache in (self._rows, self._vectors, self._df, self._count):
                cache.clear()
            self._drop_sample()
            if documents:
                self.add(documents, tokens, vectors, model)

    def set_vectors(self, vectors: np.ndarray, model: str) -> None:
        if not len(self):
            return  # the collection is created, for this model, with its first entries
        raise StoreError(f"{self.describe()} holds vectors of {self.vectors_model}; to use {model}, index the "
                         "knowledge base again with it: python -m hybrid index --kb FILE --store URI --model ...")

    # ------------------------------------------------------------------ document frequencies

    @contextlib.contextmanager
    def bulk(self) -> Iterator[None]:
        """Hold document-frequency changes back until the block ends, then write them once and flush.

        The collection is marked "dirty" at the block's first write, not before: a block that fails before
        writing anything (input refused while it was read) leaves the collection as it was. If the block fails
        after its first write, the collection stays marked "dirty" and the next ``repair()`` recounts.
        """
        with self._lock:
            if self._bulk is not None:
                yield
                return
            self._bulk = Counter()
            ok = False
            try:
                yield
                ok = True
            finally:
                delta, self._bulk = self._bulk, None
                self._apply_df(delta)
                if self.exists:
                    self._client.flush(self.collection)
                    self._client.flush(self.df_collection)
                if ok and self.exists:  # nothing written into a new collection: nothing was created
                    self._set_property("hybrid.df_state", "clean")

    @contextlib.contextmanager
    def _df_change(self) -> Iterator[Counter]:
        delta: Counter = Counter()
        if self._bulk is not None:
            self._mark_dirty()  # the block's first write marks it (kept: later calls ask Milvus nothing)
            yield delta
            self._bulk.update(delta)  # update() adds negative counts too
            return
        self._mark_dirty()
        yield delta
        self._apply_df(delta)
        self._set_property("hybrid.df_state", "clean")

    def _mark_dirty(self) -> None:
        if self.exists:
            self._set_property("hybrid.df_state", "dirty")

    def _apply_df(self, delta: Counter) -> None:
        changed = {t: n for t, n in delta.items() if n and len(t.encode("utf-8")) <= MAX_TOKEN_BYTES}
        if not changed or not self.exists:
            return
        current = self._read_df(list(changed))
        rows, gone = [], []
        for token, change in changed.items():
            value = current.get(token, 0) + change
            if value > 0:
                rows.append({"token": token, "df": value, "unused": _UNUSED})
            elif token in current:
                gone.append(token)
        self._write(self.df_collection, [r for r in rows if r["token"] not in current],
                    [r for r in rows if r["token"] in current], batch=10 * _WRITE_BATCH)
        for start in range(0, len(gone), 10 * _WRITE_BATCH):
            self._client.delete(self.df_collection, ids=gone[start:start + 10 * _WRITE_BATCH])
        self._df.drop(changed)

    def _write(self, collection: str, new: list[dict], replacing: list[dict], batch: int = _WRITE_BATCH) -> None:
        for start in range(0, len(new), batch):
            self._client.insert(collection, new[start:start + batch])
        for start in range(0, len(replacing), batch):
            self._client.upsert(collection, replacing[start:start + batch])

    @property
    def needs_repair(self) -> bool:
        """Whether an interrupted write left the document frequencies incomplete."""
        return self.exists and self._read_properties().get("hybrid.df_state") == "dirty"

    def repair(self) -> int:
        """Recount every token's document frequency from the stored entries.

        Returns:
            The number of entries read.
        """
        self._writable()
        with self._lock:
            self._properties = self._read_properties()
            counts: Counter = Counter()
            seen = 0
            iterator = self._client.query_iterator(self.collection, batch_size=_WRITE_BATCH, filter="",
                                                   output_fields=["tokens"])
            try:
                while batch := iterator.next():
                    for row in batch:
                        counts.update(row.get("tokens") or ())
                    seen += len(batch)
            finally:
                iterator.close()
            self._create_df()
            self._apply_df(counts)
            self._client.flush(self.df_collection)
            self._set_property("hybrid.df_state", "clean")
            self._df.clear()
            return seen

    # ------------------------------------------------------------------ closing

    def flush(self) -> None:
        """Seal what was written into segments (Milvus Lite searches sealed segments far faster)."""
        if self.exists:
            self._client.flush(self.collection)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # no re-read of the sample starts from now
        self._drop_sample()
        with self._sample_refreshing:  # one in flight ends before the client does
            pass
        try:
            self._client.close()
        finally:
            if _is_file(self.target):
                _LITE.release(self.target)


def _create(client: Any, name: str, schema: Any, index: Any, properties: dict[str, str]) -> None:
    """Create and load a collection. The index is created without waiting on it (Milvus Lite cannot be
    asked for the time stamp that waiting needs; an empty collection's index is ready at once anyway)."""
    client.create_collection(name, schema=schema, properties=properties)
    client.create_index(name, index, sync=False)
    client.load_collection(name)


def _distinct(tokens: Sequence[str]) -> list[str]:
    return [t for t in dict.fromkeys(tokens) if len(t.encode("utf-8")) <= MAX_TOKEN_BYTES]


def _ordered(keys: np.ndarray, scores: np.ndarray) -> Candidates:
    """Candidates best first, ties by key (as the in-memory store breaks them by position)."""
    order = np.lexsort((keys, -scores))
    return Candidates(keys[order], scores[order])
