"""Top-k selection with a fixed tie order, shared by the keyword and vector retrievers."""

from __future__ import annotations

import numpy as np


def top_positions(docs: np.ndarray, scores: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``top`` best of ``docs`` by score, best first; ties go to the lower document position.

    Args:
        docs: candidate document positions (distinct, in any order).
        scores: their scores.
        top: how many to keep.
    Returns:
        (docs, scores) of the winners, best first.
    """
    if top <= 0 or docs.size == 0:
        return docs[:0], scores[:0]
    if docs.size > top:
        cut = docs.size - top
        kth = np.partition(scores, cut)[cut]  # the top-th largest score
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)
        need = top - above.size
        if tied.size > need:  # the cut falls inside a group of equal scores: keep the lowest positions
            tied = tied[np.argsort(docs[tied], kind="stable")[:need]]
        keep = np.concatenate([above, tied])
        docs, scores = docs[keep], scores[keep]
    order = np.lexsort((docs, -scores))
    return docs[order], scores[order]
