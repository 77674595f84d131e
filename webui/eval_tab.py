"""The demo's evaluation tab: upload a labelled set, score keyword / semantic / hybrid, apply the best alpha."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from hybrid.evaluate import (
    LABELLED_FILES,
    PRIMARY_K,
    LabelledSet,
    LabelledSetError,
    parse_labelled_set,
    parse_pairs_csv,
    run,
)
from hybrid.kb import KnowledgeBaseError, decode_bytes
from hybrid.redact import hide_paths
from server.uploads import is_received_upload

from . import plots
from .export import build_export, visitor_config, write_setting
from .handlers import MAX_ENTRIES
from .i18n import Translator, explain, text

_METRICS = ("ndcg", "recall", "mrr")
_METRIC_NAMES = {"ndcg": "nDCG", "recall": "Recall", "mrr": "MRR"}
TIE = 1e-9  # sweep points whose nDCG@10 differ by less are a tie


def _read(path: str | os.PathLike[str]) -> str:
    return decode_bytes(Path(path).read_bytes(), Path(path).name)


def parse_upload(paths: Sequence[str | os.PathLike[str]] | None, max_queries: int | None = None,
                 max_documents: int | None = MAX_ENTRIES) -> LabelledSet:
    """Turn uploaded files into a labelled set.

    Args:
        paths: the uploaded files: corpus.jsonl + queries.jsonl + qrels.tsv (recognised by name), or one .csv.
        max_queries: evaluate only the first N queries.
        max_documents: a larger corpus is refused (the page embeds it on the shared model); None: no limit.
    Returns:
        The labelled set.
    Raises:
        LabelledSetError: no file, the wrong files, too many documents, or malformed content (the message
            says which).
    """
    labelled = _parse_upload(paths, max_queries)
    if max_documents is not None and len(labelled.documents) > max_documents:
        raise LabelledSetError(
            f"the corpus has {len(labelled.documents):,} documents; this page evaluates at most {max_documents:,} "
            f"(run `python -m hybrid.evaluate --data FOLDER` for larger sets, or cut the corpus)",
            "too_many_docs", n=f"{len(labelled.documents):,}", limit=f"{max_documents:,}")
    return labelled


def _parse_upload(paths: Sequence[str | os.PathLike[str]] | None, max_queries: int | None) -> LabelledSet:
    paths = [Path(p) for p in (paths or [])]
    if not paths:
        raise LabelledSetError("no file uploaded", "no_file")
    csvs = [p for p in paths if p.suffix.lower() == ".csv"]
    if csvs:
        if len(paths) != 1:
            raise LabelledSetError("upload one CSV on its own, or the three labelled-set files", "one_csv")
        labelled = parse_pairs_csv(_read(csvs[0]), name=csvs[0].stem)
        if max_queries is not None:
            kept = labelled.queries[:max_queries]
            labelled = LabelledSet(labelled.name, labelled.documents, kept,
                                   {qid: labelled.qrels[qid] for qid, _ in kept})
        return labelled
    found: dict[str, list[Path]] = {wanted: [p for p in paths if p.name.lower().endswith(wanted)]
                                    for wanted in LABELLED_FILES}
    # The upload box keeps earlier files beside new ones: two of a kind are refused, never silently picked from.
    twice = [f for f, matches in found.items() if len(matches) > 1]
    if twice:
        raise LabelledSetError(f"more than one {', '.join(twice)} uploaded: clear the upload box and upload the "
                               f"three files together", "duplicate_files", files=", ".join(twice))
    missing = [f for f, matches in found.items() if not matches]
    if missing:
        raise LabelledSetError(f"missing {', '.join(missing)}", "missing_files", files=", ".join(missing))
    texts = [_read(found[f][0]) for f in LABELLED_FILES]
    return parse_labelled_set(*texts, name=upload_name(found["corpus.jsonl"][0]), max_queries=max_queries)


def upload_name(corpus: Path) -> str:
    """The set's name from its corpus file's name ("scifact" for scifact-corpus.jsonl); "" for a plain
    corpus.jsonl (Gradio keeps uploads in folders named by a hash, which names nothing)."""
    return corpus.name[: -len("corpus.jsonl")].strip(" -_.")


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
        (column names, rows of method name and metrics to 4 decimals).
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
    return header, [[name, *[round(float(values[c]), 4) for c in columns]] for name, values in named]


def _settings_of_rows(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The sweep points, and the rows the table shows as settings one can apply: keyword only is weighted
    alpha 0, semantic only weighted alpha 1 (``hybrid.fusion``: the ends are the single lists), and the hybrid
    default its own configuration."""
    results, config = report.get("results", {}), report.get("hybrid_config", {})
    rows = [{"fusion": "weighted", "alpha": 0.0, **results["keyword"]} if "keyword" in results else None,
            {"fusion": "weighted", "alpha": 1.0, **results["semantic"]} if "semantic" in results else None,
            {"fusion": config["fusion"], "alpha": float(config["alpha"]), **results["hybrid"]}
            if "hybrid" in results and "fusion" in config else None]
    return [*report["sweep"], *(r for r in rows if r is not None)]


