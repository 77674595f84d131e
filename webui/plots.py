"""Plotly figures of the demo: the query vector (behind the scenes) and the evaluation curve."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import plotly.graph_objects as go

from .format import VECTOR_PREVIEW
from .i18n import text

_POSITIVE, _NEGATIVE = "#2563eb", "#f97316"


def _load_plotly() -> None:
    """Import the plotly modules the page's figures use, now, in the thread that builds the page.

    plotly loads each figure class (and narwhals under it) on first use; two handlers drawing their first
    figures at once in worker threads can meet in that import, and Python then raises ``_DeadlockError``
    (CI saw it from ``vector_bar``). About 0.07 s, once per process.
    """
    import plotly.io

    figure = go.Figure([go.Bar(x=[0], y=[0]), go.Histogram(x=[0]), go.Scatter(x=[0], y=[0])])
    plotly.io.to_json(figure)


_load_plotly()


# The name of the set "evaluate my judgements" builds (shown translated, whatever language it ran in).
JUDGED_SET = "session-judgements"


def dataset_name(report: Mapping[str, Any], lang: str) -> str:
    """The name the page gives an evaluated set ("uploaded set" when its files named none)."""
    if report.get("dataset") == JUDGED_SET:
        return text("eval_judged_name", lang)
    return str(report.get("dataset") or "") or text("eval_uploaded", lang)


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(title={"text": title, "font": {"size": 14}}, height=300, bargap=0.15,
                      margin={"l": 50, "r": 10, "t": 40, "b": 40}, showlegend=False,
                      xaxis_title=x_title, yaxis_title=y_title, template="plotly_white")
    return fig


def vector_bar(vector: np.ndarray, n: int = VECTOR_PREVIEW, lang: str = "zh") -> go.Figure:
    """Bar chart of the first ``n`` values of a vector, positive and negative values in two colours.

    Args:
        vector: the query vector.
        n: how many leading dimensions to draw.
        lang: "zh" or "en".
    Returns:
        A figure with one bar trace of ``min(n, len(vector))`` bars.
    """
    v = np.asarray(vector, dtype=np.float64).ravel()[:n]
    fig = go.Figure(go.Bar(x=np.arange(v.size), y=v, marker_color=[_POSITIVE if x >= 0 else _NEGATIVE for x in v],
                           hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    return _layout(fig, text("plot_bar_title", lang, n=v.size), text("vec_index", lang), text("vec_value", lang))


def vector_histogram(vector: np.ndarray, bins: int = 40, lang: str = "zh") -> go.Figure:
    """Histogram of every value of a vector.

    Args:
        vector: the query vector.
        bins: number of bins.
        lang: "zh" or "en".
    Returns:
        A figure with one histogram trace over all dimensions.
    """
    v = np.asarray(vector, dtype=np.float64).ravel()
    fig = go.Figure(go.Histogram(x=v, nbinsx=bins, marker_color=_POSITIVE,
                                 hovertemplate="%{x}: %{y}<extra></extra>"))
    return _layout(fig, text("plot_hist_title", lang, n=v.size), text("vec_value", lang), text("plot_count", lang))


def eval_curve(report: Mapping[str, Any], lang: str = "zh") -> go.Figure:
    """``hybrid.evaluate.make_figure`` (nDCG@10 against alpha per fusion method, each curve in its own colour or
    colour and dash, keyword and semantic as lines, the default as a star, the y axis inside [0, 1]) with its texts
    in ``lang``.

    Args:
        report: from ``hybrid.evaluate.run``.
        lang: "zh" or "en".
    Returns:
        The figure.
    """
    from hybrid.evaluate import make_figure

    names = {"keyword": text("eval_keyword", lang), "semantic": text("eval_semantic", lang)}
    fig = make_figure(report, label=lambda name, value: text("eval_plot_only", lang, name=names[name],
                                                               value=f"{value:.3f}"))
    config = report["hybrid_config"]
    for trace in fig.data:
        if trace.name == f"default ({config['fusion']})":
            trace.name = text("eval_plot_default", lang, fusion=config["fusion"])
    fig.update_layout(title=text("eval_plot_title", lang, dataset=dataset_name(report, lang), model=report["model"]),
                      xaxis_title=text("eval_plot_x", lang), height=460, margin={"l": 50, "r": 10, "t": 60, "b": 40},
                      title_font_size=15,
                      # under the plot, in rows: beside it, the legend took half a phone's width (review)
                      legend={"orientation": "h", "yanchor": "top", "y": -0.18, "xanchor": "left", "x": 0})
    return fig
