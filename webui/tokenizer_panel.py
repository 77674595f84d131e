"""The tokeniser panel: jieba mode, Traditional/Simplified folding and a user dictionary for the visitor's engine."""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from hybrid.engine import HybridEngine
from hybrid.tokenize import TOKENIZER_MODES, Tokenizer, UserDictLimitError, UserDictLineError, user_dict_words
from server.uploads import upload_folder

from .handlers import DemoHandlers, is_received_upload
from .i18n import Translator, text
from .layout import Radio

log = logging.getLogger(__name__)

USER_DICTS = "user-dicts"  # the upload folder's folder of visitors' dictionaries
# A visitor's file name kept as it is (letters of any script, digits, spaces, ._-()), else "user-dict.txt"
_SAFE_NAME = re.compile(r"[\w][\w .()-]{0,99}", re.UNICODE)
MAX_DICT_BYTES = 256 * 1024  # a word list, not a corpus (its words in jieba's form take at most about 25 MB)


@dataclass
class TokenizerPanel:
    """The panel's controls and its status line."""

    mode: gr.Radio
    fold: gr.Checkbox
    user_dict: gr.File
    status: gr.Markdown


def build_tokenizer_panel(tr: Translator, start: Tokenizer) -> TokenizerPanel:
    """The folded-away panel (place it in the search tab), showing the mode and folding of ``start`` (the
    server's tokenizer, ``demo.py --tokenizer-mode/--no-fold``)."""
    with tr.make(gr.Accordion, i18n={"label": "tok_panel"}, open=False, elem_id="tokenizer-panel"):
        with gr.Row():
            mode = tr.make(Radio, choices=list(TOKENIZER_MODES), value=start.mode,
                           i18n={"label": "tok_mode_label", "info": "tok_mode_info"}, elem_id="tok-mode")
            fold = tr.make(gr.Checkbox, value=start.fold, i18n={"label": "tok_fold_label"}, elem_id="tok-fold")
        user_dict = tr.make(gr.File, i18n={"label": "tok_dict_label"}, file_types=[".txt"], type="filepath",
                            elem_id="tok-dict")
        status = gr.Markdown("", elem_id="tok-status")
    return TokenizerPanel(mode, fold, user_dict, status)


class _Refused(ValueError):
    """An upload the panel refuses: the status line's text key and its values."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key, self.values = key, values


def _stable_copy(path: str, root: str | Path | None) -> str:
    """The dictionary, under its own name in a folder named after its content, in this server's own upload folder
    (``root``, gone when the server stops): the setting export names it and hands it back by that name.

    Raises:
        _Refused: too big, or not UTF-8.
    """
    data = Path(path).read_bytes()
    if len(data) > MAX_DICT_BYTES:
        raise _Refused("tok_dict_too_big", size=f"{len(data):,}", most=f"{MAX_DICT_BYTES:,}")
    try:
        data.decode("utf-8")  # a BOM is UTF-8 too, so the error's position counts from the file's first byte
    except UnicodeDecodeError as exc:
        raise _Refused("tok_dict_not_utf8", byte=f"{data[exc.start]:#04x}", position=exc.start + 1) from None
    name = Path(path).name  # Gradio keeps the visitor's file name
    if not _SAFE_NAME.fullmatch(name):
        name = "user-dict.txt"
    folder = Path(root if root is not None else upload_folder()) / USER_DICTS / hashlib.sha256(data).hexdigest()[:32]
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = folder / name
    if not target.exists():
        target.write_bytes(data)
    return str(target)


def uploaded_dictionary(path: str | None, root: str | Path | None = None) -> str | None:
    """``path`` when it is a dictionary a visitor uploaded through the panel (under ``root``'s user dictionaries),
    else None: the server's own dictionary (``demo.py --user-dict``) is never handed out."""
    if not path:
        return None
    folder = Path(root if root is not None else upload_folder()) / USER_DICTS
    return path if is_received_upload(path, folder) else None


def apply_tokenizer(h: DemoHandlers, engine: HybridEngine | None, kb_text: str | None, split: bool, mode: str,
                    fold: bool, user_dict: str | None, lang: str) -> tuple[HybridEngine | None, str]:
    """The session's engine rebuilt with the chosen tokeniser (its vectors reused: nothing is embedded again), and
    the status line; a dictionary that cannot be read leaves the engine as it was and says why. Without an
    upload the server's dictionary (``demo.py --user-dict``) applies."""
    try:
        if user_dict:
            if not is_received_upload(user_dict, h.upload_root):
                raise _Refused("tok_dict_not_received")
            path = _stable_copy(user_dict, h.upload_root)
        else:  # the server's dictionary (demo.py --user-dict), if any
            path = h.service.tokenizer.user_dict
        words = len(user_dict_words(path)) if path else 0
        tokenizer = Tokenizer(mode=mode, user_dict=path, fold=bool(fold))
    except _Refused as exc:
        log.warning("user dictionary refused: %s %s", exc.key, exc.values)
        return engine, text(exc.key, lang, **exc.values)
    except UserDictLimitError as exc:
        log.warning("user dictionary refused: %s", exc)
        return engine, text("tok_dict_limit", lang)
    except UserDictLineError as exc:
        log.warning("user dictionary refused: %s", exc)
        return engine, text(f"tok_dict_line_{exc.problem}", lang, line=exc.line, size=exc.size, most=exc.most)
    except (OSError, ValueError) as exc:
        log.warning("user dictionary refused: %s", exc)
        return engine, text("tok_dict_error", lang, error=str(exc))
    status = text("tok_status", lang, mode=mode, fold=text("tok_on" if fold else "tok_off", lang), words=words)
    if engine is not None and engine.tokenizer.signature == tokenizer.signature:
        return engine, status
    entries = h.entries(kb_text, split)
    if h.store_kb is not None or not entries or h._size_problem(entries, lang):
        return engine, status
    return h.service.new_engine(entries, tokenizer=tokenizer, public_texts=h.public_texts, reuse=engine), status


def wire_tokenizer_panel(panel: TokenizerPanel, page: Any, h: DemoHandlers) -> None:
    """A visitor's change of the panel rebuilds the session's engine, then re-runs the current query. The mode and
    folding a shared link sets (``DemoHandlers.restore``) rebuild nothing here: the link's engine already has them,
    and the browser sent such a change with the other control's value not yet updated (a folded engine under an
    unfolded switch)."""
    from .wiring import EMBEDDING, SEARCHING

    inputs = [page.engine, page.kb.kb, page.kb.split, panel.mode, panel.fold, panel.user_dict, page.language]
    gr.on([panel.mode.input, panel.fold.input, panel.user_dict.change],
          lambda *args: apply_tokenizer(h, *args), inputs, [page.engine, panel.status], **EMBEDDING).then(
        h.search_if_query, page.search_inputs(), page.results.outputs(), show_progress="hidden", **SEARCHING)
