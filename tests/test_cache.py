import hashlib
import logging
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hybrid.cache import DB_NAME, EmbeddingCache, default_folder, embed_with_cache, model_key


class CountingEmbedder:
    """Fake embedder: a deterministic vector per text, counting every text it is asked to embed."""

    backend = "fake"
    device = "cpu"
    dtype = "float32"
    max_tokens = 512
    query_instruction = None

    def __init__(self, name: str = "counting", dimension: int = 8) -> None:
        self.name = name
        self.dimension = dimension
        self.embedded: list[str] = []

    def _vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(f"{self.name}\0{text}".encode()).digest()[:8], "little")
        rng = np.random.default_rng(seed)
        v = rng.standard_normal(self.dimension).astype(np.float32)
        return v / np.linalg.norm(v)

    def encode_queries(self, texts):
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def encode_documents(self, texts, progress=None):
        texts = list(texts)
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self.dimension), np.float32)
        for start in range(0, len(texts), 2):
            for i in range(start, min(start + 2, len(texts))):
                out[i] = self._vector(texts[i])
            if progress is not None:
                progress(min(start + 2, len(texts)), len(texts))
        return out

    def count_tokens(self, texts):
        return [len(t) for t in texts]


@pytest.fixture
def folder(tmp_path):
    return tmp_path / "cache"


def test_model_key_and_default_folder():
    e = CountingEmbedder("Qwen/Qwen3-Embedding-4B", 1024)
    assert model_key(e) == "fake:Qwen/Qwen3-Embedding-4B:1024"
    e.document_prefix = "passage: "
    assert model_key(e) == "fake:Qwen/Qwen3-Embedding-4B[documents=passage:]:1024"
    e.document_prefix = ""
    assert model_key(e) == "fake:Qwen/Qwen3-Embedding-4B:1024"
    assert default_folder().parts[-2:] == ("hybrid-search", "embeddings")


def test_get_put_roundtrip_and_persistence(folder):
    cache = EmbeddingCache(folder)
    assert (folder / DB_NAME).exists()
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.put_many("m:a:4", ["一", "二", "three"], vectors)
    cache.close()

    reopened = EmbeddingCache(folder)
    got = reopened.get_many("m:a:4", ["three", "missing", "一"])
    np.testing.assert_array_equal(got[0], vectors[2])
    assert got[1] is None
    np.testing.assert_array_equal(got[2], vectors[0])
    assert got[0].dtype == np.float32
    # Another model or dimension is another namespace.
    assert reopened.get_many("m:b:4", ["一"]) == [None]
    assert reopened.count("m:a:4") == 3 and reopened.count() == 3


def test_embed_with_cache_embeds_only_missing_texts(folder):
    texts = [f"条目 {i}" for i in range(20)]
    embedder = CountingEmbedder()
    first = embed_with_cache(embedder, texts, EmbeddingCache(folder))
    assert sorted(embedder.embedded) == sorted(texts)

    # A new cache instance (a restart) over the same folder: one changed text embeds one text.
    embedder.embedded.clear()
    changed = list(texts)
    changed[7] = "条目 7（已修改）"
    second = embed_with_cache(embedder, changed, EmbeddingCache(folder))
    assert embedder.embedded == ["条目 7（已修改）"]
    np.testing.assert_array_equal(np.delete(second, 7, axis=0), np.delete(first, 7, axis=0))
    np.testing.assert_allclose(second[7], embedder._vector("条目 7（已修改）"))

    embedder.embedded.clear()
    embed_with_cache(embedder, changed, EmbeddingCache(folder))
    assert embedder.embedded == []


def test_duplicates_are_embedded_once_and_results_keep_input_order(folder):
    embedder = CountingEmbedder()
    texts = ["b", "a", "b", "ccc", "a", "b"]
    out = embed_with_cache(embedder, texts, EmbeddingCache(folder))
    assert sorted(embedder.embedded) == ["a", "b", "ccc"]
    for row, text in zip(out, texts):
        np.testing.assert_allclose(row, embedder._vector(text))
    assert embed_with_cache(embedder, [], EmbeddingCache(folder)).shape == (0, 8)


def test_same_text_is_embedded_per_model_and_dimension(folder):
    cache = EmbeddingCache(folder)
    a, b, c = CountingEmbedder("a", 8), CountingEmbedder("b", 8), CountingEmbedder("a", 4)
    for e in (a, b, c):
        embed_with_cache(e, ["hello"], cache)
        assert e.embedded == ["hello"]
    assert cache.count() == 3


