"""The demo's evaluation tab: score keyword / semantic / hybrid on an uploaded labelled set, with intervals.

It also shows which queries a setting helps and hurts, opens one in the search tab and applies the best setting;
queries alone (no judgements) are compared by overlap.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from hybrid.evaluate import (
    LABELLED_FILES,
    PRIMARY_K,
    RBO_P,
    TIE,
    LabelledSet,
    LabelledSetError,
    best_point,
    parse_corpus,
    parse_labelled_set,
    pairs_in_knowledge_base,
    parse_pairs_csv,
    parse_query_set,
    point_key,
    run,
)
from hybrid import judgements as judging
from hybrid.config import UNNAMED_SET
from hybrid.fusion import NORMALIZERS, USES_NORMALIZER
from hybrid.kb import Document, KnowledgeBaseError, decode_bytes
from hybrid.redact import hide_paths
from server.uploads import is_received_upload

from . import plots
from .export import build_export, loaded_model, visitor_config, write_setting
from .handlers import (MAX_ENTRIES, TEXT_CONCURRENCY, after_replacement, examples_update, page_entries,
                       render_message, sample_of)
from .i18n import TEXTS, Translator, explain, text
from .layout import CheckboxGroup, Dropdown, QuietNumber

_METRICS = ("ndcg", "recall", "mrr")
_METRIC_NAMES = {"ndcg": "nDCG", "recall": "Recall", "mrr": "MRR"}


def _read(path: str | os.PathLike[str]) -> str:
    return decode_bytes(Path(path).read_bytes(), Path(path).name)


def parse_upload(paths: Sequence[str | os.PathLike[str]] | None, max_queries: int | None = None,
                 max_documents: int | None = MAX_ENTRIES, documents: Sequence[str] = ()) -> LabelledSet:
    """Turn uploaded files into a labelled set.

    Args:
        paths: the uploaded files: corpus.jsonl + queries.jsonl + qrels.tsv (recognised by name), or one .csv;
            queries.jsonl without qrels.tsv is a set without labels (``parse_query_set``) over corpus.jsonl,
            or over ``documents`` when no corpus is uploaded.
        max_queries: evaluate only the first N queries.
        max_documents: a larger corpus is refused (the page embeds it on the shared model); None: no limit.
        documents: the search tab's knowledge base (entries), searched by queries uploaded alone and by a CSV's
            (query, relevant text) pairs.
    Returns:
        The labelled set.
    Raises:
        LabelledSetError: no file, the wrong files, too many documents, or malformed content (the message
            says which).
    """
    labelled = _parse_upload(paths, max_queries, documents)
    if max_documents is not None and len(labelled.documents) > max_documents:
        raise LabelledSetError(
            f"the corpus has {len(labelled.documents):,} documents; this page evaluates at most {max_documents:,} "
            f"(run `python -m hybrid.evaluate --data FOLDER` for larger sets, or cut the corpus)",
            "too_many_docs", n=f"{len(labelled.documents):,}", limit=f"{max_documents:,}")
    return labelled


def _parse_upload(paths: Sequence[str | os.PathLike[str]] | None, max_queries: int | None,
                  documents: Sequence[str] = ()) -> LabelledSet:
    paths = [Path(p) for p in (paths or [])]
    if not paths:
        raise LabelledSetError("no file uploaded", "no_file")
    zips = [p for p in paths if p.suffix.lower() == ".zip"]
    if zips:  # the search tab's judgements download: the three files in one zip
        if len(paths) != 1:
            raise LabelledSetError("upload the judgements zip on its own", "one_zip")
        try:
            files = judging.read_zip(zips[0].read_bytes())
        except judging.JudgementsError as exc:
            raise LabelledSetError(str(exc), exc.key, **exc.values) from exc
        return parse_labelled_set(*(files[f] for f in LABELLED_FILES), name=zips[0].stem, max_queries=max_queries)
    csvs = [p for p in paths if p.suffix.lower() == ".csv"]
    if csvs:
        if len(paths) != 1:
            raise LabelledSetError("upload one CSV on its own, or the three labelled-set files", "one_csv")
        labelled = parse_pairs_csv(_read(csvs[0]), name=csvs[0].stem)
        if documents:  # the search tab's knowledge base is searched, with any relevant text it lacks
            labelled = pairs_in_knowledge_base(labelled, documents)
        if max_queries is not None:
            kept = labelled.queries[:max_queries]
            labelled = replace(labelled, queries=kept, qrels={qid: labelled.qrels[qid] for qid, _ in kept})
        return labelled
    found: dict[str, list[Path]] = {wanted: [p for p in paths if p.name.lower().endswith(wanted)]
                                    for wanted in LABELLED_FILES}
    unknown = [p.name for p in paths if not any(p.name.lower().endswith(w) for w in LABELLED_FILES)]
    if unknown:  # never silently left out: a misnamed corpus would make the set one "without labels" or smaller
        raise LabelledSetError(f"not a file of a labelled set: {', '.join(unknown)}; name the files corpus.jsonl, "
                               "queries.jsonl and qrels.tsv (or upload one .csv or the judgements .zip)",
                               "unknown_files", files=", ".join(unknown))
    # The upload box keeps earlier files beside new ones: two of a kind are refused, never silently picked from.
    twice = [f for f, matches in found.items() if len(matches) > 1]
    if twice:
        raise LabelledSetError(f"more than one {', '.join(twice)} uploaded: clear the upload box and upload the "
                               f"three files together", "duplicate_files", files=", ".join(twice))
    missing = [f for f, matches in found.items() if not matches]
    if missing == ["qrels.tsv"] or (found["queries.jsonl"] and not found["qrels.tsv"]):  # no labels
        docs = parse_corpus(_read(found["corpus.jsonl"][0])) if found["corpus.jsonl"] else None
        return parse_query_set(_read(found["queries.jsonl"][0]), docs if docs is not None else
                               [Document(f"kb{i + 1}", t) for i, t in enumerate(documents)],
                               name=upload_name(found["queries.jsonl"][0], "queries.jsonl"), max_queries=max_queries)
    if missing:
        raise LabelledSetError(f"missing {', '.join(missing)}", "missing_files", files=", ".join(missing))
    texts = [_read(found[f][0]) for f in LABELLED_FILES]
    return parse_labelled_set(*texts, name=upload_name(found["corpus.jsonl"][0]), max_queries=max_queries)


def new_uploads(box: Sequence[str], previous: Sequence[str] | None) -> list[str]:
    """The files an upload added to the box: Gradio's upload box appends them to the files it holds
    (``previous``, what the last upload left there), so they are the box's tail after ``previous``; when the box no
    longer starts with ``previous`` (a file removed meanwhile), the files ``previous`` lacks. All of the box when
    neither finds one (a file uploaded again has the same path: its content names its folder)."""
    box, previous = [str(p) for p in box], [str(p) for p in previous or []]
    if box[:len(previous)] == previous and len(box) > len(previous):
        return box[len(previous):]
    return [p for p in box if p not in previous] or box


def not_received(paths: Sequence[str | os.PathLike[str]], lang: str) -> str | None:
    """The page's message for the first path that is not a file uploaded to this server (None when all are):
    a client can name any server path in an event's file data."""
    for path in paths:
        if not is_received_upload(path):
            return text("eval_bad_upload", lang, error=text("eval_not_received", lang, name=Path(str(path)).name))
    return None


