"""Shareable page state: the query and settings as URL parameters, and reading them back, checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from hybrid.fusion import FUSERS, NORMALIZERS
from hybrid.tokenize import TOKENIZER_MODES

from .i18n import TEXTS
from .samples import sample_names


@dataclass(frozen=True)
class Param:
    """One URL parameter: the name in the URL, how its text becomes a value, and the allowed values.

    Attributes:
        name: the parameter (and the key of the value in ``encode``/``decode``).
        parse: text to value; raises ValueError on nonsense.
        check: whether a parsed value is allowed.
    """

    name: str
    parse: Callable[[str], Any]
    check: Callable[[Any], bool]


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _between(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


OWN_KB = "own"
MAX_QUERY_CHARS = 2000  # longer queries are not carried in a link (browsers and servers cut long URLs)

# In the order they are written into a link. Ranges are those of the page's sliders.
PARAMS: tuple[Param, ...] = (
    Param("q", str, lambda v: 0 < len(v) <= MAX_QUERY_CHARS),
    Param("sample", str, lambda v: v in sample_names()),
    # "own": the search was made on the sharer's own knowledge base, which no link carries (the recipient is told).
    Param("kb", str, lambda v: v == OWN_KB),
    Param("split", _flag, lambda v: True),
    Param("alpha", float, _between(0.0, 1.0)),
    Param("fusion", str, lambda v: v in FUSERS),
    Param("normalizer", str, lambda v: v in NORMALIZERS),
    Param("k", int, _between(1, 20)),
    Param("k1", float, _between(0.0, 3.0)),
    Param("b", float, _between(0.0, 1.0)),
    Param("threshold", float, _between(0.0, 1.0)),
    Param("window", int, _between(1, 500)),
    # the tokeniser panel: jieba's mode and folding; "dict": the sharer used a dictionary of their own, which no
    # link carries (the recipient is told)
    Param("tok", str, lambda v: v in TOKENIZER_MODES),
    Param("fold", _flag, lambda v: True),
    Param("dict", _flag, lambda v: v is True),
    Param("lang", str, lambda v: v in TEXTS),
)
_BY_NAME = {p.name: p for p in PARAMS}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def encode(values: Mapping[str, Any]) -> str:
    """The URL query string (without "?") of ``values`` (keys of ``PARAMS``; None and "" are left out)."""
    pairs = [(p.name, _text(values[p.name])) for p in PARAMS
             if values.get(p.name) is not None and values.get(p.name) != ""]
    return urlencode(pairs)


def decode(params: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Read the page state from URL parameters.

    Args:
        params: the URL's query parameters (unknown names are ignored).
    Returns:
        (values of the known, valid parameters; names of the parameters that were present but invalid).
    """
    values, rejected = {}, []
    for name, raw in params.items():
        param = _BY_NAME.get(name)
        if param is None:
            continue
        try:
            value = param.parse(raw.strip() if name != "q" else raw)
            valid = param.check(value)
        except (TypeError, ValueError):
            valid = False
        if valid:
            values[name] = value
        else:
            rejected.append(name)
    return values, rejected


def language_of(url: str | None) -> str | None:
    """The page language a share link carries (None for no link or one without a valid ``lang``)."""
    if not url:
        return None
    try:
        query = parse_qs(urlsplit(url).query)
    except ValueError:  # not a URL (the box's value comes from the browser)
        return None
    values, _ = decode({name: raw[-1] for name, raw in query.items()})
    return values.get("lang")


def link(page_url: str, values: Mapping[str, Any]) -> str:
    """``page_url`` with its query string replaced by ``encode(values)`` (and no fragment)."""
    parts = urlsplit(page_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", encode(values), ""))
