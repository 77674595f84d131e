"""Formatting and plot functions of the demo, tested on their own."""

from __future__ import annotations

import dataclasses
import html
import math

import numpy as np

import pytest

from hybrid.engine import HybridEngine
from hybrid.results import Hit
from hybrid.service import FAILED, LOADING, READY, ModelStatus
from tests.fakes import OneHotEncoder
from webui import format as fmt
from webui import plots
from webui.i18n import TEXTS, text
from webui.samples import DEFAULT_SAMPLE, example_queries, sample_names, sample_text
from webui import share
from webui.calibration import EVIDENCE, UNCALIBRATED, Calibration, calibration_for
from webui.calibrate import best_threshold, fit_logistic

DOCS = ["苹果是一种很好吃的水果。", "法国的首都是巴黎。", "机器学习模型可以理解文本语义。", "明天可能会下雨，出门记得带伞。",
        "香蕉富含钾元素，适合运动后补充能量。"]


@pytest.fixture(scope="module")
def engine():
    return HybridEngine(DOCS, embedder=OneHotEncoder())


def _hit(**kw) -> Hit:
    base = dict(rank=1, id="1", text="苹果很好吃", score=0.5)
    base.update(kw)
    return Hit(**base)


# ---------------------------------------------------------------- pieces


def test_highlight_marks_spans_and_escapes_html():
    assert fmt.highlight("a<b> 苹果 & 梨", [(5, 7)]) == "a&lt;b&gt; <mark>苹果</mark> &amp; 梨"


def test_highlight_tolerates_overlapping_and_out_of_range_spans():
    assert fmt.highlight("abcdef", [(0, 2), (1, 3), (5, 99)]) == "<mark>ab</mark><mark>c</mark>de<mark>f</mark>"
    assert fmt.highlight("abc", []) == "abc"


def test_bars_are_a_share_of_the_column_top_the_semantic_one_from_the_mean_cosine():
    assert fmt.bar_percent(_hit(score=3.0), "keyword", EVIDENCE, top_score=12.0) == pytest.approx(25.0)
    assert fmt.bar_percent(_hit(score=0.01), "hybrid", EVIDENCE, top_score=0.02) == pytest.approx(50.0)
    assert fmt.bar_percent(_hit(score=1.0), "keyword", EVIDENCE, top_score=0.0) == 0.0
    # e5 squeezes cosines into 0.75-0.95: counted from the knowledge base's mean (0.82) they spread out
    assert fmt.bar_percent(_hit(score=0.92), "semantic", EVIDENCE, top_score=0.92, floor=0.82) == 100.0
    assert fmt.bar_percent(_hit(score=0.86), "semantic", EVIDENCE, top_score=0.92, floor=0.82) == pytest.approx(40.0)
    assert fmt.bar_percent(_hit(score=0.80), "semantic", EVIDENCE, top_score=0.92, floor=0.82) == 0.0
    assert fmt.bar_percent(_hit(score=0.9), "reranked", EVIDENCE, top_score=0.95) == pytest.approx(90.0)


def test_rank_movement():
    assert fmt.rank_movement(4, 1, "en") == ("↑3", "up")
    assert fmt.rank_movement(1, 2, "en") == ("↓1", "down")
    assert fmt.rank_movement(2, 2, "en") == ("=", "same")
    assert fmt.rank_movement(None, 1, "en") == ("new", "new")
    assert fmt.rank_movement(None, 1, "zh") == ("新", "new")


