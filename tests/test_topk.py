"""Top-k selection: best first, ties to the lower document position, whatever order the candidates come in."""

import numpy as np
import pytest

from hybrid.topk import top_positions


@pytest.mark.parametrize("top", [1, 3, 5, 8, 20])
def test_ties_at_the_cut_go_to_the_lower_position_in_any_input_order(top):
    rng = np.random.default_rng(0)
    docs = np.arange(12, dtype=np.int64)
    scores = np.array([3, 1, 2, 2, 2, 5, 2, 0.5, 2, 3, 1, 2], dtype=np.float64)
    want = sorted(range(12), key=lambda i: (-scores[i], i))[:top]
    for _ in range(20):
        perm = rng.permutation(12)
        got_docs, got_scores = top_positions(docs[perm], scores[perm], top)
        assert got_docs.tolist() == want
        assert got_scores.tolist() == [scores[i] for i in want]


def test_nothing_to_select():
    docs, scores = top_positions(np.zeros(0, dtype=np.int64), np.zeros(0), 5)
    assert docs.size == 0 and scores.size == 0
    docs, _ = top_positions(np.arange(3), np.ones(3), 0)
    assert docs.size == 0
