"""Text to search tokens: jieba segmentation, normalisation, stopwords and character offsets."""

from __future__ import annotations

import collections
import hashlib
import logging
import math
import os
import pickle
import queue
import re
import subprocess
import sys
import threading
import time
import unicodedata
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Sequence

import jieba

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
TOKENIZER_MODES = ("search", "precise")
STOPWORDS_FILE = Path(__file__).with_name("data") / "stopwords.txt"
# jieba is pure Python, so only processes tokenise in parallel. A worker process needs about a second of
# CPU to start (interpreter, imports, jieba's dictionary) while one entry takes 0.3 to 1 ms: below this many
# texts the workers would barely start before the work is done.
PARALLEL_MIN_TEXTS = 10_000
_CHUNK = 256  # texts per task handed to a worker
_IN_FLIGHT = 2  # chunks a worker holds at once (one being tokenised, the next one waiting in its pipe)

_JIEBA_LOCK = threading.Lock()
_BASE: list[jieba.Tokenizer] = []  # jieba with its own dictionary (about 64 MB), built once and kept for good
# With a user dictionary: by the hash of its words (files of the same words share one), while some tokenizer holds
# it. Each holds only its own words over the base's dictionary (_Overlay), so what bounds them is the memory those
# words take (_footprint): together at most MAX_USER_DICT_BYTES (a page's visitors each upload their own).
_USER_DICT_INSTANCES: weakref.WeakValueDictionary[tuple[str, bool], jieba.Tokenizer] = weakref.WeakValueDictionary()
MAX_USER_DICT_BYTES = 512 * 2**20
_BUILDING: dict[tuple[str, bool], int] = {}  # user dictionaries being built -> the bytes held for them meanwhile
# A prefix jieba keeps for a word of at most MAX_USER_WORD_CHARS characters, with its place in the dictionary,
# takes at most this many bytes (measured: about 135 for Chinese words of 40 characters, 105 for Latin ones).
_PREFIX_BYTES = 300
_TAG_BYTES = 300  # a word's tag (jieba keeps it by the word) beside its 4 bytes a character at most
# jieba stores every prefix of every word (so a word of n characters costs about n * n / 2 characters), and scans
# a text for words as long as its longest: its own dictionary's longest word has 16 characters.
MAX_USER_WORD_CHARS = 40
MAX_USER_WORD_FREQ_DIGITS = 9
_USER_DICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")  # jieba's own reading of a line (jieba.re_userdict)
_OPENCC = threading.local()  # one converter per thread: OpenCC's C++ converter is not documented as thread-safe


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


class UserDictLimitError(RuntimeError):
    """The jieba user dictionaries in use would take more than ``MAX_USER_DICT_BYTES`` together."""


_MISSING = object()


class _Overlay(dict):
    """A user dictionary's words (and their prefixes, as jieba keeps them) over jieba's own dictionary, which
    every tokenizer shares; jieba reads its dictionary only through ``in``, ``[]`` and ``get``, and writes only
    through ``[]=`` (``add_word``), which lands here."""

    __slots__ = ("base",)

    def __init__(self, base: dict) -> None:
        super().__init__()
        self.base = base

    def __missing__(self, key):
        return self.base[key]

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self.base

    def get(self, key, default=None):
        value = dict.get(self, key, _MISSING)
        return self.base.get(key, default) if value is _MISSING else value


