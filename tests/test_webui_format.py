"""Formatting and plot functions of the demo, tested on their own."""

from __future__ import annotations

import html

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
from webui.thresholds import DEFAULT_THRESHOLD, THRESHOLDS, threshold_for

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


def test_bar_follows_cosine_in_semantic_column_and_top_score_elsewhere():
    assert fmt.bar_percent(0.8, "semantic") == pytest.approx(80.0)
    assert fmt.bar_percent(-0.2, "semantic") == 0.0
    assert fmt.bar_percent(1.3, "semantic") == 100.0
    assert fmt.bar_percent(3.0, "keyword", top_score=12.0) == pytest.approx(25.0)
    assert fmt.bar_percent(0.01, "hybrid", top_score=0.02) == pytest.approx(50.0)
    assert fmt.bar_percent(1.0, "keyword", top_score=0.0) == 0.0


def test_rank_movement():
    assert fmt.rank_movement(4, 1, "en") == ("↑3", "up")
    assert fmt.rank_movement(1, 2, "en") == ("↓1", "down")
    assert fmt.rank_movement(2, 2, "en") == ("=", "same")
    assert fmt.rank_movement(None, 1, "en") == ("new", "new")
    assert fmt.rank_movement(None, 1, "zh") == ("新", "new")


def test_hit_card_is_green_above_threshold_and_grey_below():
    relevant = fmt.hit_card(_hit(score=0.91234, semantic_score=0.91234), "semantic", threshold=0.9)
    other = fmt.hit_card(_hit(score=0.81234, semantic_score=0.81234), "semantic", threshold=0.9)
    assert 'class="hit relevant"' in relevant and "0.9123" in relevant and "width: 91.2%" in relevant
    assert 'class="hit other"' in other and "0.8123" in other
    no_cosine = fmt.hit_card(_hit(score=3.0), "keyword", threshold=0.0, top_score=3.0)
    assert 'class="hit other"' in no_cosine and "width: 100.0%" in no_cosine


def test_hybrid_card_shows_movement_and_parts():
    hit = _hit(rank=1, score=0.75, semantic_score=0.9, keyword_rank=3, semantic_rank=None,
               keyword_contribution=0.25, semantic_contribution=0.5)
    card = fmt.hit_card(hit, "hybrid", threshold=0.5, top_score=0.75, lang="en")
    assert "kw ↑2" in card and "sem new" in card
    assert "keyword 0.2500 + semantic 0.5000" in card


# ---------------------------------------------------------------- whole responses


def test_results_columns_of_a_real_search(engine):
    response = engine.search("苹果好吃吗", k=3, alpha=0.5, fusion="weighted")
    keyword, semantic, hybrid = fmt.results_columns(response, threshold=0.5, lang="zh")
    assert keyword.count('class="hit ') == len(response.keyword) >= 1
    assert semantic.count('class="hit ') == len(response.semantic) == 3
    assert hybrid.count('class="hit ') == len(response.hybrid) == 3
    assert "<mark>苹果</mark>" in keyword
    assert "语义 (fake-onehot)" in semantic and "混合 (weighted, α=0.50)" in hybrid
    top = response.semantic[0]
    assert f"{top.score:.4f}" in semantic


def test_keyword_only_response_explains_the_missing_columns(engine):
    response = engine.search("巴黎", k=3, mode="keyword")
    keyword, semantic, hybrid = fmt.results_columns(response, threshold=0.5, lang="en")
    assert "<mark>巴黎</mark>" in keyword
    waiting = html.escape(text("semantic_waiting", "en"))
    assert waiting in semantic and waiting in hybrid


def test_no_keyword_match_says_so(engine):
    response = engine.search("qwertyuiop", k=3)
    keyword, _, _ = fmt.results_columns(response, threshold=0.5, lang="en")
    assert html.escape(text("no_keyword_hits", "en")) in keyword


def test_why_table_breaks_down_each_hybrid_score(engine):
    response = engine.search("苹果", k=4, alpha=0.3, fusion="weighted")
    table = fmt.why_table(response, "en")
    assert list(table.columns)[0] == "rank" and len(table.columns) == 9
    assert len(table) == len(response.hybrid)
    for row, hit in zip(table.itertuples(index=False), response.hybrid):
        kw_part, sem_part, total = float(row[6]), float(row[7]), float(row[8])
        assert kw_part + sem_part == pytest.approx(total, abs=2e-4)
        assert row[2] == fmt.fmt_score(hit.keyword_score)
    assert "—" in set(table.iloc[:, 2])  # documents BM25 did not match have no raw BM25 score
    assert fmt.alpha_note(response, "en").startswith("alpha used for this query = 0.3000")


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
    assert fmt.notice_html("") == ""
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


def test_thresholds_by_exact_model_name():
    assert threshold_for("Qwen/Qwen3-Embedding-4B") == 0.4
    assert threshold_for("multilingual-e5-small") == THRESHOLDS["multilingual-e5-small"]
    assert threshold_for("qwen3-4b") == DEFAULT_THRESHOLD  # aliases are resolved before the lookup
    assert 0.0 < DEFAULT_THRESHOLD < 1.0


def test_samples_and_their_example_queries():
    names = sample_names()
    assert names[0] == DEFAULT_SAMPLE and len(names) >= 3
    for name in names:
        assert sample_text(name).count("\n") >= 5
        assert example_queries(name), f"sample {name} has no example queries"
        assert TEXTS["zh"].get(f"sample_{name}"), f"sample {name} has no display name"
    with pytest.raises(KeyError, match="everyday"):
        sample_text("nope")
