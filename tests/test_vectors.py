import numpy as np
import pytest

import hybrid.vectors as vectors
from hybrid.vectors import SCANS, VectorIndex, l2_normalize


def unit_rows(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return l2_normalize(rng.standard_normal((n, d)).astype(np.float32))


def assert_same_top(got, want, matrix, query):
    """Same documents in the same order, except swaps between scores equal up to float32 rounding."""
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
    q = np.asarray(query, dtype=np.float64) / np.linalg.norm(query)
    exact = matrix.astype(np.float64) @ q
    for a, b in zip(got.docs.tolist(), want.docs.tolist()):
        assert a == b or abs(exact[a] - exact[b]) < 1e-6


def brute_force(matrix, query, top):
    """Cosine top-k by a float64 sort, independent of the index."""
    q = query / np.linalg.norm(query)
    scores = matrix.astype(np.float64) @ q
    order = np.lexsort((np.arange(len(scores)), -scores))[:top]
    return order, scores[order]


def test_exact_scan_matches_brute_force():
    matrix = unit_rows(3000, 32)
    index = VectorIndex(32, matrix, scan="exact")
    query = np.random.default_rng(1).standard_normal(32)
    got = index.search(query, 10)
    want_docs, want_scores = brute_force(matrix, query, 10)
    assert got.docs.tolist() == want_docs.tolist()
    np.testing.assert_allclose(got.scores, want_scores, atol=1e-6)


numkong = pytest.importorskip("numkong", reason="the int8 scan needs numkong")


@pytest.mark.parametrize("top", [1, 5, 100])
def test_int8_scan_gives_the_exact_top_k_on_random_vectors(top):
    matrix = unit_rows(30_000, 384)
    exact = VectorIndex(384, matrix, scan="exact")
    int8 = VectorIndex(384, matrix, scan="int8")
    rng = np.random.default_rng(2)
    for i in range(10):
        # alternate unrelated queries and near-duplicates of a stored row (a clear winner)
        query = rng.standard_normal(384) if i % 2 else matrix[i] + 0.05 * rng.standard_normal(384)
        assert_same_top(int8.search(query, top), exact.search(query, top), matrix, query)


def test_int8_scan_exact_on_clustered_vectors_with_many_close_scores():
    rng = np.random.default_rng(3)
    centres = unit_rows(50, 64, seed=4)
    matrix = l2_normalize(centres[rng.integers(0, 50, 25_000)] + 0.01 * rng.standard_normal((25_000, 64)))
    exact = VectorIndex(64, matrix, scan="exact")
    int8 = VectorIndex(64, matrix, scan="int8")
    for i in range(5):
        query = centres[i] + 0.005 * rng.standard_normal(64)
        assert_same_top(int8.search(query, 50), exact.search(query, 50), matrix, query)


def test_int8_scan_handles_zero_rows_and_zero_query():
    matrix = unit_rows(25_000, 16)
    matrix[::7] = 0.0
    exact = VectorIndex(16, matrix, scan="exact")
    int8 = VectorIndex(16, matrix, scan="int8")
    query = np.random.default_rng(5).standard_normal(16)
    assert_same_top(int8.search(query, 20), exact.search(query, 20), matrix, query)
    zero = int8.search(np.zeros(16), 3)
    assert zero.docs.tolist() == [0, 1, 2] and (zero.scores == 0).all()


def test_int8_index_follows_add_replace_remove():
    matrix = unit_rows(24_000, 24)
    int8 = VectorIndex(24, matrix, scan="int8")
    exact = VectorIndex(24, matrix, scan="exact")
    query = matrix[100] * 0.9 + matrix[200] * 0.1
    assert int8.search(query, 1).docs.tolist() == [100]
    steps = [("replace", 100, -matrix[100]), ("remove", [0]), ("add", matrix[100:101] * 2)]
    for op, *args in steps:
        for index in (int8, exact):
            getattr(index, op)(*args)
        assert_same_top(int8.search(query, 10), exact.search(query, 10), int8.matrix, query)
    assert int8.search(query, 1).docs.tolist() == [len(int8) - 1]  # the re-added row 100


def test_ties_go_to_the_lower_position():
    matrix = np.tile(unit_rows(1, 8), (30, 1))
    for scan in SCANS:
        assert VectorIndex(8, matrix, scan=scan).search(matrix[0], 4).docs.tolist() == [0, 1, 2, 3]


def test_auto_scan_picks_int8_only_for_large_indexes():
    small = VectorIndex(8, unit_rows(100, 8))
    small.search(np.ones(8), 1)
    assert isinstance(small._scan(), vectors.ExactScan)
    large = VectorIndex(8, unit_rows(vectors.INT8_MIN_ROWS, 8))
    assert isinstance(large._scan(), vectors.Int8Scan)


def test_bad_scan_names_and_missing_kernel_are_explained(monkeypatch):
    with pytest.raises(ValueError, match="exact, int8"):
        VectorIndex(8, scan="hnsw")
    monkeypatch.setattr(vectors, "_numkong", lambda: None)
    with pytest.raises(ValueError, match="pip install numkong"):
        VectorIndex(8, scan="int8")
    auto = VectorIndex(8, unit_rows(vectors.INT8_MIN_ROWS, 8))
    assert isinstance(auto._scan(), vectors.ExactScan)


def clustered_rows(n, d, seed=3):
    rng = np.random.default_rng(seed)
    centres = unit_rows(50, d, seed=seed + 1)
    return l2_normalize(centres[rng.integers(0, 50, n)] + 0.01 * rng.standard_normal((n, d))), centres


@pytest.mark.parametrize("scan", ["exact", "int8"])
@pytest.mark.parametrize("n_queries", [1, 3, 40])
def test_search_many_equals_one_search_per_query(scan, n_queries):
    matrix = unit_rows(20_000, 48)
    index = VectorIndex(48, matrix, scan=scan)
    rng = np.random.default_rng(8)
    queries = rng.standard_normal((n_queries, 48))
    queries[::2] = matrix[: (n_queries + 1) // 2] + 0.05 * rng.standard_normal(((n_queries + 1) // 2, 48))
    found = index.search_many(queries, 30)
    assert len(found) == n_queries
    for query, got in zip(queries, found):
        assert got.docs.dtype == np.int64
        assert_same_top(got, index.search(query, 30), matrix, query)
        want_docs, want_scores = brute_force(matrix, query, 30)
        np.testing.assert_allclose(got.scores, want_scores, atol=1e-6)


def test_search_many_exact_on_clustered_vectors_zero_rows_and_in_small_blocks(monkeypatch):
    monkeypatch.setattr(vectors, "_BLOCK_SCORES", 3 * 25_000)  # blocks of 3 queries
    matrix, centres = clustered_rows(25_000, 64)
    matrix[::11] = 0.0
    exact = VectorIndex(64, matrix, scan="exact")
    int8 = VectorIndex(64, matrix, scan="int8")
    rng = np.random.default_rng(9)
    queries = np.vstack([centres[:10] + 0.005 * rng.standard_normal((10, 64)), np.zeros((1, 64))])
    for index in (int8, exact):
        *found, zero = index.search_many(queries, 50)
        for query, got in zip(queries, found):
            assert_same_top(got, exact.search(query, 50), matrix, query)
        assert zero.docs.tolist() == list(range(50)) and not zero.scores.any()  # all tie at 0: lowest positions


def test_search_many_on_empty_index_and_with_no_queries():
    index = VectorIndex(8)
    assert [m.docs.size for m in index.search_many(np.ones((2, 8)), 5)] == [0, 0]
    full = VectorIndex(8, unit_rows(50, 8))
    assert full.search_many(np.zeros((0, 8)), 5) == []
    with pytest.raises(ValueError, match="dimension 7"):
        full.search_many(np.ones((2, 7)), 5)