class _UserJieba(jieba.Tokenizer):
    """jieba over an ``_Overlay``: its two hot loops (jieba 0.42.1's ``get_DAG`` and ``calc``) look a fragment up
    in the user's words, then in jieba's own, without a Python call per lookup (30 % of a cut otherwise)."""

    def get_DAG(self, sentence):
        own, base = self.FREQ, self.FREQ.base
        mine, theirs = dict.get, base.get
        dag = {}
        n = len(sentence)
        for k in range(n):
            ends = []
            i = k
            frag = sentence[k]
            while i < n:
                freq = mine(own, frag)
                if freq is None:
                    freq = theirs(frag)
                    if freq is None:
                        break
                if freq:
                    ends.append(i)
                i += 1
                frag = sentence[k:i + 1]
            dag[k] = ends or [k]
        return dag

    def calc(self, sentence, DAG, route):
        own, base = self.FREQ, self.FREQ.base
        mine, theirs = dict.get, base.get
        n = len(sentence)
        route[n] = (0, 0)
        logtotal = math.log(self.total)
        for idx in range(n - 1, -1, -1):
            best = None
            for x in DAG[idx]:
                frag = sentence[idx:x + 1]
                freq = mine(own, frag)
                if freq is None:
                    freq = theirs(frag)
                candidate = (math.log(freq or 1) - logtotal + route[x + 1][0], x)
                if best is None or candidate > best:
                    best = candidate
            route[idx] = best


def _footprint(table: dict) -> int:
    """Bytes a user dictionary's own table holds (``_Overlay``: its words and frequencies; jieba's tags of them)."""
    return sys.getsizeof(table) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in dict.items(table))


def user_dict_bytes() -> int:
    """Bytes the user dictionaries in use hold together, and those held for dictionaries being built."""
    with _JIEBA_LOCK:
        return _held_bytes()


def _held_bytes() -> int:
    return sum(i.hybrid_bytes for i in list(_USER_DICT_INSTANCES.values())) + sum(_BUILDING.values())


class UserDictLineError(ValueError):
    """A user dictionary line jieba must not read, on ``line`` (from 1): a word longer than ``MAX_USER_WORD_CHARS``
    (``problem`` "word"), a frequency of more than ``MAX_USER_WORD_FREQ_DIGITS`` digits ("frequency"), or the
    frequency 0 ("zero": jieba removes such a word for every tokenizer of the process, in a set it never empties).
    """

    def __init__(self, path: str | Path, line: int, problem: str, size: int) -> None:
        most = {"word": MAX_USER_WORD_CHARS, "frequency": MAX_USER_WORD_FREQ_DIGITS}.get(problem, 0)
        what = {"word": f"a word of {size} characters (at most {most}: a dictionary entry is one word, such as a "
                        "product name or a code)",
                "frequency": f"a frequency of {size} digits (at most {most}; jieba's own frequencies have at most 6)",
                "zero": "the frequency 0, which in jieba removes a word for every user of this process until it "
                        "restarts; leave the line out (a user dictionary adds words that must stay whole)",
                "separator": "a word and a frequency separated by a comma, a semicolon or a tab, which jieba reads "
                             "as one word with the comma in it; separate them with a space (`ABX9000PRO 100`)"}[problem]
        super().__init__(f"jieba user dictionary {path}, line {line}: {what}")
        self.line, self.problem, self.size, self.most = line, problem, size, most


