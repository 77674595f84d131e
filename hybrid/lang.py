"""Writing-system detection: whether a text is written in CJK characters or in an alphabet (for fusion)."""

from __future__ import annotations

import re
from functools import lru_cache

CJK, ALPHABETIC = "cjk", "alphabetic"
# Han ideographs (with extension A and compatibility forms), kana and hangul.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def _counts(text: str) -> tuple[int, int]:
    cjk = len(_CJK.findall(text))
    letters = sum(map(str.isalpha, text))
    return cjk, letters - cjk


@lru_cache(maxsize=200_000)
def document_script(text: str) -> str:
    """The script most of the text's letters are in: ``"cjk"``, ``"alphabetic"``, or ``""`` (no letters).

    A Chinese paragraph quoting English names is ``"cjk"``; an English one quoting a Chinese word is
    ``"alphabetic"``.
    """
    cjk, other = _counts(text)
    if cjk == other == 0:
        return ""
    return CJK if cjk >= other else ALPHABETIC


def query_script(text: str) -> str:
    """The script of a query: ``"cjk"`` when it holds any CJK character (``sql怎么用`` is a Chinese query),
    else ``"alphabetic"`` when it has letters, else ``""`` (digits and symbols only)."""
    cjk, other = _counts(text)
    if cjk:
        return CJK
    return ALPHABETIC if other else ""
