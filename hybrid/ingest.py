"""Large knowledge bases in: entries streamed from files, embedded and written to a store in batches, resumable.

Entries keep stable ids; vectors come through the embedding cache or from ``hybrid embed`` output.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import time
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from .cache import EmbeddingCache, embed_with_cache, model_key
from .kb import (BIG5_LEAD, SUPPORTED_SUFFIXES, Document, KnowledgeBaseError, common_share, csv_columns,
                 split_sentences)
from .tokenize import Tokenizer

log = logging.getLogger(__name__)

VECTORS_SUFFIX = ".parquet"
SOURCE_SUFFIXES = (*SUPPORTED_SUFFIXES, VECTORS_SUFFIX)
_PROBE_BYTES = 1 << 20


@dataclass(frozen=True)
class Record:
    """One entry on its way into a store.

    Attributes:
        document: id, text and metadata.
        vector: its embedding when the source had one (``hybrid embed`` output), else None.
        model: the model key of that vector (``hybrid.cache.model_key``), else None.
    """

    document: Document
    vector: np.ndarray | None = None
    model: str | None = None


@dataclass(frozen=True)
class IndexReport:
    """What one ``index_records`` run did.

    Attributes:
        read: entries read from the sources.
        added, updated: entries written as new / over an entry with the same id and another text.
        unchanged: entries already stored with the same text (skipped: nothing embedded or written).
        embedded: entries the model embedded in this run (cache misses).
        seconds: wall time.
    """

    read: int
    added: int
    updated: int
    unchanged: int
    embedded: int
    seconds: float

    @property
    def entries_per_s(self) -> float:
        """Entries read per second."""
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line for people."""
        return (f"{self.read:,} entries in {self.seconds:.1f} s ({self.entries_per_s:,.1f} entries/s): "
                f"{self.added:,} added, {self.updated:,} updated, {self.unchanged:,} unchanged; "
                f"{self.embedded:,} embedded")


# ---------------------------------------------------------------------------------------------- reading


def source_files(path: str | Path) -> list[tuple[Path, str]]:
    """The files of a source and the name each one's ids start with.

    Args:
        path: one file, or a folder (every supported file below it, sorted; ids use the relative path).
    Returns:
        ``(file, name)`` pairs.
    Raises:
        KnowledgeBaseError: a missing path, an unsupported file, or a folder with no supported file.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES
                       and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise KnowledgeBaseError(f"{path} holds no {', '.join(SOURCE_SUFFIXES)} files")
        return [(p, p.relative_to(path).as_posix()) for p in files]
    if not path.exists():
        raise KnowledgeBaseError(f"{path} does not exist")
    if path.suffix.lower() not in SOURCE_SUFFIXES:
        raise KnowledgeBaseError(f"{path.name}: unsupported file type {path.suffix or '(none)'}; "
                                 f"use one of {', '.join(SOURCE_SUFFIXES)}")
    return [(path, path.name)]


def no_entries(path: str | Path) -> KnowledgeBaseError:
    """The error for a knowledge base without a single entry (an empty or blank file, a header-only csv)."""
    return KnowledgeBaseError(f"{path} holds no entries: one entry per line (.txt/.md), rows under a header "
                              "naming text (.csv), or objects with text (.jsonl)")


def not_empty(items: Iterator[Any], path: str | Path) -> Iterator[Any]:
    """``items`` (entries or records read from ``path``), its first read at once: input refused there (empty,
    bad csv, bad encoding) raises here, before anything is written or loaded.

    Raises:
        KnowledgeBaseError: ``path`` holds no entries (``no_entries``), or its first entry cannot be read.
    """
    first = next(items, None)
    if first is None:
        raise no_entries(path)
    return chain([first], items)


def _decodes(path: Path, encoding: str) -> bool:
    """Whether the whole file decodes in ``encoding`` (read in blocks)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as f:
            while block := f.read(_PROBE_BYTES):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes so, else GB18030, or Big5 (cp950) when the file is
    valid Big5 and its first block reads as Big5 by ``kb.decode_bytes``'s rule."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while block := f.read(_PROBE_BYTES):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        pass
    gb18030, big5 = _decodes(path, "gb18030"), _decodes(path, "cp950")
    if big5:
        with open(path, "rb") as f:
            head = f.read(_PROBE_BYTES)
        if gb18030:
            as_gb = codecs.getincrementaldecoder("gb18030")().decode(head)
            as_big5 = codecs.getincrementaldecoder("cp950")().decode(head)
            return "cp950" if common_share(as_big5, "cp950") > common_share(as_gb, "gb2312") + BIG5_LEAD \
                else "gb18030"
        return "cp950"
    if gb18030:
        return "gb18030"
    raise KnowledgeBaseError(f"{path.name}: cannot decode as UTF-8, GBK/GB18030 or Big5. Save it as UTF-8.")


