"""Knowledge-base text: files and pasted text to clean entries, one per line, optionally split into sentences."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Mapping, Sequence

SUPPORTED_SUFFIXES = (".txt", ".md", ".csv", ".jsonl")
ENCODINGS = ("utf-8-sig", "gb18030")
# Sentence ends: Chinese and Western terminators and semicolons, kept with their sentence.
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])|\n")


class UserError(ValueError):
    """An input the user can fix: the English message, and a key with values a page translates it from.

    Args:
        message: what went wrong and how to fix it (English; logs, the CLI and the API show it).
        key: the name of this kind of error (a page shows its own text for it; None: only the message).
        values: the message's details, to fill the page's text.
    """

    def __init__(self, message: str, key: str | None = None, **values: object) -> None:
        super().__init__(message)
        self.key = key
        self.values = values


class KnowledgeBaseError(UserError):
    """A knowledge base or uploaded file that cannot be used, with a message for the user."""


# Unicode's Default_Ignorable_Code_Point ranges (variation selectors, fillers, the combining grapheme joiner, ...:
# characters shown as nothing), which Python's unicodedata does not name, and the blank braille pattern.
_INVISIBLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
              (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x2800, 0x2800),
              (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8),
              (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))


def _invisible(ch: str) -> bool:
    code = ord(ch)
    return (ch.isspace() or unicodedata.category(ch) in ("Cf", "Mn", "Me")
            or any(low <= code <= high for low, high in _INVISIBLE))


def is_blank(text: str) -> bool:
    """Whether ``text`` shows nothing: only white space, invisible format characters (zero-width space and
    joiners, a byte-order mark, a soft hyphen), combining marks with nothing to combine with, variation selectors
    and fillers, which ``str.strip`` keeps."""
    return all(_invisible(ch) for ch in text)


@dataclass(frozen=True)
class Document:
    """One entry of the knowledge base.

    Attributes:
        id: stable identifier (given, or ``"1"``, ``"2"``... by position).
        text: the entry's text.
        metadata: anything the caller attached (read-only copy).
    """

    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


def split_sentences(text: str, min_length: int = 0) -> list[str]:
    """Split ``text`` at 。！？；!?; and newlines when it is longer than ``min_length`` characters.

    Args:
        text: one paragraph.
        min_length: paragraphs of at most this many characters stay whole.
    Returns:
        Trimmed non-empty sentences (the paragraph itself when not split).
    """
    text = text.strip()
    if len(text) <= min_length:
        return [text] if text else []
    return [part.strip() for part in _SENTENCE_END.split(text) if part and part.strip()]


_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines splits
_SENTENCE_ENDS = "。！？；!?;"


def most_entries(text: str, split_long: bool = False) -> int:
    """The most entries ``parse_entries(text, split_long)`` can give, counted without splitting the text (ten million
    one-character lines would be ten million strings, 340 MB): its lines, and with ``split_long`` its sentence ends.
    """
    most = 1 + sum(text.count(c) for c in _LINE_BREAKS) - text.count("\r\n")  # one line break, not two
    return most + sum(text.count(c) for c in _SENTENCE_ENDS) if split_long else most


def parse_entries(text: str, split_long: bool = False, max_length: int = 200) -> list[str]:
    """Knowledge-base text to entries: one per line, trimmed, blank lines dropped.

    Args:
        text: pasted text, one entry per line.
        split_long: split entries longer than ``max_length`` characters into sentences.
        max_length: the length above which an entry is split.
    Returns:
        The entries in order.
    """
    entries: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        entries.extend(split_sentences(line, max_length) if split_long else [line])
    return entries


def decode_bytes(data: bytes, name: str = "file") -> str:
    """Decode an upload as UTF-8 (with or without BOM), GBK/GB18030 or Big5 (cp950: Traditional Chinese as
    Windows in Taiwan and Hong Kong saves it).

    GB18030 decodes nearly any run of byte pairs, a Big5 file too (into rare characters: "電腦開機" came out as
    "筿福秨诀"), so a file that is valid Big5 as well is read as Big5 when its characters are far more often
    among Big5's common ones than among GB2312's (``common_share``).

    A file opening with a UTF-16 byte-order mark (Windows Notepad's "Unicode") is read as UTF-16; any other file
    holding a NUL byte is refused: no text encoding here has one, and UTF-8 decoded a binary file into entries of
    control characters.

    Raises:
        KnowledgeBaseError: when no encoding fits.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:  # a stray last byte is dropped; joined files keep their inner byte-order marks: both removed
            text = data[:len(data) // 2 * 2].decode("utf-16").replace("\ufeff", "")
        except UnicodeDecodeError:
            text = None
        if text is None or "\x00" in text:
            raise KnowledgeBaseError(f"{name} opens as UTF-16 text (its byte-order mark) but cannot be read as UTF-16. "
                                     "Save it as UTF-8 text and try again.", "bad_utf16", name=name)
        return text
    if b"\x00" in data:
        raise KnowledgeBaseError(f"{name} holds NUL bytes: it is a binary file (or text in UTF-16 without a byte-order "
                                 "mark), not text. Save it as UTF-8 text and try again.", "binary", name=name)
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "gb18030":
            try:
                big5 = data.decode("cp950")
            except UnicodeDecodeError:
                return text
            if common_share(big5, "cp950") > common_share(text, "gb2312") + BIG5_LEAD:
                return big5
        return text
    raise KnowledgeBaseError(
        f"{name}: cannot decode as UTF-8, GBK/GB18030 or Big5. Save the file as UTF-8 and try again.",
        "undecodable", name=name)


# A file valid in both GB18030 and Big5 is read as Big5 when the share of its characters that are common in Big5
# leads the share common in GB2312 by this much. Each encoding read as the other still lands about half its
# characters among the other's common ones (the byte ranges overlap), the right reading nearly all.
BIG5_LEAD = 0.2
_SAMPLE_CHARS = 20_000
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def common_share(text: str, encoding: str) -> float:
    """The share of ``text``'s first ``_SAMPLE_CHARS`` non-ASCII characters that are common in ``encoding``: GB2312's whole set
    (its 6,763 most used simplified characters and its symbols); Big5's symbols and level 1 (5,401 most used
    traditional characters, A140-C67E). 0 for text without any."""
    sample = [m.group() for m in islice(_NON_ASCII.finditer(text), _SAMPLE_CHARS)]  # wherever they are in the file
    if not sample:
        return 0.0
    common = 0
    for c in sample:
        try:
            code = c.encode(encoding)
        except UnicodeEncodeError:
            continue
        common += encoding != "cp950" or (len(code) == 2 and 0xA140 <= int.from_bytes(code, "big") <= 0xC67E)
    return common / len(sample)


def entries_from_file(path: str | Path, max_bytes: int = 20_000_000, split_long: bool = False,
                      max_length: int = 200) -> list[str]:
    """The texts of ``documents_from_file`` (a file's ids and metadata dropped, so repeated ids do not matter)."""
    return [doc.text for doc in _read_documents(Path(path), max_bytes, split_long, max_length)]


def documents_from_file(path: str | Path, max_bytes: int = 20_000_000, split_long: bool = False,
                        max_length: int = 200) -> list[Document]:
    """Read a knowledge-base file: .txt/.md (a line each), .csv (a header row with a ``text`` column, optionally
    ``id``; other columns are metadata), .jsonl (objects with ``text``, optionally ``id``; other fields are
    metadata).

    Ids: the entry's ``id`` when it has one (the n-th further sentence cut from it gets ``#n`` after it), else
    its position in the returned list (``"1"``, ``"2"``...).

    Args:
        path: the file.
        max_bytes: larger files are refused.
        split_long, max_length: as in ``parse_entries``.
    Returns:
        The entries.
    Raises:
        KnowledgeBaseError: missing, a folder, unsupported type, too large, undecodable, malformed, or duplicate ids.
    """
    path = Path(path)
    docs = _read_documents(path, max_bytes, split_long, max_length)
    seen: set[str] = set()
    for doc in docs:
        if doc.id in seen:
            raise KnowledgeBaseError(f"{path.name}: the id {doc.id!r} is used twice; give every entry its own id "
                                     "(an entry without one gets its position)", "kb_duplicate_id", name=path.name,
                                     id=doc.id)
        seen.add(doc.id)
    return docs


def _read_documents(path: Path, max_bytes: int, split_long: bool, max_length: int) -> list[Document]:
    if path.is_dir():
        raise KnowledgeBaseError(f"{path} is a folder: give one knowledge-base file ({', '.join(SUPPORTED_SUFFIXES)})",
                                 "is_folder", name=path.name)
    if not path.exists():
        raise KnowledgeBaseError(f"{path}: no such file; check the path", "no_file", name=path.name)
    suffix = path.suffix.lower()
    if not suffix:  # "the file type - is not supported" said nothing (review)
        raise KnowledgeBaseError(
            f"{path.name}: the file name has no extension, which says how to read it; rename it to end in one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}", "file_no_suffix", name=path.name, allowed=", ".join(SUPPORTED_SUFFIXES))
    if suffix not in SUPPORTED_SUFFIXES:
        raise KnowledgeBaseError(
            f"{path.name}: unsupported file type {suffix}; use one of {', '.join(SUPPORTED_SUFFIXES)}",
            "file_type", name=path.name, suffix=suffix, allowed=", ".join(SUPPORTED_SUFFIXES))
    size = path.stat().st_size
    if size > max_bytes:
        raise KnowledgeBaseError(
            f"{path.name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit; split the file.",
            "file_size", name=path.name, size=f"{size / 1e6:.1f}", limit=f"{max_bytes / 1e6:.0f}")
    text = decode_bytes(path.read_bytes(), path.name)
    if suffix == ".csv":
        records = _csv_records(text, path.name)
    elif suffix == ".jsonl":
        records = _jsonl_records(text, path.name)
    else:
        records = [(None, line, {}) for line in text.splitlines()]
    docs: list[Document] = []
    for given, line, metadata in records:
        for n, piece in enumerate(parse_entries(line, split_long=split_long, max_length=max_length)):
            doc_id = str(len(docs) + 1) if given is None else given if n == 0 else f"{given}#{n}"
            docs.append(Document(doc_id, piece, dict(metadata)))
    return docs


_Record = tuple[str | None, str, dict[str, Any]]  # one row or line: its id (None: none given), text, metadata


def csv_columns(first_row: Sequence[str], name: str) -> tuple[int, int | None, list[tuple[int, str]]]:
    """Where a knowledge-base CSV keeps its entries, from its first row (the header).

    Args:
        first_row: the file's first row.
        name: the file's name (for the message).
    Returns:
        The ``text`` column, the ``id`` column (None: none), and each other column with its name (metadata).
    Raises:
        KnowledgeBaseError: the row names no ``text`` column (key ``csv_no_text``).
    """
    header = [cell.strip().lower() for cell in first_row]
    if "text" not in header:
        found = ", ".join(repr(cell.strip()) for cell in first_row) or "none"
        raise KnowledgeBaseError(
            f"{name}: the first row must name the columns, one of them `text` (the entries; an `id` column is "
            f"optional); found {found}. Name the column that holds the entries `text` (add a header row such as "
            "`id,text` if the file has none), or save the entries one per line as .txt.", "csv_no_text", name=name,
            found=found)
    column = header.index("text")
    id_column = header.index("id") if "id" in header else None
    others = [(i, first_row[i].strip() or f"column {i + 1}") for i in range(len(header)) if i not in (column, id_column)]
    return column, id_column, others


def _csv_records(text: str, name: str) -> list[_Record]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    column, id_column, others = csv_columns(rows[0], name)
    out = []
    for row in rows[1:]:
        if len(row) <= column:
            continue
        given = row[id_column].strip() if id_column is not None and len(row) > id_column else ""
        metadata = {key: row[i] for i, key in others if i < len(row) and row[i] != ""}
        out.append((given or None, " ".join(row[column].split()), metadata))
    return out


def _jsonl_records(text: str, name: str) -> list[_Record]:
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise KnowledgeBaseError(f"{name} line {number}: not valid JSON ({exc.msg})", "json_line", name=name,
                                     line=number, detail=exc.msg) from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise KnowledgeBaseError(f'{name} line {number}: expected an object with a "text" string', "text_field",
                                     name=name, line=number)
        metadata = {k: v for k, v in record.items() if k not in ("id", "text", "metadata")}
        if isinstance(record.get("metadata"), dict):
            metadata.update(record["metadata"])
        given = str(record["id"]) if record.get("id") not in (None, "") else None
        out.append((given, " ".join(record["text"].split()), metadata))
    return out


def to_documents(entries: list[str] | list[Document] | list[Mapping[str, Any]]) -> list[Document]:
    """Normalise caller input to Documents: strings get ids by position; dicts need ``text``.

    Raises:
        KnowledgeBaseError: an entry without text, or a duplicate id.
    """
    docs: list[Document] = []
    for position, entry in enumerate(entries, 1):
        if isinstance(entry, Document):
            doc = entry
        elif isinstance(entry, str):
            doc = Document(str(position), entry)
        elif isinstance(entry, Mapping) and isinstance(entry.get("text"), str):
            meta = {k: v for k, v in entry.items() if k not in ("id", "text")}
            meta.update(entry.get("metadata") or {})
            meta.pop("metadata", None)
            doc = Document(str(entry.get("id", position)), entry["text"], dict(meta))
        else:
            raise KnowledgeBaseError(f"entry {position}: expected a string or an object with a 'text' string")
        if not doc.text.strip():
            raise KnowledgeBaseError(f"entry {position} (id {doc.id}) is empty")
        docs.append(Document(doc.id, doc.text.strip(), dict(doc.metadata)))
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise KnowledgeBaseError(f"duplicate document id {dup!r}: ids must be unique")
    return docs