def upload_status(paths: Sequence[str | os.PathLike[str]], lang: str, documents: Sequence[str] = ()) -> str:
    """The status line right after an upload: what the page read from ``paths`` (files, queries, documents), or
    the message the run would give (``documents``: the knowledge base, searched by queries uploaded alone)."""
    refused = not_received(paths, lang)
    if refused:
        return warning(refused)
    try:
        labelled = parse_upload(paths, documents=documents)
    except (LabelledSetError, KnowledgeBaseError) as exc:
        return warning(text("eval_bad_upload", lang, error=explain(exc, lang)))
    files = text("eval_one_file" if len(paths) == 1 else "eval_n_files", lang, n=len(paths))
    read = text("eval_read" if labelled.qrels else "eval_read_unlabelled", lang, files=files,
                queries=f"{len(labelled.queries):,}", docs=f"{len(labelled.documents):,}")
    notes = [text(f"eval_note_{kind}", lang, n=f"{len(ids):,}",
                  ids=", ".join(ids[:3]) + (" …" if len(ids) > 3 else ""))
             for kind, ids in labelled.notes.items()]
    return " ".join([read, *(warning(n) for n in notes)])


def warning(message: str) -> str:
    """A visitor's mistake as the status line shows it."""
    return f"**⚠** {html.escape(message)}"


def model_state(state: str, lang: str) -> str:
    """A model's state ("loading", "failed", ...) in the page's words (the state itself when it has none)."""
    key = f"model_state_{state}"
    return text(key, lang) if key in TEXTS[lang] else state


# The name a setting export (English) gives a set the page named itself, in place of its internal name.
EXPORT_SET_NAMES = {plots.JUDGED_SET: "your judgements on this page"}


def export_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """``report`` as the setting export reads it: its set named for the export's "Measured on ..." (an upload
    without a name as ``hybrid.config.UNNAMED_SET``, the page's judgements as ``EXPORT_SET_NAMES`` says)."""
    dataset = str(report.get("dataset") or "").strip()
    return {**report, "dataset": EXPORT_SET_NAMES.get(dataset, dataset) or UNNAMED_SET}


def upload_name(corpus: Path, suffix: str = "corpus.jsonl") -> str:
    """The set's name from its corpus file's name ("scifact" for scifact-corpus.jsonl); "" for a plain
    corpus.jsonl (Gradio keeps uploads in folders named by a hash, which names nothing)."""
    return corpus.name[: -len(suffix)].strip(" -_.")


def empty_table(lang: str) -> pd.DataFrame:
    """The result table before any run: its column names, no rows."""
    header = [text("eval_method", lang), *[f"{_METRIC_NAMES[m]}@{PRIMARY_K}" for m in _METRICS]]
    return pd.DataFrame([], columns=header)