def _jieba(user_dict: str | None, fold: bool = False) -> jieba.Tokenizer:
    """The initialised jieba tokenizer of a user dictionary (its words script-folded when ``fold``), shared by
    the tokenizers that use it; without one, jieba's own.

    Raises:
        FileNotFoundError: ``user_dict`` is not a file.
        UserDictLimitError: its words would take the user dictionaries in use past ``MAX_USER_DICT_BYTES``.
    """
    path = str(Path(user_dict).resolve()) if user_dict else None
    if path is None:
        return _base()
    if Path(path).is_dir():
        raise FileNotFoundError(f"jieba user dictionary {path} is a folder: give the dictionary file itself "
                                "(one word per line)")
    if not Path(path).is_file():
        raise FileNotFoundError(f"jieba user dictionary not found: {path}")
    words = _read_user_dict(path)  # before jieba's own reading: its message names neither the byte nor the fix
    if fold:  # the text jieba sees is folded, so the words must be too (a 繁體 word in a 简体 text)
        words = fold_script(normalize(words))
    entries = _user_dict_entries(words, path)  # folded words checked again: what jieba gets
    key = (hashlib.sha256(words.encode("utf-8")).hexdigest(), fold)  # found by its words, whatever the file's name
    most = sum(_PREFIX_BYTES * len(word) + (_TAG_BYTES + 4 * len(tag) if tag else 0) for word, _, tag in entries)
    base = _base()
    with _JIEBA_LOCK:
        if (instance := _USER_DICT_INSTANCES.get(key)) is not None:
            return instance
        held = _held_bytes() - _BUILDING.get(key, 0)
        if held + most > MAX_USER_DICT_BYTES:
            raise UserDictLimitError(
                f"the user dictionaries in use hold {held / 2**20:.1f} MB and this one could take up to "
                f"{most / 2**20:.1f} MB more, past the {MAX_USER_DICT_BYTES / 2**20:.0f} MB this process gives them "
                "together; try again when one is no longer used, or use one already in use")
        _BUILDING[key] = max(most, _BUILDING.get(key, 0))  # held while jieba reads the words, outside the lock
    try:
        return _built(key, base, entries)
    finally:
        with _JIEBA_LOCK:
            _BUILDING.pop(key, None)


def _base() -> jieba.Tokenizer:
    """jieba with its own dictionary, loaded once (from jieba's cache in ``jieba_cache_dir``)."""
    if _BASE:
        return _BASE[0]
    instance = jieba.Tokenizer()
    cache_dir = jieba_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    instance.tmp_dir = str(cache_dir)
    instance.cache_file = "jieba.cache"
    jieba.setLogLevel(logging.WARNING)
    instance.initialize()
    with _JIEBA_LOCK:  # two first callers may both have built one: all use the first kept
        if not _BASE:
            _BASE.append(instance)
        return _BASE[0]


def _built(key: tuple[str, bool], base: jieba.Tokenizer,
           entries: list[tuple[str, str | None, str | None]]) -> jieba.Tokenizer:
    """A jieba tokenizer holding ``entries`` (a user dictionary's checked lines; ``key``: the hash of its text
    and the folding) over ``base``'s dictionary, kept for the next caller."""
    instance = _UserJieba()
    instance.FREQ = _Overlay(base.FREQ)
    instance.total = base.total
    instance.initialized = True  # nothing to load: the base's dictionary is
    for word, freq, tag in entries:  # as jieba's load_userdict does with each line (none has frequency 0)
        instance.add_word(word, freq, tag)
    instance.hybrid_bytes = _footprint(instance.FREQ) + _footprint(instance.user_word_tag_tab)
    with _JIEBA_LOCK:
        kept = _USER_DICT_INSTANCES.get(key)
        if kept is None:
            _USER_DICT_INSTANCES[key] = kept = instance
        return kept


def _read_user_dict(path: str | Path) -> str:
    """A user dictionary's text, each line checked as jieba reads it (``_user_dict_entries``).

    Raises:
        ValueError: the file is not UTF-8 (the message says how to convert it).
        UserDictLineError: a line holds a word or a frequency too long for jieba to hold safely.
    """
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"jieba user dictionary {path} is not UTF-8 (byte {exc.object[exc.start]:#04x} at "
                         f"position {exc.start}): save it as UTF-8, e.g. `iconv -f gbk -t utf-8 OLD > NEW` for a "
                         "GBK file") from None
    _user_dict_entries(text, path)
    return text


# A word followed by a comma, semicolon or tab and a frequency (a CSV saved as the dictionary): jieba separates
# the fields by spaces only, and takes the whole line as one word.
_SEPARATED_FREQ = re.compile(r"[^,，;；\t]+[,，;；\t]\s*\d+(?:[,，;；\t\s]+\w+)?")