def test_progress_is_monotonic_and_complete(folder):
    cache = EmbeddingCache(folder)
    embedder = CountingEmbedder()
    embed_with_cache(embedder, [f"t{i}" for i in range(5)], cache)
    calls = []
    texts = [f"t{i}" for i in range(12)] + ["t11"]
    embed_with_cache(embedder, texts, cache, progress=lambda d, t: calls.append((d, t)), chunk_size=4)
    assert calls[0] == (5, 13)
    assert calls[-1] == (13, 13)
    assert all(t == 13 for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_garbage_file_is_rebuilt(folder, caplog):
    folder.mkdir(parents=True)
    (folder / DB_NAME).write_bytes(b"this is not sqlite at all\x00\xff" * 500)
    with caplog.at_level(logging.WARNING, logger="hybrid.cache"):
        cache = EmbeddingCache(folder)
    assert "corrupt" in caplog.text
    assert (folder / (DB_NAME + ".corrupt")).exists()
    assert cache.get_many("m:a:2", ["x"]) == [None]
    cache.put_many("m:a:2", ["x"], np.ones((1, 2), np.float32))
    np.testing.assert_array_equal(cache.get_many("m:a:2", ["x"])[0], [1, 1])


def test_truncated_file_is_rebuilt(folder, caplog):
    cache = EmbeddingCache(folder)
    texts = [f"doc {i}" for i in range(3000)]
    cache.put_many("m:a:64", texts, np.ones((len(texts), 64), np.float32))
    cache.close()
    path = folder / DB_NAME
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 3)
    with caplog.at_level(logging.WARNING, logger="hybrid.cache"):
        rebuilt = EmbeddingCache(folder)
    assert "corrupt" in caplog.text
    assert rebuilt.get_many("m:a:64", texts[:5]) == [None] * 5
    embedder = CountingEmbedder(dimension=64)
    embed_with_cache(embedder, texts[:5], rebuilt)
    assert len(embedder.embedded) == 5


def test_corruption_while_open_never_raises(folder):
    cache = EmbeddingCache(folder)
    cache.put_many("m:a:2", ["x"], np.ones((1, 2), np.float32))
    with open(folder / DB_NAME, "r+b") as fh:
        fh.write(b"\xde\xad\xbe\xef" * 2048)
    assert cache.get_many("m:a:2", ["x", "y"]) == [None, None]
    cache.put_many("m:a:2", ["x"], np.full((1, 2), 3, np.float32))
    np.testing.assert_array_equal(cache.get_many("m:a:2", ["x"])[0], [3, 3])


def test_wrong_blob_size_is_a_miss_and_gets_overwritten(folder):
    cache = EmbeddingCache(folder)
    cache.put_many("fake:counting:8", ["good", "bad"], np.ones((2, 8), np.float32))
    raw = sqlite3.connect(folder / DB_NAME)
    with raw:
        raw.execute("UPDATE vectors SET vec = substr(vec, 1, 10) WHERE rowid = (SELECT max(rowid) FROM vectors)")
    raw.close()
    got = cache.get_many("fake:counting:8", ["good", "bad"])
    assert got[0] is not None and got[1] is None
    # A stored vector of another dimension under the key is a miss too.
    cache.put_many("fake:counting:8", ["short"], np.ones((1, 4), np.float32))
    assert cache.get_many("fake:counting:8", ["short"]) == [None]

    embedder = CountingEmbedder()
    out = embed_with_cache(embedder, ["good", "bad", "short"], cache)
    assert embedder.embedded == ["short", "bad"]
    np.testing.assert_allclose(out[1], embedder._vector("bad"))
    assert cache.get_many("fake:counting:8", ["bad"])[0] is not None


def test_unusable_folder_degrades_to_memory(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="hybrid.cache"):
        cache = EmbeddingCache(blocker / "cache")
    assert cache.in_memory
    cache.put_many("m:a:2", ["x"], np.ones((1, 2), np.float32))
    assert cache.get_many("m:a:2", ["x"])[0] is not None


def test_ten_thousand_lookups_are_fast(folder):
    cache = EmbeddingCache(folder)
    texts = [f"知识库条目 {i}: " + "内容" * (i % 50) for i in range(10_000)]
    vectors = np.random.default_rng(0).standard_normal((10_000, 1024)).astype(np.float32)
    cache.put_many("m:big:1024", texts, vectors)
    cache.close()
    reopened = EmbeddingCache(folder)
    started = time.perf_counter()
    got = reopened.get_many("m:big:1024", texts)
    elapsed = time.perf_counter() - started
    assert all(v is not None for v in got)
    np.testing.assert_array_equal(got[1234], vectors[1234])
    assert elapsed < 1.0, elapsed


def test_threads_share_one_cache(folder):
    cache = EmbeddingCache(folder)
    errors = []

    def work(n: int) -> None:
        try:
            for round_ in range(20):
                texts = [f"thread {n} text {round_} {i}" for i in range(10)]
                cache.put_many("m:t:4", texts, np.full((10, 4), n, np.float32))
                got = cache.get_many("m:t:4", texts)
                assert all(v is not None and v[0] == n for v in got)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert cache.count("m:t:4") == 6 * 20 * 10


def test_put_many_rejects_mismatched_lengths(folder):
    with pytest.raises(ValueError):
        EmbeddingCache(folder).put_many("m:a:2", ["x", "y"], np.ones((1, 2), np.float32))


def test_default_folder_is_used(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda appname: str(tmp_path / appname))
    cache = EmbeddingCache()
    assert Path(cache.path) == tmp_path / "hybrid-search" / "embeddings" / DB_NAME
