"""Pure formatting of search results for the demo: HTML columns, score tables, vector statistics, status line."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from hybrid.fusion import WeightChoice
from hybrid.judgements import Coverage
from hybrid.results import Hit, SearchResponse
from hybrid.service import FAILED, READY, ModelStatus

from .calibration import UNCALIBRATED, Calibration, calibration_for
from .i18n import text

VECTOR_PREVIEW = 50  # dimensions shown in the table and the bar chart
_STAGES = ("tokenize", "keyword", "embed", "vector", "fuse", "rerank", "total")
_NONE = "—"
_WHY_COLUMNS = ("why_rank", "why_text", "why_bm25", "why_bm25_norm", "why_cosine", "why_cosine_norm",
                "why_kw_weight", "why_sem_weight", "why_kw_part", "why_sem_part", "why_total")

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
.evidence { font-family: var(--font-mono); }
.why { margin-top: 4px; font-size: 0.8em; }
.why summary { cursor: pointer; color: var(--link-text-color, #2563eb); }
/* display: block lets a grid wider than its card scroll inside it instead of overflowing */
.why-grid { border-collapse: collapse; margin: 4px 0; font-family: var(--font-mono); font-size: 0.9em;
            display: block; overflow-x: auto; max-width: 100%; }
.why-grid th, .why-grid td { padding: 1px 6px 1px 0; text-align: left; font-weight: normal; white-space: nowrap; }
.why-grid thead th { color: var(--body-text-color-subdued); }
.why-total th, .why-total td { border-top: 1px solid var(--border-color-primary); font-weight: 600; }
.why-note { color: var(--body-text-color-subdued); margin-top: 2px; }
.judge { display: flex; align-items: center; gap: 4px; margin-top: 6px; font-size: 0.78em; flex-wrap: wrap; }
.judge-label { color: var(--body-text-color-subdued); }
.judge button { border: 1px solid var(--border-color-primary); border-radius: 9px; padding: 1px 8px;
  background: var(--background-fill-secondary); color: var(--body-text-color); cursor: pointer; font-size: 1em; }
.judge button[aria-pressed="true"] { font-weight: 700; color: #fff; }
.judge button.g0[aria-pressed="true"] { background: #6b7280; border-color: #6b7280; }
.judge button.g1[aria-pressed="true"] { background: #2563eb; border-color: #2563eb; }
.judge button.g2[aria-pressed="true"] { background: #7c3aed; border-color: #7c3aed; }
.judged { font-size: 0.8em; padding: 1px 6px; border-radius: 9px; white-space: nowrap; color: #fff; }
.judged.g0 { background: #6b7280; }
.judged.g1 { background: #2563eb; }
.judged.g2 { background: #7c3aed; }
"""