def best_point(report: Mapping[str, Any] | None, alpha: float | None = None,
               fusion: str | None = None) -> Mapping[str, Any] | None:
    """The setting with the best nDCG@10 among the sweep and the table's rows (keyword only, semantic only,
    the hybrid default), so no row the tab shows beats it; ties go to a real mix over a single mode (alpha
    strictly between 0 and 1), then to the fusion method and alpha nearest the defaults.

    Args:
        report: from ``hybrid.evaluate.run`` (None before any run).
        alpha, fusion: the defaults ties lean to (the report's hybrid configuration when None).
    Returns:
        The point ({"fusion", "alpha", metrics...}), None before any run.
    """
    if not report or not report.get("sweep"):
        return None
    config = report.get("hybrid_config", {})
    alpha = float(config.get("alpha", 0.5)) if alpha is None else alpha
    fusion = config.get("fusion") if fusion is None else fusion
    metric = f"ndcg@{PRIMARY_K}"
    points = _settings_of_rows(report)
    top = max(float(p[metric]) for p in points)
    tied = [p for p in points if float(p[metric]) >= top - TIE]
    return min(tied, key=lambda p: (not 0.0 < float(p["alpha"]) < 1.0, p["fusion"] != fusion,
                                    abs(float(p["alpha"]) - alpha)))


def best_setting(report: Mapping[str, Any] | None, alpha: float | None = None,
                 fusion: str | None = None) -> tuple[float, str] | None:
    """The (alpha, fusion) of ``best_point``, None before any run."""
    best = best_point(report, alpha, fusion)
    return None if best is None else (float(best["alpha"]), str(best["fusion"]))


def report_note(report: Mapping[str, Any] | None, lang: str = "zh") -> str:
    """One line naming the set, its size, the model and the best setting ("" before any run)."""
    best = best_point(report)
    if not report or best is None:
        return ""
    return text("eval_note", lang, dataset=plots.dataset_name(report, lang), queries=report["queries"],
                docs=report["docs"], model=report["model"], fusion=best["fusion"], alpha=best["alpha"],
                ndcg=f"{float(best[f'ndcg@{PRIMARY_K}']):.4f}")


@dataclass
class EvalTab:
    """The tab's components and the handlers the page's language switch calls."""

    report: Any  # gr.State holding the last report
    table: Any
    curve: Any
    status: Any

    @staticmethod
    def rerender(report: Mapping[str, Any] | None, lang: str) -> tuple[Any, Any, str]:
        """Table, curve and note of ``report`` in ``lang`` (unchanged before any run)."""
        import gradio as gr

        if not report:
            return gr.skip(), gr.skip(), ""
        header, rows = report_table(report, lang)
        return gr.update(value=rows, headers=header), plots.eval_curve(report, lang), report_note(report, lang)

    def outputs(self) -> list[Any]:
        """The outputs of ``rerender``."""
        return [self.table, self.curve, self.status]