def test_hit_card_is_green_on_keyword_or_semantic_evidence_and_never_shows_a_probability():
    rule = Calibration("evidence", threshold=0.5, standing=1.0)  # 30 entries: a cosine needs 2.6 sd
    words = fmt.hit_card(_hit(score=4.0), "keyword", rule, 0.5, top_score=4.0, lang="en",
                         evidence={"coverage": 0.6, "standing": 0.2, "count": 30})
    cosine = fmt.hit_card(_hit(score=0.9, semantic_score=0.9), "semantic", rule, 0.5, top_score=0.9, lang="en",
                          evidence={"coverage": 0.0, "standing": 3.4, "count": 30})
    other = fmt.hit_card(_hit(score=0.88, semantic_score=0.88), "semantic", rule, 0.5, top_score=0.9, lang="en",
                         evidence={"coverage": 0.2, "standing": 1.4, "count": 30})
    assert 'class="hit relevant"' in words and "words 60%" in words and "likely relevant" in words
    assert 'class="hit relevant"' in cosine and "cosine +3.4σ (needs 2.6σ)" in cosine
    # a knowledge base of 5,000 entries needs 4.1 standard deviations: the same cosine is grey there
    assert not rule.is_relevant({"coverage": 0.0, "standing": 3.4, "count": 5000})
    # the stated sqrt(2 ln n) for small knowledge bases too (two entries: 1.18, it said 1.48; review)
    assert rule.needed(2) == pytest.approx(math.sqrt(2 * math.log(2))) and rule.needed(1) == rule.needed(2)
    assert 'class="hit other"' in other and "likely relevant" not in other
    assert 'class="hit other"' in fmt.hit_card(_hit(score=0.9), "keyword", rule, 0.0, top_score=0.9)  # no evidence
    for card in (words, cosine, other):
        assert "P(relevant)" not in card and "相关概率" not in card
    # the slider moves the keyword evidence's threshold
    assert 'class="hit other"' in fmt.hit_card(_hit(score=4.0), "keyword", rule, 0.7, top_score=4.0,
                                               evidence={"coverage": 0.6, "standing": None})


def test_hit_evidence_reads_the_query_statistics(engine):
    response = engine.search("苹果 巴黎", k=5)
    by_text = {h.text: fmt.hit_evidence(h, response) for h in response.hybrid}
    apple, paris = by_text["苹果是一种很好吃的水果。"], by_text["法国的首都是巴黎。"]
    idf = dict(zip(dict.fromkeys(response.query_tokens), response.evidence.token_idf))
    assert apple["coverage"] == pytest.approx(idf["苹果"] / sum(idf.values()))
    assert apple["coverage"] + paris["coverage"] == pytest.approx(1.0)
    mean, std = response.evidence.cosine_mean, response.evidence.cosine_std
    hit = next(h for h in response.hybrid if h.text.startswith("苹果"))
    assert apple["standing"] == pytest.approx((hit.semantic_score - mean) / std)
    assert apple["count"] == response.evidence.cosine_count == len(DOCS)


def test_hybrid_card_shows_movement_parts_and_why():
    hit = _hit(rank=1, score=0.75, semantic_score=0.9, keyword_rank=3, semantic_rank=None, keyword_score=4.2,
               keyword_score_norm=0.5, semantic_score_norm=1.0, keyword_weight=0.5, semantic_weight=0.5,
               keyword_contribution=0.25, semantic_contribution=0.5, matched_tokens=("苹果",))
    card = fmt.hit_card(hit, "hybrid", UNCALIBRATED, 0.5, top_score=0.75, lang="en", alpha_used=0.5,
                        fusion="weighted")
    assert "kw ↑2" in card and "sem " not in card.split("hit-text")[0]  # not a semantic candidate: no badge
    assert "keyword 0.2500 + semantic 0.5000" in card
    assert "<details" in card and "Why rank 1?" in card and "Matched query words: 苹果" in card
    assert "BM25 4.2000" in card and "× 0.5000" in card and "= 0.7500" in card


