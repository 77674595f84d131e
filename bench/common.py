"""Benchmark helpers: generated and real Chinese corpora, timing, latency percentiles, memory and reporting."""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import statistics
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The labelled sets live beside the repository (never inside it); real-text corpora are read from there.
DATASETS = Path(os.environ.get("HYBRID_DATASETS", ROOT.parent / "shared" / "datasets"))
if str(ROOT) not in sys.path:  # run as `python bench/x.py` as well as `python -m bench.x`
    sys.path.insert(0, str(ROOT))

from hybrid.tokenize import _is_content, load_stopwords  # noqa: E402


@dataclass(frozen=True)
class Vocabulary:
    """Dictionary words and their sampling probabilities (jieba's corpus frequencies, a Zipf-like law)."""

    words: list[str]
    probabilities: np.ndarray


def jieba_dictionary() -> Path:
    """Path of the dictionary shipped inside the jieba package (word, frequency, part of speech)."""
    import jieba

    return Path(jieba.__file__).parent / "dict.txt"


def load_vocabulary() -> Vocabulary:
    """jieba's dictionary words that survive the search tokenizer (no stopwords, no punctuation, lowercase).

    Returns:
        Words sorted by frequency, most frequent first, with probabilities proportional to frequency.
    """
    stop = load_stopwords()
    seen: dict[str, int] = {}
    for line in jieba_dictionary().read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        word, freq = parts[0].lower(), int(parts[1])
        if freq <= 0 or word in stop or not _is_content(word) or not word.isalnum():
            continue
        seen[word] = seen.get(word, 0) + freq
    ranked = sorted(seen.items(), key=lambda item: -item[1])
    freqs = np.array([f for _, f in ranked], dtype=np.float64)
    return Vocabulary([w for w, _ in ranked], freqs / freqs.sum())


def sample_documents(vocab: Vocabulary, n_docs: int, seed: int = 0, median_words: int = 30,
                     max_words: int = 300) -> list[list[str]]:
    """Documents as word lists: lengths log-normal around ``median_words``, words drawn by frequency.

    Args:
        vocab: from ``load_vocabulary``.
        n_docs: number of documents.
        seed: random seed.
        median_words: median document length in words.
        max_words: longest document.
    Returns:
        One word list per document.
    """
    rng = np.random.default_rng(seed)
    lengths = np.clip(np.rint(rng.lognormal(np.log(median_words), 0.6, n_docs)), 3, max_words).astype(np.int64)
    cdf = np.cumsum(vocab.probabilities)
    ids = np.searchsorted(cdf, rng.random(int(lengths.sum())) * cdf[-1], side="right")
    ids = np.minimum(ids, len(vocab.words) - 1)
    words = vocab.words
    flat = [words[i] for i in ids.tolist()]
    out, start = [], 0
    for length in lengths.tolist():
        out.append(flat[start:start + length])
        start += length
    return out


def sample_queries(vocab: Vocabulary, n_queries: int, seed: int = 1, min_words: int = 2,
                   max_words: int = 6) -> list[list[str]]:
    """Queries of ``min_words``..``max_words`` distinct words drawn by frequency, like the documents."""
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(vocab.probabilities)
    queries = []
    for _ in range(n_queries):
        size = int(rng.integers(min_words, max_words + 1))
        ids = np.minimum(np.searchsorted(cdf, rng.random(size * 2) * cdf[-1], side="right"), len(cdf) - 1)
        words = list(dict.fromkeys(vocab.words[i] for i in ids.tolist()))[:size]
        queries.append(words)
    return queries


def to_text(words: Sequence[str], rng: np.random.Generator) -> str:
    """Words joined into Chinese prose: no spaces, a comma every few words, a full stop at the end."""
    parts, clause = [], 0
    for word in words:
        parts.append(word)
        clause += 1
        if clause >= 4 and rng.random() < 0.3:
            parts.append("，")
            clause = 0
    return "".join(parts).rstrip("，") + "。"


def sample_texts(vocab: Vocabulary, n_docs: int, seed: int = 0) -> list[str]:
    """``n_docs`` Chinese texts made of ``sample_documents`` word lists."""
    rng = np.random.default_rng(seed + 7)
    return [to_text(words, rng) for words in sample_documents(vocab, n_docs, seed=seed)]