def build_eval_tab(tr: Translator, service, alpha, fusion, language) -> EvalTab:
    """Build the evaluation tab's components and events inside the current ``gr.Blocks`` context.

    Args:
        tr: the page's translator (every label here switches language with the page).
        service: the demo's ``hybrid.service.ModelService`` (its model and embedding cache are reused).
        alpha: the search tab's alpha slider, set by "apply best alpha".
        fusion: the search tab's fusion dropdown, set with it.
        language: the page's language switch (messages follow it).
    Returns:
        The components the language switch re-renders.
    """
    import gradio as gr

    private = {"api_visibility": "private"}
    tr.make(gr.Markdown, i18n={"value": "eval_help"}, elem_id="eval-help")
    with gr.Row():
        files = tr.make(gr.File, i18n={"label": "eval_files"}, file_count="multiple",
                        file_types=[".jsonl", ".tsv", ".csv"], elem_id="eval-files")
        max_queries = tr.make(gr.Number, i18n={"label": "eval_max_queries"}, value=300, precision=0, minimum=0,
                              elem_id="eval-max-queries")
    run_button = tr.make(gr.Button, i18n={"value": "eval_run"}, variant="primary", elem_id="eval-run")
    status = gr.Markdown(elem_id="eval-status")
    table = tr.make(gr.Dataframe, i18n={"label": "eval_table", "value": empty_table}, interactive=False,
                    elem_id="eval-table")
    curve = tr.make(gr.Plot, i18n={"label": "eval_curve"}, elem_id="eval-curve")
    apply_button = tr.make(gr.Button, i18n={"value": "eval_apply"}, elem_id="eval-apply")
    export = build_export(tr, "export_best_button", "eval-export")
    report_state = gr.State(None)

    def problem(message: str) -> tuple[Any, Any, Any, str]:
        # A visitor's mistake is answered on the page, in the page's language (not as a server error).
        return gr.skip(), gr.skip(), gr.skip(), f"**⚠** {html.escape(message)}"

    def on_run(uploaded, limit, lang, progress=gr.Progress()):
        embedder = service.embedder
        if embedder is None:
            state = service.status()
            return problem(text("eval_need_model", lang, state=state.state,
                                error=f" ({state.error})" if state.error else ""))
        if not uploaded:
            return problem(text("eval_bad_upload", lang, error=text("eval_no_file", lang)))
        paths = [getattr(f, "name", f) for f in uploaded]
        for path in paths:  # a client can name any server path in the event's file data
            if not is_received_upload(path):
                return problem(text("eval_bad_upload", lang,
                                    error=text("eval_not_received", lang, name=Path(str(path)).name)))
        try:
            labelled = parse_upload(paths, max_queries=int(limit) if limit else None)
        except (LabelledSetError, KnowledgeBaseError) as exc:
            return problem(text("eval_bad_upload", lang, error=explain(exc, lang)))

        def report_progress(stage: str, done: int, total: int) -> None:
            progress(done / max(total, 1), desc=f"{text(f'eval_stage_{stage}', lang)} {done}/{total}")

        # No shared cache: a visitor's corpus must not answer faster for the next visitor who sends it.
        report = run(labelled, embedder, None, settings=service.settings, progress=report_progress)
        table_update, figure, note = EvalTab.rerender(report, lang)
        return table_update, figure, report, note

    def on_apply(report, lang):
        best = best_setting(report, service.settings.alpha, service.settings.fusion)
        if best is None:
            return gr.skip(), gr.skip(), f"**⚠** {text('eval_need_run', lang)}"
        return best[0], best[1], text("eval_applied", lang, alpha=best[0], fusion=best[1])

    def on_export(report, lang):
        best = best_point(report, service.settings.alpha, service.settings.fusion)
        if best is None:
            return gr.skip(), f"**⚠** {text('eval_need_run', lang)}"
        chosen = {key: best[key] for key in ("fusion", "alpha", "normalizer", "window") if best.get(key) is not None}
        config = visitor_config(service.settings.with_(**chosen), service.tokenizer.settings, service.requested)
        return gr.File(value=write_setting(config, report), visible=True), gr.skip()

    export.button.click(on_export, [report_state, language], [export.file, status], **private)
    run_button.click(on_run, [files, max_queries, language], [table, curve, report_state, status], **private)
    apply_button.click(on_apply, [report_state, language], [alpha, fusion, status], **private)
    return EvalTab(report_state, table, curve, status)
