"""Relevance judgements made while searching: grades, their nDCG and coverage, and the files they are saved as.

Grades are kept per (query, document text); the files are queries.jsonl, corpus.jsonl and qrels.tsv in one zip,
read back the same way.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Mapping, Sequence

from .kb import KnowledgeBaseError
from .metrics import ndcg_at_k

GRADES = (0, 1, 2)  # not relevant, relevant, highly relevant
# A session keeps at most this many judgements (an attacker's events must not grow its memory without bound).
MAX_JUDGEMENTS = 20_000
MAX_QUERY_CHARS = 2_000
# ... and the texts of its judged queries at most this many characters together (a zip of a few KB could name
# queries of millions of characters, held by the session as long as it lives).
MAX_QUERIES_CHARS = 1_000_000
# A judgements zip larger than this (compressed or unpacked) is refused.
MAX_ZIP_BYTES = 50_000_000
FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")
NDCG_CUT = 10  # nDCG@10, as hybrid.evaluate reports it

# {query: {document text: grade}}; handlers keep it in the browser session and replace it, never edit it.
Judgements = Mapping[str, Mapping[str, int]]


class JudgementsError(KnowledgeBaseError):
    """A judgement or a judgements file that cannot be used; the message says what to fix (``key`` and ``values``
    let a page say it in its language)."""


def count(judgements: Judgements | None) -> int:
    """How many (query, document) judgements there are."""
    return sum(len(grades) for grades in (judgements or {}).values())


def judge(judgements: Judgements | None, query: str, document: str, grade: int | None) -> dict[str, dict[str, int]]:
    """A copy of ``judgements`` with ``document`` graded ``grade`` for ``query`` (None clears the judgement).

    Args:
        judgements: the session's judgements (not changed).
        query: the query the document was shown for (stripped before use).
        document: the document's text.
        grade: 0, 1 or 2; None removes the judgement.
    Returns:
        The new judgements.
    Raises:
        JudgementsError: an empty or over-long query, a grade outside ``GRADES``, or a session already at
            ``MAX_JUDGEMENTS``.
    """
    query = (query or "").strip()
    if not query or len(query) > MAX_QUERY_CHARS:
        raise JudgementsError(f"a judgement needs the query it was made for (1 to {MAX_QUERY_CHARS} characters)",
                              "judge_bad_query", limit=MAX_QUERY_CHARS)
    if grade is not None and grade not in GRADES:
        raise JudgementsError(f"grade {grade!r} is not one of {GRADES}", "judge_bad_grade", grade=grade)
    new = {q: dict(grades) for q, grades in (judgements or {}).items()}
    if grade is not None and query not in new and sum(map(len, new)) + len(query) > MAX_QUERIES_CHARS:
        raise JudgementsError(f"this session's judged queries already hold {MAX_QUERIES_CHARS:,} characters: "
                              "download the judgements and start a new session", "judge_queries_too_long",
                              limit=f"{MAX_QUERIES_CHARS:,}")
    grades = new.setdefault(query, {})
    if grade is None:
        grades.pop(document, None)
    else:
        if document not in grades and count(new) >= MAX_JUDGEMENTS:
            raise JudgementsError(f"this session already holds {MAX_JUDGEMENTS:,} judgements: download them and "
                                  "start a new session", "judge_too_many", limit=f"{MAX_JUDGEMENTS:,}")
        grades[document] = int(grade)
    if not grades:
        del new[query]
    return new


def grades_for(judgements: Judgements | None, query: str | None) -> dict[str, int]:
    """The grades of ``query``'s judged documents (empty when it has none)."""
    return dict((judgements or {}).get((query or "").strip(), {}))


def judged_ndcg(ranking: Sequence[str], grades: Mapping[str, int], k: int = NDCG_CUT) -> float | None:
    """nDCG@k of a ranking of document texts against one query's judgements (unjudged documents count as not
    relevant; the ideal ranking is of every judged document, shown or not), as ``hybrid.evaluate`` computes it.

    Returns:
        The nDCG, or None when no judged document is relevant (nDCG is undefined then).
    """
    if not any(g > 0 for g in grades.values()):
        return None
    return ndcg_at_k(list(ranking), grades, k)


