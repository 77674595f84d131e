"""Pure formatting of search results for the demo: HTML columns, score tables, vector statistics, status line."""

from __future__ import annotations

import html
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from hybrid.results import Hit, SearchResponse
from hybrid.service import FAILED, READY, ModelStatus

from .i18n import text

COLUMNS = ("keyword", "semantic", "hybrid")
VECTOR_PREVIEW = 50  # dimensions shown in the table and the bar chart
_STAGES = ("tokenize", "keyword", "embed", "vector", "fuse", "total")
_NONE = "—"
_WHY_COLUMNS = ("why_rank", "why_text", "why_bm25", "why_bm25_norm", "why_cosine", "why_cosine_norm",
                "why_kw_part", "why_sem_part", "why_total")

# Scoped to each results column (gr.HTML css_template), so it travels with the component however the app
# is served. Colours come from the Gradio theme's variables where one fits, so dark mode works too.
COLUMN_CSS = """
.col-head { display: flex; justify-content: space-between; align-items: baseline; gap: 8px;
  border-bottom: 2px solid var(--border-color-primary); padding-bottom: 6px; margin-bottom: 8px; }
.col-title { font-weight: 700; font-size: 1.05em; color: var(--body-text-color); }
.col-note { font-size: 0.78em; color: var(--body-text-color-subdued); white-space: nowrap; }
.col-empty { color: var(--body-text-color-subdued); padding: 12px 4px; font-size: 0.92em; }
.hit { border: 1px solid var(--border-color-primary); border-left: 5px solid #9ca3af; border-radius: 8px;
  padding: 8px 10px; margin-bottom: 8px; background: var(--background-fill-primary); }
.hit.relevant { border-left-color: #16a34a; background: rgba(22, 163, 74, 0.07); }
.hit-head { display: flex; align-items: center; gap: 8px; flex-wrap: wrap; font-size: 0.85em; }
.rank { display: inline-flex; justify-content: center; align-items: center; min-width: 22px; height: 22px;
  border-radius: 11px; background: #6b7280; color: #fff; font-weight: 700; font-size: 0.85em; }
.hit.relevant .rank { background: #16a34a; }
.score { font-family: var(--font-mono); font-weight: 600; color: var(--body-text-color); }
.kind { color: var(--body-text-color-subdued); }
.tag { font-size: 0.8em; padding: 1px 6px; border-radius: 9px; background: rgba(22, 163, 74, 0.15); color: #15803d; }
.move { font-size: 0.8em; padding: 1px 6px; border-radius: 9px; white-space: nowrap; }
.move.up { background: rgba(22, 163, 74, 0.15); color: #15803d; }
.move.down { background: rgba(220, 38, 38, 0.12); color: #b91c1c; }
.move.new { background: rgba(37, 99, 235, 0.13); color: #1d4ed8; }
.move.same { background: rgba(107, 114, 128, 0.15); color: #4b5563; }
.hit-text { margin: 6px 0; line-height: 1.5; color: var(--body-text-color); word-break: break-word; }
.hit-text mark { background: #fde68a; color: #111827; padding: 0 1px; border-radius: 3px; }
.bar { height: 6px; background: rgba(107, 114, 128, 0.18); border-radius: 3px; overflow: hidden; }
.fill { height: 100%; background: #9ca3af; border-radius: 3px; }
.hit.relevant .fill { background: #16a34a; }
.parts { margin-top: 4px; font-size: 0.78em; color: var(--body-text-color-subdued); font-family: var(--font-mono); }
"""

STATUS_CSS = """
.status { display: flex; align-items: center; gap: 10px; padding: 8px 12px; border-radius: 8px;
  font-size: 0.95em; border: 1px solid var(--border-color-primary); }
.status.loading { background: rgba(245, 158, 11, 0.12); }
.status.ready { background: rgba(22, 163, 74, 0.10); }
.status.failed { background: rgba(220, 38, 38, 0.10); }
.dot { width: 10px; height: 10px; border-radius: 5px; flex: none; }
.loading .dot { background: #f59e0b; animation: pulse 1s ease-in-out infinite alternate; }
.ready .dot { background: #16a34a; }
.failed .dot { background: #dc2626; }
.note { font-size: 0.85em; color: var(--body-text-color-subdued); margin-top: 2px; }
@keyframes pulse { from { opacity: 0.3; } to { opacity: 1; } }
"""