def test_why_details_of_an_entry_no_query_word_matched():
    # one pair of weights per query: an unmatched entry's keyword row is 0 at the query's keyword weight
    hit = _hit(rank=2, score=0.56, semantic_score=0.85, semantic_rank=1, keyword_score=None, keyword_weight=0.3,
               semantic_weight=0.7, keyword_score_norm=0.0, keyword_contribution=0.0, semantic_score_norm=0.8,
               semantic_contribution=0.56)
    why = html.unescape(fmt.why_details(hit, alpha_used=0.7, fusion="adaptive", lang="en"))
    assert "× 0.3000" in why and "× 0.7000" in why and "= 0.5600" in why
    assert "did not match this entry" in why and "60 / (60 + rank)" not in why
    rrf = html.unescape(fmt.why_details(_hit(keyword_weight=0.7 / 60, semantic_weight=0.3 / 60, semantic_rank=1),
                                        alpha_used=0.3, fusion="rrf", lang="en"))
    assert "60 / (60 + rank)" in rrf


# ---------------------------------------------------------------- whole responses


def test_results_columns_of_a_real_search(engine):
    response = engine.search("苹果好吃吗", k=3, alpha=0.5, fusion="weighted")
    keyword, semantic, hybrid = fmt.results_columns(response, UNCALIBRATED, 0.5, lang="zh")
    assert keyword.count('class="hit ') == len(response.keyword) >= 1
    assert semantic.count('class="hit ') == len(response.semantic) == 3
    assert hybrid.count('class="hit ') == len(response.hybrid) == 3
    assert "<mark>苹果</mark>" in keyword
    assert "语义 (fake-onehot)" in semantic and "混合 (weighted, α=0.50)" in hybrid
    top = response.semantic[0]
    assert f"{top.score:.4f}" in semantic


def test_keyword_only_response_explains_the_missing_columns(engine):
    response = engine.search("巴黎", k=3, mode="keyword")
    keyword, semantic, hybrid = fmt.results_columns(response, UNCALIBRATED, 0.5, lang="en")
    assert "<mark>巴黎</mark>" in keyword
    waiting = html.escape(text("semantic_waiting", "en"))
    assert waiting in semantic and waiting in hybrid


def test_no_keyword_match_says_so(engine):
    response = engine.search("qwertyuiop", k=3)
    keyword, _, _ = fmt.results_columns(response, UNCALIBRATED, 0.5, lang="en")
    assert html.escape(text("no_keyword_hits", "en")) in keyword


@pytest.mark.parametrize("fusion", ["weighted", "rrf", "adaptive"])
def test_why_table_and_details_add_up_with_the_weights_applied(engine, fusion):
    response = engine.search("苹果 capital", k=4, alpha=0.3, fusion=fusion)
    table = fmt.why_table(response, "en")
    assert list(table.columns)[0] == "rank" and len(table.columns) == 11
    assert list(table.columns)[6:8] == ["keyword weight", "semantic weight"]
    assert len(table) == len(response.hybrid)
    for row, hit in zip(table.itertuples(index=False), response.hybrid):
        kw_norm, sem_norm, kw_weight, sem_weight = (float(v) for v in (row[3], row[5], row[6], row[7]))
        kw_part, sem_part, total = float(row[8]), float(row[9]), float(row[10])
        assert kw_weight * kw_norm == pytest.approx(kw_part, abs=2e-4)
        assert sem_weight * sem_norm == pytest.approx(sem_part, abs=2e-4)
        assert kw_part + sem_part == pytest.approx(total, abs=2e-4)
        assert row[2] == fmt.fmt_score(hit.keyword_score)
        details = fmt.why_details(hit, response.alpha_used, fusion, "en")
        assert f"= {hit.score:.4f}" in details and f"× {hit.semantic_weight:.4f}" in details
    assert "—" in set(table.iloc[:, 2])  # documents BM25 did not match have no raw BM25 score
    note = fmt.alpha_note(response, "en")
    assert note.startswith(f"alpha used for this query = {response.alpha_used:.4f}")
    # user review: the note described adaptive fusion under every method
    assert ("adaptive lowers the keyword share" in note) == (fusion == "adaptive")
    assert ("60 / (60 + the entry's rank" in note) == (fusion == "rrf")
    assert ("the slider's value" in note) == (fusion != "adaptive")
    # the new-user review: on a small mixed knowledge base most queries are semantic only, and the slider moved
    # nothing without a word why; the note now says so for such a query (adaptive only: the others keep alpha)
    blind = dataclasses.replace(response, evidence=dataclasses.replace(response.evidence, blind_spot=True))
    assert ("This query is semantic only" in fmt.alpha_note(blind, "en")) == (fusion == "adaptive")
    assert "This query is semantic only" not in note or response.evidence.blind_spot


