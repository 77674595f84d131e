"""The evaluation tab's figure (``webui.plots.eval_curve``, over ``hybrid.evaluate.make_figure``): every curve
distinguishable, the baselines' labels apart, the y axis inside nDCG's [0, 1]."""

import itertools

import pytest

from hybrid.evaluate import MAX_BANDS, make_figure
from hybrid.fusion import FUSERS, NORMALIZERS, USES_NORMALIZER
from webui import plots
from webui.eval_tab import SWEEP_WINDOWS


def report(fusions=tuple(FUSERS), normalizers=("minmax",), windows=(100,), keyword=0.6, semantic=0.7,
           score=lambda fusion, alpha: 0.5 + 0.2 * alpha, band=0.05) -> dict:
    sweep = [{"fusion": f, "alpha": a, "normalizer": n, "window": w, "ndcg@10": score(f, a),
              "ci95": [max(0.0, score(f, a) - band), min(1.0, score(f, a) + band)]}
             for f in fusions for n in (normalizers if f in USES_NORMALIZER else ("minmax",))
             for w in windows for a in (0.0, 0.5, 1.0)]
    return {"dataset": "tiny", "model": "m", "sweep": sweep,
            "results": {"keyword": {"ndcg@10": keyword}, "semantic": {"ndcg@10": semantic},
                        "hybrid": {"ndcg@10": 0.65}},
            "hybrid_config": {"fusion": "adaptive", "alpha": 0.6, "normalizer": "minmax", "window": 100, "rrf_k": 60}}


def curves(fig):
    return [t for t in fig.data if t.mode == "lines+markers"]


def style(trace):
    return trace.line.color, trace.line.dash or "solid", trace.marker.symbol


def test_the_reviewers_sweep_gives_learned_its_own_colour():
    # normalizers minmax + zscore, windows 20 and 100: "learned w20" was drawn in "weighted minmax w20"'s #2563eb
    fig = plots.eval_curve(report(normalizers=("minmax", "zscore"), windows=(20, 100)), "zh")
    lines = {t.name: style(t) for t in curves(fig)}
    assert len(lines) == 10 and len(set(lines.values())) == 10
    assert lines["learned w20"] != lines["weighted minmax w20"]
    assert lines["learned w100"] != lines["weighted minmax w100"]
    bands = {t.name[:-len(" 95% band")]: t.fillcolor for t in fig.data if t.name.endswith("95% band")}
    assert all(bands[name] == lines[name][0] for name in bands)  # a band in its line's colour
    assert len(bands) == MAX_BANDS  # of 10 lines, only the highest get one (28 made an opaque block)


@pytest.mark.parametrize("fusions,normalizers,windows", [
    (tuple(FUSERS), tuple(NORMALIZERS), (*SWEEP_WINDOWS, 30)),  # the most the tab sweeps: 35 curves
    (("weighted",), tuple(NORMALIZERS), SWEEP_WINDOWS),
    (("rrf", "learned"), ("minmax",), SWEEP_WINDOWS),
])
def test_every_curve_the_tab_can_draw_looks_unlike_the_others(fusions, normalizers, windows):
    fig = plots.eval_curve(report(fusions, normalizers, windows), "en")
    lines = curves(fig)
    expected = len(fusions) * len(windows) + (len(normalizers) - 1) * len(windows) * ("weighted" in fusions)
    assert len(lines) == expected
    styles = [style(t) for t in lines]
    assert len(set(styles)) == len(styles)
    assert len({(color, dash) for color, dash, _ in styles}) == len(styles)  # colour and dash alone tell them apart
    assert all(t.line.color != fig.layout.shapes[0].line.color for t in lines)  # none in the baselines' grey


def test_any_number_of_curves_are_distinct_and_baselines_stay_grey():
    many = report(fusions=("weighted",), normalizers=("minmax",), windows=tuple(range(1, 61)))
    styles = [style(t) for t in curves(make_figure(many))]
    assert len(styles) == 60 and len(set(styles)) == 60
    assert all(color != "#6b7280" for color, *_ in styles)


def test_equal_baselines_share_one_label_and_the_axis_stays_in_0_1():
    # everything scores 1.000: the two labels were drawn on each other, and the axis ran 0-2
    fig = plots.eval_curve(report(keyword=1.0, semantic=1.0, score=lambda f, a: 1.0, band=0.0), "zh")
    texts = [a.text for a in fig.layout.annotations]
    assert texts == ["只用关键词 (BM25) 1.000<br>只用语义 1.000"]
    low, high = fig.layout.yaxis.range
    assert 0.0 <= low < high <= 1.0 and high - low >= 0.15


def test_close_baselines_share_a_label_under_the_lower_line_and_far_ones_keep_their_own():
    fig = plots.eval_curve(report(keyword=0.702, semantic=0.7), "en")
    (label,) = fig.layout.annotations
    assert label.text == "keyword (BM25) only 0.702<br>semantic only 0.700" and label.y == 0.7
    assert label.yanchor == "top"  # under its line
    fig = plots.eval_curve(report(keyword=0.3, semantic=0.8), "en")
    assert sorted((a.y, a.text) for a in fig.layout.annotations) == [(0.3, "keyword (BM25) only 0.300"),
                                                                       (0.8, "semantic only 0.800")]


@pytest.mark.parametrize("values", [(0.0, 0.0), (0.0, 1.0), (0.41, 0.43), (0.98, 0.99), (0.5, 0.5)])
def test_the_y_axis_holds_every_value_with_room_and_never_leaves_0_1(values):
    keyword, semantic = values
    fig = plots.eval_curve(report(keyword=keyword, semantic=semantic, band=0.02,
                                  score=lambda f, a: keyword + (semantic - keyword) * a), "en")
    low, high = fig.layout.yaxis.range
    assert 0.0 <= low < high <= 1.0 and high - low >= 0.15
    shown = [y for t in fig.data for y in t.y]
    assert all(low <= y <= high for y in shown)
    # a label hangs under its line where there is room for it, else it stands on it: never below the axis (found
    # by the second review: a baseline at 0 drew its label under the plot, over the x axis' numbers)
    for label in fig.layout.annotations:
        lines = label.text.count("<br>") + 1
        if label.yanchor == "top":
            assert label.y - low >= 0.06 * lines * (high - low), (label.y, low, high)
        else:
            assert label.yanchor == "bottom" and label.y - low < 0.06 * lines * (high - low)
    if min(keyword, semantic) == 0.0:
        assert any(label.yanchor == "bottom" for label in fig.layout.annotations)