NOTICE_CSS = """
.notice { padding: 8px 12px; border-radius: 8px; background: rgba(245, 158, 11, 0.14);
  border: 1px solid rgba(245, 158, 11, 0.5); color: var(--body-text-color); }
.notice.error { background: rgba(220, 38, 38, 0.10); border-color: rgba(220, 38, 38, 0.5); }
"""


def fmt_score(value: float | None) -> str:
    """A score to 4 decimals, or a dash when there is none."""
    return _NONE if value is None else f"{value:.4f}"


def highlight(content: str, spans: Iterable[tuple[int, int]]) -> str:
    """HTML-escape ``content`` and wrap the character ``spans`` (start, end) in ``<mark>``.

    Args:
        content: the hit's text.
        spans: sorted, non-overlapping character ranges of matched query words.
    Returns:
        Safe HTML.
    """
    out, at = [], 0
    for start, end in spans:
        start, end = max(start, at), min(end, len(content))
        if start >= end:
            continue
        out.append(html.escape(content[at:start]))
        out.append(f"<mark>{html.escape(content[start:end])}</mark>")
        at = end
    out.append(html.escape(content[at:]))
    return "".join(out)


def bar_percent(score: float, column: str, top_score: float | None = None) -> float:
    """Length of a hit's score bar in percent.

    Args:
        score: the hit's score in its column.
        column: "semantic" (the bar is the cosine: 0.8 fills 80%), "keyword" or "hybrid" (share of
            ``top_score``, the column's best score, since BM25 and rank-fusion scores have no fixed scale).
        top_score: the best score of the column (keyword, hybrid).
    Returns:
        0 to 100.
    """
    if column == "semantic":
        value = score
    else:
        value = score / top_score if top_score and top_score > 0 else 0.0
    return float(min(max(value, 0.0), 1.0) * 100.0)


def is_relevant(hit: Hit, threshold: float) -> bool:
    """Whether the hit's cosine reaches the relevance threshold (False without a cosine)."""
    return hit.semantic_score is not None and hit.semantic_score >= threshold


def rank_movement(other_rank: int | None, rank: int, lang: str = "zh") -> tuple[str, str]:
    """How a hybrid hit moved against its place in another list.

    Args:
        other_rank: 1-based place among that list's candidates, None when it was not a candidate there.
        rank: its hybrid rank.
        lang: "zh" or "en".
    Returns:
        (label, css kind): ("↑3", "up"), ("↓1", "down"), ("=", "same") or ("新"/"new", "new").
    """
    if other_rank is None:
        return text("moved_new", lang), "new"
    delta = other_rank - rank
    if delta > 0:
        return f"↑{delta}", "up"
    if delta < 0:
        return f"↓{-delta}", "down"
    return "=", "same"


def hit_card(hit: Hit, column: str, threshold: float, top_score: float | None = None, lang: str = "zh") -> str:
    """One hit as an HTML card: rank, score (4 decimals), highlighted text, score bar, and for hybrid hits
    the rank movement and the weighted parts of the score.

    Args:
        hit: the hit.
        column: "keyword", "semantic" or "hybrid".
        threshold: relevance threshold on the cosine.
        top_score: best score of the column (bar scale of keyword and hybrid).
        lang: "zh" or "en".
    Returns:
        HTML.
    """
    relevant = is_relevant(hit, threshold)
    kind = {"keyword": "score_bm25", "semantic": "score_cosine", "hybrid": "score_hybrid"}[column]
    head = [f'<span class="rank">{hit.rank}</span>',
            f'<span class="kind">{text(kind, lang)}</span> <span class="score">{hit.score:.4f}</span>']
    if column != "semantic" and hit.semantic_score is not None:
        head.append(f'<span class="kind">{text("cosine", lang)} {hit.semantic_score:.4f}</span>')
    if relevant:
        head.append(f'<span class="tag">{text("relevant", lang)}</span>')
    if column == "hybrid":
        for key, other in (("vs_keyword", hit.keyword_rank), ("vs_semantic", hit.semantic_rank)):
            label, move = rank_movement(other, hit.rank, lang)
            head.append(f'<span class="move {move}" title="{html.escape(text(key + "_title", lang))}">'
                        f"{text(key, lang)} {label}</span>")
    parts = ""
    if column == "hybrid":
        split = text("parts", lang, kw=f"{hit.keyword_contribution:.4f}", sem=f"{hit.semantic_contribution:.4f}")
        parts = f'<div class="parts">{split}</div>'
    width = bar_percent(hit.score, column, top_score)
    return (f'<div class="hit {"relevant" if relevant else "other"}" data-rank="{hit.rank}" '
            f'data-id="{html.escape(hit.id)}">'
            f'<div class="hit-head">{"".join(head)}</div>'
            f'<div class="hit-text">{highlight(hit.text, hit.highlights)}</div>'
            f'<div class="bar"><div class="fill" style="width: {width:.1f}%"></div></div>{parts}</div>')


