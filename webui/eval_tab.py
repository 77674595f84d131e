"""The demo's evaluation tab: upload a labelled set, score keyword / semantic / hybrid, apply the best alpha."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from hybrid.evaluate import (
    LABELLED_FILES,
    LabelledSet,
    LabelledSetError,
    make_figure,
    parse_labelled_set,
    parse_pairs_csv,
    run,
    summary_header,
    summary_rows,
)
from hybrid.kb import KnowledgeBaseError, decode_bytes

UPLOAD_HELP = (
    "Upload either the three files of a labelled set — corpus.jsonl ({\"id\", \"text\"} per line), "
    "queries.jsonl and qrels.tsv (query_id<TAB>doc_id<TAB>relevance) — or one CSV with the columns "
    "query, relevant text (a query on several rows has several relevant texts)."
)


def _read(path: str | os.PathLike[str]) -> str:
    return decode_bytes(Path(path).read_bytes(), Path(path).name)


def parse_upload(paths: Sequence[str | os.PathLike[str]] | None, max_queries: int | None = None) -> LabelledSet:
    """Turn uploaded files into a labelled set.

    Args:
        paths: the uploaded files: corpus.jsonl + queries.jsonl + qrels.tsv (recognised by name), or one .csv.
        max_queries: evaluate only the first N queries.
    Returns:
        The labelled set.
    Raises:
        LabelledSetError: the wrong files, or malformed content (the message says what to upload).
    """
    paths = [Path(p) for p in (paths or [])]
    if not paths:
        raise LabelledSetError("no file uploaded. " + UPLOAD_HELP)
    csvs = [p for p in paths if p.suffix.lower() == ".csv"]
    if csvs:
        if len(paths) != 1:
            raise LabelledSetError("upload one CSV on its own, or the three labelled-set files. " + UPLOAD_HELP)
        labelled = parse_pairs_csv(_read(csvs[0]), name=csvs[0].stem)
        if max_queries is not None:
            kept = labelled.queries[:max_queries]
            labelled = LabelledSet(labelled.name, labelled.documents, kept,
                                   {qid: labelled.qrels[qid] for qid, _ in kept})
        return labelled
    by_name: dict[str, Path] = {}
    for p in paths:
        for wanted in LABELLED_FILES:
            if p.name.lower().endswith(wanted):
                by_name[wanted] = p
    missing = [f for f in LABELLED_FILES if f not in by_name]
    if missing:
        raise LabelledSetError(f"missing {', '.join(missing)}. " + UPLOAD_HELP)
    texts = [_read(by_name[f]) for f in LABELLED_FILES]
    return parse_labelled_set(*texts, name=by_name["corpus.jsonl"].parent.name or "uploaded",
                              max_queries=max_queries)


def report_table(report: Mapping[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the result table (keyword, semantic, hybrid default, best sweep point)."""
    rows = [[r[0], *[round(float(v), 4) for v in r[1:]]] for r in summary_rows(report)]
    return summary_header(report), rows


def best_setting(report: Mapping[str, Any] | None) -> tuple[float, str] | None:
    """The (alpha, fusion) of the sweep's best nDCG@10 point, None before any run."""
    if not report or not report.get("best"):
        return None
    return float(report["best"]["alpha"]), str(report["best"]["fusion"])


def build_eval_tab(service, alpha, fusion) -> None:
    """Build the evaluation tab's components inside the current ``gr.Blocks`` context.

    Args:
        service: the demo's ``hybrid.service.ModelService`` (its model and embedding cache are reused).
        alpha: the search tab's alpha slider, set by "apply best alpha".
        fusion: the search tab's fusion dropdown, set with it.
    """
    import gradio as gr

    gr.Markdown(UPLOAD_HELP)
    with gr.Row():
        files = gr.File(label="labelled set", file_count="multiple", file_types=[".jsonl", ".tsv", ".csv"])
        max_queries = gr.Number(label="queries to evaluate (0 = all)", value=300, precision=0, minimum=0)
    run_button = gr.Button("Run evaluation", variant="primary")
    status = gr.Markdown()
    table = gr.Dataframe(label="quality (higher is better)", interactive=False)
    curve = gr.Plot(label="nDCG@10 against alpha")
    apply_button = gr.Button("Apply best alpha to the search tab")
    report_state = gr.State(None)

    def on_run(uploaded, limit, progress=gr.Progress()):
        embedder = service.embedder
        if embedder is None:
            state = service.status()
            raise gr.Error(f"the embedding model is {state.state}{': ' + state.error if state.error else ''}; "
                           "evaluation needs it — try again when it is ready")
        try:
            labelled = parse_upload([getattr(f, "name", f) for f in (uploaded or [])],
                                    max_queries=int(limit) if limit else None)
        except (LabelledSetError, KnowledgeBaseError) as exc:
            raise gr.Error(str(exc)) from None
        stages = {"documents": "embedding documents", "queries": "embedding queries", "ranking": "ranking"}

        def report_progress(stage: str, done: int, total: int) -> None:
            progress(done / max(total, 1), desc=f"{stages[stage]} {done}/{total}")

        report = run(labelled, embedder, service.cache, settings=service.settings, progress=report_progress)
        header, rows = report_table(report)
        best = best_setting(report)
        note = (f"**{report['dataset']}**: {report['queries']} queries, {report['docs']} documents, "
                f"model {report['model']}. Best sweep point: {best[1]}, alpha {best[0]}." if best else "")
        return gr.update(value=rows, headers=header), make_figure(report), report, note

    def on_apply(report):
        best = best_setting(report)
        if best is None:
            raise gr.Error("run an evaluation first")
        return gr.update(value=best[0]), gr.update(value=best[1])

    run_button.click(on_run, [files, max_queries], [table, curve, report_state, status])
    apply_button.click(on_apply, [report_state], [alpha, fusion])
