"""Batch embedding of a large corpus into Parquet files that ``hybrid index`` loads without re-embedding.

It runs here through the embedding cache, or on a Ray cluster with Ray Data (the optional ``scale`` extra).
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cache import EmbeddingCache, embed_with_cache, model_key
from .ingest import batched, count_entries, iter_entries, not_empty, vectors_table

log = logging.getLogger(__name__)

PART_ROWS = 100_000  # rows per Parquet file written here, and per input shard handed to Ray
_INPUT = "_input"


@dataclass(frozen=True)
class EmbedReport:
    """What one embedding run wrote.

    Attributes:
        entries: rows written.
        files: the Parquet files.
        model: the model key of the vectors.
        seconds: wall time.
    """

    entries: int
    files: tuple[str, ...]
    model: str
    seconds: float

    def summary(self) -> str:
        """One line for people."""
        rate = self.entries / self.seconds if self.seconds > 0 else 0.0
        return (f"{self.entries:,} entries embedded with {self.model} in {self.seconds:.1f} s ({rate:,.1f} entries/s) "
                f"into {len(self.files)} Parquet file(s)")


def _fresh_folder(out: Path, overwrite: bool) -> None:
    """Create ``out``; Parquet files already there are an error, or removed with ``overwrite``."""
    out.mkdir(parents=True, exist_ok=True)
    old = sorted(out.glob("*.parquet"))
    if old and not overwrite:
        raise FileExistsError(f"{out} already holds {len(old)} Parquet file(s); choose an empty folder or "
                              "replace them (--overwrite)")
    for path in old:
        path.unlink()
    shutil.rmtree(out / _INPUT, ignore_errors=True)


def embed_local(source: str | Path, out: str | Path, embedder: Any, cache: EmbeddingCache | None = None,
                batch_size: int = 256, split_long: int = 0, part_rows: int = PART_ROWS,
                progress: bool = True, overwrite: bool = False) -> EmbedReport:
    """Embed every entry of ``source`` in this process and write ``out/part-NNNNN.parquet``.

    Args:
        source: a knowledge-base file or folder (as ``hybrid.ingest.iter_entries``).
        out: the output folder.
        embedder: the model.
        cache: embedding cache (entries embedded before are read from it; new vectors are stored).
        batch_size: entries per model call.
        split_long: cut entries longer than this many characters into sentences (0: never).
        part_rows: rows per Parquet file.
        progress: show a progress bar.
        overwrite: replace Parquet files already in ``out`` (else they are an error).
    Returns:
        EmbedReport.
    Raises:
        KnowledgeBaseError: ``source`` holds no entries, or cannot be read (refused before ``out`` is touched
            when its first entry shows it).
        FileExistsError: ``out`` holds Parquet files and ``overwrite`` is False.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    from tqdm import tqdm

    started = time.perf_counter()
    entries = not_empty(iter_entries(source, split_long), source)
    out = Path(out)
    _fresh_folder(out, overwrite)
    key = model_key(embedder)
    files, written = [], 0
    bar = tqdm(total=count_entries(source), unit="entries", desc="embedding", disable=not progress,
               dynamic_ncols=True)
    try:
        for part in batched(entries, part_rows):
            tables = []
            for chunk in batched(part, batch_size):
                texts = [d.text for d in chunk]
                vectors = (embed_with_cache(embedder, texts, cache) if cache is not None
                           else embedder.encode_documents(texts))
                tables.append(vectors_table(chunk, vectors, key))
                bar.update(len(chunk))
            path = out / f"part-{len(files):05d}.parquet"
            pq.write_table(pa.concat_tables(tables), path)
            files.append(str(path))
            written += len(part)
    finally:
        bar.close()
    return EmbedReport(written, tuple(files), key, time.perf_counter() - started)