class RandomEmbedder:
    """A stand-in embedding model returning random unit vectors, deterministic per text (queries) or per
    batch (documents), optionally shaped like a real model's (``VectorShape``).

    The engine never looks inside vectors, so search speed is the speed with a real model's vectors of the
    same shape; isotropic random vectors are the hardest case for structure-based indexes, model-shaped
    ones for bounds-based pruning.
    """

    backend = "bench"
    device = "cpu"
    dtype = "float32"
    max_tokens = 512
    query_instruction = None

    def __init__(self, dimension: int = 384, seed: int = 0, documents: "VectorShape | None" = None,
                 queries: "VectorShape | None" = None) -> None:
        self.name = f"random-unit-{dimension}" if documents is None else f"model-shaped-{dimension}"
        self.dimension = dimension
        self.seed = seed
        self.shapes = (documents, queries)
        self.documents_embedded = 0

    def _draw(self, n: int, seed: int, shape: "VectorShape | None") -> np.ndarray:
        if shape is None:
            return random_unit_vectors(n, self.dimension, seed=seed)
        return shape.draw(n, seed)

    def encode_documents(self, texts: Sequence[str], progress=None) -> np.ndarray:
        self.documents_embedded += len(texts)
        key = zlib.crc32("\x00".join(texts[:3]).encode("utf-8")) ^ len(texts)
        out = self._draw(len(texts), self.seed * 1_000_003 + key, self.shapes[0])
        if progress is not None:
            progress(len(texts), len(texts))
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        rows = [self._draw(1, self.seed * 1_000_003 + zlib.crc32(t.encode("utf-8")), self.shapes[1]) for t in texts]
        return np.concatenate(rows) if rows else np.zeros((0, self.dimension), dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t) for t in texts]