@dataclass(frozen=True)
class Coverage:
    """How much of what a search shows is judged.

    Attributes:
        shown: distinct documents shown (over every column).
        unjudged: how many of them have no judgement for the query.
        ndcg: nDCG@k per column name over its shown ranking (None when the query has no relevant judgement).
    """

    shown: int
    unjudged: int
    ndcg: Mapping[str, float | None]


def coverage(columns: Mapping[str, Sequence[str]], grades: Mapping[str, int], k: int = NDCG_CUT,
             ids: Mapping[str, Sequence[str]] | None = None) -> Coverage:
    """The coverage meter of one search.

    Args:
        columns: each column's shown document texts, best first.
        grades: the query's judgements.
        k: the nDCG cut-off.
        ids: each column's document ids, parallel to ``columns``: entries with the same text (a line the
            knowledge base holds twice) are then counted apart, as the page shows them (None: by text).
    Returns:
        The coverage.
    """
    shown = {(ids[name][i] if ids is not None else text, text)
             for name, texts in columns.items() for i, text in enumerate(texts)}
    return Coverage(len(shown), sum(text not in grades for _, text in shown),
                    {name: judged_ndcg(texts, grades, k) for name, texts in columns.items()})


# ---------------------------------------------------------------------------------------- files


def to_files(judgements: Judgements | None, documents: Sequence[str]) -> dict[str, str]:
    """Judgements as the evaluation's three files over ``documents`` (the knowledge base).

    Documents are ``d1``, ``d2``, ... in knowledge-base order, then any judged document no longer in the knowledge
    base (so nothing judged is lost); queries are ``q1``, ``q2``, ... in the order they were first judged. Every
    judgement is written, grade 0 included (judged not relevant).

    Returns:
        ``{"corpus.jsonl": ..., "queries.jsonl": ..., "qrels.tsv": ...}``.
    """
    ids: dict[str, str] = {}
    for text in [*documents, *(t for grades in (judgements or {}).values() for t in grades)]:
        if text not in ids:
            ids[text] = f"d{len(ids) + 1}"
    corpus = "".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for t, i in ids.items())
    queries, qrels = [], []
    for number, (query, grades) in enumerate((judgements or {}).items(), 1):
        queries.append(json.dumps({"id": f"q{number}", "text": query}, ensure_ascii=False) + "\n")
        qrels.extend(f"q{number}\t{ids[t]}\t{g}\n" for t, g in grades.items())
    return {"corpus.jsonl": corpus, "queries.jsonl": "".join(queries), "qrels.tsv": "".join(qrels)}