def test_vector_stats_table_and_summary(engine):
    stats = fmt.vector_stats(np.array([3.0, -4.0]))
    assert stats == {"dimension": 2, "min": -4.0, "max": 3.0, "mean": -0.5, "norm": 5.0}
    table = fmt.vector_table(np.arange(384, dtype=np.float32) / 1000)
    assert table.shape == (5, 11)
    assert table.iloc[0, 0] == "0–9" and table.iloc[4, 10] == "0.0490"
    short = fmt.vector_table(np.ones(7))
    assert short.shape == (1, 11) and short.iloc[0, 0] == "0–6" and short.iloc[0, 10] == ""
    response = engine.search("苹果", k=2)
    summary = fmt.vector_summary(response, "float32", "en")
    assert f"**dimension** {len(response.query_vector)}" in summary and "fake-onehot" in summary
    assert "**L2 norm** 1.0000" in summary
    assert fmt.vector_summary(engine.search("苹果", k=2, mode="keyword"), "", "en") == text("vec_none", "en")


def test_timings_table_in_pipeline_order():
    table = fmt.timings_table({"total": 5.0, "keyword": 1.25, "tokenize": 0.5, "extra": 2.0}, "en")
    assert list(table.iloc[:, 0]) == ["tokenise", "BM25 search", "total", "extra"]
    assert list(table.iloc[:, 1]) == ["0.50", "1.25", "5.00", "2.00"]


def test_status_line_for_each_state():
    loading = fmt.status_html(ModelStatus(LOADING, "auto"), "zh")
    assert "正在加载向量引擎" in loading and 'data-state="loading"' in loading
    ready = fmt.status_html(ModelStatus(READY, "auto", "multilingual-e5-small", "cpu", "int4", 384), "zh")
    assert "向量空间已展开" in ready and "multilingual-e5-small" in ready and "384" in ready and "cpu" in ready
    fallback = fmt.status_html(ModelStatus(READY, "auto", "m", "cpu", "int4", 384, fallback_reason="no <GPU>"), "en")
    assert "no &lt;GPU&gt;" in fallback and "packaged model" in fallback
    failed = fmt.status_html(ModelStatus(FAILED, "x", error="ModelLoadError: boom"), "en")
    assert "boom" in failed and "keyword search only" in failed


def test_notice_is_escaped_and_empty_hides_it():
    assert fmt.notice_html("") == "" and fmt.notice_html([]) == "" and fmt.notice_html(["", None]) == ""
    assert fmt.notice_html(["a", "b"]).count("<div>") == 2
    assert "&lt;script&gt;" in fmt.notice_html("<script>", error=True)
    assert 'class="notice error"' in fmt.notice_html("x", error=True)


# ---------------------------------------------------------------- plots


def test_vector_bar_draws_the_first_50_values_coloured_by_sign():
    vector = np.where(np.arange(384) % 2 == 0, 0.5, -0.25)
    fig = plots.vector_bar(vector, lang="en")
    bar = fig.data[0]
    assert len(bar.y) == 50 and list(bar.y[:2]) == [0.5, -0.25]
    colours = list(bar.marker.color)
    assert len(set(colours[0::2])) == 1 and len(set(colours[1::2])) == 1 and colours[0] != colours[1]
    assert "50" in fig.layout.title.text


def test_vector_histogram_covers_every_dimension():
    vector = np.random.default_rng(0).normal(size=384)
    fig = plots.vector_histogram(vector, lang="zh")
    assert len(fig.data[0].x) == 384
    assert "384" in fig.layout.title.text


