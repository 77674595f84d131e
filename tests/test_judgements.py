"""hybrid.judgements: judging, nDCG on judged hits against figures computed by hand, coverage, and the zip the page
downloads and reads back (round trip, malformed and hostile files)."""

from __future__ import annotations

import io
import math
import zipfile

import pytest

from hybrid import judgements as judging
from hybrid.evaluate import LABELLED_FILES, parse_labelled_set


def test_judge_returns_a_new_mapping_and_clears_with_none():
    first = judging.judge({}, " 电脑黑屏 ", "重启电脑", 2)
    assert first == {"电脑黑屏": {"重启电脑": 2}}
    second = judging.judge(first, "电脑黑屏", "换电池", 0)
    assert first == {"电脑黑屏": {"重启电脑": 2}}  # the caller's mapping is left alone
    assert second == {"电脑黑屏": {"重启电脑": 2, "换电池": 0}}
    assert judging.judge(second, "电脑黑屏", "重启电脑", 1)["电脑黑屏"]["重启电脑"] == 1
    cleared = judging.judge(judging.judge(second, "电脑黑屏", "换电池", None), "电脑黑屏", "重启电脑", None)
    assert cleared == {}  # a query without judgements is dropped
    assert judging.count(second) == 2


@pytest.mark.parametrize("query,grade", [("", 1), ("   ", 1), ("x" * (judging.MAX_QUERY_CHARS + 1), 1),
                                         ("q", 3), ("q", -1), ("q", "2")])
def test_judge_refuses_what_a_page_never_sends(query, grade):
    with pytest.raises(judging.JudgementsError) as caught:
        judging.judge({}, query, "doc", grade)
    assert caught.value.key in ("judge_bad_query", "judge_bad_grade")


def test_a_session_holds_at_most_max_judgements(monkeypatch):
    monkeypatch.setattr(judging, "MAX_JUDGEMENTS", 3)
    full = {"a": {"1": 1, "2": 1}, "b": {"3": 0}}
    with pytest.raises(judging.JudgementsError, match="already holds 3"):
        judging.judge(full, "b", "4", 1)
    assert judging.judge(full, "a", "1", 2)["a"]["1"] == 2  # changing a grade is always possible


def test_judged_queries_hold_a_bounded_number_of_characters(monkeypatch):
    """A zip of a few KB named a query of 45 million characters, which every session it was loaded into held
    (44 MB each): a judged query is as long as the page allows, and all of them together are bounded."""
    files = {"corpus.jsonl": '{"id": "d1", "text": "t"}\n',
             "queries.jsonl": '{"id": "q1", "text": "%s"}\n' % ("a" * (judging.MAX_QUERY_CHARS + 1)),
             "qrels.tsv": "q1\td1\t1\n"}
    with pytest.raises(judging.JudgementsError, match="query 'q1' of queries.jsonl has 2,001 characters") as caught:
        judging.from_files(files)
    assert caught.value.key == "judge_long_query"
    monkeypatch.setattr(judging, "MAX_QUERIES_CHARS", 5)
    files = {"corpus.jsonl": '{"id": "d1", "text": "t"}\n',
             "queries.jsonl": '{"id": "q1", "text": "abc"}\n{"id": "q2", "text": "def"}\n',
             "qrels.tsv": "q1\td1\t1\nq2\td1\t1\n"}
    with pytest.raises(judging.JudgementsError) as caught:
        judging.from_files(files)
    assert caught.value.key == "judge_queries_too_long"
    held = judging.judge({}, "abc", "t", 1)
    with pytest.raises(judging.JudgementsError) as caught:
        judging.judge(held, "def", "t", 1)
    assert caught.value.key == "judge_queries_too_long"
    assert judging.judge(held, "abc", "u", 2) == {"abc": {"t": 1, "u": 2}}  # a held query takes more judgements
    assert judging.judge(held, "abc", "t", None) == {}  # and clearing is always possible


def test_judged_ndcg_by_hand():
    grades = {"A": 2, "B": 1, "C": 0, "D": 1}  # D is judged but not shown: it counts in the ideal ranking
    ranking = ["C", "A", "X", "B"]
    dcg = 2 / math.log2(3) + 1 / math.log2(5)
    ideal = 2 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert judging.judged_ndcg(ranking, grades) == pytest.approx(dcg / ideal)
    assert judging.judged_ndcg(["A", "B", "D"], grades) == pytest.approx(1.0)
    assert judging.judged_ndcg(ranking, grades, k=1) == pytest.approx(0.0)
    assert judging.judged_ndcg(ranking, {"C": 0}) is None  # nothing relevant: undefined, not 0