def column_html(title: str, hits: Sequence[Hit], column: str, threshold: float, lang: str = "zh",
                empty: str | None = None) -> str:
    """One results column: a title, a note on what the bar shows, and the hit cards.

    Args:
        title: column heading.
        hits: the column's hits, best first.
        column: "keyword", "semantic" or "hybrid".
        threshold: relevance threshold on the cosine.
        lang: "zh" or "en".
        empty: message shown when there are no hits (a generic one when None).
    Returns:
        HTML.
    """
    note = text("bar_note_semantic" if column == "semantic" else "bar_note_relative", lang)
    top = hits[0].score if hits else None
    body = "".join(hit_card(h, column, threshold, top, lang) for h in hits)
    if not hits:
        body = f'<div class="col-empty">{html.escape(empty or text("no_hits", lang))}</div>'
    return (f'<div class="results-col" data-column="{column}"><div class="col-head">'
            f'<span class="col-title">{html.escape(title)}</span><span class="col-note">{note}</span></div>'
            f"{body}</div>")


def column_titles(model: str | None, fusion: str | None, alpha: float | None, lang: str = "zh") -> tuple[str, str, str]:
    """Headings of the keyword, semantic and hybrid columns (model name and fusion settings when known)."""
    semantic = text("col_semantic", lang, model=model) if model else text("col_semantic_none", lang)
    hybrid = (text("col_hybrid", lang, fusion=fusion, alpha=f"{alpha:.2f}") if fusion and alpha is not None
              else text("col_hybrid_none", lang))
    return text("col_keyword", lang), semantic, hybrid


def results_columns(response: SearchResponse, threshold: float, lang: str = "zh") -> tuple[str, str, str]:
    """The keyword, semantic and hybrid columns of one search as HTML.

    Columns the search did not compute (keyword-only while the model loads) say so.
    """
    semantic_ran = response.query_vector is not None
    titles = column_titles(response.model or None, response.settings.fusion,
                           response.alpha_used if response.alpha_used is not None else response.settings.alpha, lang)
    waiting = text("semantic_waiting", lang)
    return (
        column_html(titles[0], response.keyword, "keyword", threshold, lang, empty=text("no_keyword_hits", lang)),
        column_html(titles[1], response.semantic, "semantic", threshold, lang,
                    empty=None if semantic_ran else waiting),
        column_html(titles[2], response.hybrid, "hybrid", threshold, lang,
                    empty=None if semantic_ran else waiting),
    )


def placeholder_columns(message: str, lang: str = "zh", model: str | None = None) -> tuple[str, str, str]:
    """Three empty columns carrying ``message`` (before the first search, or after bad input)."""
    titles = column_titles(model, None, None, lang)
    return tuple(column_html(t, (), c, 1.0, lang, empty=message) for t, c in zip(titles, COLUMNS))  # type: ignore[return-value]


def why_table(response: SearchResponse, lang: str = "zh", max_text: int = 40) -> pd.DataFrame:
    """Score breakdown of each hybrid hit: raw and normalised BM25, cosine, each weighted part, total.

    Args:
        response: a search with hybrid results.
        lang: "zh" or "en" (column headings).
        max_text: longer texts are cut with an ellipsis.
    Returns:
        One row per hybrid hit, values formatted to 4 decimals ("—" where a retriever did not match).
    """
    rows = []
    for h in response.hybrid:
        short = h.text if len(h.text) <= max_text else h.text[: max_text - 1] + "…"
        rows.append([h.rank, short, fmt_score(h.keyword_score), fmt_score(h.keyword_score_norm),
                     fmt_score(h.semantic_score), fmt_score(h.semantic_score_norm),
                     fmt_score(h.keyword_contribution), fmt_score(h.semantic_contribution), fmt_score(h.score)])
    return pd.DataFrame(rows, columns=[text(k, lang) for k in _WHY_COLUMNS])