def _pieces(text: str, split_long: int) -> list[str]:
    return split_sentences(text, split_long) if split_long > 0 else ([text] if text else [])


def _documents(name: str, where: int, text: str, split_long: int, doc_id: str | None = None,
               metadata: dict | None = None) -> Iterator[Document]:
    """The entries of one line/row: ``name:where`` (or its own id), ``#n`` after the id of the n-th sentence."""
    base = doc_id if doc_id is not None else f"{name}:{where}"
    for n, piece in enumerate(_pieces(text, split_long)):
        yield Document(base if n == 0 else f"{base}#{n}", piece, dict(metadata or {}))


def _text_entries(path: Path, name: str, split_long: int) -> Iterator[Document]:
    with open(path, encoding=_encoding(path), newline="") as f:
        for number, line in enumerate(f, 1):
            yield from _documents(name, number, line.strip(), split_long)


def _csv_entries(path: Path, name: str, split_long: int) -> Iterator[Document]:
    with open(path, encoding=_encoding(path), newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None:
            return
        text_col, id_col, others = csv_columns(header, name)
        for number, row in enumerate(rows, 1):
            if len(row) <= text_col:
                continue
            doc_id = row[id_col].strip() if id_col is not None and len(row) > id_col and row[id_col].strip() else None
            metadata = {key: row[i] for i, key in others if i < len(row) and row[i] != ""}
            yield from _documents(name, number, " ".join(row[text_col].split()), split_long, doc_id, metadata)


def _jsonl_entries(path: Path, name: str, split_long: int) -> Iterator[Document]:
    with open(path, encoding=_encoding(path)) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise KnowledgeBaseError(f"{name} line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise KnowledgeBaseError(f'{name} line {number}: expected an object with a "text" string')
            metadata = {k: v for k, v in record.items() if k not in ("id", "text", "metadata")}
            if isinstance(record.get("metadata"), dict):
                metadata.update(record["metadata"])
            doc_id = str(record["id"]) if record.get("id") not in (None, "") else None
            yield from _documents(name, number, " ".join(record["text"].split()), split_long, doc_id, metadata)


_READERS = {".txt": _text_entries, ".md": _text_entries, ".csv": _csv_entries, ".jsonl": _jsonl_entries}


def iter_entries(path: str | Path, split_long: int = 0) -> Iterator[Document]:
    """Stream the entries of a knowledge-base file or folder, each with a stable id.

    Ids: the ``id`` field or column when the entry has one, else ``NAME:LINE`` (``NAME:ROW`` for csv), where
    NAME is the file name (the path relative to the folder for a folder), so re-reading the same files gives
    the same ids and an edited line keeps its id. A sentence cut from a long entry gets ``#n`` after its id.
    Parquet files (``hybrid embed`` output) are skipped here; ``iter_records`` reads them.

    Args:
        path: a .txt/.md/.csv/.jsonl file or a folder of them.
        split_long: cut entries longer than this many characters into sentences (0: never).
    Raises:
        KnowledgeBaseError: missing path, bad encoding, malformed JSON line, an id given twice.
    """
    seen: set[str] = set()
    for file, name in source_files(path):
        reader = _READERS.get(file.suffix.lower())
        if reader is not None:
            for doc in reader(file, name, split_long):
                _once(doc.id, name, seen)
                yield doc


def iter_records(path: str | Path, split_long: int = 0, batch_rows: int = 1024) -> Iterator[Record]:
    """Stream entries as ``iter_entries`` does, plus the rows of ``hybrid embed`` Parquet files with their vectors.

    Raises:
        KnowledgeBaseError: as ``iter_entries``, and an id given twice.
    """
    seen: set[str] = set()
    for file, name in source_files(path):
        if file.suffix.lower() == VECTORS_SUFFIX:
            records = read_vectors(file, batch_rows)
        else:
            records = (Record(doc) for doc in _READERS[file.suffix.lower()](file, name, split_long))
        for record in records:
            _once(record.document.id, name, seen)
            yield record


def _once(doc_id: str, name: str, seen: set[str]) -> None:
    """Refuse an id met before (a store keeps one entry per id: the second would replace the first unseen)."""
    if doc_id in seen:
        raise KnowledgeBaseError(f"{name}: the id {doc_id!r} is used twice; give every entry its own id (an entry "
                                 "without one gets FILE:LINE)")
    seen.add(doc_id)


def count_entries(path: str | Path) -> int:
    """A quick count for progress bars: non-blank lines of text files, rows of Parquet files (exact unless
    entries get split into sentences or csv fields span lines)."""
    total = 0
    for file, _ in source_files(path):
        if file.suffix.lower() == VECTORS_SUFFIX:
            import pyarrow.parquet as pq

            total += pq.ParquetFile(file).metadata.num_rows
            continue
        with open(file, "rb") as f:
            total += sum(1 for line in f if line.strip())
        if file.suffix.lower() == ".csv":
            total -= 1  # the header (or, without one, a close enough guess)
    return max(total, 0)


# ---------------------------------------------------------------------------------------------- vectors files

VECTOR_COLUMNS = ("id", "text", "metadata", "model", "vector")


def vectors_table(documents: Sequence[Document], vectors: np.ndarray, model: str):
    """A ``pyarrow.Table`` of documents with their vectors, the layout ``hybrid embed`` writes.

    Columns: id, text, metadata (JSON text), model (the model key), vector (fixed-size list of float32).
    """
    import pyarrow as pa

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    return pa.table({
        "id": pa.array([d.id for d in documents], type=pa.string()),
        "text": pa.array([d.text for d in documents], type=pa.string()),
        "metadata": pa.array([json.dumps(dict(d.metadata), ensure_ascii=False, default=str) for d in documents],
                             type=pa.string()),
        "model": pa.array([model] * len(documents), type=pa.string()),
        "vector": pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1] if vectors.ndim == 2 else 0),
    })


