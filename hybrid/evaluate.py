"""Evaluation on labelled retrieval sets: loading them, ranking every query with the engine, sweeping fusion."""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import logging
import sys
import time
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from .atomic import write_file, write_problem
from .cache import EmbeddingCache, embedder_key
from .config import add_config_option, config_from_args
from .engine import HybridEngine, Retrieval
from .fusion import FUSERS, NORMALIZERS, USES_NORMALIZER, Candidates
from .argtypes import whole_number
from .kb import Document, KnowledgeBaseError, UserError, decode_bytes, split_sentences
from .lang import ALPHABETIC, CJK, document_script
from .metrics import (bootstrap_ci, jaccard_at_k, mean_scores, ndcg_at_k, paired_delta, rbo, recall_at_k,
                      score_query, top_k_overlap)
from .rerank import Reranker
from .semantic import Embedder
from .settings import DEFAULT_SETTINGS, Settings
from .tokenize import Tokenizer, TokenizerSettings, fold_script, normalize
from . import weight_model
from .weight_model import features

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
DEFAULT_ALPHAS = tuple(round(i / 10, 1) for i in range(11))
LABELLED_FILES = ("corpus.jsonl", "queries.jsonl", "qrels.tsv")
PRIMARY_K = 10
_QUERY_BATCH = 64  # queries retrieved together (their vector top-k is one matrix product)
RBO_P = 0.9
TIE = 1e-9  # settings whose nDCG@10 differ by less are a tie (``best_point``)
BOOTSTRAP_SEED = 0
OVERLAP_PAIRS = (("keyword", "semantic"), ("keyword", "hybrid"), ("semantic", "hybrid"), ("default", "chosen"))


class LabelledSetError(UserError):
    """A labelled set that cannot be read; the message says which file and line, and what to fix (``key`` and
    ``values`` let a page say it in its language)."""


@dataclass(frozen=True)
class LabelledSet:
    """Documents, queries and relevance judgements.

    Attributes:
        name: the set's name (folder name or upload name).
        documents: the corpus.
        queries: ``(query id, text)`` pairs, only those with at least one relevant document (all of them in a
            set without labels, ``parse_query_set``).
        qrels: ``{query id: {doc id: grade}}``; grade > 0 is relevant (empty: no labels).
        parents: for a corpus split into sentences, ``{sentence doc id: paragraph id}`` (else empty).
        notes: what a person should know of how the files were read, by kind: "queries" and "documents", ids
            qrels.tsv names that queries.jsonl or corpus.jsonl lacks (``parse_labelled_set``: ignored);
            "unjudged", queries without a relevant document in the corpus (left out); "added", relevant texts of
            pairs that are no entry of the knowledge base searched (``pairs_in_knowledge_base``: added to it);
            "header", a CSV's first row, read as the columns' names (``parse_pairs_csv``).
    """

    name: str
    documents: tuple[Document, ...]
    queries: tuple[tuple[str, str], ...]
    qrels: Mapping[str, Mapping[str, int]]
    parents: Mapping[str, str] = field(default_factory=dict)
    notes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------- reading sets


def _jsonl_rows(text: str, file: str) -> list[tuple[str, str]]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            # BEIR names the id "_id" and keeps a title beside the text (its evaluation reads both).
            key = "_id" if "id" not in record and "_id" in record else "id"
            title = str(record.get("title") or "").strip()
            row = (str(record[key]), f"{title} {str(record['text']).strip()}".strip())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LabelledSetError(
                f"{file} line {number}: expected a JSON object with \"id\" (or BEIR's \"_id\") and \"text\" ({exc})",
                "id_text_field", name=file, line=number) from None
        if not row[1]:  # nothing to index or ask; a relevant empty document simply counts as not found
            log.warning("%s line %d: the text of %r is empty; skipped", file, number, row[0])
            continue
        rows.append(row)
    if not rows:
        raise LabelledSetError(f"{file} is empty: it needs one {{\"id\": ..., \"text\": ...}} per line",
                               "empty_file", name=file)
    return rows


class _FractionalGrade(ValueError):
    pass


def _grade(cell: str) -> int:
    """A qrels relevance: a whole number, "1.0" included (a 0.5 became 0, not relevant, without a word)."""
    value = float(cell)
    if not value.is_integer():
        raise _FractionalGrade(cell.strip())
    return int(value)