# ---------------------------------------------------------------- strings, thresholds, samples


def test_every_string_exists_in_both_languages():
    assert set(TEXTS["zh"]) == set(TEXTS["en"])


def test_one_rule_for_every_model():
    assert calibration_for("Qwen/Qwen3-Embedding-4B") is calibration_for("multilingual-e5-small") is EVIDENCE
    assert calibration_for(None) is UNCALIBRATED is EVIDENCE and 0.0 < EVIDENCE.threshold < 1.0
    assert not EVIDENCE.is_relevant(None) and not EVIDENCE.is_relevant({"coverage": None, "standing": None})


def test_fit_logistic_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.7, 1.0, 20_000)
    labels = (rng.uniform(size=scores.size) < 1 / (1 + np.exp(-(60 * scores - 51)))).astype(int)
    slope, intercept = fit_logistic(scores, labels)
    assert slope == pytest.approx(60, rel=0.1) and intercept == pytest.approx(-51, rel=0.1)
    with pytest.raises(ValueError, match="both"):
        fit_logistic(scores[:10], np.ones(10))
    cut = best_threshold(scores, labels)
    assert cut["threshold"] == pytest.approx(51 / 60, abs=0.02) and 0.5 < cut["auc"] <= 1.0


def test_share_encode_decode_round_trip_and_refuse_nonsense():
    values = {"q": "笔记本 黑屏 & more", "sample": "tech_faq", "split": True, "alpha": 0.35, "fusion": "rrf",
              "normalizer": "zscore", "k": 7, "k1": 1.6, "b": 0.5, "threshold": 0.42, "lang": "en"}
    from urllib.parse import parse_qsl
    decoded, rejected = share.decode(dict(parse_qsl(share.encode(values))))
    assert decoded == values and rejected == []
    bad = {"q": "x" * 3000, "sample": "../etc", "alpha": "nan", "fusion": "evil", "k": "0", "threshold": "2",
           "lang": "fr", "split": "maybe", "other": "ignored"}
    decoded, rejected = share.decode(bad)
    assert decoded == {} and sorted(rejected) == sorted(set(bad) - {"other"})
    assert share.link("https://x.gradio.live/?a=1#f", {"q": "hi"}) == "https://x.gradio.live/?q=hi"


def test_samples_and_their_example_queries():
    names = sample_names()
    assert names[0] == DEFAULT_SAMPLE and len(names) >= 3
    for name in names:
        assert sample_text(name).count("\n") >= 5
        assert example_queries(name), f"sample {name} has no example queries"
        assert TEXTS["zh"].get(f"sample_{name}"), f"sample {name} has no display name"
    with pytest.raises(KeyError, match="everyday"):
        sample_text("nope")


def test_why_of_a_keyword_hit_outside_the_semantic_list_says_its_cosine_was_looked_up():
    looked_up = _hit(rank=1, score=0.5, keyword_score=3.0, keyword_rank=1, keyword_weight=0.3,
                     keyword_score_norm=1.0, keyword_contribution=0.3, semantic_score=0.84, semantic_rank=None,
                     semantic_weight=0.7, semantic_score_norm=0.2857, semantic_contribution=0.2)
    for lang in ("zh", "en"):
        why = html.unescape(fmt.why_details(looked_up, alpha_used=0.7, fusion="adaptive", lang=lang))
        assert text("why_hit_semantic_lookup", lang) in why and text("why_hit_no_semantic", lang) not in why
        assert "= 0.2000" in why
    no_cosine = _hit(rank=1, score=0.3, keyword_score=3.0, keyword_rank=1, keyword_weight=1.0,
                     keyword_score_norm=0.3, keyword_contribution=0.3, semantic_score=None, semantic_rank=None)
    why = html.unescape(fmt.why_details(no_cosine, alpha_used=0.0, fusion="adaptive", lang="en"))
    assert text("why_hit_no_semantic", "en") in why and text("why_hit_semantic_lookup", "en") not in why