def read_vectors(path: str | Path, batch_rows: int = 1024) -> Iterator[Record]:
    """The records of one Parquet file written by ``hybrid embed`` (locally or on Ray)."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    missing = [c for c in VECTOR_COLUMNS if c not in file.schema_arrow.names]
    if missing:
        raise KnowledgeBaseError(f"{Path(path).name} is not `hybrid embed` output (no {', '.join(missing)} column)")
    for batch in file.iter_batches(batch_size=batch_rows, columns=list(VECTOR_COLUMNS)):
        if batch.num_rows == 0:
            continue
        vectors = _matrix(batch.column("vector"))
        ids, texts = batch.column("id").to_pylist(), batch.column("text").to_pylist()
        metas, models = batch.column("metadata").to_pylist(), batch.column("model").to_pylist()
        for i, (doc_id, text) in enumerate(zip(ids, texts)):
            metadata = json.loads(metas[i]) if metas[i] else {}
            yield Record(Document(str(doc_id), text, metadata), vectors[i], models[i])


def _matrix(column) -> np.ndarray:
    """A list / fixed-size-list column of floats as a 2-d float32 array."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    values = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
    rows = len(column)
    return values.reshape(rows, -1) if rows else values.reshape(0, 0)


# ---------------------------------------------------------------------------------------------- writing


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def index_records(store: Any, records: Iterable[Record], tokenizer: Tokenizer, embedder: Any = None,
                  cache: EmbeddingCache | None = None, batch_size: int = 256, total: int | None = None,
                  progress: bool = True) -> IndexReport:
    """Write records into a store that can ``put`` (the Milvus store), skipping entries stored unchanged.

    Each batch: ids already stored with the same text are skipped; the others are embedded (their own
    vector when the record has one, else the model through the cache), tokenised and written by id, so an
    interrupted run started again continues where it stopped without duplicating anything.

    Args:
        store: e.g. ``MilvusStore`` (needs ``put``, ``stored_texts``, ``bulk``, ``needs_repair``, ``repair``).
        records: from ``iter_records``.
        tokenizer: the engine's tokenizer (the store checks it is the collection's).
        embedder: for records without a vector; None when every record has one.
        cache: embedding cache for the embedder (None: embed without caching).
        batch_size: entries per batch (embedded and written together).
        total: expected entry count for the progress bar.
        progress: show a tqdm progress bar on stderr.
    Returns:
        IndexReport.
    Raises:
        KnowledgeBaseError: a record without a vector and no embedder; vectors of two models; input refused
            while read (the store is unchanged when that happens before the first write, else it is marked
            for a recount and the message says so).
        StoreError: the store refuses (read-only, another model, another tokenizer).
    """
    from tqdm import tqdm

    started = time.perf_counter()
    if store.needs_repair:
        log.warning("%s: a previous write was interrupted; recounting document frequencies", store.describe())
        store.repair()
    model = model_key(embedder) if embedder is not None else None
    read = added = updated = unchanged = embedded = 0
    bar = tqdm(total=total, unit="entries", desc="indexing", disable=not progress, dynamic_ncols=True)
    try:
        with store.bulk():
            for batch in batched(records, batch_size):
                read += len(batch)
                latest = {r.document.id: r for r in batch}  # an id repeated in the input: the last one wins
                stored = store.stored_texts(list(latest))
                todo = [r for r in latest.values() if stored.get(r.document.id) != r.document.text]
                unchanged += len(batch) - len(todo)
                if todo:
                    model, vectors, new = _vectors(todo, embedder, cache, model)
                    embedded += new
                    docs = [r.document for r in todo]
                    store.put(docs, tokenizer.tokenize_many([d.text for d in docs]), vectors, model)
                    changed = sum(1 for d in docs if d.id in stored)
                    updated += changed
                    added += len(docs) - changed
                bar.update(len(batch))
                bar.set_postfix(added=added, updated=updated, unchanged=unchanged, refresh=False)
    except KnowledgeBaseError as exc:
        if not added + updated:
            raise  # refused before anything was written: the store is as it was
        raise KnowledgeBaseError(
            f"{exc}. Indexing stopped there after writing {added + updated:,} entries, so the collection is "
            "marked as an interrupted write (its document frequencies are recounted on the next index run): fix "
            "the input and run the same index command again (entries already stored are skipped)") from None
    finally:
        bar.close()
    return IndexReport(read, added, updated, unchanged, embedded, time.perf_counter() - started)