def _user_dict_entries(text: str, path: str | Path) -> list[tuple[str, str | None, str | None]]:
    """The (word, frequency, tag) of each line of a user dictionary's text, read exactly as jieba's
    ``load_userdict`` reads them (lines split at "\n" and stripped of ASCII whitespace only, as bytes), so that
    what is checked here is what jieba is given (``_built`` adds these entries, not the file).

    Raises:
        UserDictLineError: a word longer than ``MAX_USER_WORD_CHARS``, a frequency longer than
            ``MAX_USER_WORD_FREQ_DIGITS``, or the frequency 0 (its line counted from 1).
    """
    entries = []
    for number, raw in enumerate(text.encode("utf-8").split(b"\n"), 1):
        line = raw.strip().decode("utf-8").lstrip("\ufeff")
        if not line:
            continue
        word, freq, tag = _USER_DICT_LINE.match(line).groups()
        if freq is None and _SEPARATED_FREQ.fullmatch(word):  # "ABX9000PRO,100": one word with its comma, to jieba
            raise UserDictLineError(path, number, "separator", 0)
        if len(word) > MAX_USER_WORD_CHARS:
            raise UserDictLineError(path, number, "word", len(word))
        freq = freq.strip() if freq is not None else None
        if freq is not None and len(freq) > MAX_USER_WORD_FREQ_DIGITS:
            raise UserDictLineError(path, number, "frequency", len(freq))
        if freq is not None and int(freq) == 0:
            raise UserDictLineError(path, number, "zero", 0)
        entries.append((word, freq, tag.strip() if tag is not None else None))
    return entries


def user_dict_words(path: str | Path) -> list[str]:
    """The words of a jieba user dictionary file (the first field of each non-empty line)."""
    words = []
    for line in _read_user_dict(path).splitlines():
        parts = line.split()
        if parts:
            words.append(parts[0])
    return words


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
    return "".join(map(_fold, text))