def _ks(report: Mapping[str, Any]) -> list[int]:
    k = int(report.get("k", PRIMARY_K))
    return [PRIMARY_K] if k == PRIMARY_K else [PRIMARY_K, k]


def report_table(report: Mapping[str, Any], lang: str = "zh",
                 best: Mapping[str, Any] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the result table: keyword, semantic, the hybrid default and the best sweep point.

    Args:
        report: from ``hybrid.evaluate.run``.
        lang: "zh" or "en".
        best: the sweep point to show as best (``best_point``'s choice when None).
    Returns:
        (column names, rows of method name and metrics as text with 4 decimals).
    """
    columns = [f"{m}@{k}" for k in _ks(report) for m in _METRICS]
    header = [text("eval_method", lang), *[f"{_METRIC_NAMES[m]}@{k}" for k in _ks(report) for m in _METRICS]]
    config = report["hybrid_config"]
    best = best if best is not None else best_point(report)
    named = [(text("eval_keyword", lang), report["results"]["keyword"]),
             (text("eval_semantic", lang), report["results"]["semantic"]),
             (text("eval_hybrid", lang, fusion=config["fusion"], alpha=config["alpha"]), report["results"]["hybrid"])]
    if best:
        named.append((text("eval_best", lang, fusion=best["fusion"], alpha=best["alpha"]), best))
    # Strings: a table shows a number 1.0 as "1" beside "0.9592"; fixed decimals also sort right in [0, 1]
    return header, [[name, *[f"{float(values[c]):.4f}" for c in columns]] for name, values in named]


def best_setting(report: Mapping[str, Any] | None, alpha: float | None = None,
                 fusion: str | None = None) -> tuple[float, str] | None:
    """The (alpha, fusion) of ``best_point``, None before any run."""
    best = best_point(report, alpha, fusion)
    return None if best is None else (float(best["alpha"]), str(best["fusion"]))


def run_note(report: Mapping[str, Any], lang: str) -> str:
    """The status line of a finished run: ``report_note``, or what a run without relevance labels measured."""
    if _labelled(report):
        return report_note(report, lang)
    return text("eval_note_unlabelled", lang, dataset=plots.dataset_name(report, lang), queries=report["queries"],
                docs=report["docs"], model=report["model"])


def with_run_note(report: Mapping[str, Any] | None, message: str, lang: str) -> str:
    """``message`` under the run's status line, which it would otherwise replace (none before a run)."""
    return f"{run_note(report, lang)}\n\n{message}" if report else message


def report_note(report: Mapping[str, Any] | None, lang: str = "zh") -> str:
    """One line naming the set, its size, the model and the best setting ("" before any run)."""
    best = best_point(report)
    if not report or best is None:
        return ""
    return text("eval_note", lang, dataset=plots.dataset_name(report, lang), queries=report["queries"],
                docs=report["docs"], model=report["model"], fusion=best["fusion"], alpha=best["alpha"],
                ndcg=f"{float(best[f'ndcg@{PRIMARY_K}']):.4f}")


# ---------------------------------------------------------------------------------------- trust figures

HELPS_HURTS = 10  # queries listed each way under a chosen setting
# Below this many labelled queries the band claims nothing: the best of tens of sweep points beats the default on a
# few queries by chance, and their bootstrap interval is as narrow as the queries are few (zero width for one).
MIN_BAND_QUERIES = 30
CEILING_EXAMPLES = 5  # unreachable queries named under the ceiling line
SWEEP_WINDOWS = (20, 50, 100, 200)  # the windows the tab offers to sweep (the default's is always there)


def point_label(point: Mapping[str, Any], lang: str = "zh") -> str:
    """A sweep point's setting in the page's words: ``weighted, α 0.7, minmax, window 100`` (the normaliser
    only for a method that reads it)."""
    parts = [str(point["fusion"]), f"α {point['alpha']}"]
    if point["fusion"] in USES_NORMALIZER and point.get("normalizer"):
        parts.append(str(point["normalizer"]))
    if point.get("window") is not None:
        parts.append(text("eval_window_part", lang, window=point["window"]))
    return ", ".join(parts)


def _labelled(report: Mapping[str, Any]) -> bool:
    return bool(report.get("labelled", True))


def point_choices(report: Mapping[str, Any] | None, lang: str = "zh") -> list[tuple[str, int]]:
    """The setting picker's choices: each sweep point (its index in ``report["sweep"]``) with its nDCG@10 and
    95% interval when the set has labels, the default marked."""
    metric = f"ndcg@{PRIMARY_K}"
    choices = []
    for i, point in enumerate((report or {}).get("sweep") or []):
        label = point_label(point, lang)
        if _labelled(report) and "ci95" in point:
            lo, hi = point["ci95"]
            label += f" · nDCG@{PRIMARY_K} {float(point[metric]):.4f} [{lo:.4f}, {hi:.4f}]"
        if point.get("default"):
            label += text("eval_default_mark", lang)
        choices.append((label, i))
    return choices


def chosen_index(report: Mapping[str, Any] | None) -> int | None:
    """The sweep point the tab shows first: ``best_point``'s (the sweep's best when that is a row the sweep
    lacks); without labels, the first point that is not the default. None before any run."""
    sweep = (report or {}).get("sweep") or []
    if not sweep:
        return None
    if not _labelled(report):
        return next((i for i, p in enumerate(sweep) if not p.get("default")), 0)
    keys = [point_key(p) for p in sweep]
    try:
        return keys.index(point_key(best_point(report)))
    except (KeyError, TypeError, ValueError):  # a table row the sweep lacks: the sweep's own best
        metric = f"ndcg@{PRIMARY_K}"
        return max(range(len(sweep)), key=lambda i: (float(sweep[i].get(metric, 0.0)), sweep[i].get("default", False)))


def band_note(report: Mapping[str, Any] | None, lang: str = "zh") -> str:
    """One sentence on the best sweep point against the default: not distinguishable when the 95% interval of
    their paired nDCG@10 difference contains 0, better or worse when it does not ("" before any run)."""
    if not report or not report.get("sweep"):
        return ""
    if not _labelled(report):
        return text("eval_band_unlabelled", lang)
    point = report["sweep"][chosen_index(report)]
    delta = point.get("delta_vs_default")
    if not delta:
        return ""
    lo, hi = delta["ci95"]
    values = {"setting": point_label(point, lang), "mean": f"{delta['mean']:+.4f}", "lo": f"{lo:+.4f}",
              "hi": f"{hi:+.4f}"}
    queries = int(report.get("queries") or 0)
    if point.get("default"):
        few = queries < MIN_BAND_QUERIES  # no more a finding than a lead on so few queries
        return text("eval_band_is_default_few" if few else "eval_band_is_default", lang, n=queries,
                    least=MIN_BAND_QUERIES, **values)
    if queries < MIN_BAND_QUERIES:  # a bootstrap over a handful of queries gives an interval of almost no width
        return text("eval_band_few", lang, n=queries, points=len(report["sweep"]), least=MIN_BAND_QUERIES, **values)
    key = "eval_band_tie" if lo <= 0.0 <= hi else "eval_band_better" if lo > 0.0 else "eval_band_worse"
    return text(key, lang, **values)


def change_rows(report: Mapping[str, Any] | None, index: int | None, n: int = HELPS_HURTS) -> list[dict[str, Any]]:
    """The queries the sweep point ``index`` helps most and hurts most against the default (nDCG@10), at most
    ``n`` each way, largest change first: ``{"effect": "helps"|"hurts", "query_id", "query", "default",
    "setting", "change"}`` (none without labels)."""
    if not report or index is None or not _labelled(report):
        return []
    sweep = report.get("sweep") or []
    if not 0 <= int(index) < len(sweep) or "per_query" not in sweep[int(index)]:
        return []
    changes = [(float(v) - float(q["hybrid"]), q, float(v))
               for q, v in zip(report.get("per_query") or [], sweep[int(index)]["per_query"])]
    helps = sorted((c for c in changes if c[0] > TIE), key=lambda c: -c[0])[:n]
    hurts = sorted((c for c in changes if c[0] < -TIE), key=lambda c: c[0])[:n]
    return [{"effect": effect, "query_id": q.get("query_id", q.get("id")), "query": q["query"],
             "default": float(q["hybrid"]), "setting": v, "change": d}
            for effect, rows in (("helps", helps), ("hurts", hurts)) for d, q, v in rows]


def change_header(lang: str = "zh") -> list[str]:
    """Column names of ``change_table``."""
    return [text(key, lang) for key in ("eval_effect", "eval_query", "eval_default_ndcg", "eval_setting_ndcg",
                                        "eval_change", "eval_action")]


def change_table(report: Mapping[str, Any] | None, index: int | None,
                 lang: str = "zh") -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the helps/hurts list (``change_rows``), each row ending in its open action."""
    rows = [[text(f"eval_{r['effect']}", lang), r["query"], f"{r['default']:.4f}", f"{r['setting']:.4f}",
             f"{r['change']:+.4f}", text("eval_open", lang)] for r in change_rows(report, index)]
    sweep = (report or {}).get("sweep") or []
    if not rows and report and _labelled(report) and index is not None and 0 <= int(index) < len(sweep):
        # an empty list said nothing (review): why there is no query to show
        same = sweep[int(index)].get("default")
        rows = [["", text("eval_no_change_default" if same else "eval_no_change", lang), "", "", "", ""]]
    return change_header(lang), rows


def ceiling_text(report: Mapping[str, Any] | None, lang: str = "zh") -> str:
    """The ceiling in words: how many queries have a relevant document neither retriever returns in its window
    (no fusion can rank it), a few of them by text, and each retriever's recall within its window ("" without
    labels)."""
    if not report or not _labelled(report) or not report.get("ceiling"):
        return ""
    ceiling = report["ceiling"]
    recall = ceiling["recall"]
    line = text("eval_ceiling", lang, n=ceiling["unreachable_queries"], total=report["queries"],
                window=ceiling["window"], keyword=f"{recall['keyword']:.4f}", semantic=f"{recall['semantic']:.4f}")
    texts = {q.get("query_id", q.get("id")): q["query"] for q in report.get("per_query") or []}
    named = [texts[u["query_id"]] for u in ceiling.get("unreachable", [])[:CEILING_EXAMPLES] if u["query_id"] in texts]
    if named:
        line += " " + text("eval_ceiling_examples", lang, queries="；".join(named) if lang == "zh" else "; ".join(named))
    return line


def overlap_table(report: Mapping[str, Any] | None, index: int | None,
                  lang: str = "zh") -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the overlap table: keyword|semantic, keyword|hybrid, semantic|hybrid from the
    report, and the default against the sweep point ``index`` (mean over queries of the top 10)."""
    header = [text("eval_pair", lang), f"Jaccard@{PRIMARY_K}", f"RBO@{RBO_P}", text("eval_shared", lang),
              text("eval_only_left", lang), text("eval_only_right", lang)]
    if not report:
        return header, []
    names = {"keyword": text("eval_keyword", lang), "semantic": text("eval_semantic", lang),
             "hybrid": text("eval_hybrid_short", lang), "default": text("eval_hybrid_short", lang)}
    pairs = [(f"{names[left]} | {names[right]}", values) for pair, values in (report.get("overlap") or {}).items()
             for left, right in [pair.split("|")] if pair != "default|chosen"]
    sweep = report.get("sweep") or []
    if index is not None and 0 <= int(index) < len(sweep) and "overlap_vs_default" in sweep[int(index)]:
        chosen = text("eval_chosen", lang, setting=point_label(sweep[int(index)], lang))
        pairs.append((f"{names['default']} | {chosen}", sweep[int(index)]["overlap_vs_default"]))
    rows = [[name, f"{v[f'jaccard@{PRIMARY_K}']:.3f}", f"{v[f'rbo@{RBO_P}']:.3f}", f"{v['shared']:.1f}",
             f"{v['only_left']:.1f}", f"{v['only_right']:.1f}"] for name, v in pairs]
    return header, rows


def corpus_text(labelled: LabelledSet) -> str:
    """The set's documents as the search tab's knowledge base: one entry per line (line breaks inside an
    entry become spaces)."""
    return "\n".join(" ".join(d.text.split()) for d in labelled.documents)


# ---------------------------------------------------------------------------------------- the tab


@dataclass
class EvalTab:
    """The tab's components and the handlers the page's language switch calls."""

    report: Any  # gr.State holding the last report
    table: Any
    curve: Any
    status: Any
    band: Any = None
    point: Any = None  # the setting picker (index of a sweep point)
    changes: Any = None  # the helps/hurts list
    ceiling: Any = None
    overlap: Any = None
    opened: Any = None  # the event that opens a listed query in the search tab (None without a search tab)

    @staticmethod
    def rerender(report: Mapping[str, Any] | None, index: int | None, lang: str) -> tuple[Any, ...]:
        """Table, curve, note, band sentence, setting picker, helps/hurts list, ceiling and overlap of
        ``report`` in ``lang`` (unchanged before any run)."""
        import gradio as gr

        if not report:
            return (gr.skip(),) * 8
        if index is None or not 0 <= int(index) < len(report.get("sweep") or []):
            index = chosen_index(report)
        if _labelled(report):
            header, rows = report_table(report, lang)
            table, curve = gr.update(value=rows, headers=header), plots.eval_curve(report, lang)
        else:
            table, curve = gr.update(value=empty_table(lang)), None
        note = run_note(report, lang)
        changes_header, changes = change_table(report, index, lang)
        overlap_header, overlaps = overlap_table(report, index, lang)
        return (table, curve, note, band_note(report, lang),
                gr.update(choices=point_choices(report, lang), value=index),
                gr.update(value=changes, headers=changes_header), ceiling_text(report, lang),
                gr.update(value=overlaps, headers=overlap_header))

    @staticmethod
    def cleared(lang: str) -> tuple[Any, ...]:
        """``rerender``'s outputs with no report: an empty table, curve, note, band, picker, lists and ceiling."""
        import gradio as gr

        return (gr.update(value=empty_table(lang)), None, "", "", gr.update(choices=[], value=None),
                gr.update(value=pd.DataFrame([], columns=change_header(lang)), headers=change_header(lang)), "",
                gr.update(value=pd.DataFrame([], columns=overlap_table(None, None, lang)[0]),
                          headers=overlap_table(None, None, lang)[0]))

    @staticmethod
    def drop_message(report: Mapping[str, Any] | None, status: str | None) -> Any:
        """After a language switch before any run: the status line (an upload's summary or a problem, written in
        the other language) goes; once there is a report, ``rerender`` writes its note in the new language."""
        import gradio as gr

        return "" if not report and status else gr.skip()

    def outputs(self) -> list[Any]:
        """The outputs of ``rerender``."""
        return [self.table, self.curve, self.status, self.band, self.point, self.changes, self.ceiling, self.overlap]

    def inputs(self, language: Any) -> list[Any]:
        """The inputs of ``rerender``."""
        return [self.report, self.point, language]


def build_eval_tab(tr: Translator, service, alpha, fusion, language, *, normalizer=None, window=None, tabs=None,
                   query=None, kb=None, split=None, sample=None, examples=None, judged=None,
                   kb_undo=None, engine=None, k=None, upload_root=None) -> EvalTab:
    """Build the evaluation tab's components and events inside the current ``gr.Blocks`` context.

    Args:
        tr: the page's translator (every label here switches language with the page).
        service: the demo's ``hybrid.service.ModelService`` (its model and embedding cache are reused).
        alpha: the search tab's alpha slider, set by "apply best alpha".
        fusion: the search tab's fusion dropdown, set with it.
        language: the page's language switch (messages follow it).
        normalizer, window, tabs, query, kb, split: the search tab's normaliser and window controls, the page's
            tabs, its query box, knowledge base and split switch: a listed query opens there with its setting
            (no open action without them). ``kb`` and ``split`` also give the documents that queries uploaded
            alone are run against. ``sample`` and ``examples`` (the sample picker and its example chips) are
            cleared when a query opens on the evaluated knowledge base, which is no sample.
        judged: the session's judgements (``gr.State``, ``hybrid.judgements``): a button evaluates them over the
            knowledge base (no button without them).
        kb_undo: the knowledge-base panel's message state, notice, undo text, undo button and the panel itself: a
            query opened on the evaluated knowledge base replaces the text box as an upload does, said (the panel
            opens) and undoable.
        engine, k: the session's engine (``gr.State``) and the search tab's top-k slider: evaluations tokenise
            as the session's engine does (its tokeniser panel, the server's ``--no-fold``/``--user-dict``), and
            the export of the best setting carries that tokeniser and the page's k (the server's without them).
        upload_root: where the page reads uploads from (a visitor's uploaded dictionary goes with the export).
    Returns:
        The components the language switch re-renders.
    """
    import gradio as gr

    private = {"api_visibility": "private"}
    settings = service.settings
    tr.make(gr.Markdown, i18n={"value": "eval_help"}, elem_id="eval-help")
    with gr.Row():
        files = tr.make(gr.File, i18n={"label": "eval_files"}, file_count="multiple",
                        file_types=[".jsonl", ".tsv", ".csv", ".zip"], elem_id="eval-files")
        max_queries = tr.make(QuietNumber, i18n={"label": "eval_max_queries"}, value=300, elem_id="eval-max-queries")
    with gr.Row():
        normalizers = tr.make(CheckboxGroup, list(NORMALIZERS), i18n={"label": "eval_normalizers"},
                              value=[settings.normalizer], elem_id="eval-normalizers")
        windows = tr.make(CheckboxGroup, sorted({*SWEEP_WINDOWS, settings.window}), i18n={"label": "eval_windows"},
                          value=[settings.window], elem_id="eval-windows")
    with gr.Row():
        run_button = tr.make(gr.Button, i18n={"value": "eval_run"}, variant="primary", elem_id="eval-run")
        judged_button = tr.make(gr.Button, i18n={"value": "eval_judged"}, variant="secondary", elem_id="eval-judged",
                                visible=judged is not None)
    status = gr.Markdown(elem_id="eval-status")
    table = tr.make(gr.Dataframe, i18n={"label": "eval_table", "value": empty_table}, interactive=False,
                    elem_id="eval-table")
    curve = tr.make(gr.Plot, i18n={"label": "eval_curve"}, elem_id="eval-curve")
    band = gr.Markdown(elem_id="eval-band")
    apply_button = tr.make(gr.Button, i18n={"value": "eval_apply"}, elem_id="eval-apply")
    export = build_export(tr, "export_best_button", "eval-export")
    point = tr.make(Dropdown, [], i18n={"label": "eval_point"}, value=None, elem_id="eval-point")
    changes = tr.make(gr.Dataframe, i18n={"label": "eval_per_query", "value": lambda lang: pd.DataFrame(
        [], columns=change_header(lang))}, interactive=False, wrap=True, elem_id="eval-changes")
    ceiling = gr.Markdown(elem_id="eval-ceiling")
    overlap = tr.make(gr.Dataframe, i18n={"label": "eval_overlap", "value": lambda lang: pd.DataFrame(
        [], columns=overlap_table(None, None, lang)[0])}, interactive=False, elem_id="eval-overlap")
    report_state = gr.State(None)
    corpus_state = gr.State(None)  # the evaluated documents as a knowledge-base text
    uploaded_state = gr.State([])  # the files the last upload left in the box
    shown = [table, curve, status, band, point, changes, ceiling, overlap]

    def problem(message: str, lang: str) -> tuple[Any, ...]:
        # A visitor's mistake is answered on the page, in the page's language (not as a server error). The last
        # run's figures go, as with a new upload: left under the warning, "apply" used them (review).
        cleared = list(EvalTab.cleared(lang))
        cleared[2] = warning(message)
        return (*cleared, None, None)

    def need_model(lang):
        state = service.status()
        return problem(text("eval_need_model", lang, state=model_state(state.state, lang),
                            error=f" ({state.error})" if state.error else ""), lang)

    def evaluate(labelled, swept_normalizers, swept_windows, lang, progress, session_engine):
        def report_progress(stage: str, done: int, total: int) -> None:
            progress(done / max(total, 1), desc=f"{text(f'eval_stage_{stage}', lang)} {done}/{total}")

        # No shared cache: a visitor's corpus must not answer faster for the next visitor who sends it. The
        # session's own vectors are taken: entries its knowledge base already embedded are not embedded again.
        report = run(labelled, service.embedder, service.known_vectors(session_engine), settings=settings, progress=report_progress,
                     tokenizer=session_tokenizer(session_engine),
                     normalizers=[n for n in NORMALIZERS if n in (swept_normalizers or [])] or None,
                     windows=sorted({int(w) for w in swept_windows or []}) or None)
        return (*EvalTab.rerender(report, None, lang), report, corpus_text(labelled))

    def session_tokenizer(session_engine):
        """The tokeniser the session's search tab uses (the server's before its engine is built)."""
        return session_engine.tokenizer if session_engine is not None else service.tokenizer

    def on_judged(judgements, swept_normalizers, swept_windows, kb_text, split_on, session_engine, lang,
                  progress=gr.Progress()):
        if service.embedder is None:
            return need_model(lang)
        if not any(g > 0 for grades in (judgements or {}).values() for g in grades.values()):
            return problem(text("eval_no_judgements", lang), lang)
        entries = page_entries(kb_text, split_on)
        # the knowledge base is what is evaluated: judgements of entries it no longer holds are left out, and said
        here = set(entries)
        kept = {q: {t: g for t, g in grades.items() if t in here} for q, grades in judgements.items()}
        left_out = judging.count(judgements) - judging.count(kept)
        if not any(g > 0 for grades in kept.values() for g in grades.values()):
            return problem(text("eval_judged_elsewhere", lang, n=left_out), lang)
        try:
            labelled = parse_labelled_set(*(judging.to_files(kept, entries)[f] for f in LABELLED_FILES),
                                          name=plots.JUDGED_SET)
        except (LabelledSetError, KnowledgeBaseError) as exc:
            return problem(text("eval_bad_upload", lang, error=explain(exc, lang)), lang)
        shown = list(evaluate(labelled, swept_normalizers, swept_windows, lang, progress, session_engine))
        if left_out:
            shown[2] = f"{shown[2]}\n\n**⚠** {text('eval_judged_left_out', lang, n=left_out)}"
        return tuple(shown)

    def on_run(uploaded, limit, swept_normalizers, swept_windows, kb_text, split_on, session_engine, lang,
               progress=gr.Progress()):
        embedder = service.embedder
        if embedder is None:
            return need_model(lang)
        if not uploaded:
            return problem(text("eval_bad_upload", lang, error=text("eval_no_file", lang)), lang)
        paths = [getattr(f, "name", f) for f in uploaded]
        refused = not_received(paths, lang)
        if refused:
            return problem(refused, lang)
        if limit is not None and (limit < 0 or limit != int(limit)):
            return problem(text("eval_bad_limit", lang, value=f"{limit:g}"), lang)
        entries = page_entries(kb_text, split_on)
        try:
            labelled = parse_upload(paths, max_queries=int(limit) if limit else None, documents=entries)
        except (LabelledSetError, KnowledgeBaseError) as exc:
            return problem(text("eval_bad_upload", lang, error=explain(exc, lang)), lang)
        return evaluate(labelled, swept_normalizers, swept_windows, lang, progress, session_engine)

    def on_upload(uploaded, previous, kb_text, split_on, lang):
        # The box keeps earlier files beside new ones: a new upload replaces them, and is read at once.
        box = [str(getattr(f, "name", f)) for f in uploaded or []]
        added = new_uploads(box, previous)
        entries = page_entries(kb_text, split_on)
        shown_files = gr.update(value=added) if added != box else gr.skip()
        at = shown.index(status)
        if not added:  # an empty box: only the status line changes
            kept = [gr.skip()] * len(shown)
            kept[at] = ""
            return (shown_files, added, *kept, gr.skip(), gr.skip(), gr.skip())
        # New files: the last run's figures (and "apply", "export") described other files, so they go
        cleared = list(EvalTab.cleared(lang))
        cleared[at] = upload_status(added, lang, entries)
        return (shown_files, added, *cleared, None, None, gr.update(value=None, visible=False))

    def on_point(report, index, lang):
        if not report:
            return gr.skip(), gr.skip()
        changes_header, rows = change_table(report, index, lang)
        overlap_header, overlaps = overlap_table(report, index, lang)
        return gr.update(value=rows, headers=changes_header), gr.update(value=overlaps, headers=overlap_header)

    applied = [c for c in (normalizer, window) if c is not None]  # the search tab's, when it has them

    def on_apply(report, lang):
        best = best_point(report, settings.alpha, settings.fusion)
        if best is None or not _labelled(report):
            need = "eval_need_run" if best is None else "eval_need_labels"
            return (gr.skip(),) * (2 + len(applied)) + (with_run_note(report, f"**⚠** {text(need, lang)}", lang),)
        setting = {"alpha": float(best["alpha"]), "fusion": str(best["fusion"]),
                   "normalizer": str(best.get("normalizer", settings.normalizer)),
                   "window": int(best.get("window", settings.window))}
        axes = [setting["normalizer"], setting["window"]][:len(applied)]
        return (setting["alpha"], setting["fusion"], *axes,
                with_run_note(report, text("eval_applied", lang, **setting), lang))

    def on_export(report, session_engine, shown_k, lang):
        best = best_point(report, service.settings.alpha, service.settings.fusion)
        gone = gr.update(value=None, visible=False)  # a refusal takes away the previous export's file too
        if best is None:
            return gone, f"**⚠** {text('eval_need_run', lang)}"
        if not _labelled(report):  # its figures would all be 0: no relevance labels were measured
            return gone, with_run_note(report, f"**⚠** {text('eval_need_labels', lang)}", lang)
        tokenizer = session_tokenizer(session_engine)
        if report.get("tokenizer") != tokenizer.settings.label:  # the figures would describe another tokeniser
            changed = text("eval_tokenizer_changed", lang, then=report.get("tokenizer"), now=tokenizer.settings.label)
            return gone, with_run_note(report, f"**⚠** {changed}", lang)
        chosen = {key: best[key] for key in ("fusion", "alpha", "normalizer", "window") if best.get(key) is not None}
        if shown_k is not None:
            chosen["k"] = int(shown_k)
        config = visitor_config(service.settings.with_(**chosen), tokenizer.settings, service.requested,
                                loaded_model(service))
        from .tokenizer_panel import uploaded_dictionary  # it builds on this module's neighbours

        dictionary = uploaded_dictionary(tokenizer.user_dict, upload_root)
        return (gr.File(value=write_setting(config, export_report(report), loaded_model(service), dictionary),
                        visible=True), gr.skip())

    session = engine if engine is not None else gr.State(None)
    export.button.click(on_export, [report_state, session, k if k is not None else gr.State(None), language],
                        [export.file, status], **private)
    kb_inputs = [kb if kb is not None else gr.State(""), split if split is not None else gr.State(False)]
    quiet = {**private, "concurrency_limit": None, "show_progress": "hidden"}
    text_box = {**private, "concurrency_id": "text", "concurrency_limit": TEXT_CONCURRENCY, "show_progress": "hidden"}
    files.upload(on_upload, [files, uploaded_state, *kb_inputs, language],
                 [files, uploaded_state, *shown, report_state, corpus_state, export.file], **text_box)
    files.clear(lambda: [], None, uploaded_state, **quiet)
    # A click while a run is going runs after it (Gradio's default drops it: the new files' run never came, and
    # the old set's result stood beside them)
    queued = {**private, "trigger_mode": "always_last"}
    run_button.click(on_run, [files, max_queries, normalizers, windows, *kb_inputs, session, language],
                     [*shown, report_state, corpus_state], **queued)
    if judged is not None:
        judged_button.click(on_judged, [judged, normalizers, windows, *kb_inputs, session, language],
                            [*shown, report_state, corpus_state], **queued)
    point.input(on_point, [report_state, point, language], [changes, overlap], **private)
    apply_button.click(on_apply, [report_state, language], [alpha, fusion, *applied, status], **private)
    opened = None
    if None not in (normalizer, window, tabs, query, kb, split, sample, examples, kb_undo):
        def on_open(report, index, corpus, kb_text, lang, undo, evt):
            rows = change_rows(report, index)
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) and evt.index else evt.index
            if not rows or not isinstance(row, int) or not 0 <= row < len(rows):
                return (gr.skip(),) * 15
            p = report["sweep"][int(index)]
            same_kb = sample_of(corpus)
            opened = (gr.Tabs(selected="search"), rows[row]["query"], corpus, False, same_kb, examples_update(same_kb),
                      float(p["alpha"]), p["fusion"], p["normalizer"], int(p["window"]))
            if (kb_text or "").strip() == corpus.strip():
                return (*opened, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip())
            # the text box is replaced as by an upload: said, and the earlier text one click away
            message = ("eval_opened_kb", {"n": len(page_entries(corpus, False)),
                                          "old": len(page_entries(kb_text, False))}, False)
            # the panel opens: its notice says the text was replaced (a folded panel hid it: new-user review)
            return (*opened, message, render_message(message, lang), after_replacement(undo, kb_text, corpus),
                    gr.update(visible=True), gr.update(open=True))

        on_open.__annotations__["evt"] = gr.SelectData  # Gradio reads the annotation (gradio is imported here)
        opened = changes.select(on_open, [report_state, point, corpus_state, kb, language, kb_undo[2]],
                                [tabs, query, kb, split, sample, examples, alpha, fusion, normalizer, window,
                                 *kb_undo], **private)
    return EvalTab(report_state, table, curve, status, band, point, changes, ceiling, overlap, opened)
