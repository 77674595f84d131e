"""Writing-system detection: whether a text is written in CJK characters or in an alphabet."""

from __future__ import annotations

import re
from functools import lru_cache

CJK, ALPHABETIC = "cjk", "alphabetic"
# Han ideographs (with extension A and compatibility forms), kana and hangul.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
# A run of letters of any other script: one word ("pip", "install", "DataFrame").
_WORD = re.compile(r"[^\W\d_\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")


def _counts(text: str) -> tuple[int, int]:
    return len(_CJK.findall(text)), len(_WORD.findall(text))


@lru_cache(maxsize=200_000)
def document_script(text: str) -> str:
    """The script a text is written in: ``"cjk"``, ``"alphabetic"``, or ``""`` (no letters).

    CJK characters are counted against words of other scripts, so a Chinese entry quoting
    ``python -m venv`` or ``pip install`` is ``"cjk"`` and an English one quoting a Chinese word is
    ``"alphabetic"``.
    """
    cjk, words = _counts(text)
    if cjk == words == 0:
        return ""
    return CJK if cjk >= words else ALPHABETIC


@lru_cache(maxsize=200_000)
def scripts_in(text: str) -> frozenset[str]:
    """Every script the text holds any of: ``{"cjk"}``, ``{"alphabetic"}``, both, or none."""
    found = set()
    if _CJK.search(text):
        found.add(CJK)
    if _WORD.search(text):
        found.add(ALPHABETIC)
    return frozenset(found)


def query_script(text: str) -> str:
    """The script of a query: ``"cjk"`` when it holds any CJK character (``sql怎么用`` is a Chinese query),
    else ``"alphabetic"`` when it has letters, else ``""`` (digits and symbols only)."""
    cjk, words = _counts(text)
    if cjk:
        return CJK
    return ALPHABETIC if words else ""