def test_why_this_rank_says_what_the_learned_weight_chose_and_why(engine):
    from hybrid import weight_model as wm

    n, grid = len(wm.FEATURE_NAMES), np.round(np.linspace(0, 1, 11), 1)
    coefficients = np.zeros((grid.size, n))
    coefficients[9, wm.FEATURE_NAMES.index("matched_share")] = -1.0  # few matched words: alpha 0.9 gains
    means = np.zeros(n)
    means[wm.FEATURE_NAMES.index("matched_share")] = 1.0
    wm._active["model"] = wm.WeightModel(wm.FEATURE_NAMES, means, np.ones(n), grid, 0.7, np.zeros(grid.size),
                                         coefficients)
    try:
        response = engine.search("苹果 capital", k=3, alpha=0.7, fusion="learned")  # "capital" matches nothing
        assert response.weight_choice.chosen == 0.9 and response.weight_choice.reasons[0][0] == "matched_share"
        _, _, hybrid = fmt.results_columns(response, UNCALIBRATED, 0.5, lang="en")
        assert "few of your words matched: more semantic" in html.unescape(hybrid)
        assert "semantic weight 0.9 for this query (default 0.7)" in html.unescape(hybrid)
        # "capital" matched nothing, so adaptive's coverage rule raises the weight used above the chosen 0.9
        assert response.alpha_used > 0.91
        assert (f"so the semantic weight used rises from 0.9 to {response.alpha_used:.2f}."
                in html.unescape(hybrid))
        _, _, hybrid = fmt.results_columns(response, UNCALIBRATED, 0.5, lang="zh")
        assert "你的词很少匹配上: 更偏语义" in html.unescape(hybrid)
        kept = engine.search("苹果", k=3, alpha=0.7, fusion="learned")  # every word matched: no gain predicted
        assert kept.weight_choice.chosen == 0.7 and not kept.weight_choice.reasons
        _, _, hybrid = fmt.results_columns(kept, UNCALIBRATED, 0.5, lang="en")
        assert "the model predicted no better weight" in html.unescape(hybrid)
        other = engine.search("苹果 capital", k=3, alpha=0.7, fusion="adaptive")
        assert other.weight_choice is None and "Learned weight" not in fmt.results_columns(other, UNCALIBRATED, 0.5,
                                                                                           lang="en")[2]
    finally:
        wm.use(None)


def test_the_learned_weights_note_names_the_weight_used_when_the_rules_of_adaptive_change_it():
    from hybrid.fusion import WeightChoice

    choice = WeightChoice(0.7, 0.5, (("matched_share", 1.3),))
    same = fmt.weight_note(choice, 0.5, "en")
    assert same.startswith("Learned weight: semantic weight 0.5 for this query (default 0.7)") and "rises" not in same
    raised = fmt.weight_note(choice, 0.8, "en")  # coverage (1 - 0.8) / (1 - 0.5) = 40%
    assert "holds 40% of your words (by rarity), so the semantic weight used rises from 0.5 to 0.80." in raised
    assert "提高到 0.80" in fmt.weight_note(choice, 0.8, "zh")
    blind = fmt.weight_note(choice, 1.0, "en", blind_spot=True)
    assert blind.startswith("Semantic only (weight 1.00), overriding the learned weight 0.5")
    assert "semantic weight 0.5 for this query" not in blind
    assert fmt.weight_note(WeightChoice(0.7, 1.0), 1.0, "en", blind_spot=True).startswith("Learned weight")
    none = fmt.weight_note(WeightChoice(0.7, 0.7), 0.85, "en")  # no gain predicted, then coverage raises it
    assert none == ("Learned weight: the model predicted no better semantic weight than 0.7. The best keyword match "
                    "holds 50% of your words (by rarity), so the semantic weight used rises from 0.7 to 0.85.")
    kept = fmt.weight_note(WeightChoice(0.7, 0.7), 0.7, "zh")
    assert kept == "学习的权重：模型没有预测到更好的权重，保持语义权重 0.7。"
    assert fmt.weight_note(None, 0.7) is None and fmt.weight_note(choice, None) is None