def test_coverage_counts_distinct_shown_documents_and_scores_each_column():
    grades = {"A": 2, "C": 0}
    cov = judging.coverage({"keyword": ["A", "B"], "semantic": ["C", "A", "D"], "hybrid": ["A", "C"]}, grades)
    assert (cov.shown, cov.unjudged) == (4, 2)  # B and D
    assert cov.ndcg["keyword"] == pytest.approx(1.0)
    assert cov.ndcg["semantic"] == pytest.approx((2 / math.log2(3)) / 2)
    assert judging.coverage({"keyword": ["A"]}, {}).ndcg == {"keyword": None}
    # a line the knowledge base holds twice is two shown entries (the page shows two cards), judged together
    twice = judging.coverage({"keyword": ["A", "A"], "semantic": ["A", "B"]}, {"A": 1},
                             ids={"keyword": ["d1", "d2"], "semantic": ["d2", "d3"]})
    assert (twice.shown, twice.unjudged) == (3, 1)


def test_files_round_trip_and_read_as_a_labelled_set():
    judged = {"电脑黑屏": {"重启电脑": 2, "换电池": 0}, "how to refund": {"Refund policy: 30 days": 1},
              "无相关": {"重启电脑": 0}}
    kb = ["重启电脑", "换电池", "Refund policy: 30 days", "其他条目"]
    files = judging.to_files(judged, kb)
    assert files["qrels.tsv"].splitlines() == ["q1\td1\t2", "q1\td2\t0", "q2\td3\t1", "q3\td1\t0"]
    again, documents = judging.from_files(files)
    assert again == judged and documents == kb
    labelled = parse_labelled_set(*(files[f] for f in LABELLED_FILES))
    assert [t for _, t in labelled.queries] == ["电脑黑屏", "how to refund"]  # 无相关 has nothing relevant
    assert len(labelled.documents) == 4
    zipped = judging.to_zip(judged, kb)
    assert judging.from_files(judging.read_zip(zipped)) == (judged, kb)


def test_a_judged_document_no_longer_in_the_knowledge_base_is_kept():
    files = judging.to_files({"q": {"gone": 2}}, ["kept"])
    assert judging.from_files(files) == ({"q": {"gone": 2}}, ["kept", "gone"])


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_hostile_and_broken_zips_are_refused_with_their_reason():
    good = judging.to_files({"q": {"d": 1}}, ["d"])
    with pytest.raises(judging.JudgementsError) as caught:
        judging.read_zip(b"not a zip")
    assert caught.value.key == "judge_not_zip"
    with pytest.raises(judging.JudgementsError) as caught:
        judging.read_zip(_zip({"corpus.jsonl": good["corpus.jsonl"].encode()}))
    assert caught.value.key == "judge_zip_missing" and "queries.jsonl" in str(caught.value)
    bomb = _zip({**{n: c.encode() for n, c in good.items()}, "qrels.tsv": b"0" * 3_000_000})
    assert len(bomb) < 20_000
    with pytest.raises(judging.JudgementsError) as caught:
        judging.read_zip(bomb, max_bytes=1_000_000)
    assert caught.value.key == "judge_zip_size"
    # names inside a folder (or climbing out of one) are read by their last part only: nothing is extracted
    nested = _zip({f"../../x/{n}": c.encode() for n, c in good.items()})
    assert judging.from_files(judging.read_zip(nested)) == ({"q": {"d": 1}}, ["d"])


@pytest.mark.parametrize("qrels,key", [("q1\td9\t1\n", "judge_unknown_id"), ("q9\td1\t1\n", "judge_unknown_id"),
                                       ("q1\td1\t5\n", "judge_bad_grade"), ("q1\td1\tx\n", "judge_bad_line")])
def test_malformed_qrels_say_which_line(qrels, key):
    files = {"corpus.jsonl": '{"id": "d1", "text": "t"}\n', "queries.jsonl": '{"id": "q1", "text": "q"}\n',
             "qrels.tsv": qrels}
    with pytest.raises(judging.JudgementsError) as caught:
        judging.from_files(files)
    assert caught.value.key == key and "line 1" in str(caught.value)


def test_beir_headers_and_trec_columns_are_read():
    files = {"corpus.jsonl": '{"_id": "d1", "text": "t"}\n', "queries.jsonl": '{"_id": "q1", "text": "q"}\n',
             "qrels.tsv": "query-id\tcorpus-id\tscore\nq1\t0\td1\t2\n"}
    assert judging.from_files(files) == ({"q": {"t": 2}}, ["t"])
