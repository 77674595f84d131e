"""Per-model calibration of cosine scores: how long a hit's bar is and when it is painted green."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    """How one model's cosine becomes a relevance value in [0, 1] (the bar) and a green/grey state.

    Attributes:
        kind: "logistic" (relevance = P(relevant) = 1 / (1 + exp(-(slope * cosine + intercept)))) or "cosine"
            (relevance = the cosine itself, clipped to [0, 1]).
        threshold: relevance at and above which a hit is green (the threshold slider's default).
        slope, intercept: the logistic map's coefficients (kind "logistic").
        source: how the values were obtained, shown beside the threshold slider.
    """

    kind: str
    threshold: float
    slope: float = 1.0
    intercept: float = 0.0
    source: str = ""

    def relevance(self, cosine: float | None) -> float | None:
        """The hit's relevance in [0, 1] (None without a cosine)."""
        if cosine is None:
            return None
        if self.kind == "logistic":
            z = self.slope * float(cosine) + self.intercept
            # exp of a large positive argument overflows; the two branches are the same function.
            return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
        return min(max(float(cosine), 0.0), 1.0)

    def is_relevant(self, cosine: float | None, threshold: float | None = None) -> bool:
        """Whether the relevance of ``cosine`` reaches ``threshold`` (this calibration's own when None)."""
        value = self.relevance(cosine)
        return value is not None and value >= (self.threshold if threshold is None else threshold)


# The packaged multilingual-e5-small squeezes every cosine into ~0.75-0.95 (median 0.94 for relevant pairs,
# 0.83 for others), so bars of raw cosines all look alike. Its map was fitted by maximum likelihood on
# qbqtc-test_public with entries embedded with e5's "query: " prompt (the default):
#   python -m webui.calibrate --dataset ../shared/datasets/qbqtc-test_public
# 3,783 labelled relevant (query, title) pairs against 3,762 non-relevant ones (the 15 pairs labelled 0 and
# one random unjudged title per query), so P(relevant) assumes as many relevant as non-relevant candidates.
# P = 0.5 at cosine 0.8647 (the cut with the best balanced accuracy, 0.944, is 0.8643); median P 0.996 for
# relevant and 0.055 for non-relevant pairs; ROC AUC 0.971. Rerun the command to refit (add
# --document-prompt passage for entries embedded as passages).
E5_SMALL = Calibration("logistic", threshold=0.5, slope=73.0885, intercept=-63.1980,
                       source="qbqtc-test_public, logistic fit")
# Qwen3-Embedding: the original guide's rule, bar = cosine and green from 0.4.
QWEN3 = Calibration("cosine", threshold=0.4, source="Qwen3-Embedding rule: cosine ≥ 0.4")
# Any other model (a hub id or folder nobody calibrated): bar = cosine, green from the middle of the range;
# calibrate it with ``python -m webui.calibrate --model NAME`` and add it below.
UNCALIBRATED = Calibration("cosine", threshold=0.5, source="not calibrated")

CALIBRATIONS: dict[str, Calibration] = {
    "multilingual-e5-small": E5_SMALL,
    "Qwen/Qwen3-Embedding-0.6B": QWEN3,
    "Qwen/Qwen3-Embedding-4B": QWEN3,
    "Qwen/Qwen3-Embedding-8B": QWEN3,
}


def calibration_for(model: str | None) -> Calibration:
    """The calibration of ``model`` (its exact name as the embedder reports it), else ``UNCALIBRATED``."""
    return CALIBRATIONS.get(model or "", UNCALIBRATED)