# Clicks on a card's judgement buttons become the column's "click" event with the query, the document's id and
# the grade (the same button again: cleared); every other click in a column does nothing.
JUDGE_JS = """
element.addEventListener('click', (event) => {
  const button = event.target.closest('.judge button');
  if (!button || !element.contains(button)) return;
  const hit = button.closest('.hit'), column = button.closest('[data-query]');
  if (!hit || !column) return;
  const pressed = button.getAttribute('aria-pressed') === 'true';
  trigger('click', {query: column.dataset.query, id: hit.dataset.id, grade: pressed ? null : Number(button.dataset.grade)});
});
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


@dataclass(frozen=True)
class Column:
    """One results column: what it lists and how it is titled.

    Attributes:
        name: the column's id (``#col-<name>`` on the page).
        hits: the column's hits in a search response.
        title, title_none: i18n keys of its heading, with and without a model and fusion settings to name.
        short: i18n key of its short name (the phone layout's column picker).
        score: i18n key of the name of its score.
        semantic: whether it needs the embedding model (it waits for the vector engine).
    """

    name: str
    hits: Callable[[SearchResponse], Sequence[Hit]]
    title: str
    title_none: str
    short: str
    score: str
    semantic: bool


# The result columns, left to right; a further column (e.g. a reranker's) is one more entry.
COLUMNS: tuple[Column, ...] = (
    Column("keyword", lambda r: r.keyword, "col_keyword", "col_keyword", "short_keyword", "score_bm25", False),
    Column("semantic", lambda r: r.semantic, "col_semantic", "col_semantic_none", "short_semantic", "score_cosine",
           True),
    Column("hybrid", lambda r: r.hybrid, "col_hybrid", "col_hybrid_none", "short_hybrid", "score_hybrid", True),
)
# The fourth column, on pages whose server has a reranker: the first N hybrid hits re-ordered by it.
RERANK_COLUMN = Column("reranked", lambda r: r.reranked, "col_reranked", "col_reranked_none", "short_reranked",
                       "score_rerank", True)
ALL_COLUMNS = (*COLUMNS, RERANK_COLUMN)
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
_BY_NAME = {c.name: c for c in ALL_COLUMNS}


def page_columns(reranking: bool) -> tuple[Column, ...]:
    """The result columns of a page: the three lists, and the reranked one when the server has a reranker."""
    return (*COLUMNS, RERANK_COLUMN) if reranking else COLUMNS


def hit_evidence(hit: Hit, response: SearchResponse) -> dict[str, float | None]:
    """What says a hit is relevant, whatever column lists it, on scales that do not depend on the model or
    the knowledge base.

    Returns:
        ``coverage``: the idf-weighted share of the query's words the entry holds (0..1; None without query
        words); ``standing``: how many standard deviations its cosine lies above the query's mean cosine over
        the knowledge base (None without a cosine or those statistics); ``count``: how many entries those
        statistics were measured on (None when unknown).
    """
    evidence = response.evidence
    distinct = list(dict.fromkeys(response.query_tokens))
    coverage = None
    if distinct and len(evidence.token_idf) == len(distinct) and sum(evidence.token_idf) > 0:
        held = set(hit.matched_tokens)
        coverage = sum(w for t, w in zip(distinct, evidence.token_idf) if t in held) / sum(evidence.token_idf)
    standing = None
    mean, std = evidence.cosine_mean, evidence.cosine_std
    if hit.semantic_score is not None and mean is not None and std is not None and std > 1e-12:
        standing = (hit.semantic_score - mean) / std
    return {"coverage": coverage, "standing": standing, "count": evidence.cosine_count or None}


def bar_percent(hit: Hit, column: str, calibration: Calibration, top_score: float | None = None,
                floor: float | None = None) -> float:
    """Length of a hit's bar in percent: its share of the column's best score.

    Args:
        hit: the hit.
        column: "reranked" (the reranker's score, itself a probability) or another column: share of
            ``top_score``, the column's best score, counted from ``floor`` (the semantic column: the query's
            mean cosine over the knowledge base, so a cosine no better than average has no bar) or from 0.
        calibration: unused (kept for callers).
        top_score: the best score of the column.
        floor: the score worth nothing (None: 0).
    Returns:
        0 to 100.
    """
    if column == "reranked":
        value = hit.score
    else:
        low = 0.0 if floor is None else floor
        value = (hit.score - low) / (top_score - low) if top_score is not None and top_score - low > 1e-12 else 0.0
    return float(min(max(value, 0.0), 1.0) * 100.0)


def rank_movement(other_rank: int | None, rank: int, lang: str = "zh") -> tuple[str, str]:
    """How a hit moved against its place in another list (a hybrid hit against keyword and semantic, a
    reranked hit against hybrid).

    Args:
        other_rank: 1-based place among that list's candidates, None when it was not a candidate there.
        rank: its rank in this list.
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


def _weight(value: float | None) -> str:
    return _NONE if value is None else f"{value:.4f}"