# ---------------------------------------------------------------- judgements


def test_cards_carry_judgement_buttons_and_the_badge_in_every_column(engine):
    response = engine.search('法国 "><img src=x onerror=alert(1)>', k=3)
    grades = {"法国的首都是巴黎。": 2}
    columns = fmt.results_columns(response, UNCALIBRATED, 0.5, "zh", grades=grades)
    for column in columns:
        assert 'data-query="法国 &quot;&gt;&lt;img src=x onerror=alert(1)&gt;"' in column  # escaped, never markup
        assert "<img" not in column
    shown = [c for c, name in zip(columns, ("keyword", "semantic", "hybrid")) if "的首都是巴黎" in c]
    assert len(shown) == 3
    for column in shown:
        card = column[column.index('<div class="hit'):]
        card = card[: card.index("的首都是巴黎")]  # the head of the judged card: its badge
        assert 'class="judged g2"' in card and "已评 2 很相关" in card
        assert column.count('aria-pressed="true"') == 1 and 'data-grade="2" aria-pressed="true"' in column
    # without judgements (a served store) there are no buttons and no query attribute
    plain = fmt.results_columns(response, UNCALIBRATED, 0.5, "zh")
    assert not any('class="judge"' in c or "data-query" in c for c in plain)


def test_judge_buttons_and_line_in_both_languages():
    assert fmt.judge_buttons(None, "en").count('aria-pressed="false"') == 3
    assert '0 not relevant' in fmt.judge_buttons(0, "en") and 'data-grade="0" aria-pressed="true"' in \
        fmt.judge_buttons(0, "en")
    from hybrid.judgements import coverage

    cov = coverage({"keyword": ["A", "B"], "hybrid": ["A"]}, {"A": 1})
    line = fmt.judge_line(cov, 3, "zh", names={"keyword": "关键词", "hybrid": "混合"})
    assert "nDCG@10 关键词 1.000 · 混合 1.000" in line and "显示的 2 条中 1 条未评判" in line and "共 3 条" in line
    assert "前 10 条" not in line  # nDCG@10: the evaluation tab's figure, nothing to add
    cut = fmt.judge_line(coverage({"hybrid": ["B", "C", "A"]}, {"A": 1}, k=3), 3, "en", k=3)
    assert "nDCG@3 hybrid 0.500" in cut and "over the 3 hits shown; the evaluation tab ranks 10" in cut, cut
    none = fmt.judge_line(coverage({"keyword": ["A"]}, {"A": 0}), 1, "en")
    assert "no hit of this query is judged relevant" in none and "0 of 1 shown hits unjudged" in none and "this session: 1" in none
    assert fmt.judge_line(None, 0) == ""


def test_a_keyword_match_the_querys_weight_ignores_says_why_on_the_card():
    """tech sample, "GPU memory error": the CUDA entry is BM25 #1, adaptive chose alpha 1 (a blind spot)."""
    hit = _hit(text="CUDA out of memory", score=0.27, keyword_score=2.4793, keyword_score_norm=1.0,
               semantic_score=0.8, semantic_score_norm=0.27, keyword_contribution=0.0, semantic_contribution=0.27,
               keyword_weight=0.0, semantic_weight=1.0, keyword_rank=1, semantic_rank=1, hybrid_rank=1)
    card = fmt.hit_card(hit, "hybrid", UNCALIBRATED, 0.5, 0.27, "zh", alpha_used=1.0, fusion="adaptive")
    assert "这条匹配了关键词（BM25 2.4793），但这次融合给关键词的权重是 0（α = 1.00）" in card
    assert "adaptive 在语义最相近的候选里" in card
    english = fmt.hit_card(hit, "hybrid", UNCALIBRATED, 0.5, 0.27, "en", alpha_used=1.0, fusion="weighted")
    assert "keywords weight 0 (α = 1.00)" in english and "adaptive uses" not in english
    weighted = fmt.hit_card(Hit(**{**hit.__dict__, "keyword_weight": 0.3, "keyword_contribution": 0.3}), "hybrid",
                            UNCALIBRATED, 0.5, 0.57, "zh", alpha_used=0.7, fusion="weighted")
    assert "权重是 0" not in weighted