def _qrels_rows(text: str, query_ids: set[str]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        cells = line.split("\t") if "\t" in line else line.split()
        if not cells or not line.strip():
            continue
        if len(cells) == 4:  # TREC layout: query 0 doc grade
            cells = [cells[0], cells[2], cells[3]]
        try:
            qid, doc, grade = cells[0].strip(), cells[1].strip(), _grade(cells[2])
        except _FractionalGrade as exc:
            raise LabelledSetError(
                f"qrels.tsv line {number}: the relevance {str(exc)!r} is not a whole number (0: not relevant; 1, "
                "2, ...: relevant, higher is better)", "qrels_grade", line=number, got=str(exc)) from None
        except (IndexError, ValueError):
            if number == 1 and cells[0].strip() not in query_ids:  # a header: "query-id corpus-id score"
                continue
            raise LabelledSetError(
                f"qrels.tsv line {number}: expected query_id<TAB>doc_id<TAB>relevance, got {line!r}",
                "qrels_line", line=number, got=line[:80]) from None
        qrels.setdefault(qid, {})[doc] = grade
    return qrels


def parse_labelled_set(corpus: str, queries: str, qrels: str, name: str = "uploaded",
                       max_queries: int | None = None) -> LabelledSet:
    """Build a labelled set from the text of its three files.

    Args:
        corpus: corpus.jsonl text (``{"id", "text"}`` per line).
        queries: queries.jsonl text.
        qrels: qrels.tsv text (``query_id<TAB>doc_id<TAB>relevance``; TREC's 4 columns also work).
        name: the set's name.
        max_queries: keep only the first N queries that have a relevant document.
    Returns:
        The set; queries without any relevant document are dropped.
    Raises:
        LabelledSetError: malformed lines, duplicate ids, or no query with a relevant document.
    """
    _check_max_queries(max_queries)
    documents = parse_corpus(corpus)
    known = {d.id for d in documents}
    query_rows = _query_rows(queries)
    judged = _qrels_rows(qrels, {qid for qid, _ in query_rows})
    ignored = _warn_unknown_ids(judged, {qid for qid, _ in query_rows}, known)
    kept = []
    for qid, text in query_rows:
        if any(grade > 0 and doc in known for doc, grade in judged.get(qid, {}).items()):
            kept.append((qid, text))
    if not kept:
        raise LabelledSetError(
            "no query has a relevant document in the corpus: check that qrels.tsv uses the ids of "
            "queries.jsonl and corpus.jsonl and grades > 0 for relevant documents", "no_relevant")
    if len(kept) < len(query_rows):
        held = {qid for qid, _ in kept}
        ignored["unjudged"] = tuple(qid for qid, _ in query_rows if qid not in held)
    if max_queries is not None:
        kept = kept[:max_queries]
    return LabelledSet(name, documents, tuple(kept), {qid: dict(judged[qid]) for qid, _ in kept}, notes=ignored)


def _check_max_queries(max_queries: int | None) -> None:
    if max_queries is not None and max_queries < 1:
        raise ValueError(f"max_queries must be at least 1 (None: every query), got {max_queries}")


def _query_rows(queries: str) -> list[tuple[str, str]]:
    """The ``(id, text)`` rows of queries.jsonl text; a repeated id would count its query twice in every mean."""
    rows = _jsonl_rows(queries, "queries.jsonl")
    seen: set[str] = set()
    for qid, _ in rows:
        if qid in seen:
            raise LabelledSetError(f"queries.jsonl: query id {qid!r} appears twice; ids must be unique",
                                   "duplicate_query_id", id=qid)
        seen.add(qid)
    return rows


def _warn_unknown_ids(judged: Mapping[str, Mapping[str, int]], query_ids: set[str],
                      doc_ids: set[str]) -> dict[str, tuple[str, ...]]:
    """Log the qrels.tsv judgements that name a query or document the other files lack (a typo or another
    version of the set): they count for nothing, and a set whose labels mostly miss measures little.

    Returns:
        The unknown ids by kind ("queries", "documents"; only kinds that have some).
    """
    out: dict[str, tuple[str, ...]] = {}
    for kind, unknown, total in (
            ("query", sorted(q for q in judged if q not in query_ids), len(judged)),
            ("document", sorted({d for q, docs in judged.items() if q in query_ids for d in docs} - doc_ids),
             len({d for q, docs in judged.items() if q in query_ids for d in docs}))):
        if unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            log.warning("qrels.tsv names %d of its %d %s ids that %s lacks (%s); those judgements are ignored",
                        len(unknown), total, kind, "queries.jsonl" if kind == "query" else "corpus.jsonl", shown)
            out["queries" if kind == "query" else "documents"] = tuple(unknown)
    return out


def parse_corpus(corpus: str) -> tuple[Document, ...]:
    """The documents of corpus.jsonl text.

    Raises:
        LabelledSetError: malformed lines or a duplicate id.
    """
    docs = _jsonl_rows(corpus, "corpus.jsonl")
    ids = [d for d, _ in docs]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        dup = next(i for i in ids if i in seen or seen.add(i))
        raise LabelledSetError(f"corpus.jsonl: document id {dup!r} appears twice; ids must be unique",
                               "duplicate_id", id=dup)
    return tuple(Document(i, t) for i, t in docs)


def parse_query_set(queries: str, documents: Sequence[Document], name: str = "uploaded",
                    max_queries: int | None = None) -> LabelledSet:
    """A set of queries without relevance labels over ``documents``: evaluating it gives the label-free
    figures only (``overlap``); every metric is 0.

    Raises:
        LabelledSetError: malformed queries.jsonl, a repeated query id, or no documents.
    """
    _check_max_queries(max_queries)
    if not documents:
        raise LabelledSetError("there are no documents to search: upload corpus.jsonl beside queries.jsonl, or fill "
                               "the knowledge base", "no_documents")
    rows = _query_rows(queries)[:max_queries]
    return LabelledSet(name, tuple(documents), tuple(rows), {})


def load_labelled_set(folder: str | Path, max_queries: int | None = None) -> LabelledSet:
    """Read ``corpus.jsonl``, ``queries.jsonl`` and ``qrels.tsv`` from ``folder``.

    Raises:
        LabelledSetError: a file is missing or malformed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        unzip = (" (a judgements zip downloaded from the page: unzip it and give its folder)"
                 if folder.suffix.lower() == ".zip" and folder.is_file() else "")
        raise LabelledSetError(f"{folder} is not a folder{'' if folder.exists() else ' (it does not exist)'}; give "
                               f"the folder that holds {', '.join(LABELLED_FILES)}{unzip}")
    missing = [f for f in LABELLED_FILES if not (folder / f).is_file()]
    if missing:
        raise LabelledSetError(f"{folder} lacks {', '.join(missing)}; a labelled set folder holds "
                               f"{', '.join(LABELLED_FILES)}")
    try:  # UTF-8, GBK/GB18030 or Big5, as the page reads an uploaded set
        texts = [decode_bytes((folder / f).read_bytes(), f"{folder.name}/{f}") for f in LABELLED_FILES]
    except KnowledgeBaseError as exc:
        raise LabelledSetError(str(exc)) from None
    return parse_labelled_set(*texts, name=folder.name, max_queries=max_queries)


def labelled_set_from_pairs(pairs: Iterable[Sequence[str]], name: str = "uploaded") -> LabelledSet:
    """A labelled set from (query, relevant text) pairs: the corpus is every distinct relevant text.

    A query listed on several rows has several relevant texts. An optional third cell is the grade.

    Raises:
        LabelledSetError: a row lacks its query or its text, or a grade is not a number.
    """
    doc_ids: dict[str, str] = {}
    query_ids: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for number, row in enumerate(pairs, 1):
        cells = [str(c).strip() for c in row]
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise LabelledSetError(f"row {number}: needs a query and its relevant text, got {list(row)!r}",
                                   "csv_row", row=number, got=repr(list(row))[:80])
        grade = 1
        if len(cells) > 2 and cells[2]:
            try:
                grade = _grade(cells[2])
            except ValueError:
                raise LabelledSetError(f"row {number}: relevance {cells[2]!r} is not a whole number (0: not "
                                       "relevant; 1, 2, ...: relevant, higher is better)", "csv_grade",
                                       row=number, got=cells[2][:40]) from None
        doc = doc_ids.setdefault(cells[1], f"d{len(doc_ids) + 1}")
        qid = query_ids.setdefault(cells[0], f"q{len(query_ids) + 1}")
        qrels.setdefault(qid, {})[doc] = max(grade, qrels.get(qid, {}).get(doc, grade))
    queries = tuple((qid, text) for text, qid in query_ids.items() if any(g > 0 for g in qrels[qid].values()))
    if not queries:
        raise LabelledSetError("no (query, relevant text) rows with a relevance above 0", "csv_no_relevant")
    return LabelledSet(name, tuple(Document(i, t) for t, i in doc_ids.items()), queries,
                       {qid: qrels[qid] for qid, _ in queries})


def pairs_in_knowledge_base(labelled: LabelledSet, entries: Sequence[str]) -> LabelledSet:
    """A set of (query, relevant text) pairs searched in a knowledge base: its corpus is every entry of
    ``entries`` (ids ``kb1``, ``kb2``, ...), and a relevant text that is no entry is added to it, so that the
    scores are those of the knowledge base, not of the relevant texts alone. A text is the same entry whatever its
    whitespace, width, case and Traditional/Simplified script (``_same_text``), as a person copying it would
    expect.

    Args:
        labelled: the set ``labelled_set_from_pairs`` made (its documents are the relevant texts).
        entries: the knowledge base's entries.
    Returns:
        The set, with its judgements on the knowledge base's ids.
    """
    documents = [Document(f"kb{i + 1}", text) for i, text in enumerate(entries)]
    by_text: dict[str, str] = {}
    exact: dict[str, str] = {}
    for doc in documents:
        by_text.setdefault(_same_text(doc.text), doc.id)
        exact.setdefault(doc.text.strip(), doc.id)
    renamed, added = {}, []
    for doc in labelled.documents:
        if doc.text.strip() in exact:  # the very text wins over an entry that differs in spaces or punctuation
            renamed[doc.id] = exact[doc.text.strip()]
            continue
        key = _same_text(doc.text)
        if key not in by_text:
            by_text[key] = doc.id
            documents.append(doc)
            added.append(doc.text[:40])
        renamed[doc.id] = by_text[key]
    qrels = {qid: {renamed[d]: g for d, g in judged.items()} for qid, judged in labelled.qrels.items()}
    notes = {**labelled.notes, "added": tuple(added)} if added else labelled.notes
    return LabelledSet(labelled.name, tuple(documents), labelled.queries, qrels, notes=notes)


def _same_text(text: str) -> str:
    """What two texts share when they are the same entry: without whitespace and the punctuation at either end (a
    copied answer lacking its final "。" is still the entry; inside, "1/2" and "12" stay apart), full-width and case
    folded, in Simplified script."""
    kept = [c for c in normalize(text) if not c.isspace()]
    start, end = 0, len(kept)
    while start < end and unicodedata.category(kept[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(kept[end - 1]).startswith("P"):
        end -= 1
    return fold_script("".join(kept[start:end]))


def parse_pairs_csv(text: str, name: str = "uploaded") -> LabelledSet:
    """A labelled set from CSV text with columns query, relevant text (and optionally relevance).

    A first row is taken as a header (and said so in ``notes["header"]``) when its first cell names a query column
    (``query``, ``question``, 问题, 用户问题, ...), its second a text column (``answer``, ``text``, 答案, 标准答案, ...)
    or its third a relevance column (``relevance``, 相关度, ...): a header scored as a query was a query of its
    own ("用户问题" searched for "标准答案").
    """
    rows = [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"))) if any(c.strip() for c in r)]
    header = rows[0] if rows and _is_header(rows[0]) else None
    if header is not None:
        rows = rows[1:]
    if not rows:
        raise LabelledSetError("the CSV holds no rows; expected: query,relevant text", "csv_empty")
    labelled = labelled_set_from_pairs(rows, name)
    # said, never silent: a real first row taken for the column names would be a pair lost
    return replace(labelled, notes={"header": (", ".join(c.strip() for c in header),)}) if header else labelled


_QUERY_HEADERS = frozenset({"query", "queries", "question", "questions", "query_text", "user question", "查询", "问题",
                            "用户问题", "提问", "问句", "搜索词", "查询词"})
_TEXT_HEADERS = frozenset({"answer", "answers", "text", "relevant", "relevant text", "relevant_text", "document",
                           "passage", "答案", "标准答案", "回答", "相关文本", "文档", "文本"})
_RELEVANCE_HEADERS = frozenset({"relevance", "grade", "score", "label", "rel", "相关度", "相关性", "分数", "评分", "等级"})
# one letter or character names a column only beside its partner ("q,a"; "问,答"): alone it may be a real pair
_SHORT_HEADERS = frozenset({("q", "a"), ("问", "答"), ("q", "text"), ("query", "a")})


def _is_header(first: Sequence[str]) -> bool:
    """Whether a CSV's first row names the columns (``parse_pairs_csv``): a query column's name, a text column's or
    a relevance column's in its place, or a pair of short names."""
    cells = [c.strip().lower() for c in first] + ["", "", ""]
    return (cells[0] in _QUERY_HEADERS or cells[1] in _TEXT_HEADERS or cells[2] in _RELEVANCE_HEADERS
            or (cells[0], cells[1]) in _SHORT_HEADERS)


def subset_corpus(labelled: LabelledSet, max_docs: int, seed: int = 0) -> LabelledSet:
    """The set with a smaller corpus whose judgements stay correct, for quick runs.

    Every document judged for the kept queries stays; the rest of the ``max_docs`` places go to a seeded
    random sample of the other documents (distractors), in corpus order. Fewer distractors make ranking
    easier, so compare such runs only with each other.
    """
    judged = {doc for qid, _ in labelled.queries for doc in labelled.qrels[qid]}
    others = [i for i, d in enumerate(labelled.documents) if d.id not in judged]
    room = max(0, max_docs - (len(labelled.documents) - len(others)))
    keep = set(np.random.default_rng(seed).permutation(others)[:room].tolist()) if room < len(others) else set(others)
    docs = tuple(d for i, d in enumerate(labelled.documents) if d.id in judged or i in keep)
    return LabelledSet(labelled.name, docs, labelled.queries, labelled.qrels, labelled.parents)


def split_into_sentences(labelled: LabelledSet, min_length: int = 0) -> LabelledSet:
    """The same set with every paragraph split into sentences (``kb.split_sentences``).

    Sentence ``j`` of paragraph ``p`` gets id ``p#j``; ``parents`` maps it back, so evaluation counts a
    paragraph as found at the rank of its first sentence.
    """
    docs, parents = [], {}
    for doc in labelled.documents:
        for j, sentence in enumerate(split_sentences(doc.text, min_length) or [doc.text]):
            sid = f"{doc.id}#{j}"
            docs.append(Document(sid, sentence))
            parents[sid] = doc.id
    return LabelledSet(labelled.name, tuple(docs), labelled.queries, labelled.qrels, parents)


def query_half(text: str) -> int:
    """The half (0 or 1) a query falls in, from a hash of its text: stable, independent of the file's order,
    and the same for a query that two sets share."""
    return hashlib.sha256(text.strip().encode("utf-8")).digest()[0] & 1


def split_half(labelled: LabelledSet, half: int) -> LabelledSet:
    """The set with only the queries of one half (``query_half``); the corpus is unchanged."""
    if half not in (0, 1):
        raise ValueError(f"half must be 0 or 1, got {half!r}")
    queries = tuple((qid, text) for qid, text in labelled.queries if query_half(text) == half)
    return LabelledSet(f"{labelled.name} (half {half})", labelled.documents, queries,
                       {qid: labelled.qrels[qid] for qid, _ in queries}, labelled.parents)


SCRIPTS = {"zh": CJK, "cjk": CJK, "en": ALPHABETIC, "alphabetic": ALPHABETIC}


def with_distractors(labelled: LabelledSet, other: LabelledSet, script: str, max_docs: int | None = None,
                     seed: int = 0) -> LabelledSet:
    """``labelled`` with the documents of ``other`` written in ``script`` added as unjudged distractors.

    This builds a mixed-language knowledge base from two single-language sets: a Chinese set's corpus
    plus English entries of another set, or the reverse. Queries and judgements stay those of
    ``labelled``; the added entries are judged by nobody, so they can only push relevant ones down.

    Args:
        labelled: the set whose queries are asked.
        other: where the distractors come from.
        script: ``zh``/``cjk`` or ``en``/``alphabetic`` (``hybrid.lang.document_script`` of each entry).
        max_docs: keep at most this many distractors (a seeded random sample, in corpus order).
        seed: seed of that sample.
    Returns:
        The mixed set, named ``"<set>+<other> <script>"``.
    """
    try:
        wanted = SCRIPTS[script]
    except KeyError:
        raise ValueError(f"unknown script {script!r}; choose one of {', '.join(SCRIPTS)}") from None
    taken = {d.id for d in labelled.documents}
    extra = [d for d in other.documents if document_script(d.text) == wanted]
    if max_docs is not None and len(extra) > max_docs:
        keep = set(np.random.default_rng(seed).permutation(len(extra))[:max_docs].tolist())
        extra = [d for i, d in enumerate(extra) if i in keep]
    added = []
    for d in extra:
        doc_id = f"{other.name}:{d.id}"
        while doc_id in taken:
            doc_id = "+" + doc_id
        taken.add(doc_id)
        added.append(Document(doc_id, d.text))
    parents = dict(labelled.parents)
    return LabelledSet(f"{labelled.name}+{other.name} {script}", labelled.documents + tuple(added),
                       labelled.queries, labelled.qrels, parents)


# ---------------------------------------------------------------------------------------- running


def query_cache_key(embedder: Embedder) -> str:
    """Cache namespace of an embedder's query vectors (they depend on its query instruction only)."""
    return f"{embedder_key(embedder)}|query|{embedder.query_instruction or ''}"


def embed_queries(embedder: Embedder, texts: Sequence[str], cache: EmbeddingCache | None = None,
                  progress: Progress | None = None, batch_size: int = 64) -> np.ndarray:
    """Embed queries (with the model's instruction), reusing and filling ``cache``.

    Returns:
        (len(texts), dimension) float32.
    """
    dim = int(embedder.dimension)
    out = np.empty((len(texts), dim), dtype=np.float32)
    key = query_cache_key(embedder)
    cached = cache.get_many(key, texts, dimension=dim) if cache is not None else [None] * len(texts)
    missing = [i for i, v in enumerate(cached) if v is None]
    for i, v in enumerate(cached):
        if v is not None:
            out[i] = v
    done = len(texts) - len(missing)
    if progress is not None:
        progress(done, len(texts))
    for start in range(0, len(missing), batch_size):
        rows = missing[start : start + batch_size]
        vectors = np.asarray(embedder.encode_queries([texts[i] for i in rows]), dtype=np.float32)
        out[rows] = vectors
        if cache is not None:
            cache.put_many(key, [texts[i] for i in rows], vectors)
        done += len(rows)
        if progress is not None:
            progress(done, len(texts))
    return out


def _ks(k: int) -> tuple[int, ...]:
    return tuple(dict.fromkeys((PRIMARY_K, k)))


class _Scores:
    """Running per-query metric lists for one ranking method."""

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.rankings: list[list[str]] = []  # each query's ranking, for the label-free overlap

    def add(self, ranking: list[str], qrels: Mapping[str, int], ks: tuple[int, ...]) -> None:
        self.rows.append(score_query(ranking, qrels, ks))
        self.rankings.append(ranking)

    def values(self, metric: str) -> np.ndarray:
        return np.array([row[metric] for row in self.rows], dtype=np.float64)

    def mean(self, rows: Sequence[int] | None = None) -> dict[str, float]:
        return mean_scores(self.rows if rows is None else [self.rows[i] for i in rows])


def _retrieved(engine: HybridEngine, texts: list[str], vectors: np.ndarray | None,
               window: int) -> Iterator[Retrieval]:
    """``engine.retrieve`` of each query at ``window``, ``_QUERY_BATCH`` queries at a time (one batched vector
    top-k each)."""
    for start in range(0, len(texts), _QUERY_BATCH):
        part = None if vectors is None else vectors[start:start + _QUERY_BATCH]
        yield from engine.retrieve_many(texts[start:start + _QUERY_BATCH], query_vectors=part, window=window)


SweepKey = tuple[str, float, str, int]  # fusion, alpha, normalizer, window


def sweep_keys(fusions: Sequence[str], alphas: Sequence[float], normalizers: Sequence[str],
               windows: Sequence[int], default_normalizer: str) -> list[SweepKey]:
    """Every sweep point: each fusion method at each alpha and window, and, for a method that reads the
    normaliser (``hybrid.fusion.USES_NORMALIZER``), at each normaliser; the others carry ``default_normalizer``.

    Raises:
        ValueError: an unknown normaliser or a window below 1.
    """
    unknown = [n for n in normalizers if n not in NORMALIZERS]
    if unknown:
        raise ValueError(f"unknown normalizer {unknown[0]!r}; choose from {', '.join(NORMALIZERS)}")
    if any(int(w) < 1 for w in windows):
        raise ValueError(f"windows must be positive integers (candidates per retriever), got {list(windows)!r}")
    keys = [(f, float(a), n, int(w)) for f in fusions for n in (normalizers if f in USES_NORMALIZER
                                                                 else (default_normalizer,))
            for w in windows for a in alphas]
    return list(dict.fromkeys(keys))


def point_key(point: Mapping[str, Any]) -> SweepKey:
    """The sweep key of a report's sweep point."""
    return point["fusion"], float(point["alpha"]), point["normalizer"], int(point["window"])


def is_default(key: SweepKey, settings: Settings) -> bool:
    """Whether a sweep point is the engine's default configuration (the normaliser counts only where the
    fusion method reads it)."""
    fusion, alpha, normalizer, window = key
    return (fusion == settings.fusion and abs(alpha - settings.alpha) < 1e-9 and window == settings.window
            and (fusion not in USES_NORMALIZER or normalizer == settings.normalizer))


def _is_default_setting(point: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Whether a setting is the hybrid configuration ``config`` (``is_default`` for a report's dicts)."""
    return (point["fusion"] == config.get("fusion") and abs(float(point["alpha"]) - float(config.get("alpha", -1)))
            < 1e-9 and point.get("window") == config.get("window")
            and (point["fusion"] not in USES_NORMALIZER or point.get("normalizer") == config.get("normalizer")))


def _table_rows(results: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The summary table's rows as settings one can apply: keyword only is weighted alpha 0, semantic only
    weighted alpha 1 (``hybrid.fusion``: the ends are the single lists), the hybrid default its own configuration.
    Only the rows ``results`` holds nDCG@10 for."""
    axes = {name: config[name] for name in ("normalizer", "window") if name in config}
    settings = {"keyword": ("weighted", 0.0), "semantic": ("weighted", 1.0)}
    if "fusion" in config and "alpha" in config:
        settings["hybrid"] = (config["fusion"], float(config["alpha"]))
    rows = {}
    for name, (fusion, alpha) in settings.items():
        if f"ndcg@{PRIMARY_K}" in results.get(name, {}):
            row = {"fusion": fusion, "alpha": alpha, **axes}
            rows[name] = {**row, "default": name == "hybrid" or _is_default_setting(row, config), **results[name]}
    return rows


def table_settings(report: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The candidates of ``best_point``: the sweep points, then the table's rows (``_table_rows``: keyword only,
    semantic only, the hybrid default) as settings."""
    return [*report["sweep"], *_table_rows(report.get("results", {}), report.get("hybrid_config", {})).values()]


def _best_index(points: Sequence[Mapping[str, Any]], config: Mapping[str, Any], alpha: float | None,
                fusion: str | None) -> int:
    """The index in ``points`` of ``best_point``'s choice."""
    alpha = float(config.get("alpha", 0.5)) if alpha is None else alpha
    fusion = config.get("fusion") if fusion is None else fusion
    metric = f"ndcg@{PRIMARY_K}"
    top = max(float(p[metric]) for p in points)
    tied = [i for i, p in enumerate(points) if float(p[metric]) >= top - TIE]
    return min(tied, key=lambda i: (not 0.0 < float(points[i]["alpha"]) < 1.0, points[i]["fusion"] != fusion,
                                    abs(float(points[i]["alpha"]) - alpha),
                                    points[i].get("normalizer", config.get("normalizer")) != config.get("normalizer"),
                                    points[i].get("window", config.get("window")) != config.get("window")))


def best_point(report: Mapping[str, Any] | None, alpha: float | None = None,
               fusion: str | None = None) -> Mapping[str, Any] | None:
    """The setting with the best nDCG@10 among the sweep and the table's rows (keyword only, semantic only,
    the hybrid default), so no row the table shows beats it; ties (within ``TIE``) go to a real mix over a
    single mode (alpha strictly between 0 and 1), then to the fusion method, alpha, normaliser and window
    nearest the defaults.

    Args:
        report: from ``run`` (None before any run).
        alpha, fusion: the defaults ties lean to (the report's hybrid configuration when None).
    Returns:
        The point ({"fusion", "alpha", metrics...}), None before any run or without a sweep.
    """
    if not report or not report.get("sweep"):
        return None
    points = table_settings(report)
    return points[_best_index(points, report.get("hybrid_config", {}), alpha, fusion)]


def evaluate(engine: HybridEngine, labelled: LabelledSet, k: int = PRIMARY_K,
             fusions: Sequence[str] | None = None, alphas: Sequence[float] = DEFAULT_ALPHAS,
             query_vectors: np.ndarray | None = None, progress: Progress | None = None,
             rerank: int = 0, normalizers: Sequence[str] | None = None,
             windows: Sequence[int] | None = None) -> dict[str, Any]:
    """Rank every query of ``labelled`` with ``engine`` and score keyword, semantic, hybrid and a sweep.

    ``hybrid`` is the engine's default configuration (``engine.settings``: the one search and the demo
    use); the sweep re-fuses the same candidates for each fusion method, alpha, normaliser (for the methods
    that read it) and candidate window (the candidates are retrieved once, at the widest window, and cut:
    ``Retrieval.within``). With ``rerank`` > 0 the
    engine's reranker re-orders the first ``rerank`` hybrid hits (the rest keep their hybrid order) and
    ``reranked`` is scored too. The same summary is given for each half of the queries (``query_half``),
    for ``split_half_report``.

    Args:
        engine: an engine holding ``labelled.documents`` (with an embedding model).
        labelled: the set.
        k: cut-off reported besides @10.
        fusions: keys of ``hybrid.fusion.FUSERS`` to sweep (all when None).
        alphas: semantic weights to sweep.
        normalizers: keys of ``hybrid.fusion.NORMALIZERS`` swept for weighted fusion (the default's when None).
        windows: candidate windows to sweep (the default's when None).
        query_vectors: the queries' embeddings in order (embedded through the engine when None).
        progress: ``progress(done, total)`` over queries.
        rerank: hybrid hits to rerank per query (0: no reranking; needs ``engine.reranker``).
    Returns:
        ``{"dataset", "model", "document_prompt", "queries", "docs", "k",
        "results": {"keyword"|"semantic"|"hybrid"(|"reranked"): metrics},
        "sweep": [{"fusion", "alpha", "normalizer", "window", "default", **metrics}], "best": ``best_point``'s
        choice (a sweep point, or the table row keyword only, semantic only or the hybrid default),
        "gap": best minus hybrid nDCG@10 (never below 0), "hybrid_config", "halves": [{"queries", "results", "sweep",
        "best", "gap"} for half 0 and half 1], "rerank", "rank_seconds"}`` where metrics are ``ndcg@10``,
        ``recall@10``, ``mrr@10`` and the same at ``k``, and ``rerank`` is None or
        ``{"depth", "model", "instruction", "seconds"}``. Trust figures (whole set only): each sweep point has
        ``ci95`` and ``delta_vs_default: {"mean", "ci95"}`` (nDCG@10, 1,000 bootstrap resamples of the queries,
        seed 0), ``per_query``: its nDCG@10 of each query (in the order of ``per_query``) and
        ``overlap_vs_default`` (as ``overlap``'s values, against the default); ``per_query`` rows have ``query_id`` and the ``keyword``/``semantic``/``hybrid``/``best``
        nDCG@10; ``ceiling: {"window", "unreachable_queries", "unreachable": [{"query_id", "documents"}],
        "recall": {"keyword", "semantic"}}`` (relevant documents in neither candidate list: no fusion can
        rank them; ``recall``: each retriever's share of the relevant documents among its ``window`` candidates); ``overlap: {"keyword|semantic"|...|"default|chosen": {"jaccard@10", "rbo@0.9", "shared",
        "only_left", "only_right"}}`` (means over queries of the top 10; chosen: the best point).
    Raises:
        ValueError: unknown fusion, bad k or rerank, or ``rerank`` without a reranker.
    """
    fusions = list(FUSERS) if fusions is None else list(fusions)
    unknown = [f for f in fusions if f not in FUSERS]
    if unknown:
        raise ValueError(f"unknown fusion method {unknown[0]!r}; choose one of {', '.join(FUSERS)}")
    if k < 1:
        raise ValueError(f"k must be a positive integer (top-k), got {k!r}")
    if rerank < 0 or (rerank and engine.reranker is None):
        raise ValueError(f"rerank={rerank!r}: give a number of hybrid hits >= 0, and an engine with a reranker "
                         "to rerank")
    settings: Settings = engine.settings
    ks = _ks(k)
    depth = max(ks)
    keys = sweep_keys(fusions, alphas, [settings.normalizer] if normalizers is None else normalizers,
                      [settings.window] if windows is None else windows, settings.normalizer)
    widest = max([settings.window, *(w for *_, w in keys)])
    parents = labelled.parents
    id_of: dict[int, str] = {}  # store key -> document id

    def ranking(keys: np.ndarray, limit: int | None = depth) -> list[str]:
        keys = keys.tolist()
        new = [k for k in dict.fromkeys(keys) if k not in id_of]
        if new:
            id_of.update(zip(new, (d.id for d in engine.store.documents(new))))
        out = [parents.get(id_of[k], id_of[k]) for k in keys]
        return list(dict.fromkeys(out))[:limit]

    lists = {name: _Scores() for name in ("keyword", "semantic", "hybrid", *(("reranked",) if rerank else ()))}
    per_query: list[dict[str, Any]] = []
    rerank_seconds = 0.0
    sweep = {key: _Scores() for key in keys}
    recall = {"keyword": [], "semantic": []}
    unreachable: list[dict[str, Any]] = []
    started = time.perf_counter()
    retrievals = _retrieved(engine, [text for _, text in labelled.queries], query_vectors, widest)
    for i, ((qid, text), wide) in enumerate(zip(labelled.queries, retrievals)):
        qrels = labelled.qrels.get(qid, {})  # none: a query set without labels (only the overlap means anything)
        cut = {w: wide.within(w) for w in dict.fromkeys([settings.window, *(w for *_, w in keys)])}
        r = cut[settings.window]
        window = {"keyword": ranking(r.keyword.docs, None), "semantic": ranking(r.semantic.docs[:r.semantic.own], None)}
        for name, found in window.items():
            lists[name].add(found[:depth], qrels, ks)
            recall[name].append(recall_at_k(found, qrels, len(found)))  # all the window holds
        candidates = {*window["keyword"], *window["semantic"]}
        missing = [doc for doc, grade in qrels.items() if grade > 0 and doc not in candidates]
        if missing:
            unreachable.append({"query_id": qid, "documents": missing})
        default = r.fuse(settings.alpha, settings.fusion, settings.normalizer, settings.rrf_k)
        lists["hybrid"].add(ranking(default.docs), qrels, ks)
        if rerank:
            tick = time.perf_counter()
            top = engine.rerank(text, Candidates(default.docs[:rerank], default.scores[:rerank]))
            rerank_seconds += time.perf_counter() - tick
            lists["reranked"].add(ranking(np.concatenate([top.docs, default.docs[rerank:]])), qrels, ks)
        for (fusion, alpha, normalizer, window), scores in sweep.items():
            scores.add(ranking(cut[window].fuse(alpha, fusion, normalizer, settings.rrf_k).docs), qrels, ks)
        metric = f"ndcg@{PRIMARY_K}"
        per_query.append({"id": qid, "query": text, "tokens": list(r.tokens), "keyword_hits": len(r.keyword.docs),
                          "flag": query_flag(r), **{f"{name} {metric}": s.rows[-1][metric] for name, s in lists.items()}})
        if progress is not None:
            progress(i + 1, len(labelled.queries))
    rank_seconds = time.perf_counter() - started

    config = {"fusion": settings.fusion, "alpha": settings.alpha, "normalizer": settings.normalizer,
              "window": settings.window, "rrf_k": settings.rrf_k}

    def summary(rows: Sequence[int] | None) -> tuple[dict[str, Any], _Scores | None]:
        """The summary of ``rows`` (all queries when None), and the scores of its best point."""
        points = [{"fusion": f, "alpha": a, "normalizer": n, "window": w, "default": is_default((f, a, n, w), settings),
                   **s.mean(rows)} for (f, a, n, w), s in sweep.items()]
        results = {name: s.mean(rows) for name, s in lists.items()}
        metric = f"ndcg@{PRIMARY_K}"
        table = _table_rows(results, config)
        candidates = [*points, *table.values()]  # as table_settings: best_point's choice, and its scores
        scores = [*(sweep[point_key(p)] for p in points), *(lists[name] for name in table)]
        best = chosen = None
        if points and results["hybrid"]:
            i = _best_index(candidates, config, None, None)
            best, chosen = candidates[i], scores[i]
        gap = None if best is None else best[metric] - results["hybrid"][metric]
        return {"queries": len(labelled.queries) if rows is None else len(rows), "results": results,
                "sweep": points, "best": best, "gap": gap}, chosen

    halves = [[i for i, (_, text) in enumerate(labelled.queries) if query_half(text) == h] for h in (0, 1)]
    embedder = engine.embedder
    overall, chosen = summary(None)
    trust = _trust(lists, sweep, overall, per_query, chosen)
    return {
        "dataset": labelled.name,
        "model": embedder.name if embedder is not None else "",
        "document_prompt": getattr(embedder, "document_prompt", None),
        "docs": len(set(parents.values())) if parents else len(labelled.documents),
        "k": k,
        **overall,
        "hybrid_config": config,
        "halves": [summary(rows)[0] for rows in halves],
        "rerank": None if not rerank else {"depth": rerank, "model": engine.reranker.name,
                                           "instruction": engine.reranker.instruction,
                                           "seconds": round(rerank_seconds, 2)},
        "rank_seconds": round(rank_seconds, 2),
        "tokenizer": engine.tokenizer.settings.label,
        "labelled": any(labelled.qrels.values()),
        "per_query": per_query,
        "flagged": {flag: sum(q["flag"] == flag for q in per_query) for flag in QUERY_FLAGS},
        "ceiling": {"window": settings.window, "unreachable_queries": len(unreachable), "unreachable": unreachable,
                    "recall": {name: float(np.mean(v)) if v else 0.0 for name, v in recall.items()}},
        **trust,
    }


def _trust(lists: Mapping[str, _Scores], sweep: Mapping[SweepKey, _Scores], overall: Mapping[str, Any],
           per_query: list[dict[str, Any]], chosen: _Scores | None) -> dict[str, Any]:
    """The figures that say how far a tuner can trust the sweep, added to ``overall`` and ``per_query`` in place.

    Each sweep point (and the best point where it is a table row) gets ``ci95`` (bootstrap interval of its
    nDCG@10, queries resampled) and ``delta_vs_default`` (paired difference from the hybrid default), its
    per-query nDCG@10 and its ``overlap_vs_default``; each per-query row its nDCG@10 in every list and at the
    best point (``chosen``: its scores). Returns ``{"overlap": {"left|right": mean Jaccard@10, RBO, shared/only
    counts}}``.
    """
    metric = f"ndcg@{PRIMARY_K}"
    if not per_query:
        return {"overlap": {}}
    default = lists["hybrid"].values(metric)
    best = overall["best"]
    points = [(point, sweep[point_key(point)]) for point in overall["sweep"]]
    if best is not None and not any(point is best for point, _ in points):
        points.append((best, chosen))
    for point, scores in points:
        values = scores.values(metric)
        point["ci95"] = bootstrap_ci(values, BOOTSTRAP_SEED)
        point["delta_vs_default"] = paired_delta(values, default, BOOTSTRAP_SEED)
        point["per_query"] = values.tolist()
        point["overlap_vs_default"] = overlap_of(lists["hybrid"].rankings, scores.rankings)
    chosen = chosen if best is not None else lists["hybrid"]
    columns = [lists[name].values(metric) for name in ("keyword", "semantic", "hybrid")] + [chosen.values(metric)]
    for row, *values in zip(per_query, *columns):
        row.update({"query_id": row["id"], **{key: float(v) for key, v in
                                              zip(("keyword", "semantic", "hybrid", "best"), values)}})
    rankings = {"keyword": lists["keyword"].rankings, "semantic": lists["semantic"].rankings,
                "hybrid": lists["hybrid"].rankings, "default": lists["hybrid"].rankings, "chosen": chosen.rankings}
    return {"overlap": {f"{left}|{right}": overlap_of(rankings[left], rankings[right])
                        for left, right in OVERLAP_PAIRS}}


def overlap_of(left: Sequence[Sequence[str]], right: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean Jaccard@10, RBO@0.9 and shared / only-left / only-right top-10 counts of two rankings of each query."""
    pairs = list(zip(left, right))
    counts = [top_k_overlap(a, b, PRIMARY_K) for a, b in pairs]
    return {f"jaccard@{PRIMARY_K}": float(np.mean([jaccard_at_k(a, b, PRIMARY_K) for a, b in pairs])),
            f"rbo@{RBO_P}": float(np.mean([rbo(a[:PRIMARY_K], b[:PRIMARY_K], RBO_P) for a, b in pairs])),
            **{key: float(np.mean([c[key] for c in counts])) for key in ("shared", "only_left", "only_right")}}


QUERY_FLAGS = ("no keyword token", "no keyword match")


def query_flag(retrieval: Retrieval) -> str | None:
    """Why the keyword side of a query contributed nothing: it left no token after tokenising (all stopwords
    or punctuation, or an unfolded script), or none of its tokens is in any entry; None when it matched."""
    if not retrieval.tokens:
        return QUERY_FLAGS[0]
    if not len(retrieval.keyword.docs):
        return QUERY_FLAGS[1]
    return None


def weight_row(retrieval: Retrieval, qrels: Mapping[str, int], ranking: Callable[[np.ndarray], list[str]],
               alphas: Sequence[float] = DEFAULT_ALPHAS) -> tuple[np.ndarray, np.ndarray]:
    """One query's training row for the weight model: its features, and its nDCG@10 under ``adaptive`` at each
    alpha of ``alphas`` (``ranking`` turns fused document keys into the ids ``qrels`` uses)."""
    x = features(retrieval.keyword, retrieval.semantic, retrieval.evidence)
    y = np.array([ndcg_at_k(ranking(retrieval.fuse(a, "adaptive").docs), qrels, PRIMARY_K)
                  for a in alphas])
    return x, y


def split_half_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """Choose on one half of the queries, report the other: what tuning on your own queries is worth.

    Args:
        report: an ``evaluate`` report (its ``halves``).
    Returns:
        ``{"chosen": {"fusion", "alpha", "normalizer", "window"} (the best point of half 0), "queries": of half 1,
        "results": keyword/semantic/hybrid default on half 1, "chosen_point": the chosen setting on half 1,
        "best": the best point of half 1 (tuned on what it reports), "gap": best - hybrid default}``.
    """
    choose, held_out = report["halves"]
    if choose["best"] is None or held_out["best"] is None:
        raise ValueError("split-half needs a sweep (at least one fusion and alpha) and queries in both halves")
    chosen = {name: choose["best"][name] for name in ("fusion", "alpha", "normalizer", "window")}
    candidates = table_settings({**held_out, "hybrid_config": report["hybrid_config"]})
    point = next(p for p in candidates if point_key(p) == point_key(chosen))
    return {"chosen": chosen, "queries": held_out["queries"], "results": held_out["results"],
            "chosen_point": point, "best": held_out["best"], "gap": held_out["gap"]}


def distractor_report(clean: Mapping[str, Any], mixed: Mapping[str, Any]) -> dict[str, float]:
    """What each ranking loses (nDCG@10) when distractors are added: ``clean - mixed`` per list, and
    ``hybrid_excess``: what hybrid loses beyond what semantic alone loses (> 0 is worse)."""
    metric = f"ndcg@{PRIMARY_K}"
    loss = {name: clean["results"][name][metric] - mixed["results"][name][metric]
            for name in ("keyword", "semantic", "hybrid")}
    loss["hybrid_excess"] = loss["hybrid"] - loss["semantic"]
    return loss


def run(labelled: LabelledSet, embedder: Embedder, cache: EmbeddingCache | None = None, k: int = PRIMARY_K,
        fusions: Sequence[str] | None = None, alphas: Sequence[float] = DEFAULT_ALPHAS,
        settings: Settings = DEFAULT_SETTINGS, progress: Callable[[str, int, int], None] | None = None,
        store: Any = None, reranker: Reranker | None = None, rerank: int = 0,
        tokenizer: Tokenizer | None = None, normalizers: Sequence[str] | None = None,
        windows: Sequence[int] | None = None) -> dict[str, Any]:
    """Index ``labelled`` with ``embedder`` (cached vectors reused), embed its queries, and ``evaluate``.

    Args:
        progress: ``progress(stage, done, total)`` with stage "documents", "queries" or "ranking".
        tokenizer: the keyword side's tokenizer (the default one when None).
        store: a Milvus store to index into and search (``hybrid.store.open_store``); in memory when None.
        reranker, rerank: rerank the first ``rerank`` hybrid hits of each query with ``reranker``.
        normalizers, windows: further sweep axes (``evaluate``).
    Returns:
        The report, with ``embed_seconds`` added.
    """
    def stage(name: str) -> Progress | None:
        return None if progress is None else (lambda done, total: progress(name, done, total))

    started = time.perf_counter()
    if store is None:
        engine = HybridEngine(list(labelled.documents), embedder=embedder, settings=settings, cache=cache,
                              progress=stage("documents"), reranker=reranker, tokenizer=tokenizer)
    else:
        from .ingest import Record, index_records

        engine = HybridEngine(settings=settings, cache=cache, store=store, reranker=reranker, tokenizer=tokenizer)
        index_records(store, (Record(d) for d in labelled.documents), engine.tokenizer, embedder, cache,
                      total=len(labelled.documents), progress=progress is not None)
        engine.set_embedder(embedder)
    vectors = embed_queries(embedder, [t for _, t in labelled.queries], cache, progress=stage("queries"))
    embed_seconds = time.perf_counter() - started
    report = evaluate(engine, labelled, k=k, fusions=fusions, alphas=alphas, query_vectors=vectors,
                      progress=stage("ranking"), rerank=rerank, normalizers=normalizers, windows=windows)
    report["embed_seconds"] = round(embed_seconds, 2)
    return report


# ---------------------------------------------------------------------------------------- presenting


def point_label(point: Mapping[str, Any]) -> str:
    """A sweep point's setting in words: ``weighted, alpha 0.7, minmax, window 100`` (the normaliser only for
    the methods that read it)."""
    parts = [point["fusion"], f"alpha {point['alpha']}"]
    if point.get("normalizer") and point["fusion"] in USES_NORMALIZER:
        parts.append(point["normalizer"])
    if point.get("window") is not None:
        parts.append(f"window {point['window']}")
    return ", ".join(parts)


def hybrid_name(report: Mapping[str, Any]) -> str:
    """What the report's hybrid row is called: ``hybrid default``, or ``hybrid setting of FILE`` for a run with
    ``--config FILE`` (``report["config_file"]``)."""
    name = report.get("config_file")
    return f"hybrid setting of {name}" if name else "hybrid default"


def summary_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    """Table rows ``[method, nDCG@10, Recall@10, MRR@10 (, the same @k)]``: keyword, semantic, hybrid, reranked
    (when the report has it), best."""
    ks = _ks(int(report.get("k", PRIMARY_K)))
    cols = [f"{m}@{k}" for k in ks for m in ("ndcg", "recall", "mrr")]
    config = report["hybrid_config"]
    rows = [["keyword (BM25)", *[report["results"]["keyword"][c] for c in cols]],
            ["semantic", *[report["results"]["semantic"][c] for c in cols]],
            [f"{hybrid_name(report)} ({config['fusion']}, alpha {config['alpha']})",
             *[report["results"]["hybrid"][c] for c in cols]]]
    if report.get("rerank"):
        rerank = report["rerank"]
        rows.append([f"hybrid + rerank top {rerank['depth']} ({rerank['model']})",
                     *[report["results"]["reranked"][c] for c in cols]])
    best = report.get("best")
    if best:
        rows.append([f"{_best_name(report)} ({point_label(best)})", *[best[c] for c in cols]])
    return rows


def _best_name(report: Mapping[str, Any]) -> str:
    """``best sweep`` where the report's best is a sweep point, else ``best`` (a row of the table is best)."""
    def key(point: Mapping[str, Any]) -> tuple:
        return point.get("fusion"), float(point.get("alpha", -1)), point.get("normalizer"), point.get("window")

    best = key(report["best"])
    return "best sweep" if any(key(p) == best for p in report.get("sweep") or ()) else "best"


def summary_header(report: Mapping[str, Any]) -> list[str]:
    """Column names matching ``summary_rows``."""
    ks = _ks(int(report.get("k", PRIMARY_K)))
    names = {"ndcg": "nDCG", "recall": "Recall", "mrr": "MRR"}
    return ["method", *[f"{names[m]}@{k}" for k in ks for m in ("ndcg", "recall", "mrr")]]


def format_table(report: Mapping[str, Any]) -> str:
    """The summary as an aligned text table."""
    header, rows = summary_header(report), summary_rows(report)
    width = max(len(r[0]) for r in [header, *rows])
    lines = [f"{report['dataset']}: {report['queries']} queries, {report['docs']} docs, model {report['model']}",
             header[0].ljust(width) + "".join(f"{h:>11}" for h in header[1:])]
    lines += [r[0].ljust(width) + "".join(f"{v:>11.4f}" for v in r[1:]) for r in rows]
    gap = report.get("gap")
    if gap is not None:
        if gap > TIE:
            lines.append(f"{hybrid_name(report)} is {gap:.4f} nDCG@{PRIMARY_K} below the best point")
        elif gap < -TIE:  # a report whose best was chosen from the sweep alone (before best_point)
            lines.append(f"the best sweep point is {-gap:.4f} nDCG@{PRIMARY_K} below the {hybrid_name(report)}")
        else:
            lines.append(f"no setting beats the {hybrid_name(report)} on nDCG@{PRIMARY_K}")
    return "\n".join(lines)


# Below this many labelled queries the best point's lead is not claimed (the page's band says the same).
MIN_TRUSTED_QUERIES = 30


def format_trust(report: Mapping[str, Any]) -> str:
    """The trust figures as text: the best point's interval and paired difference from the default, the
    ceiling, and the overlap of each pair of rankings ("" when the report has none)."""
    lines = []
    best, metric = report.get("best"), f"ndcg@{PRIMARY_K}"
    if best and "ci95" in best:
        lo, hi = best["ci95"]
        delta = best["delta_vs_default"]
        lines.append(f"{_best_name(report)} point {point_label(best)}: {metric} {best[metric]:.4f} "
                     f"(95% CI {lo:.4f}..{hi:.4f}); vs the {hybrid_name(report)} {delta['mean']:+.4f} "
                     f"(95% CI {delta['ci95'][0]:+.4f}..{delta['ci95'][1]:+.4f}, paired bootstrap over queries)")
        if int(report.get("queries") or 0) < MIN_TRUSTED_QUERIES and not best.get("default"):
            lines.append(f"warning: only {report.get('queries')} queries: too few to say the best point is better "
                         f"(it is the best of {len(report.get('sweep') or ())} sweep points, and with so few queries one "
                         f"of them leads by chance, inside a narrow interval); label at least {MIN_TRUSTED_QUERIES}")
    ceiling = report.get("ceiling")
    if ceiling:
        recall = ceiling["recall"]
        lines.append(f"ceiling: {ceiling['unreachable_queries']} of {report['queries']} queries have a relevant "
                     f"document that neither retriever returns in its {ceiling['window']} candidates; "
                     f"recall within them: keyword {recall['keyword']:.4f}, semantic {recall['semantic']:.4f}")
    for pair, o in (report.get("overlap") or {}).items():
        lines.append(f"overlap {pair}: Jaccard@{PRIMARY_K} {o[f'jaccard@{PRIMARY_K}']:.3f}, RBO@{RBO_P} "
                     f"{o[f'rbo@{RBO_P}']:.3f}, top {PRIMARY_K} shared {o['shared']:.1f} / only left "
                     f"{o['only_left']:.1f} / only right {o['only_right']:.1f}")
    return "\n".join(lines)


def format_split_half(report: Mapping[str, Any]) -> str:
    """``split_half_report`` as text: the setting chosen on half 0 and every figure on half 1."""
    split = split_half_report(report)
    metric = f"ndcg@{PRIMARY_K}"
    chosen, r = split["chosen"], split["results"]
    return "\n".join([
        f"split half: chosen on half 0 ({report['halves'][0]['queries']} queries), reported on half 1 "
        f"({split['queries']} queries), nDCG@{PRIMARY_K}",
        f"  keyword {r['keyword'][metric]:.4f}  semantic {r['semantic'][metric]:.4f}  "
        f"{hybrid_name(report)} {r['hybrid'][metric]:.4f}",
        f"  chosen on half 0: {point_label(chosen)} -> {split['chosen_point'][metric]:.4f}",
        f"  best point of half 1: {point_label(split['best'])} -> "
        f"{split['best'][metric]:.4f} (gap to the {hybrid_name(report)} {split['gap']:.4f})",
    ])


def format_distractors(clean: Mapping[str, Any], mixed: Mapping[str, Any]) -> str:
    """What each list loses when the distractors are added (``distractor_report``) as text."""
    loss = distractor_report(clean, mixed)
    return (f"{mixed['dataset']}: {mixed['docs'] - clean['docs']} distractors; nDCG@{PRIMARY_K} lost: "
            f"keyword {loss['keyword']:.4f}, semantic {loss['semantic']:.4f}, hybrid {loss['hybrid']:.4f} "
            f"(hybrid beyond semantic: {loss['hybrid_excess']:+.4f})")


def markdown_rows(report: Mapping[str, Any]) -> str:
    """The summary as Markdown table rows ``| set | method | nDCG@10 | Recall@10 | MRR@10 |`` (no header)."""
    lines = []
    for row in summary_rows(report):
        values = " | ".join(f"{v:.4f}" for v in row[1:4])
        lines.append(f"| {report['dataset']} ({report['queries']} q) | {row[0]} | {values} |")
    return "\n".join(lines)


def sweep_lines(sweep: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """The sweep's points as curves against alpha: one per fusion method, normaliser and window, named by the
    fusion method and the axes that vary (``weighted zscore w50``), each sorted by alpha."""
    varies = {axis: len({p.get(axis) for p in sweep if axis != "normalizer" or p["fusion"] in USES_NORMALIZER}) > 1
              for axis in ("normalizer", "window")}
    lines: dict[str, list[Mapping[str, Any]]] = {}
    for p in sweep:
        name = p["fusion"]
        if varies["normalizer"] and p["fusion"] in USES_NORMALIZER:
            name += f" {p['normalizer']}"
        if varies["window"]:
            name += f" w{p['window']}"
        lines.setdefault(name, []).append(p)
    return {name: sorted(points, key=lambda p: p["alpha"]) for name, points in lines.items()}


_LINE_COLORS = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777")
# A curve's style: its own colour while the colours last, then the colours again with the next dash, then with the
# next marker: no two curves of a figure look alike. The page sweeps at most 35 curves (4 fusion methods, the
# weighted one at 4 normalisers, each at 5 windows): within colour x dash (48). The baselines are grey, a colour
# no curve takes.
_LINE_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
_LINE_MARKERS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star-triangle-up", "hourglass")
_BASELINE_COLOR, _DEFAULT_COLOR = "#6b7280", "#111827"
_MIN_SPAN = 0.15  # the y axis spans at least this much of nDCG's [0, 1]
_LABEL_ROOM = 0.15  # room below the lowest and above the highest value (a share of their span): two label lines
_LABELS_APART = 0.07  # two baselines closer than this share of the axis would print their labels on each other
_LABEL_LINE = 0.06  # the height of one line of a label, as a share of the axis (a 450-pixel figure)


def line_style(index: int) -> tuple[str, str, str]:
    """(colour, dash, marker symbol) of a figure's ``index``-th curve: distinct for every index below
    8 x 6 x 8 = 384."""
    colors, dashes = len(_LINE_COLORS), len(_LINE_DASHES)
    return (_LINE_COLORS[index % colors], _LINE_DASHES[index // colors % dashes],
            _LINE_MARKERS[index // (colors * dashes) % len(_LINE_MARKERS)])


def y_range(values: Iterable[float]) -> list[float] | None:
    """The y axis of a figure of nDCG values: inside [0, 1], around the values with room for a label below the
    lowest and above the highest, at least ``_MIN_SPAN`` tall (None without a finite value)."""
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    room = _LABEL_ROOM * max(high - low, _MIN_SPAN)
    bottom, top = max(0.0, low - room), min(1.0, high + room)
    if top - bottom < _MIN_SPAN:
        bottom = max(0.0, min(bottom, top - _MIN_SPAN))
        top = min(1.0, max(top, bottom + _MIN_SPAN))
    return [bottom, top]


def baseline_labels(values: Mapping[str, float], label: Callable[[str, float], str],
                    axis: Sequence[float] | None) -> list[tuple[float, str, str]]:
    """The labels of the horizontal baselines as (y, text, "top" or "bottom": the label's edge on the line), each
    drawn under its line, or over it where the axis ends too close below (a baseline at 0): baselines too close
    for two labels (``_LABELS_APART`` of the axis) share one, at the lower line, naming each value on a line of its
    own (narrow enough for a phone)."""
    span = (axis[1] - axis[0]) if axis else 1.0
    apart = _LABELS_APART * span
    order = list(values)
    groups: list[list[str]] = []
    for name in sorted(values, key=lambda n: -values[n]):
        if groups and values[groups[-1][-1]] - values[name] < apart:
            groups[-1].append(name)
        else:
            groups.append([name])
    out = []
    for group in groups:
        y = values[group[-1]]
        room = (y - axis[0]) if axis else y
        under = room >= _LABEL_LINE * span * len(group)
        out.append((y, "<br>".join(label(name, values[name]) for name in sorted(group, key=order.index)),
                    "top" if under else "bottom"))
    return out


def _only(name: str, value: float) -> str:
    return f"{name} only {value:.3f}"


MAX_BANDS = 4


def make_figure(report: Mapping[str, Any], label: Callable[[str, float], str] = _only):
    """Plotly figure: nDCG@10 against alpha, one line per fusion method (and normaliser and window where the
    sweep has several, each in its own colour, or colour and dash) with its 95% bootstrap band (of the
    ``MAX_BANDS`` lines peaking highest when there are more), keyword and
    semantic as grey horizontal lines labelled by ``label(name, value)`` ("keyword only 0.700"; one label for
    both where they are close), the y axis inside [0, 1]."""
    import plotly.graph_objects as go

    metric = f"ndcg@{PRIMARY_K}"
    fig = go.Figure()
    shown: list[float] = []
    drawn: dict[tuple, str] = {}
    lines = sweep_lines(report["sweep"])
    # Past MAX_BANDS lines, the bands of the MAX_BANDS lines that peak highest only: 28 stacked bands (every
    # normaliser and window swept) made one opaque block that hid every line.
    banded = set(sorted(lines, key=lambda n: -max(p[metric] for p in lines[n]))[:MAX_BANDS])
    for index, (name, points) in enumerate(lines.items()):
        color, dash, marker = line_style(index)
        xs, ys = [p["alpha"] for p in points], [p[metric] for p in points]
        # drawn over an equal curve (learned over adaptive): thin, so the one below stays in sight on both sides
        over = drawn.setdefault((tuple(xs), tuple(ys)), name) != name
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name, legendgroup=name,
                                 line={"color": color, "dash": dash, "width": 1 if over else 2},
                                 marker={"color": color, "symbol": marker, "size": 4 if over else 6},
                                 cliponaxis=False))
        shown += ys
        if name in banded and all("ci95" in p for p in points):
            band = [p["ci95"][1] for p in points] + [p["ci95"][0] for p in points][::-1]
            fig.add_trace(go.Scatter(x=xs + xs[::-1], y=band, mode="lines", fill="toself", fillcolor=color,
                                     opacity=0.18, line={"width": 0}, hoverinfo="skip", showlegend=False,
                                     legendgroup=name, name=f"{name} 95% band"))
            shown += band
    baselines = {name: float(report["results"][name][metric]) for name in ("keyword", "semantic")}
    for name, dash in (("keyword", "dash"), ("semantic", "dot")):
        fig.add_hline(y=baselines[name], line_dash=dash, line_color=_BASELINE_COLOR, line_width=1.5)
    config = report["hybrid_config"]
    marks = [(report["results"]["hybrid"][metric], "star", 14, f"default ({config['fusion']})")]
    if report.get("rerank"):
        marks.append((report["results"]["reranked"][metric], "diamond", 12,
                      f"default + rerank top {report['rerank']['depth']}"))
    for value, symbol, size, name in marks:
        fig.add_trace(go.Scatter(x=[config["alpha"]], y=[value], mode="markers", marker_symbol=symbol,
                                 marker_size=size, marker_color=_DEFAULT_COLOR, name=name, cliponaxis=False))
    axis = y_range([*shown, *baselines.values(), *(value for value, *_ in marks)])
    for y, words, edge in baseline_labels(baselines, label, axis):
        fig.add_annotation(text=words, x=1, xref="x domain", xanchor="right", y=y, yref="y", yanchor=edge,
                           showarrow=False)
    fig.update_layout(title=f"{report['dataset']}: nDCG@{PRIMARY_K} against alpha ({report['model']})",
                      xaxis_title="alpha (semantic weight)", yaxis_title=f"nDCG@{PRIMARY_K}",
                      template="plotly_white")
    if axis is not None:
        fig.update_yaxes(range=axis)
    return fig


# ---------------------------------------------------------------------------------------- command line


_positive = whole_number(1)
_limit = whole_number(1, hint="leave the option out for no limit")


def _alphas(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--alphas takes comma-separated numbers, got {text!r}") from None
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"--alphas must be numbers in [0, 1], got {text!r}")
    return values


def _normalizers(text: str) -> tuple[str, ...]:
    values = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if text.strip() == "all":
        return tuple(NORMALIZERS)
    unknown = [v for v in values if v not in NORMALIZERS]
    if not values or unknown:
        raise argparse.ArgumentTypeError(f"--normalizers takes all or comma-separated names from "
                                         f"{', '.join(NORMALIZERS)}, got {text!r}")
    return values


def _windows(text: str) -> tuple[int, ...]:
    try:
        values = tuple(dict.fromkeys(int(v) for v in text.split(",") if v.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--windows takes comma-separated whole numbers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"--windows must be whole numbers >= 1 (candidates per retriever), "
                                         f"got {text!r}")
    return values


def _tokenizer_specs(text: str) -> tuple[str, ...]:
    specs = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not specs:
        raise argparse.ArgumentTypeError("give at least one tokenizer spec, e.g. search or search,search+nofold")
    return specs


def format_tokenizers(reports: Sequence[Mapping[str, Any]]) -> str:
    """One line per tokenizer: keyword and hybrid nDCG@10 and the count of each flagged kind of query (semantic
    is left out: the tokenizer does not touch it). Columns are as wide as their headers, two spaces apart."""
    metric = f"ndcg@{PRIMARY_K}"
    header = ["tokenizer", f"keyword {metric}", f"hybrid {metric}", *QUERY_FLAGS]
    rows = [[r["tokenizer"], f"{r['results']['keyword'][metric]:.4f}", f"{r['results']['hybrid'][metric]:.4f}",
             *(str(r["flagged"][f]) for f in QUERY_FLAGS)] for r in reports]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join([row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))])
                     for row in [header, *rows])


def format_per_query(report: Mapping[str, Any]) -> str:
    """Every query: id, flag, keyword hits, nDCG@10 of each list, tokens and text (tab-separated)."""
    names = [key for key in report["per_query"][0] if key.endswith(f"ndcg@{PRIMARY_K}")] if report["per_query"] else []
    lines = ["\t".join(["id", "flag", "keyword hits", *names, "tokens", "query"])]
    for q in report["per_query"]:
        lines.append("\t".join([q["id"], q["flag"] or "-", str(q["keyword_hits"]), *(f"{q[n]:.4f}" for n in names),
                                " ".join(q["tokens"]), q["query"]]))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m hybrid.evaluate``."""
    p = argparse.ArgumentParser(prog="python -m hybrid.evaluate",
                                description="Keyword vs semantic vs hybrid ranking quality on a labelled set.")
    p.add_argument("--data", help="folder with corpus.jsonl, queries.jsonl, qrels.tsv")
    p.add_argument("--train-weight", nargs="+", default=None, metavar="DIR",
                   help="train the learned fusion weight on these labelled set folders (k-fold cross-validated) "
                        "and write it to --out; --max-queries and --max-docs cut each set")
    p.add_argument("--folds", type=int, default=None, help="cross-validation folds of --train-weight (default 5)")
    p.add_argument("--weight-model", default=None, metavar="FILE",
                   help="the weight model 'learned' fusion uses (default: the packaged one)")
    add_config_option(p)  # the default setting every sweep point is compared with, the tokenizer and the model
    p.add_argument("--model", default=None, help="auto (default), a packaged alias, a hub id or a local folder")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | mps")
    p.add_argument("--k", type=_positive, default=PRIMARY_K, help=f"cut-off reported besides @10 (default {PRIMARY_K})")
    p.add_argument("--fusion", default="all", help=f"fusion methods to sweep: all or one of {', '.join(FUSERS)}")
    p.add_argument("--alphas", type=_alphas, default=DEFAULT_ALPHAS, help="comma-separated semantic weights")
    p.add_argument("--normalizers", type=_normalizers, default=None, metavar="NAME[,NAME...]",
                   help=f"normalisers to sweep for weighted fusion: all or some of {', '.join(NORMALIZERS)} "
                        f"(default: the default setting's, {DEFAULT_SETTINGS.normalizer})")
    p.add_argument("--windows", type=_windows, default=None, metavar="N[,N...]",
                   help=f"candidate windows to sweep (candidates each retriever hands fusion), e.g. 20,50,100,200 "
                        f"(default: the default setting's, {DEFAULT_SETTINGS.window})")
    p.add_argument("--max-queries", type=_limit, default=None, help="evaluate the first N queries only")
    p.add_argument("--max-docs", type=_limit, default=None,
                   help="keep the judged documents of the evaluated queries plus random others up to N")
    p.add_argument("--rerank", type=int, default=None, metavar="N",
                   help="also rerank the first N hybrid hits of each query (default 20 with --reranker, else 0)")
    p.add_argument("--reranker", default=None, metavar="NAME",
                   help="reranker for --rerank: auto (a CUDA GPU's default), qwen3-0.6b | qwen3-4b | qwen3-8b, a hub "
                        "id or a local folder")
    p.add_argument("--no-instruction", action="store_true",
                   help="embed queries without the model's query instruction/prefix")
    p.add_argument("--document-prompt", default=None, metavar="NAME",
                   help="prompt for documents: packaged e5 'query' (default) or 'passage'; others: a stored prompt")
    p.add_argument("--split-sentences", action="store_true",
                   help="index sentences; a paragraph is found when any of its sentences is")
    p.add_argument("--split-half", action="store_true",
                   help="also choose the best fusion and alpha on one half of the queries and report the other")
    p.add_argument("--distractors", default=None, metavar="FOLDER",
                   help="also evaluate, in memory, with another set's entries added as unjudged distractors "
                        "(a mixed-language knowledge base) and print what each list loses")
    p.add_argument("--distractor-script", default="en", choices=sorted(SCRIPTS),
                   help="which of the other set's entries are added: zh (Chinese) or en (alphabetic)")
    p.add_argument("--max-distractors", type=_limit, default=None, help="add at most N distractors (seeded sample)")
    p.add_argument("--tokenizer", type=_tokenizer_specs, default=None, metavar="SPEC[,SPEC...]",
                   help="keyword tokenizers to compare, like any other axis: search | precise, each optionally "
                        "+nofold (no Traditional/Simplified folding) and +dict (with --user-dict); e.g. "
                        "search,search+nofold,precise+dict. The first is the main report (default: --config's "
                        "tokenizer, else search)")
    p.add_argument("--user-dict", default=None, metavar="FILE",
                   help="jieba user dictionary (words that must stay whole) for the +dict tokenizers")
    p.add_argument("--per-query", action="store_true",
                   help="print every query's tokens, keyword hits, nDCG@10 and flag (no keyword token / no match)")
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default: the user cache)")
    p.add_argument("--store", default=None, metavar="URI",
                   help="index into and search a Milvus store (milvus:FILE.db, milvus+http://HOST:PORT) "
                        "instead of memory; --collection names the collection (default: the set's name)")
    p.add_argument("--collection", default=None, help="Milvus collection (with --store)")
    p.add_argument("--markdown", action="store_true", help="also print the summary as Markdown table rows")
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--plot", default=None, help="write the nDCG@10-vs-alpha curve here (HTML)")
    return p


def _tqdm_progress():
    from tqdm import tqdm

    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit=" q" if stage != "documents" else " doc",
                                     file=sys.stderr, leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


def weight_rows(labelled: LabelledSet, embedder: Embedder, cache: EmbeddingCache | None = None,
                alphas: Sequence[float] = DEFAULT_ALPHAS, tokenizer: Tokenizer | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index ``labelled`` and give every query's ``weight_row``: features (n, features) and nDCG@10 (n, alphas)."""
    engine = HybridEngine(list(labelled.documents), embedder=embedder, cache=cache, tokenizer=tokenizer,
                          progress=None if progress is None else (lambda d, t: progress("documents", d, t)))
    texts = [t for _, t in labelled.queries]
    vectors = embed_queries(embedder, texts, cache)
    id_of = {engine.store.key(d.id): d.id for d in labelled.documents}
    parents = labelled.parents

    def ranking(keys: np.ndarray) -> list[str]:
        return list(dict.fromkeys(parents.get(id_of[k], id_of[k]) for k in keys.tolist()))

    xs, ys = [], []
    for i, ((qid, _), r) in enumerate(zip(labelled.queries, _retrieved(engine, texts, vectors, engine.settings.window))):
        x, y = weight_row(r, labelled.qrels[qid], ranking, alphas)
        xs.append(x)
        ys.append(y)
        if progress is not None:
            progress("ranking", i + 1, len(texts))
    return np.array(xs).reshape(len(xs), -1), np.array(ys).reshape(len(ys), len(alphas))


def _output_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with an evaluation's ``--out`` and ``--plot``, found before the run (None: nothing): each
    must be a writable file, neither may be the other, nor one of the files the run reads (the labelled set's,
    the distractors', the weight model, the user dictionary), which would be overwritten."""
    outputs = [(flag, path, example) for flag, path, example in
               (("--out", args.out, "report.json"), ("--plot", args.plot, "curve.html")) if path]
    for flag, path, example in outputs:
        if problem := write_problem(path, example):
            return f"{problem} ({flag} is written after the run)"
    read = {}
    for flag, folder in (("--data", args.data), ("--distractors", args.distractors)):
        for name in LABELLED_FILES if folder else ():
            read[(Path(folder) / name).resolve()] = f"{flag}'s {name}"
    for flag in ("weight_model", "user_dict"):
        if getattr(args, flag, None):
            read[Path(getattr(args, flag)).resolve()] = f"the {'--' + flag.replace('_', '-')} file"
    if len(outputs) == 2 and Path(args.out).resolve() == Path(args.plot).resolve():
        return f"--out and --plot are the same file ({args.out}); give each its own"
    for flag, path, _ in outputs:
        if (what := read.get(Path(path).resolve())):
            return f"{flag} {path} is {what}, which this run reads: writing there would overwrite it; write elsewhere"
    return None


def _train_weight_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with ``--train-weight``'s arguments, found before any embedding (None: nothing)."""
    if args.folds < 2:
        return f"--folds must be at least 2 (cross-validation needs a part to test on), got {args.folds}"
    try:
        weight_model.check_output(args.out)
    except weight_model.WeightModelError as exc:
        return str(exc)
    out = Path(args.out).resolve()
    names: dict[str, str] = {}
    for folder in args.train_weight:
        if any((Path(folder) / f).resolve() == out for f in LABELLED_FILES):
            return f"--out {args.out} is one of the training set's own files; write the model elsewhere"
        name = Path(folder).resolve().name
        if name in names:
            same = Path(folder).resolve() == Path(names[name]).resolve()
            return (f"{folder} is given twice" if same else
                    f"{names[name]} and {folder} are both named {name!r}; the model keeps each set by its folder's "
                    "name: copy one under another name")
        names[name] = folder
    return None


def train_weight_main(args: argparse.Namespace) -> int:
    """``--train-weight``: collect every set's rows, cross-validate, print the gain and write the model."""
    from .semantic import ModelLoadError, load_embedder

    if not args.out:
        print("error: --train-weight needs --out FILE (where the model is written)", file=sys.stderr)
        return 2
    problem = _train_weight_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        labelled_sets = []
        for folder in args.train_weight:  # every set is read (and checked) before anything is embedded
            labelled = load_labelled_set(folder, max_queries=args.max_queries)
            labelled_sets.append(subset_corpus(labelled, args.max_docs) if args.max_docs is not None else labelled)
        weight_model.check_folds(sum(len(s.queries) for s in labelled_sets), args.folds)
        loaded = load_embedder(args.model or "auto", device=args.device, use_instruction=not args.no_instruction,
                               document_prompt=args.document_prompt)
        cache = EmbeddingCache(args.cache_dir)
        xs, ys, sets = [], [], {}
        for labelled in labelled_sets:
            x, y = weight_rows(labelled, loaded.embedder, cache, progress=_tqdm_progress())
            xs.append(x)
            ys.append(y)
            sets[labelled.name] = len(labelled.queries)
        provenance = {"sets": sets, "model": loaded.embedder.name, "alpha_grid": "adaptive",
                      "trained": time.strftime("%Y-%m-%d", time.gmtime()),
                      "command": "python -m hybrid.evaluate --train-weight " + " ".join(
                          Path(f).name for f in args.train_weight)
                      + (f" --max-queries {args.max_queries}" if args.max_queries else "")
                      + (f" --max-docs {args.max_docs}" if args.max_docs else "")}
        groups = [name for name, x in zip(sets, xs) for _ in range(len(x))]
        result = weight_model.train(np.concatenate(xs), np.concatenate(ys), DEFAULT_ALPHAS,
                                    DEFAULT_SETTINGS.alpha, folds=args.folds, provenance=provenance, groups=groups)
    except (LabelledSetError, KnowledgeBaseError, ModelLoadError, ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        result.model.save(args.out)
    except (OSError, weight_model.WeightModelError) as exc:
        reason = exc.strerror or exc if isinstance(exc, OSError) else exc
        print(f"error: cannot write the weight model to {args.out}: {reason} (a file already there is kept)",
              file=sys.stderr)
        return 1
    if result.warning:
        print(f"warning: {result.warning}", file=sys.stderr)
    n = len(result.learned)
    print(f"trained on {n} queries ({', '.join(f'{k}: {v}' for k, v in sets.items())}); {args.folds}-fold "
          f"cross-validated nDCG@{PRIMARY_K}: learned {result.learned.mean():.4f}, default (adaptive, alpha "
          f"{DEFAULT_SETTINGS.alpha}) {result.default.mean():.4f}, gain {round(result.gain, 4) + 0.0:+.4f} "
          f"(± {2 * result.stderr:.4f}, 2 standard errors)")
    print(weight_model.fixed_alpha_lines(result, DEFAULT_SETTINGS.alpha, several_sets=len(sets) > 1))
    print(f"wrote {args.out}; use it with --weight-model {args.out} (fusion 'learned')")
    advice = weight_model.advice(result, DEFAULT_SETTINGS.alpha)
    if advice:
        print(f"note: {advice}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.train_weight:
        if args.data:
            print(f"error: --train-weight trains on the folders it names; --data {args.data} is for an evaluation "
                  "run. Add the folder to --train-weight, or evaluate in a second run with --data and "
                  "--weight-model", file=sys.stderr)
            return 2
        args.folds = 5 if args.folds is None else args.folds
        return train_weight_main(args)
    if args.folds is not None:
        print("error: --folds sets the cross-validation of --train-weight; this run trains nothing (drop --folds, "
              "or add --train-weight FOLDER ... --out model.json)", file=sys.stderr)
        return 2
    if not args.data:
        print("error: give --data FOLDER (a labelled set) or --train-weight FOLDER [FOLDER ...]", file=sys.stderr)
        return 2
    fusions = list(FUSERS) if args.fusion == "all" else [args.fusion]
    if args.fusion != "all" and args.fusion not in FUSERS:
        print(f"error: unknown --fusion {args.fusion!r}; choose all or one of {', '.join(FUSERS)}", file=sys.stderr)
        return 2
    if (problem := _output_problem(args)):
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.weight_model is not None:
        if "learned" not in fusions:
            print(f"error: --weight-model is used only by fusion 'learned', and --fusion {args.fusion} leaves it out; "
                  "add --fusion learned (or all), or drop --weight-model", file=sys.stderr)
            return 2
        try:
            weight_model.use(weight_model.given_path(args.weight_model))
        except weight_model.WeightModelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    from .semantic import ModelLoadError, load_embedder

    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rerank = args.rerank if args.rerank is not None else (config.settings.rerank if args.reranker else 0)
    if rerank < 0:
        print(f"error: --rerank must be >= 0, got {rerank}", file=sys.stderr)
        return 2
    mixed = None
    try:
        labelled = load_labelled_set(args.data, max_queries=args.max_queries)
        if args.max_docs is not None:
            labelled = subset_corpus(labelled, args.max_docs)
        if args.split_sentences:
            labelled = split_into_sentences(labelled)
        loaded = load_embedder(config.model, device=args.device, use_instruction=not args.no_instruction,
                               document_prompt=args.document_prompt)
        if loaded.fallback_reason:
            print(f"note: {loaded.fallback_reason}", file=sys.stderr)
        reranker = None
        if rerank:
            from .rerank import load_reranker

            loaded_reranker = load_reranker(args.reranker or "auto", device=args.device)
            if loaded_reranker.reranker is None:
                raise ValueError(f"--rerank {rerank} needs a reranker: {loaded_reranker.reason}")
            reranker = loaded_reranker.reranker
        cache = EmbeddingCache(args.cache_dir)
        specs = ([config.tokenizer] if args.tokenizer is None else
                 [TokenizerSettings.parse(spec, args.user_dict) for spec in args.tokenizer])
        tokenizers = [Tokenizer.from_settings(spec) for spec in specs]
        reports = []
        for tokenizer in tokenizers:
            store = None
            if args.store:
                from .store import open_store

                collection = args.collection or "".join(c if c.isalnum() else "_" for c in labelled.name)
                if len(tokenizers) > 1:  # a collection is tokenised one way: one per tokenizer
                    collection += "_" + "".join(c if c.isalnum() else "_" for c in tokenizer.settings.label)
                store = open_store(args.store, collection=collection, tokenizer=tokenizer)
            try:
                reports.append(run(labelled, loaded.embedder, cache, k=args.k, fusions=fusions, alphas=args.alphas,
                                   progress=_tqdm_progress(), store=store, reranker=reranker, rerank=rerank,
                                   tokenizer=tokenizer, settings=config.settings, normalizers=args.normalizers,
                                   windows=args.windows))
            finally:
                if store is not None:
                    store.close()
        report = reports[0]
        if args.distractors:  # the mixed knowledge base is built in memory
            other = load_labelled_set(args.distractors)
            mixed = run(with_distractors(labelled, other, args.distractor_script, args.max_distractors),
                        loaded.embedder, cache, k=args.k, fusions=fusions, alphas=args.alphas,
                        progress=_tqdm_progress(), tokenizer=tokenizers[0], settings=config.settings,
                        normalizers=args.normalizers, windows=args.windows)
        if args.split_half:
            split_half_report(report)  # fails early, with its message, when a half is empty
    except (LabelledSetError, KnowledgeBaseError, ModelLoadError, ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.config:  # its hybrid row is the file's setting, not the built-in default
        for r in (report, *reports[1:], *([mixed] if mixed is not None else [])):
            r["config_file"] = Path(args.config).name
    if args.store:
        report["store"] = f"{args.store} ({collection})"
    report["query_instruction"] = loaded.embedder.query_instruction
    report["split_sentences"] = args.split_sentences
    if "learned" in fusions:
        used = weight_model.active()
        report["weight_model"] = {"file": str(Path(args.weight_model).resolve()) if args.weight_model else "packaged",
                                  "trained_on": dict(used.provenance.get("sets") or {}),
                                  "embedding_model": used.provenance.get("model")}
        for note in weight_model.mismatch_notes(used, loaded.embedder.name, labelled.name):
            print(f"note: {note}", file=sys.stderr)
    # the setting the report was run with (its default point), so `hybrid.config export --report` carries it out
    report["config"] = replace(config, tokenizer=tokenizers[0].settings).to_dict()
    print(format_table(report))
    trust = format_trust(report)
    if trust:
        print(trust)
    rerank_note = f", of which reranking {report['rerank']['seconds']}s" if report.get("rerank") else ""
    print(f"(embedding {report['embed_seconds']}s, ranking {report['rank_seconds']}s{rerank_note})")
    print(f"tokenizer {report['tokenizer']}: " + ", ".join(f"{n} queries: {f}" for f, n in report["flagged"].items()))
    if len(reports) > 1:
        print(format_tokenizers(reports))
        report["tokenizers"] = [{key: r[key] for key in ("tokenizer", "results", "best", "flagged")} for r in reports]
    if args.per_query:
        print(format_per_query(report))
    if args.split_half:
        report["split_half"] = split_half_report(report)
        print(format_split_half(report))
    if mixed is not None:
        print(format_table(mixed))
        print(format_distractors(report, mixed))
        report["distractors"] = {"dataset": mixed["dataset"], "docs": mixed["docs"], "results": mixed["results"],
                                 "gap": mixed["gap"], "loss": distractor_report(report, mixed)}
    if args.markdown:
        print(markdown_rows(report))
    if args.out:
        try:
            write_file(args.out, json.dumps(report, ensure_ascii=False, indent=1))
        except OSError as exc:
            print(f"error: cannot write the report to {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    if args.plot:
        try:
            write_file(args.plot, make_figure(report).to_html(include_plotlyjs=True))
        except OSError as exc:
            print(f"error: cannot write the plot to {args.plot}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