def to_zip(judgements: Judgements | None, documents: Sequence[str]) -> bytes:
    """``to_files`` as one zip (what the page's download gives and its upload reads)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in to_files(judgements, documents).items():
            archive.writestr(name, content)
    return buffer.getvalue()


def read_zip(data: bytes, max_bytes: int = MAX_ZIP_BYTES) -> dict[str, str]:
    """The three files of a judgements zip (names may sit in one folder; anything else in the zip is ignored).

    Raises:
        JudgementsError: not a zip, a missing file, or more than ``max_bytes`` packed or unpacked.
    """
    if len(data) > max_bytes:
        raise JudgementsError(f"the zip is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit",
                              "judge_zip_size", size=f"{len(data) / 1e6:.1f}", limit=f"{max_bytes / 1e6:.0f}")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = {info.filename.rsplit("/", 1)[-1]: info for info in archive.infolist() if not info.is_dir()}
    except (zipfile.BadZipFile, ValueError) as exc:
        raise JudgementsError(f"not a zip file ({exc}): upload the zip this page downloaded", "judge_not_zip") from exc
    missing = [name for name in FILES if name not in members]
    if missing:
        raise JudgementsError(f"the zip lacks {', '.join(missing)}; it must hold {', '.join(FILES)}",
                              "judge_zip_missing", missing=", ".join(missing))
    if sum(members[name].file_size for name in FILES) > max_bytes:  # a zip bomb is refused before it is unpacked
        raise JudgementsError(f"the zip unpacks to more than {max_bytes / 1e6:.0f} MB", "judge_zip_size",
                              size=">", limit=f"{max_bytes / 1e6:.0f}")
    out = {}
    for name in FILES:
        with archive.open(members[name]) as member:
            content = member.read(max_bytes + 1)
        if len(content) > max_bytes:
            raise JudgementsError(f"the zip unpacks to more than {max_bytes / 1e6:.0f} MB", "judge_zip_size",
                                  size=">", limit=f"{max_bytes / 1e6:.0f}")
        try:
            out[name] = content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JudgementsError(f"{name} is not UTF-8", "judge_not_utf8", name=name) from exc
    return out


def from_files(files: Mapping[str, str]) -> tuple[dict[str, dict[str, int]], list[str]]:
    """Judgements and documents back from the evaluation's three files (``to_files``' inverse).

    Returns:
        (judgements by query and document text, the corpus's texts in file order).
    Raises:
        JudgementsError: a malformed line, an id the other files do not know, or a grade outside ``GRADES``.
    """
    def rows(name: str) -> list[tuple[str, str]]:
        out = []
        for number, line in enumerate(files[name].splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                out.append((str(row.get("_id", row.get("id"))), str(row["text"])))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise JudgementsError(f"{name} line {number} is not a JSON object with an id and a text",
                                      "judge_bad_line", name=name, line=number) from exc
        return out

    documents = dict(rows("corpus.jsonl"))
    queries = dict(rows("queries.jsonl"))
    judgements: dict[str, dict[str, int]] = {}
    for number, line in enumerate(files["qrels.tsv"].splitlines(), 1):
        parts = line.split()
        if not parts or (number == 1 and parts[0] in ("query-id", "query_id", "qid")):
            continue
        try:
            qid, doc, grade = (parts[0], parts[1], int(parts[2])) if len(parts) == 3 else \
                (parts[0], parts[2], int(parts[3]))
        except (ValueError, IndexError) as exc:
            raise JudgementsError(f"qrels.tsv line {number}: expected query_id, doc_id and a grade",
                                  "judge_bad_line", name="qrels.tsv", line=number) from exc
        if qid not in queries or doc not in documents:
            raise JudgementsError(f"qrels.tsv line {number} names {qid if qid not in queries else doc!r}, which "
                                  f"{'queries.jsonl' if qid not in queries else 'corpus.jsonl'} does not hold",
                                  "judge_unknown_id", line=number, id=qid if qid not in queries else doc)
        if grade not in GRADES:
            raise JudgementsError(f"qrels.tsv line {number}: grade {grade} is not one of {GRADES}",
                                  "judge_bad_grade", grade=grade)
        query = queries[qid].strip()
        if len(query) > MAX_QUERY_CHARS:
            raise JudgementsError(f"query {qid!r} of queries.jsonl has {len(query):,} characters; a judged query has "
                                  f"at most {MAX_QUERY_CHARS:,}", "judge_long_query", id=qid,
                                  limit=f"{MAX_QUERY_CHARS:,}")
        if query:
            judgements.setdefault(query, {})[documents[doc]] = grade
    if count(judgements) > MAX_JUDGEMENTS:
        raise JudgementsError(f"the file holds {count(judgements):,} judgements; a session keeps at most "
                              f"{MAX_JUDGEMENTS:,}", "judge_too_many", limit=f"{MAX_JUDGEMENTS:,}")
    if sum(map(len, judgements)) > MAX_QUERIES_CHARS:
        raise JudgementsError(f"the judged queries hold {sum(map(len, judgements)):,} characters together; a session "
                              f"keeps at most {MAX_QUERIES_CHARS:,}", "judge_queries_too_long",
                              limit=f"{MAX_QUERIES_CHARS:,}")
    return judgements, list(documents.values())
