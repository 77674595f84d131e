"""Text to search tokens: jieba segmentation, normalisation, stopwords and character offsets."""

from __future__ import annotations

import logging
import os
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jieba

log = logging.getLogger(__name__)

TOKENIZER_MODES = ("search", "precise")
STOPWORDS_FILE = Path(__file__).with_name("data") / "stopwords.txt"

_JIEBA_LOCK = threading.Lock()
_JIEBA_INSTANCES: dict[str | None, jieba.Tokenizer] = {}


@dataclass(frozen=True)
class Token:
    """One search token and where it sits in the original text (``text[start:end]``)."""

    text: str
    start: int
    end: int


def jieba_cache_dir() -> Path:
    """Folder for jieba's dictionary cache: ``$HYBRID_CACHE_DIR/jieba`` or the user's cache dir."""
    root = os.environ.get("HYBRID_CACHE_DIR")
    if root:
        return Path(root) / "jieba"
    import platformdirs

    return Path(platformdirs.user_cache_dir("hybrid-search")) / "jieba"


def _jieba(user_dict: str | None) -> jieba.Tokenizer:
    """One initialised jieba tokenizer per user dictionary, built once per process."""
    key = str(Path(user_dict).resolve()) if user_dict else None
    with _JIEBA_LOCK:
        instance = _JIEBA_INSTANCES.get(key)
        if instance is None:
            instance = jieba.Tokenizer()
            cache_dir = jieba_cache_dir()
            cache_dir.mkdir(parents=True, exist_ok=True)
            instance.tmp_dir = str(cache_dir)
            instance.cache_file = "jieba.cache"
            jieba.setLogLevel(logging.WARNING)
            instance.initialize()
            if key is not None:
                if not Path(key).is_file():
                    raise FileNotFoundError(f"jieba user dictionary not found: {key}")
                instance.load_userdict(key)
            _JIEBA_INSTANCES[key] = instance
        return instance


def load_stopwords(path: str | Path | None = None) -> frozenset[str]:
    """Read a stopword file (one word per line, ``#`` comments).

    Args:
        path: file to read; the list shipped with the project when None.
    Returns:
        The lowercased stopwords.
    """
    return _read_stopwords(str(path or STOPWORDS_FILE))


@lru_cache(maxsize=8)
def _read_stopwords(path: str) -> frozenset[str]:
    words = set()
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(line.lower())
    return frozenset(words)


def normalize(text: str) -> str:
    """Full-width to half-width (NFKC) and lowercase, character by character so offsets stay valid."""
    out = []
    for ch in text:
        folded = unicodedata.normalize("NFKC", ch)
        if len(folded) != 1:
            folded = ch
        lowered = folded.lower()
        out.append(lowered if len(lowered) == 1 else folded)
    return "".join(out)


def _is_content(token: str) -> bool:
    # Keep words, numbers and emoji / pictographs (category So); drop punctuation, spaces, operators.
    return any(ch.isalnum() or unicodedata.category(ch) == "So" for ch in token)


class Tokenizer:
    """jieba tokenizer with normalisation and stopwords.

    Args:
        mode: "search" (jieba ``cut_for_search``: words plus their shorter sub-words) or "precise".
        user_dict: optional jieba user dictionary file (``word [freq] [tag]`` per line).
        stopwords: stopword file, the shipped list when None; pass ``False`` to keep every word.
        hmm: let jieba guess words missing from its dictionary.
    """

    def __init__(
        self,
        mode: str = "search",
        user_dict: str | Path | None = None,
        stopwords: str | Path | None | bool = None,
        hmm: bool = True,
    ) -> None:
        if mode not in TOKENIZER_MODES:
            raise ValueError(f"unknown tokenizer mode {mode!r}; choose one of {', '.join(TOKENIZER_MODES)}")
        self.mode = mode
        self.hmm = hmm
        self.user_dict = str(user_dict) if user_dict else None
        self._jieba = _jieba(self.user_dict)
        self.stopwords = frozenset() if stopwords is False else load_stopwords(None if stopwords is True else stopwords)

    @property
    def signature(self) -> str:
        """A string that changes whenever the tokens this tokenizer produces could change."""
        return f"jieba:{self.mode}:hmm={self.hmm}:dict={self.user_dict}:stop={len(self.stopwords)}"

    def tokenize_with_offsets(self, text: str) -> list[Token]:
        """Tokens with their character spans in ``text``.

        Args:
            text: any mix of Chinese, English, digits and emoji.
        Returns:
            Tokens in text order (search mode may yield overlapping sub-words).
        """
        norm = normalize(text)
        jieba_mode = "search" if self.mode == "search" else "default"
        tokens = []
        for word, start, end in self._jieba.tokenize(norm, mode=jieba_mode, HMM=self.hmm):
            word = word.strip()
            if not word or not _is_content(word) or word in self.stopwords:
                continue
            tokens.append(Token(word, start, end))
        return tokens

    def tokenize(self, text: str) -> list[str]:
        """Search tokens of ``text`` (see ``tokenize_with_offsets``)."""
        return [token.text for token in self.tokenize_with_offsets(text)]

    def tokenize_many(self, texts: list[str]) -> list[list[str]]:
        """``tokenize`` for each text."""
        return [self.tokenize(text) for text in texts]