def _vectors(records: list[Record], embedder: Any, cache: EmbeddingCache | None,
             model: str | None) -> tuple[str, np.ndarray, int]:
    """(model key, vectors, how many the model embedded) for a batch."""
    models = {r.model for r in records if r.vector is not None} | ({model} if model else set())
    if len(models) > 1:
        raise KnowledgeBaseError(f"vectors of several models ({', '.join(sorted(map(str, models)))}) cannot share "
                                 "a collection: embed every entry with one model")
    model = next(iter(models), None)
    missing = [i for i, r in enumerate(records) if r.vector is None]
    if missing and embedder is None:
        raise KnowledgeBaseError(f"entry {records[missing[0]].document.id!r} has no vector: name an embedding "
                                 "model (--model) or index `hybrid embed` output")
    rows: list[np.ndarray | None] = [r.vector for r in records]
    if missing:
        texts = [records[i].document.text for i in missing]
        vectors = (embed_with_cache(embedder, texts, cache) if cache is not None
                   else embedder.encode_documents(texts))
        for i, vector in zip(missing, vectors):
            rows[i] = vector
    return str(model), np.asarray(rows, dtype=np.float32), len(missing)


def remove_ids(store: Any, doc_ids: Sequence[str]) -> int:
    """Delete entries by id from a store; returns how many.

    Raises:
        KeyError: an id that is not stored (nothing is removed then).
    """
    keys = [store.key(doc_id) for doc_id in dict.fromkeys(doc_ids)]
    if keys:
        store.remove(keys)
    return len(keys)