def weight_note(choice: WeightChoice | None, alpha_used: float | None, lang: str = "zh",
                blind_spot: bool = False) -> str | None:
    """What ``learned`` fusion chose for the query and the two or three features that moved it, in words, and
    why the weight used differs where it does (None for other methods).

    Args:
        choice: the query's ``WeightChoice``.
        alpha_used: the semantic weight fusion applied (``adaptive_alpha`` of the chosen alpha).
        lang: "zh" or "en".
        blind_spot: the query's ``QueryEvidence.blind_spot`` (the rule that overrides the chosen alpha).
    """
    if choice is None or alpha_used is None:
        return None
    chosen = f"{choice.chosen:g}"
    if blind_spot and choice.chosen < 1.0:
        return text("why_hit_learned_blind", lang, chosen=chosen)
    raised = alpha_used - choice.chosen > 0.005
    if not choice.reasons:
        note = text("why_hit_learned_none" if raised else "why_hit_learned_kept", lang, alpha=chosen)
    else:
        side = text("weight_more_semantic" if choice.chosen > choice.given else "weight_more_keyword", lang)
        words = [text(f"wf_{name}_{'hi' if value > 0 else 'lo'}", lang) + f": {side}" for name, value in choice.reasons]
        note = text("why_hit_learned", lang, alpha=chosen, base=f"{choice.given:g}",
                    reasons=("；" if lang == "zh" else "; ").join(words))
    if raised:
        # adaptive_alpha: used = 1 - (1 - chosen) * coverage, so the coverage it applied is read back from the two
        coverage = (1.0 - alpha_used) / (1.0 - choice.chosen)
        note += " " + text("why_hit_learned_raised", lang, coverage=f"{coverage:.0%}", chosen=chosen,
                           used=f"{alpha_used:.2f}")
    return note