def test_the_judgements_set_is_named_in_the_pages_language():
    report = {"dataset": plots.JUDGED_SET}
    assert plots.dataset_name(report, "zh") == "我的评判" and plots.dataset_name(report, "en") == "my judgements"
    assert plots.dataset_name({"dataset": "scifact"}, "en") == "scifact"


def test_english_counts_of_one_are_singular_and_other_counts_stay_plural():
    from webui.i18n import text

    assert text("kb_count", "en", n=1) == "1 entry"
    assert text("kb_count", "en", n=2) == "2 entries" and text("kb_count", "en", n=21) == "21 entries"
    assert text("kb_count", "en", n="1,001") == "1,001 entries" and text("kb_count", "en", n=0) == "0 entries"
    assert text("eval_read", "en", files="1 files", queries=1, docs=1) == "Read 1 file: 1 query, 1 document."
    assert text("eval_read", "en", files="3 files", queries=11, docs=31) == "Read 3 files: 11 queries, 31 documents."
    assert text("kb_count", "zh", n=1) == "共 1 条"


def test_the_figures_plotly_modules_are_loaded_with_the_page_not_by_the_first_handlers():
    """plotly imports its figure classes on first use; two handlers drawing first figures at once in worker
    threads deadlocked in that import (CI). In a fresh process, importing the page's plots loads them, and
    eight threads then draw at once without an error."""
    import subprocess
    import sys

    code = """
import sys, threading
import numpy as np
from webui import plots
lazy = ("plotly.graph_objs._figure", "plotly.graph_objs._bar", "plotly.graph_objs._histogram",
        "plotly.graph_objs._scatter", "narwhals.stable.v2", "plotly.io._json")
missing = [m for m in lazy if m not in sys.modules]
assert not missing, missing
errors = []
def draw(i):
    try:
        v = np.random.default_rng(i).normal(size=384)
        (plots.vector_bar if i % 2 else plots.vector_histogram)(v, lang="zh").to_json()
    except BaseException as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=draw, args=(i,)) for i in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
assert not errors, errors
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_threshold_help_says_how_the_rule_was_chosen_in_the_pages_language():
    # the zh page read "规则选自 5 labelled sets (zh, en, mixed), half of their queries"
    zh = fmt.threshold_info(ModelStatus(READY, "auto", "m", "cpu", "int4", 384), "zh")
    en = fmt.threshold_info(ModelStatus(LOADING, "auto"), "en")
    assert "规则选自 5 个评测集（中文、英文、中英混合）各一半的查询" in zh and "labelled" not in zh
    assert "rule chosen on 5 labelled sets (zh, en, mixed), half of their queries" in en


def test_chinese_texts_hold_no_english_words_beyond_names_and_code():
    import re

    # names (models, formats, fusion methods), code and units are fine; English prose words are not
    prose = {"the", "of", "and", "or", "their", "half", "sets", "set", "labelled", "labeled", "with", "from", "is",
             "are", "not", "on", "chosen", "rule", "default", "loading", "failed", "ready", "only",
             "please", "click", "upload", "file", "files", "error", "no", "yes"}
    not_prose = re.compile(r"`[^`]*`|\{[^}]*\}|[\w-]+\.[a-z]+")  # code, placeholders, file names
    found = {key: words for key, value in TEXTS["zh"].items()
             if (words := {w.lower() for w in re.findall(r"[A-Za-z]+", not_prose.sub("", value))} & prose)}
    assert found == {}
