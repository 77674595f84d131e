"""When a hit is painted green: evidence of relevance on scales that hold across models, languages and knowledge bases."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class Calibration:
    """The green/grey rule of every column (the same entry has the same colour in each).

    A hit is green when the entry holds at least ``threshold`` of the query's words, weighted by idf
    (``webui.format.hit_evidence``'s coverage: keyword evidence), or when its cosine stands at least
    ``standing`` × sqrt(2 ln n) standard deviations above the query's mean cosine over the n entries of the
    knowledge base it was measured on (semantic evidence): sqrt(2 ln n) is about where the best of n
    unrelated entries lands, so a small knowledge base needs less than a large one. Neither is a probability: no map from a cosine to P(relevant) was found that holds across
    the developers' labelled sets (BENCHMARKS.md, "What the colours mean").

    Attributes:
        kind: "evidence".
        threshold: the coverage from which a hit is green (the threshold slider's default).
        standing: the share of sqrt(2 ln n) standard deviations above the mean from which a hit is green.
        source: how the values were chosen, shown beside the threshold slider: a key of ``webui.i18n.TEXTS``
            (the words differ by language).
    """

    kind: str
    threshold: float
    standing: float
    source: str = ""

    def is_relevant(self, evidence: Mapping[str, float | None] | None, threshold: float | None = None) -> bool:
        """Whether ``evidence`` (``hit_evidence``'s coverage and standing) makes the hit green; ``threshold``
        replaces this rule's coverage threshold (the slider)."""
        if not evidence:
            return False
        coverage, standing = evidence.get("coverage"), evidence.get("standing")
        cut = self.threshold if threshold is None else threshold
        needed = self.needed(evidence.get("count"))
        return (coverage is not None and coverage >= cut) or (
            standing is not None and needed is not None and standing >= needed)

    def needed(self, count: int | None) -> float | None:
        """Standard deviations above the mean a cosine needs among ``count`` entries (None when unknown)."""
        # sqrt(2 ln n) as the page states it; one entry has no spread (n = 1 is read as 2: nothing stands out)
        return None if not count else self.standing * math.sqrt(2.0 * math.log(max(int(count), 2)))


# Chosen on half 0 of the queries of five labelled sets at once (Chinese, English, mixed and cross-lingual;
# `python -m bench.truth_score`), each set weighing the same, for the best balanced accuracy of the top-5 hits'
# colours; the held-out halves are reported in BENCHMARKS.md.
EVIDENCE = Calibration("evidence", threshold=0.65, standing=1.0,
                       source="calibration_source_evidence")
UNCALIBRATED = EVIDENCE  # every model: the rule reads standardised scores, not a model's raw cosine


def calibration_for(model: str | None) -> Calibration:
    """The green/grey rule for ``model`` (the same for every model)."""
    return EVIDENCE
