"""The sample knowledge bases of data/samples/ and the example queries that go with each."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"
DEFAULT_SAMPLE = "everyday"

# Queries that show where keyword and semantic search disagree, per sample file (stem).
EXAMPLE_QUERIES: dict[str, tuple[str, ...]] = {
    "everyday": ("怎样学好英语", "外出要不要带雨具", "capital of France", "喵星人", "运动后吃什么补充体力",
                 "我想吃点东西"),
    "mixed_zh_en": ("how to get my money back", "download invoice", "忘记密码怎么办", "笔记本黑屏",
                    "API 请求太多被限制"),
    "tech_faq": ("如何给表格排序", "显存不够怎么办", "GPU memory error", "中文乱码", "长序列梯度消失"),
}
# The English page's chips, for the samples written (partly) in English.
EXAMPLE_QUERIES_EN: dict[str, tuple[str, ...]] = {
    "mixed_zh_en": ("how to get my money back", "download invoice", "I forgot my password",
                    "my laptop screen went black", "too many API requests"),
}


def sample_names() -> list[str]:
    """Stems of the sample files, the default first."""
    stems = sorted(p.stem for p in SAMPLES_DIR.glob("*.txt"))
    return sorted(stems, key=lambda s: s != DEFAULT_SAMPLE)


def sample_text(name: str) -> str:
    """The text of sample ``name`` (a stem from ``sample_names``).

    Raises:
        KeyError: an unknown sample; the message lists the available ones.
    """
    if name not in sample_names():
        raise KeyError(f"unknown sample {name!r}; choose one of {', '.join(sample_names())}")
    return (SAMPLES_DIR / f"{name}.txt").read_text(encoding="utf-8").strip()


def example_queries(name: str, lang: str = "zh") -> tuple[str, ...]:
    """Example queries of sample ``name`` for a page in ``lang`` (English ones where the sample has them; none
    for a sample without any)."""
    return (EXAMPLE_QUERIES_EN if lang == "en" and name in EXAMPLE_QUERIES_EN else EXAMPLE_QUERIES).get(name, ())