def why_table_empty(lang: str = "zh") -> pd.DataFrame:
    """The score-breakdown table with headings and no rows."""
    return pd.DataFrame([], columns=[text(k, lang) for k in _WHY_COLUMNS])


def alpha_note(response: SearchResponse, lang: str = "zh") -> str:
    """One line naming the semantic weight fusion applied to this query (empty without fusion)."""
    return "" if response.alpha_used is None else text("why_alpha", lang, alpha=f"{response.alpha_used:.4f}")


def vector_stats(vector: np.ndarray) -> dict[str, float]:
    """Dimension, min, max, mean and L2 norm of a vector."""
    v = np.asarray(vector, dtype=np.float64).ravel()
    return {"dimension": int(v.size), "min": float(v.min()), "max": float(v.max()), "mean": float(v.mean()),
            "norm": float(np.linalg.norm(v))}


def vector_table(vector: np.ndarray, n: int = VECTOR_PREVIEW, per_row: int = 10, lang: str = "zh") -> pd.DataFrame:
    """The first ``n`` values of a vector as a grid, ``per_row`` values a row, 4 decimals.

    The first column names the dimensions of the row ("0–9"); the others are the offsets +0 ... +9.
    """
    v = np.asarray(vector, dtype=np.float64).ravel()[:n]
    rows = []
    for start in range(0, v.size, per_row):
        chunk = v[start : start + per_row]
        cells = [f"{x:.4f}" for x in chunk] + [""] * (per_row - chunk.size)
        rows.append([f"{start}–{start + chunk.size - 1}", *cells])
    return pd.DataFrame(rows, columns=[text("vec_index", lang), *[f"+{i}" for i in range(per_row)]])


def vector_table_empty(lang: str = "zh", per_row: int = 10) -> pd.DataFrame:
    """The vector table with headings and no rows."""
    return pd.DataFrame([], columns=[text("vec_index", lang), *[f"+{i}" for i in range(per_row)]])


def vector_summary(response: SearchResponse, dtype: str = "", lang: str = "zh") -> str:
    """Markdown line with the query vector's dimension, min/max/mean/L2 norm and the model, device, dtype."""
    if response.query_vector is None:
        return text("vec_none", lang)
    s = vector_stats(response.query_vector)
    items = [(text("vec_dimension", lang), str(s["dimension"])), (text("vec_min", lang), f"{s['min']:.4f}"),
             (text("vec_max", lang), f"{s['max']:.4f}"), (text("vec_mean", lang), f"{s['mean']:.4f}"),
             (text("vec_norm", lang), f"{s['norm']:.4f}"), (text("vec_model", lang), response.model),
             (text("vec_device", lang), response.device), (text("vec_dtype", lang), dtype or _NONE)]
    return " · ".join(f"**{name}** {html.escape(value)}" for name, value in items)


def timings_table(timings: Mapping[str, float], lang: str = "zh") -> pd.DataFrame:
    """Per-stage timings in milliseconds (known stages in pipeline order, then any others)."""
    order = [s for s in _STAGES if s in timings] + [s for s in timings if s not in _STAGES]
    rows = [[text(f"stage_{s}", lang) if s in _STAGES else s, f"{timings[s]:.2f}"] for s in order]
    return pd.DataFrame(rows, columns=[text("timing_stage", lang), text("timing_ms", lang)])


def status_html(status: ModelStatus, lang: str = "zh") -> str:
    """The model status line: loading (keyword search works), ready (model, dimension, device) or failed;
    a fallback of ``auto`` to the packaged model is explained."""
    if status.state == READY:
        kind = "ready"
        message = text("status_ready", lang, model=status.model, dimension=status.dimension, device=status.device,
                       dtype=status.dtype)
    elif status.state == FAILED:
        kind, message = "failed", text("status_failed", lang, error=status.error)
    else:
        kind, message = "loading", text("status_loading", lang, model=status.requested)
    note = ""
    if status.fallback_reason:
        note = f'<div class="note">{html.escape(text("status_fallback", lang, reason=status.fallback_reason))}</div>'
    return (f'<div class="status {kind}" data-state="{status.state}"><span class="dot"></span>'
            f"<div><div>{html.escape(message)}</div>{note}</div></div>")


def notice_html(message: str | None, error: bool = False) -> str:
    """A visible message box above the results ("" hides it)."""
    if not message:
        return ""
    return f'<div class="notice{" error" if error else ""}">{html.escape(message)}</div>'