@lru_cache(maxsize=1 << 16)
def _fold(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    if len(folded) != 1:
        folded = ch
    lowered = folded.lower()
    return lowered if len(lowered) == 1 else folded


def _is_content(token: str) -> bool:
    # Keep words, numbers and emoji / pictographs (category So); drop punctuation, spaces, operators.
    return any(ch.isalnum() or unicodedata.category(ch) == "So" for ch in token)


# Han ideographs (CJK unified, extension A, compatibility, extensions B and up): the only text script folding
# changes, converted run by run.
_HAN_RUN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+")


def _t2s():
    converter = getattr(_OPENCC, "t2s", None)
    if converter is None:
        import opencc

        converter = _OPENCC.t2s = opencc.OpenCC("t2s")
    return converter


def fold_script(text: str) -> str:
    """Traditional Chinese to Simplified (OpenCC ``t2s``, phrase-level tables) with the length kept, so that
    character offsets into ``text`` stay valid.

    OpenCC converts the whole text in one call (about a microsecond per short entry). Where a phrase would
    change the length, that Han run is converted character by character instead.
    """
    converted = _t2s().convert(text)
    if len(converted) == len(text):
        return converted
    return _HAN_RUN.sub(lambda m: _fold_run(m.group()), text)


def _fold_run(run: str) -> str:
    converted = _t2s().convert(run)
    return converted if len(converted) == len(run) else "".join(map(_fold_han, run))


@lru_cache(maxsize=1 << 16)
def _fold_han(ch: str) -> str:
    converted = _t2s().convert(ch)
    return converted if len(converted) == 1 else ch


@dataclass(frozen=True)
class TokenizerSettings:
    """How text becomes search tokens: one value per setting, parsed from a short spec for the command lines.

    Attributes:
        mode: jieba "search" (``cut_for_search``: words plus their shorter sub-words) or "precise".
        user_dict: a jieba user dictionary file: words that must stay whole (product names, codes).
        fold: fold Traditional Chinese to Simplified for matching (index and query alike; the shown text
            is unchanged). Full-width to half-width and lowercase folding are always applied.
    """

    mode: str = "search"
    user_dict: str | None = None
    fold: bool = True

    @classmethod
    def parse(cls, spec: str, user_dict: str | Path | None = None) -> "TokenizerSettings":
        """Settings from a spec such as ``search``, ``precise``, ``search+nofold``, ``precise+dict``.

        ``dict`` uses ``user_dict`` (an error when there is none); ``nofold`` turns script folding off.
        """
        parts = [p.strip() for p in spec.strip().split("+") if p.strip()]
        if not parts or parts[0] not in TOKENIZER_MODES:
            raise ValueError(f"tokenizer spec {spec!r} must start with a jieba mode ({', '.join(TOKENIZER_MODES)}), "
                             "optionally followed by +nofold and/or +dict, e.g. precise+nofold")
        unknown = [p for p in parts[1:] if p not in ("nofold", "dict")]
        if unknown:
            raise ValueError(f"unknown tokenizer option {unknown[0]!r} in {spec!r}: use +nofold and/or +dict")
        if "dict" in parts and not user_dict:
            raise ValueError(f"tokenizer spec {spec!r} asks for the user dictionary: give --user-dict FILE")
        return cls(mode=parts[0], user_dict=str(user_dict) if "dict" in parts else None, fold="nofold" not in parts)

    @property
    def label(self) -> str:
        """The spec ``parse`` reads back (without the dictionary's file name)."""
        return self.mode + ("" if self.fold else "+nofold") + ("+dict" if self.user_dict else "")


class Tokenizer:
    """jieba tokenizer with normalisation (width, case, Traditional to Simplified) and stopwords.

    Args:
        mode: "search" (jieba ``cut_for_search``: words plus their shorter sub-words) or "precise".
        user_dict: optional jieba user dictionary file (``word [freq] [tag]`` per line).
        stopwords: stopword file, the shipped list when None; pass ``False`` to keep every word.
        hmm: let jieba guess words missing from its dictionary.
        fold: fold Traditional Chinese to Simplified (``fold_script``) in documents and queries alike.
    """

    def __init__(
        self,
        mode: str = "search",
        user_dict: str | Path | None = None,
        stopwords: str | Path | None | bool = None,
        hmm: bool = True,
        fold: bool = True,
    ) -> None:
        if mode not in TOKENIZER_MODES:
            raise ValueError(f"unknown tokenizer mode {mode!r}; choose one of {', '.join(TOKENIZER_MODES)}")
        self.mode = mode
        self.hmm = hmm
        self.user_dict = str(user_dict) if user_dict else None
        self.fold = bool(fold)
        self._jieba = _jieba(self.user_dict, self.fold)
        self.stopwords = frozenset() if stopwords is False else load_stopwords(None if stopwords is True else stopwords)

    @property
    def signature(self) -> str:
        """A string that changes whenever the tokens this tokenizer produces could change."""
        fold = ":fold=t2s" if self.fold else ""
        return f"jieba:{self.mode}:hmm={self.hmm}:dict={self.user_dict}:stop={len(self.stopwords)}{fold}"

    @classmethod
    def from_settings(cls, settings: TokenizerSettings) -> "Tokenizer":
        """The tokenizer of ``settings`` (shipped stopwords, HMM on)."""
        return cls(mode=settings.mode, user_dict=settings.user_dict, fold=settings.fold)

    @property
    def settings(self) -> TokenizerSettings:
        """This tokenizer's ``TokenizerSettings``."""
        return TokenizerSettings(mode=self.mode, user_dict=self.user_dict, fold=self.fold)

    def normalize(self, text: str) -> str:
        """The text the tokens are cut from: ``normalize`` and, with ``fold``, ``fold_script`` (same length)."""
        norm = normalize(text)
        return fold_script(norm) if self.fold else norm

    def tokenize_with_offsets(self, text: str) -> list[Token]:
        """Tokens with their character spans in ``text``.

        Args:
            text: any mix of Chinese, English, digits and emoji.
        Returns:
            Tokens in text order (search mode may yield overlapping sub-words).
        """
        norm = self.normalize(text)
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

    def tokenize_many(self, texts: Sequence[str], workers: int | None = None,
                      progress: Progress | None = None) -> list[list[str]]:
        """``tokenize`` for each text, in worker processes for large batches; equal tokens share one string.

        Chunks of texts go into one queue that this process and the worker processes all take from, so
        this process works from the first second (workers take a second or two to start) and a worker
        that is slow or fails leaves its chunks to the others. The tokens are the same as one process gives.

        Args:
            texts: the texts.
            workers: processes to use, this one included; None = every available core when there are at
                least ``PARALLEL_MIN_TEXTS`` texts, else 1.
            progress: ``progress(done, total)`` as chunks of texts finish.
        Returns:
            One token list per text, in order. A knowledge base repeats the same words millions of times,
            so equal tokens are one string object (``sys.intern``).
        """
        texts = list(texts)
        processes = workers if workers is not None else (available_cores() if len(texts) >= PARALLEL_MIN_TEXTS else 1)
        if processes < 1:
            raise ValueError(f"workers must be at least 1 (this process), got {workers!r}")
        chunks = [(start, min(start + _CHUNK, len(texts))) for start in range(0, len(texts), _CHUNK)]
        out: list[list[list[str]] | None] = [None] * len(chunks)
        done = 0

        def finished(i: int, tokens: list[list[str]]) -> None:
            nonlocal done
            out[i] = interned(tokens)
            done += chunks[i][1] - chunks[i][0]
            if progress is not None:
                progress(done, len(texts))

        if processes == 1 or len(chunks) < 2:
            for i, (start, end) in enumerate(chunks):
                finished(i, [self.tokenize(t) for t in texts[start:end]])
        else:
            self._tokenize_shared_queue(texts, chunks, min(processes, len(chunks)) - 1, finished)
        return [tokens for part in out for tokens in part]  # type: ignore[union-attr]

    def _tokenize_shared_queue(self, texts: list[str], chunks: list[tuple[int, int]], workers: int,
                               finished: Callable[[int, list[list[str]]], None]) -> None:
        todo: queue.SimpleQueue[int] = queue.SimpleQueue()
        for i in range(len(chunks)):
            todo.put(i)
        done: queue.SimpleQueue[tuple[int, list[list[str]]]] = queue.SimpleQueue()
        pool = [_WorkerProcess(self) for _ in range(workers)]
        feeders = [threading.Thread(target=w.serve, args=(texts, chunks, todo, done), daemon=True) for w in pool]
        for feeder in feeders:
            feeder.start()
        remaining = len(chunks)

        def report() -> None:
            nonlocal remaining
            while True:
                try:
                    i, tokens = done.get_nowait()
                except queue.Empty:
                    return
                finished(i, tokens)
                remaining -= 1

        try:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    break
                start, end = chunks[i]
                finished(i, [self.tokenize(t) for t in texts[start:end]])
                remaining -= 1
                report()
            while remaining:  # the workers' last chunks (a failed worker put its chunk back: redo it here)
                try:
                    i, tokens = done.get(timeout=0.05)
                except queue.Empty:
                    try:
                        i = todo.get_nowait()
                    except queue.Empty:
                        continue
                    start, end = chunks[i]
                    tokens = [self.tokenize(t) for t in texts[start:end]]
                finished(i, tokens)
                remaining -= 1
        finally:
            for worker in pool:
                worker.stop()
            for feeder in feeders:
                feeder.join()
            for worker in pool:
                worker.close()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_jieba"]  # rebuilt from the user dictionary in the receiving process
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._jieba = _jieba(self.user_dict, self.fold)


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def interned(token_lists: list[list[str]]) -> list[list[str]]:
    """The token lists with equal tokens sharing one string object.

    A knowledge base repeats the same words millions of times; kept as separate strings the token lists
    would take several times the memory of the whole search index.
    """
    return [[sys.intern(t) for t in tokens] for tokens in token_lists]


class _WorkerProcess:
    """A tokenising process running only ``_serve_worker`` (none of the caller's own script runs again in
    it, unlike multiprocessing's spawn), fed chunks by a thread of the caller over its standard input and
    output."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        package_root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from hybrid.tokenize import _serve_worker; _serve_worker()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.tokenizer = tokenizer
        self.stopped = threading.Event()
        self.reader: threading.Thread | None = None

    def serve(self, texts: list[str], chunks: list[tuple[int, int]], todo: queue.SimpleQueue,
              done: queue.SimpleQueue) -> None:
        """Hand chunks from ``todo`` to the process until there are none left; results go to ``done``.

        Two chunks are in flight while there is work for others too: the process starts the next chunk as
        soon as it has written a result, instead of idling until this thread (which shares the GIL with the
        caller's tokenising) has read it and sent another. A separate thread reads the results, so neither
        pipe can fill up while the other side waits. Chunks still in flight when the process dies go back
        to ``todo``.
        """
        proc = self.process
        in_flight: collections.deque[int] = collections.deque()
        lock = threading.Lock()
        slots = threading.Semaphore(_IN_FLIGHT)
        dead = threading.Event()

        def read() -> None:
            try:
                while True:
                    tokens = pickle.load(proc.stdout)
                    with lock:
                        i = in_flight.popleft()
                    done.put((i, tokens))
                    slots.release()
            except (OSError, EOFError, pickle.UnpicklingError, ValueError, IndexError):
                pass  # the process died or was stopped
            finally:
                with lock:
                    dead.set()
                    while in_flight:
                        todo.put(in_flight.popleft())
                slots.release()  # wake the feeder if it waits for a slot

        try:
            pickle.dump(self.tokenizer, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.flush()
            if pickle.load(proc.stdout) != "ready":  # jieba loaded: only now take work
                return
        except (OSError, EOFError, pickle.UnpicklingError, ValueError):
            return
        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        try:
            while not self.stopped.is_set() and not dead.is_set():
                slots.acquire()
                if in_flight and todo.qsize() < 2:  # near the end: leave the last chunks to whoever is free
                    slots.release()
                    time.sleep(0.005)
                    continue
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    slots.release()
                    break
                with lock:
                    if dead.is_set():
                        todo.put(i)
                        break
                    in_flight.append(i)
                start, end = chunks[i]
                pickle.dump(texts[start:end], proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
            while True:  # this process's last results
                with lock:
                    if not in_flight or dead.is_set():
                        break
                time.sleep(0.005)
        except (OSError, ValueError):
            pass  # the process died or was stopped: the reader returns its chunks to the others

    def stop(self) -> None:
        """End the process (at the end of its input, or killed when it is still starting or busy)."""
        self.stopped.set()
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:  # still starting up, or busy on a chunk no longer needed
            self.process.kill()
            self.process.wait()

    def close(self) -> None:
        """Release the pipe its results came through (after its feeding thread has ended)."""
        if self.reader is not None:
            self.reader.join(timeout=5.0)
        self.process.stdout.close()


def _serve_worker() -> None:
    """The worker process: a Tokenizer, then chunks of texts, from standard input; token lists to standard output."""
    source = sys.stdin.buffer
    sink = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print cannot corrupt the results
    tokenizer = pickle.load(source)
    pickle.dump("ready", sink)
    sink.flush()
    while True:
        try:
            texts = pickle.load(source)
        except EOFError:
            return
        pickle.dump([tokenizer.tokenize(t) for t in texts], sink, protocol=pickle.HIGHEST_PROTOCOL)
        sink.flush()