def why_details(hit: Hit, alpha_used: float | None, fusion: str, lang: str = "zh",
                choice: WeightChoice | None = None, blind_spot: bool = False) -> str:
    """The expandable "why this rank" of one hybrid hit: per retriever the raw score, the normalised score,
    the weight fusion applied to this hit and the product; the two products add up to the hit's score.

    Args:
        hit: a hybrid hit.
        alpha_used: the semantic weight fusion chose for the query (None without fusion).
        fusion: the fusion method's name.
        lang: "zh" or "en".
        choice: ``learned`` fusion's choice for the query (``weight_note``).
        blind_spot: the query's ``QueryEvidence.blind_spot`` (``weight_note``).
    Returns:
        HTML (a ``<details>`` element).
    """
    rows = []
    # each cell names its column (data-label): on a phone the rows stack and the names stand before the values
    labels = [html.escape(text(k, lang), quote=True) for k in ("why_hit_raw", "why_hit_norm", "why_hit_weight",
                                                               "why_hit_contribution")]
    for part, raw, norm, weight, contribution in (
            ("why_hit_keyword", f"BM25 {fmt_score(hit.keyword_score)}", hit.keyword_score_norm, hit.keyword_weight,
             hit.keyword_contribution),
            ("why_hit_semantic", f"{text('cosine', lang)} {fmt_score(hit.semantic_score)}", hit.semantic_score_norm,
             hit.semantic_weight, hit.semantic_contribution)):
        cells = (html.escape(raw), f"{norm:.4f}", f"× {_weight(weight)}", f"= {contribution:.4f}")
        rows.append(f"<tr><th>{text(part, lang)}</th>"
                    + "".join(f'<td data-label="{label}">{cell}</td>' for label, cell in zip(labels, cells))
                    + "</tr>")
    total = text("why_hit_total", lang, kw=f"{hit.keyword_contribution:.4f}", sem=f"{hit.semantic_contribution:.4f}")
    rows.append(f'<tr class="why-total"><th colspan="4">{html.escape(total)}</th><td>= {hit.score:.4f}</td></tr>')
    head = "".join(f"<th>{text(k, lang)}</th>" for k in ("why_hit_part", "why_hit_raw", "why_hit_norm",
                                                          "why_hit_weight", "why_hit_contribution"))
    notes = []
    if hit.matched_tokens:
        notes.append(text("why_hit_matched", lang, tokens="、".join(dict.fromkeys(hit.matched_tokens))))
    if hit.keyword_score is None:
        notes.append(text("why_hit_no_keyword", lang))
    if hit.semantic_score is None:
        notes.append(text("why_hit_no_semantic", lang))
    elif hit.semantic_rank is None:
        notes.append(text("why_hit_semantic_lookup", lang))
    if fusion == "rrf":
        notes.append(text("why_hit_rrf", lang))
    learned = weight_note(choice, alpha_used, lang, blind_spot)
    if learned:
        notes.append(learned)
    note_html = "".join(f'<div class="why-note">{html.escape(n)}</div>' for n in notes)
    return (f'<details class="why"><summary>{html.escape(text("why_hit", lang, rank=hit.rank))}</summary>'
            f'<table class="why-grid"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f"{note_html}</details>")


def hit_card(hit: Hit, column: str, calibration: Calibration, threshold: float, top_score: float | None = None,
             lang: str = "zh", alpha_used: float | None = None, fusion: str = "",
             evidence: Mapping[str, float | None] | None = None, floor: float | None = None,
             choice: WeightChoice | None = None, grades: Mapping[str, int] | None = None,
             blind_spot: bool = False) -> str:
    """One hit as an HTML card: rank, score (4 decimals), highlighted text, bar, and for hybrid hits the rank
    movement, the weighted parts of the score and an expandable "why this rank"; with ``grades`` (judging on),
    the three judgement buttons and, once judged, the grade as a badge.

    Args:
        hit: the hit.
        column: a name of ``COLUMN_NAMES``.
        calibration: the green/grey rule.
        threshold: the share of the query's words from which the hit is green (the rule's coverage threshold).
        top_score: best score of the column (the bar's scale).
        lang: "zh" or "en".
        alpha_used, fusion: the fusion of this search (hybrid column).
        evidence: ``hit_evidence`` of the hit (None: grey, no evidence shown).
        floor: the score worth nothing on the bar (``bar_percent``).
        choice: ``learned`` fusion's choice for the query (hybrid column).
        grades: the query's judgements (judging on), else None.
        blind_spot: the query's ``QueryEvidence.blind_spot`` (explains an overridden ``choice``).
    Returns:
        HTML.
    """
    relevant = calibration.is_relevant(evidence, threshold)
    head = [f'<span class="rank">{hit.rank}</span>',
            f'<span class="kind">{text(_BY_NAME[column].score, lang)}</span> <span class="score">{hit.score:.4f}</span>']
    if column != "semantic" and hit.semantic_score is not None:
        head.append(f'<span class="kind">{text("cosine", lang)} {hit.semantic_score:.4f}</span>')
    if evidence:
        head.append(f'<span class="kind evidence" title="{html.escape(text("evidence_title", lang))}">'
                    f'{html.escape(evidence_text(evidence, lang))}</span>')
    if relevant:
        head.append(f'<span class="tag">{text("relevant", lang)}</span>')
    extra = ""
    if column == "hybrid":
        for key, other in (("vs_keyword", hit.keyword_rank), ("vs_semantic", hit.semantic_rank)):
            if other is None:  # not in that list: no movement to show (a "new" badge stood on nearly every card;
                continue       # the parts line and the why grid say which retriever did not find it)
            label, move = rank_movement(other, hit.rank, lang)
            head.append(f'<span class="move {move}" title="{html.escape(text(key + "_title", lang))}">'
                        f"{text(key, lang)} {label}</span>")
        split = text("parts", lang, kw=f"{hit.keyword_contribution:.4f}", sem=f"{hit.semantic_contribution:.4f}")
        if hit.score == 0 and hit.keyword_score is None:  # no evidence either way: say so rather than a bare 0
            split += f'<div class="zero-note">{text("zero_" + fusion if fusion == "adaptive" else "zero_other", lang)}</div>'
        elif hit.keyword_score is not None and hit.keyword_weight == 0:  # a real match the query's weight ignores
            split += (f'<div class="zero-note">{html.escape(text("zero_keyword_weight", lang, bm25=f"{hit.keyword_score:.4f}", alpha=f"{alpha_used if alpha_used is not None else 1:.2f}"))}'
                      f'{html.escape(text("zero_keyword_weight_adaptive", lang)) if fusion == "adaptive" else ""}</div>')
        extra = f'<div class="parts">{split}</div>{why_details(hit, alpha_used, fusion, lang, choice, blind_spot)}'
    elif column == "keyword" and hit.matched_tokens:
        extra = matched_tokens_html(hit.matched_tokens, lang)
    elif column == "reranked":
        label, move = rank_movement(hit.hybrid_rank, hit.rank, lang)
        head.append(f'<span class="move {move}" title="{html.escape(text("vs_hybrid_title", lang))}">'
                    f"{text('vs_hybrid', lang)} {label}</span>")
    width = bar_percent(hit, column, calibration, top_score, floor)
    judge = ""
    if grades is not None:
        grade = grades.get(hit.text)
        if grade is not None:
            head.append(f'<span class="judged g{grade}">{html.escape(text("judged_badge", lang, grade=grade, name=text(f"grade_{grade}", lang)))}</span>')
        judge = judge_buttons(grade, lang)
    return (f'<div class="hit {"relevant" if relevant else "other"}" data-rank="{hit.rank}" '
            f'data-id="{html.escape(hit.id)}">'
            f'<div class="hit-head">{"".join(head)}</div>'
            f'<div class="hit-text">{highlight(hit.text, hit.highlights)}</div>'
            f'<div class="bar"><div class="fill" style="width: {width:.1f}%"></div></div>{extra}{judge}</div>')


def judge_buttons(grade: int | None, lang: str = "zh") -> str:
    """A card's three judgement buttons (0 not relevant, 1 relevant, 2 highly relevant), ``grade`` pressed."""
    buttons = "".join(
        f'<button type="button" class="g{g}" data-grade="{g}" aria-pressed="{str(grade == g).lower()}" '
        f'title="{html.escape(text("judge_title", lang))}">{g} {html.escape(text(f"grade_{g}", lang))}</button>'
        for g in (0, 1, 2))
    return f'<div class="judge"><span class="judge-label">{html.escape(text("judge_label", lang))}</span>{buttons}</div>'


def judge_line(coverage: Coverage | None, judged: int, lang: str = "zh", k: int = 10,
               names: Mapping[str, str] | None = None) -> str:
    """The coverage meter under the results: nDCG@k of each column on the query's judgements and how many shown
    hits are unjudged; before any judgement of the query, how to start.

    Args:
        coverage: ``hybrid.judgements.coverage`` of this search (None: no search shown).
        judged: how many judgements the session holds (all queries).
        lang: "zh" or "en".
        k: the nDCG cut-off.
        names: each column's short name by column name.
    Returns:
        HTML ("" when there is no search).
    """
    if coverage is None:
        return ""
    names = names or {}
    scores = [f"{names.get(c, c)} {'—' if v is None else f'{v:.3f}'}" for c, v in coverage.ndcg.items()]
    if all(v is None for v in coverage.ndcg.values()):
        line = text("judge_line_none", lang, unjudged=coverage.unjudged, shown=coverage.shown, total=judged)
    else:
        line = text("judge_line", lang, k=k, scores=" · ".join(scores), unjudged=coverage.unjudged,
                    shown=coverage.shown, total=judged)
        if k < 10:  # fewer hits shown than the evaluation tab ranks: say which figure this is
            line += text("judge_line_cut", lang, k=k)
    return f'<div class="judge-line">{html.escape(line)}</div>'


def evidence_text(evidence: Mapping[str, float | None], lang: str = "zh") -> str:
    """The evidence a hit's colour reads, in a few characters: share of the query's words, cosine standing."""
    parts = []
    if evidence.get("coverage") is not None:
        parts.append(text("evidence_words", lang, share=f"{evidence['coverage']:.0%}"))
    needed = calibration_for(None).needed(evidence.get("count"))
    if evidence.get("standing") is not None and needed is not None:
        parts.append(text("evidence_standing", lang, z=f"{evidence['standing']:+.1f}", needed=f"{needed:.1f}"))
    return " · ".join(parts)


def bar_note(column: str, calibration: Calibration, lang: str = "zh") -> str:
    """What the bars of ``column`` show."""
    if column == "reranked":
        return text("bar_note_rerank", lang)
    return text("bar_note_semantic" if column == "semantic" else "bar_note_relative", lang)


def column_html(title: str, hits: Sequence[Hit], column: str, calibration: Calibration, threshold: float,
                lang: str = "zh", empty: str | None = None, alpha_used: float | None = None, fusion: str = "",
                response: SearchResponse | None = None, grades: Mapping[str, int] | None = None) -> str:
    """One results column: a title, a note on what the bar shows, and the hit cards (with judgement buttons and
    badges when ``grades``, the query's judgements, is given).

    Args:
        title: column heading.
        hits: the column's hits, best first.
        column: a name of ``COLUMN_NAMES``.
        calibration, threshold: as for ``hit_card``.
        lang: "zh" or "en".
        empty: message shown when there are no hits (a generic one when None).
        alpha_used, fusion: the fusion of this search (hybrid column).
        response: the search the hits come from (their evidence and the semantic bar's floor); None: grey.
    Returns:
        HTML.
    """
    top = hits[0].score if hits else None
    floor = response.evidence.cosine_mean if response is not None and column == "semantic" else None
    body = "".join(hit_card(h, column, calibration, threshold, top, lang, alpha_used, fusion,
                            hit_evidence(h, response) if response is not None else None, floor,
                            response.weight_choice if response is not None else None, grades,
                            response is not None and response.evidence.blind_spot) for h in hits)
    if not hits:
        body = f'<div class="col-empty">{html.escape(empty or text("no_hits", lang))}</div>'
    query = f' data-query="{html.escape(response.query)}"' if response is not None and grades is not None else ""
    return (f'<div class="results-col" data-column="{column}"{query}><div class="col-head">'
            f'<span class="col-title">{html.escape(title)}</span>'
            f'<span class="col-note">{bar_note(column, calibration, lang)}</span></div>{body}</div>')


def short_model_name(name: str) -> str:
    """A model's name as a heading shows it: the last part of a hub id or of a folder path."""
    return name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or name


def column_titles(model: str | None, fusion: str | None, alpha: float | None, lang: str = "zh",
                  columns: Sequence[Column] = COLUMNS, reranker: str | None = None,
                  rerank_n: int | None = None) -> list[str]:
    """Headings of ``columns`` (model names, fusion settings and the rerank depth when known)."""
    known = {"semantic": bool(model), "hybrid": bool(fusion) and alpha is not None,
             "reranked": bool(reranker) and rerank_n is not None}
    values = {"model": model, "fusion": fusion, "alpha": f"{alpha:.2f}" if alpha is not None else ""}
    titles = []
    for c in columns:
        if c.name == "reranked":
            values = {**values, "model": short_model_name(reranker or ""), "n": rerank_n}
        titles.append(text(c.title if known.get(c.name, True) else c.title_none, lang, **values))
    return titles


def results_columns(response: SearchResponse, calibration: Calibration, threshold: float,
                    lang: str = "zh", columns: Sequence[Column] = COLUMNS,
                    notes: Mapping[str, str] | None = None, grades: Mapping[str, int] | None = None) -> list[str]:
    """The columns of one search as HTML, left to right.

    Columns the search did not compute (keyword-only while the model loads) say so; ``notes`` gives the
    message of an empty column by name (e.g. why the reranked one is empty: its model is still loading).
    ``grades`` (the query's judgements by document text) turns judging on: buttons and badges on every card.
    """
    semantic_ran = response.query_vector is not None
    alpha = response.alpha_used if response.alpha_used is not None else response.settings.alpha
    titles = column_titles(response.model or None, response.settings.fusion, alpha, lang, columns,
                           response.reranker or None, response.settings.rerank if response.reranker else None)
    waiting = {"reranked": text("rerank_waiting", lang)}
    empty = {"keyword": text("no_keyword_hits", lang), **(notes or {})}
    out = []
    for title, c in zip(titles, columns):
        if c.semantic and not semantic_ran:
            message = waiting.get(c.name) or empty.get(c.name) or text("semantic_waiting", lang)
        else:
            message = empty.get(c.name)
        column = column_html(title, c.hits(response), c.name, calibration, threshold, lang, empty=message,
                             alpha_used=response.alpha_used, fusion=response.settings.fusion, response=response,
                             grades=grades)
        out.append(query_tokens_html(response.query_tokens, lang) + column if c.name == "keyword" else column)
    return out


def query_tokens_html(tokens: Sequence[str], lang: str = "zh") -> str:
    """The query's keyword tokens as the tokenizer cut them (after folding), above the keyword column."""
    line = (text("query_tokens_line", lang, tokens=" · ".join(tokens)) if tokens
            else text("query_tokens_none", lang))
    return f'<div class="query-tokens">{html.escape(line)}</div>'


def matched_tokens_html(tokens: Sequence[str], lang: str = "zh") -> str:
    """The query tokens a keyword hit holds, under its text."""
    line = text("matched_tokens_line", lang, tokens="、".join(dict.fromkeys(tokens)))
    return f'<div class="matched-tokens">{html.escape(line)}</div>'


def placeholder_columns(message: str, lang: str = "zh", model: str | None = None,
                        calibration: Calibration = UNCALIBRATED, columns: Sequence[Column] = COLUMNS,
                        notes: Mapping[str, str] | None = None) -> list[str]:
    """Empty ``columns`` carrying ``message`` (before the first search, or after bad input); ``notes`` replaces
    it for the columns it names."""
    titles = column_titles(model, None, None, lang, columns)
    notes = notes or {}
    return [column_html(t, (), c.name, calibration, 1.0, lang, empty=notes.get(c.name, message))
            for t, c in zip(titles, columns)]


def why_table(response: SearchResponse, lang: str = "zh", max_text: int = 40) -> pd.DataFrame:
    """Summary of every hybrid hit's score: raw and normalised BM25 and cosine, the weights fusion applied to
    that hit, both weighted parts and the total (part = weight × normalised score; total = sum of parts).

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
                     fmt_score(h.semantic_score), fmt_score(h.semantic_score_norm), _weight(h.keyword_weight),
                     _weight(h.semantic_weight), fmt_score(h.keyword_contribution),
                     fmt_score(h.semantic_contribution), fmt_score(h.score)])
    return pd.DataFrame(rows, columns=[text(k, lang) for k in _WHY_COLUMNS])


def why_table_empty(lang: str = "zh") -> pd.DataFrame:
    """The score-breakdown table with headings and no rows."""
    return pd.DataFrame([], columns=[text(k, lang) for k in _WHY_COLUMNS])


def alpha_note(response: SearchResponse, lang: str = "zh") -> str:
    """One line naming the semantic weight fusion applied to this query and how that fusion method set it and
    combines the parts (empty without fusion)."""
    if response.alpha_used is None:
        return ""
    fusion = response.settings.fusion
    key = {"weighted": "why_alpha_weighted", "rrf": "why_alpha_rrf"}.get(fusion, "why_alpha")
    note = text(key, lang, alpha=f"{response.alpha_used:.4f}", rrf_k=response.settings.rrf_k)
    if fusion == "adaptive" and response.evidence is not None and response.evidence.blind_spot:
        # a small mixed knowledge base hits this for most queries: the slider then moves nothing, and says why
        note = f"{note} {text('why_alpha_blind', lang)}"
    return note


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


def threshold_info(status: ModelStatus, lang: str = "zh") -> str:
    """The threshold slider's help line: what makes a hit green, how the rule was chosen, its default."""
    rule = calibration_for(status.model if status.state == READY else None)
    return text("threshold_info_evidence", lang, z=f"{rule.standing:g}", source=text(rule.source, lang),
                value=f"{rule.threshold:g}")


def notice_html(message: str | Sequence[str] | None, error: bool = False) -> str:
    """A visible message box above the results, one line per message ("" hides it)."""
    messages = [message] if isinstance(message, str) else [m for m in (message or ()) if m]
    if not any(messages):
        return ""
    lines = "".join(f"<div>{html.escape(m)}</div>" for m in messages if m)
    return f'<div class="notice{" error" if error else ""}">{lines}</div>'
