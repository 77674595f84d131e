import pytest

from hybrid.lang import ALPHABETIC, CJK, document_script, query_script


@pytest.mark.parametrize("text,script", [
    ("童工在肯尼亚很常见。2006 年 UNICEF 估计", CJK),
    ("Child labour is common in Kenya; 童工 means child labour.", ALPHABETIC),
    ("iphone12价格", ALPHABETIC),  # 7 Latin letters against 2 characters
    ("2006 — 115", ""),
    ("東京タワー", CJK),
])
def test_document_script(text, script):
    assert document_script(text) == script


@pytest.mark.parametrize("text,script", [
    ("sqlserver2008怎么启动服务器", CJK),  # any Chinese character makes a Chinese query
    ("What did DECnet phase 2 become", ALPHABETIC),
    ("20160216", ""),
])
def test_query_script(text, script):
    assert query_script(text) == script


def test_engine_ranks_an_unmatched_other_language_document_by_semantic_alone():
    from hybrid import HybridEngine
    from tests.fakes import OneHotEncoder

    kb = ["法国的首都是巴黎。", "北京是中国的首都。", "The capital of France is a big city.", "今天天气晴朗。"]
    engine = HybridEngine(kb, embedder=OneHotEncoder())
    response = engine.search("法国首都", k=4, mode="all", fusion="adaptive", alpha=0.3)
    hits = {h.text: h for h in response.hybrid}
    english = hits[kb[2]]
    assert english.keyword_score is None and english.keyword_contribution == 0
    assert english.semantic_contribution == pytest.approx(english.semantic_score_norm)  # weight 1
    chinese = hits[kb[1]]  # same language, matched 首都 only: weighted as usual
    assert chinese.semantic_contribution == pytest.approx(response.alpha_used * chinese.semantic_score_norm)
    # Both 法国 and 首都 matched doc 1 (coverage 1), so alpha_used is the base alpha.
    assert response.alpha_used == pytest.approx(0.3)
    order = [h.text for h in response.hybrid]
    assert order.index(kb[2]) < order.index(kb[1]) and order[-1] == kb[3]