class RayEmbedder:
    """The Ray Data actor: loads the model once, then embeds one Arrow batch per call.

    Args:
        model, device, document_prompt: as for ``hybrid.semantic.load_embedder`` (on a GPU actor
            ``device="auto"`` finds the GPU Ray assigned to it).
    """

    def __init__(self, model: str = "auto", device: str = "auto", document_prompt: str | None = None) -> None:
        from .semantic import load_embedder

        options = {} if document_prompt is None else {"document_prompt": document_prompt}
        self.embedder = load_embedder(model, device=device, **options).embedder
        self.model = model_key(self.embedder)

    def __call__(self, batch):
        import pyarrow as pa

        from .kb import Document

        texts = batch.column("text").to_pylist()
        vectors = self.embedder.encode_documents(texts)
        docs = [Document(i, t) for i, t in zip(batch.column("id").to_pylist(), texts)]
        table = vectors_table(docs, vectors, self.model)
        return table.set_column(table.schema.get_field_index("metadata"), "metadata",
                                batch.column("metadata").cast(pa.string()))


def embed_ray(source: str | Path, out: str | Path, model: str = "auto", device: str = "auto",
              document_prompt: str | None = None, batch_size: int = 64, num_gpus: float = 0.0,
              concurrency: int = 1, address: str | None = None, split_long: int = 0,
              shard_rows: int = PART_ROWS, overwrite: bool = False) -> EmbedReport:
    """Embed every entry of ``source`` with Ray Data: ``map_batches`` over ``RayEmbedder`` actors.

    The entries are first written as Parquet shards into ``out/_input`` (removed at the end), so ``out`` must
    be storage every Ray node can read (shared disk) on a multi-node cluster.

    Args:
        source: a knowledge-base file or folder.
        out: the output folder.
        model, device, document_prompt: the model each actor loads.
        batch_size: entries per model call.
        num_gpus: GPUs per actor (1 = one actor per GPU; 0 on CPU).
        concurrency: how many actors (e.g. the cluster's GPU count).
        address: a running cluster (``auto`` or ``ray://host:10001``); None starts Ray on this machine.
        split_long, overwrite: as for ``embed_local``.
        shard_rows: rows per input shard (one Ray read task each).
    Returns:
        EmbedReport.
    Raises:
        ImportError: Ray is not installed (``pip install 'hybrid-search[scale]'``).
        KnowledgeBaseError, FileExistsError: as for ``embed_local``.
    """
    try:
        import ray
    except ImportError as exc:
        raise ImportError("--ray needs Ray Data: pip install 'hybrid-search[scale]' (or ray[data])") from exc
    import pyarrow as pa
    import pyarrow.parquet as pq

    started = time.perf_counter()
    entries = not_empty(iter_entries(source, split_long), source)
    out = Path(out)
    _fresh_folder(out, overwrite)
    shards = out / _INPUT
    shards.mkdir()
    for n, part in enumerate(batched(entries, shard_rows)):
        pq.write_table(pa.table({"id": [d.id for d in part], "text": [d.text for d in part],
                                 "metadata": [_json(d.metadata) for d in part]}), shards / f"shard-{n:05d}.parquet")
    started_here = not ray.is_initialized()
    if started_here:
        import hybrid

        options: dict[str, Any] = {"address": address, "include_dashboard": False, "logging_level": logging.WARNING,
                                   "runtime_env": {"py_modules": [str(Path(hybrid.__file__).parent)]}}
        if address is None:
            options["object_store_memory"] = 512 * 1024 * 1024  # plenty for text and 384-4096-d vectors
        ray.init(**options)
    try:
        dataset = ray.data.read_parquet(str(shards)).map_batches(
            RayEmbedder, fn_constructor_kwargs={"model": model, "device": device, "document_prompt": document_prompt},
            batch_size=batch_size, batch_format="pyarrow", num_gpus=num_gpus or None, concurrency=concurrency)
        dataset.write_parquet(str(out))
    finally:
        if started_here:
            ray.shutdown()
        shutil.rmtree(shards, ignore_errors=True)
    files = sorted(str(p) for p in out.glob("*.parquet"))
    entries = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    key = pq.read_table(files[0], columns=["model"]).column("model")[0].as_py() if files else ""
    return EmbedReport(entries, tuple(files), key, time.perf_counter() - started)


def _json(metadata: Any) -> str:
    import json

    return json.dumps(dict(metadata), ensure_ascii=False, default=str)
