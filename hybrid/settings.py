"""Search settings: every default of the engine lives here, in one frozen dataclass."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

MODES = ("all", "keyword", "semantic", "hybrid")
# k1 saturates term frequency; past a few it changes little, and near a float's limit BM25 overflows.
MAX_K1 = 100.0


@dataclass(frozen=True)
class Settings:
    """Per-search knobs. Override with ``settings.with_(alpha=0.3)``; never mutated in place.

    Attributes:
        k: top-k of every ranked list.
        alpha: semantic weight in fusion (keyword gets 1 - alpha).
        fusion: key of ``hybrid.fusion.FUSERS``.
        normalizer: key of ``hybrid.fusion.NORMALIZERS`` (weighted fusion).
        k1, b: BM25 parameters (Lucene / Elasticsearch defaults).
        window: candidates each retriever hands to fusion (well above k).
        rrf_k: the constant of reciprocal-rank fusion.
        mode: which lists to compute: all | keyword | semantic | hybrid.
        rerank: how many of the first hybrid hits an attached reranker re-scores (0: never rerank).
    """

    k: int = 5
    alpha: float = 0.7
    fusion: str = "adaptive"
    normalizer: str = "minmax"
    k1: float = 1.2
    b: float = 0.75
    window: int = 100
    rrf_k: int = 60
    mode: str = "all"
    rerank: int = 20

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"k must be a positive integer (top-k), got {self.k!r}")
        if not 0.0 <= float(self.alpha) <= 1.0:
            raise ValueError(f"alpha is the semantic weight and must lie in [0, 1], got {self.alpha!r}")
        if not 0 <= self.k1 <= MAX_K1:  # NaN fails too; a huge k1 overflowed BM25 (a matching entry scored 0)
            raise ValueError(f"BM25 k1 must lie in [0, {MAX_K1:g}] (usual: 0.5 to 2), got {self.k1!r}")
        if not 0.0 <= self.b <= 1.0:
            raise ValueError(f"BM25 b must lie in [0, 1], got {self.b!r}")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window!r}")
        if self.rrf_k < 1:
            raise ValueError(f"rrf_k must be >= 1, got {self.rrf_k!r}")
        if not isinstance(self.rerank, int) or isinstance(self.rerank, bool) or self.rerank < 0:
            raise ValueError(f"rerank is how many hybrid hits to rerank and must be an integer >= 0, got "
                             f"{self.rerank!r}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")

    def with_(self, **overrides: Any) -> "Settings":
        """Return a copy with ``overrides`` applied; ``None`` values are ignored.

        Args:
            overrides: field names of Settings.
        Returns:
            A new Settings.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"unknown setting(s) {unknown}; known: {sorted(known)}")
        return replace(self, **{key: value for key, value in overrides.items() if value is not None})


DEFAULT_SETTINGS = Settings()
