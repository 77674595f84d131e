"""The "export setting" download: the page's setting as a ``--config`` file with its store translations.

The translations (Milvus, Elasticsearch, OpenSearch) come from ``hybrid.config.export_all``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

from hybrid.config import Config, dumps, export_all
from hybrid.redact import hide_paths
from server.uploads import save_download

FILE_NAME = "hybrid-setting.json"


@dataclass
class ExportBar:
    """The export button and the file it fills."""

    button: Any
    file: Any


def build_export(tr, button_key: str = "export_button", elem_prefix: str = "export") -> ExportBar:
    """The button and its (hidden until filled) file, in the current Blocks context."""
    import gradio as gr

    with gr.Row(equal_height=True):
        button = tr.make(gr.Button, i18n={"value": button_key}, variant="secondary", scale=0, min_width=160,
                         elem_id=f"{elem_prefix}-setting")
        file = tr.make(gr.File, i18n={"label": "export_file"}, visible=False, interactive=False, scale=3,
                       file_count="multiple", elem_id=f"{elem_prefix}-file")
    return ExportBar(button, file)


def write_setting(config: Config, report: Mapping[str, Any] | None = None, used_model: str | None = None,
                  dictionary: str | None = None) -> list[str]:
    """``export_all(config, report, used_model)`` written to a fresh download folder, with the visitor's uploaded
    user dictionary beside it when there is one (the setting names it by its file name, so a setting file loads
    from the folder both are saved in).

    Args:
        config: the setting (a ``visitor_config``: no server path in it).
        report: the evaluation report whose figures the translations quote, if any.
        used_model: the model the server loaded (named in the notes).
        dictionary: the path of the dictionary the visitor uploaded (``uploaded_dictionary``), if any.
    Returns:
        The files' paths: the setting file first.
    """
    from hybrid.weight_model import active_source

    files = {FILE_NAME: dumps(export_all(config, report, used_model, active_source())).encode("utf-8")}
    if dictionary and config.tokenizer.user_dict == Path(dictionary).name != FILE_NAME:
        files[Path(dictionary).name] = Path(dictionary).read_bytes()
    # in the server's upload folder (gone when the server stops), among the downloads it keeps (server.uploads)
    return [str(path) for path in save_download("export-", files)]


def loaded_model(service) -> str | None:
    """The model the server loaded (a local folder by its last part), to name in the exports' notes; None while it
    loads or after it failed."""
    status = service.status()
    return status.model or None


def visitor_config(settings, tokenizer, model: str, loaded: str | None = None) -> Config:
    """A ``Config`` fit to hand to a visitor: no server path in it (a user dictionary by its file name, read from
    the setting file's folder when loaded; a model folder by its last part).

    ``loaded``: the model the server loaded; a model "auto" is pinned to it when it is a name that loads anywhere
    (a packaged alias or a hub id): the weights were tuned on its vectors, and "auto" is another model on a GPU.
    """
    if tokenizer.user_dict:
        tokenizer = replace(tokenizer, user_dict=Path(tokenizer.user_dict).name)
    from hybrid.semantic import portable_model

    if model == "auto" and loaded and portable_model(loaded):
        model = loaded
    return Config(settings, tokenizer, hide_paths(model) or "auto")


def page_config(service, engine, alpha: float, fusion: str, normalizer: str, k: float, k1: float, b: float,
                window: float, rerank: float | None = None) -> Config:
    """The setting the page's controls show: the server's settings with the sliders' values (the candidate
    window included), the session's tokenizer and the model the server was started with."""
    overrides = {"alpha": float(alpha), "fusion": fusion, "normalizer": normalizer, "k": int(k), "k1": float(k1),
                 "b": float(b), "window": int(window), "rerank": None if rerank is None else int(rerank)}
    tokenizer = (engine.tokenizer if engine is not None else service.tokenizer).settings
    return visitor_config(service.settings.with_(**overrides), tokenizer, service.requested, loaded_model(service))


def wire_export(bar: ExportBar, service, engine, controls, top_n=None, upload_root=None) -> None:
    """The search tab's button: write the controls' setting (and the session's uploaded dictionary) and show the
    files; ``upload_root``: where the page reads uploads from (Gradio's upload folder when None)."""
    from .tokenizer_panel import uploaded_dictionary

    import gradio as gr

    def on_export(engine_value, alpha, fusion, normalizer, k, k1, b, window, *rest):
        config = page_config(service, engine_value, alpha, fusion, normalizer, k, k1, b, window, *rest)
        uploaded = uploaded_dictionary(engine_value.tokenizer.user_dict if engine_value is not None else None,
                                       upload_root)
        return gr.File(value=write_setting(config, used_model=loaded_model(service), dictionary=uploaded),
                       visible=True)

    c = controls
    inputs = [engine, c.alpha, c.fusion, c.normalizer, c.k, c.k1, c.b, c.window,
              *([top_n] if top_n is not None else [])]
    bar.button.click(on_export, inputs, bar.file, api_visibility="private", concurrency_limit=None,
                     show_progress="hidden")