class VectorShape:
    """A Gaussian with the mean and covariance of a sample of real embeddings; draws unit vectors from it.

    Real embeddings are anisotropic: e5's share one large direction (cosines of unrelated texts sit near
    0.8) and spread little around it. Such vectors are the hard case for bounds-based pruning (the int8
    pre-scan), while isotropic random vectors are the hard case for structure-based indexes.
    """

    def __init__(self, sample: np.ndarray) -> None:
        sample = np.asarray(sample, dtype=np.float64)
        self.mean = sample.mean(axis=0)
        self.factor = np.linalg.cholesky(np.cov(sample.T) + 1e-9 * np.eye(sample.shape[1]))

    def draw(self, n: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.mean.shape[0]), dtype=np.float32)
        for start in range(0, n, 65536):
            size = min(65536, n - start)
            block = self.mean + rng.standard_normal((size, self.mean.shape[0])) @ self.factor.T
            out[start:start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out


def random_unit_vectors(n: int, dimension: int, seed: int = 0) -> np.ndarray:
    """``n`` random float32 unit vectors (the worst case for any index: no structure to exploit)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dimension), dtype=np.float32)
    for start in range(0, n, 65536):
        block = rng.standard_normal((min(65536, n - start), dimension), dtype=np.float32)
        out[start:start + block.shape[0]] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


# ------------------------------------------------------------------------------------------- real text


def _jsonl_texts(path: Path) -> list[str]:
    return [json.loads(line)["text"].strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def real_text_pool(datasets: Path = DATASETS) -> tuple[list[str], list[str]]:
    """(titles, sentences): qbqtc page titles (both sets) and cmrc2018 paragraph sentences.

    Raises:
        SystemExit: the labelled sets are not there (say where they were looked for).
    """
    needed = [datasets / s / "corpus.jsonl" for s in ("qbqtc-dev", "qbqtc-test_public", "cmrc2018-dev")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise SystemExit(f"real-text corpora need the labelled sets; missing: {', '.join(missing)} "
                         "(set HYBRID_DATASETS to the folder holding them, or use the generated corpus)")
    titles = _jsonl_texts(needed[0]) + _jsonl_texts(needed[1])
    sentences = [s.strip() for text in _jsonl_texts(needed[2]) for s in re.split(r"(?<=[。！？；])", text)
                 if len(s.strip()) >= 8]
    return titles, sentences


def real_texts(n_docs: int, seed: int = 0, datasets: Path = DATASETS) -> list[str]:
    """``n_docs`` entries of real Chinese text: a qbqtc title, then one or two cmrc2018 sentences.

    The pools hold about 24k titles and 10k sentences, so any size up to millions has real words in real
    proportions and real co-occurrences (about 70 to 110 characters, 40 search tokens an entry).
    """
    titles, sentences = real_text_pool(datasets)
    rng = np.random.default_rng(seed)
    t = rng.integers(len(titles), size=n_docs).tolist()
    s = rng.integers(len(sentences), size=(n_docs, 2)).tolist()
    two = (rng.random(n_docs) < 0.5).tolist()
    return [f"{titles[a]}。{sentences[b[0]]}{sentences[b[1]] if both else ''}" for a, b, both in zip(t, s, two)]


def real_queries(n_queries: int, datasets: Path = DATASETS, name: str = "qbqtc-dev") -> list[str]:
    """The first ``n_queries`` queries of a labelled set (real search-engine queries by default)."""
    path = datasets / name / "queries.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} is missing (set HYBRID_DATASETS, or use the generated corpus)")
    return _jsonl_texts(path)[:n_queries]


# ------------------------------------------------------------------------------------------- measuring


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def latency(ms: Sequence[float]) -> dict[str, float]:
    """p50, p90 and p99 of per-call milliseconds."""
    values = np.asarray(ms, dtype=np.float64)
    if values.size == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0}
    return {f"p{q}": float(np.percentile(values, q)) for q in (50, 90, 99)}


def rss_mb() -> float:
    """Resident memory of this process now, in MiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def interleaved(calls: dict[str, Callable[[object], object]], inputs: Sequence[object],
                rounds: int = 1) -> dict[str, list[float]]:
    """Milliseconds of every call on every input, the calls taking turns on each input.

    Taking turns input by input means a burst of load from other jobs hits every contender alike, so the
    ratio of their medians holds even on a busy machine. Each call runs once untimed first (warm-up).
    """
    for fn in calls.values():
        fn(inputs[0])
    out: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for item in inputs:
            for name, fn in calls.items():
                tick = time.perf_counter()
                fn(item)
                out[name].append((time.perf_counter() - tick) * 1000.0)
    return out


def embedded_sample(texts: Sequence[str], queries: bool = False) -> np.ndarray:
    """Vectors of ``texts`` from the packaged model (multilingual-e5-small), through the embedding cache."""
    from hybrid.cache import EmbeddingCache, embed_with_cache
    from hybrid.evaluate import embed_queries
    from hybrid.semantic import load_embedder

    embedder = load_embedder("multilingual-e5-small", device="cpu").embedder
    cache = EmbeddingCache()
    try:
        if queries:
            return embed_queries(embedder, list(texts), cache)
        return embed_with_cache(embedder, list(texts), cache)
    finally:
        cache.close()


def run_child(module: str, args: Sequence[str]) -> dict:
    """Run ``python -m module --child ARGS`` in a fresh process and return the JSON object it prints last.

    A fresh process per measurement keeps peak memory to that measurement alone. Its stderr (progress)
    passes through.

    Raises:
        SystemExit: the child failed.
    """
    import subprocess

    proc = subprocess.run([sys.executable, "-m", module, "--child", *args], cwd=ROOT, stdout=subprocess.PIPE,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the measuring subprocess ({module} {' '.join(args)}) failed with exit status "
                         f"{proc.returncode}; its messages are above")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def time_calls(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock milliseconds of ``repeat`` calls of ``fn`` (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeat):
        tick = time.perf_counter()
        fn()
        out.append((time.perf_counter() - tick) * 1000.0)
    return out


def median(values: Sequence[float]) -> float:
    """The median (0 for no values)."""
    return float(statistics.median(values)) if values else 0.0


def machine() -> str:
    """CPU model, core count and Python version, for the report."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


def report(name: str, results: dict) -> None:
    """Print ``results`` as aligned lines under a heading (with the load average now)."""
    print(f"\n== {name} (load average {load_average()}) ==")
    for key, value in results.items():
        shown = f"{value:,.3f}" if isinstance(value, float) else value
        print(f"  {key:<52} {shown}", flush=True)


def write_json(path: str | None, results: dict) -> None:
    """Write ``results`` to ``path`` as JSON (nothing when path is None)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
