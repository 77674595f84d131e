import math

import numpy as np
import pytest

from hybrid.keyword import BM25Index, lucene_idf

CORPUS = [
    ["苹果", "水果", "好吃"],
    ["苹果", "手机", "苹果", "发布"],
    ["香蕉", "水果"],
    ["法国", "首都", "巴黎"],
]


def reference_bm25(corpus, query, k1=1.2, b=0.75):
    """Lucene BM25 written out term by term, independently of the index."""
    n = len(corpus)
    avgdl = sum(len(d) for d in corpus) / n
    scores = []
    for doc in corpus:
        s = 0.0
        for q in query:
            df = sum(1 for d in corpus if q in d)
            if df == 0 or q not in doc:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = doc.count(q)
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avgdl))
        scores.append(s)
    return scores


def test_hand_computed_score():
    index = BM25Index(CORPUS)
    # doc 0 for "香蕉"? absent. doc 2 for "香蕉": df=1, N=4, avgdl=3, dl=2, tf=1.
    idf = math.log(1 + (4 - 1 + 0.5) / 1.5)
    expected = idf * 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / 3))
    assert index.get_scores(["香蕉"])[2] == pytest.approx(expected)


@pytest.mark.parametrize("query", [["苹果"], ["苹果", "水果"], ["巴黎", "苹果", "苹果"], ["手机", "发布", "x"]])
@pytest.mark.parametrize("k1,b", [(1.2, 0.75), (2.0, 0.3), (0.5, 1.0), (1.2, 0.0)])
def test_scores_match_independent_formula(query, k1, b):
    index = BM25Index(CORPUS)
    np.testing.assert_allclose(index.get_scores(query, k1=k1, b=b), reference_bm25(CORPUS, query, k1, b), rtol=1e-6)


def test_idf_never_negative_even_for_term_in_every_document():
    index = BM25Index([["a", "b"], ["a"], ["a", "c"]])
    assert lucene_idf(3, 3) > 0
    assert (index.get_scores(["a"]) > 0).all()


def test_unmatched_documents_are_absent():
    index = BM25Index(CORPUS)
    result = index.search(["水果"], top=10)
    assert sorted(result.docs.tolist()) == [0, 2]
    assert (result.scores > 0).all()
    assert index.search(["不存在"], top=10).docs.size == 0


def test_search_orders_best_first_and_truncates():
    index = BM25Index(CORPUS)
    result = index.search(["苹果"], top=1)
    assert result.docs.tolist() == [1]  # tf 2 beats tf 1
    full = index.search(["苹果", "水果"], top=10)
    assert list(full.scores) == sorted(full.scores, reverse=True)


def test_add_replace_remove_match_fresh_build():
    index = BM25Index(CORPUS[:2])
    index.add(CORPUS[2:])
    np.testing.assert_allclose(index.get_scores(["水果"]), BM25Index(CORPUS).get_scores(["水果"]))
    index.replace(0, ["梨", "水果"])
    changed = [["梨", "水果"]] + CORPUS[1:]
    np.testing.assert_allclose(index.get_scores(["水果", "梨"]), BM25Index(changed).get_scores(["水果", "梨"]))
    index.remove([1])
    rest = [changed[0]] + changed[2:]
    np.testing.assert_allclose(index.get_scores(["水果", "梨"]), BM25Index(rest).get_scores(["水果", "梨"]))
    assert len(index) == 3


def test_empty_index_and_empty_documents():
    assert BM25Index().search(["a"], top=5).docs.size == 0
    index = BM25Index([[], ["a"]])
    assert index.search(["a"], top=5).docs.tolist() == [1]


def test_matched_tokens_in_query_order_without_duplicates():
    index = BM25Index(CORPUS)
    assert index.matched_tokens(0, ["好吃", "香蕉", "苹果", "苹果"]) == ("好吃", "苹果")


def test_top10_agrees_with_rank_bm25_when_idf_positive():
    rank_bm25 = pytest.importorskip("rank_bm25")
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    corpus = [list(rng.choice(vocab, size=rng.integers(5, 30), p=None)) for _ in range(2000)]
    query = ["w3", "w77", "w150"]
    ours = BM25Index(corpus).search(query, top=10)
    ref = rank_bm25.BM25Okapi(corpus, k1=1.2, b=0.75).get_scores(query)
    # Rare terms: both idf variants are positive and monotone in df, so rankings agree closely.
    ref_top = set(np.argsort(-ref)[:10].tolist())
    assert len(ref_top & set(ours.docs.tolist())) >= 8


def test_ties_keep_document_order_at_the_cut():
    index = BM25Index([["a"], ["b"], ["a"], ["a"], ["a"]])
    assert index.search(["a"], top=2).docs.tolist() == [0, 2]
    assert index.search(["a"], top=10).docs.tolist() == [0, 2, 3, 4]


@pytest.mark.parametrize("share", [0.0, 1.0])  # force the dense, then the sorted accumulation
def test_both_accumulation_paths_match_the_formula(monkeypatch, share):
    import hybrid.keyword as keyword

    monkeypatch.setattr(keyword, "_SPARSE_SHARE", share)
    rng = np.random.default_rng(1)
    vocab = [f"w{i}" for i in range(40)]
    corpus = [list(rng.choice(vocab, size=rng.integers(1, 12))) for _ in range(300)]
    index = BM25Index(corpus)
    for query in (["w1", "w2", "w2", "w39"], ["w5"], ["w7", "nothing"]):
        expected = reference_bm25(corpus, query)
        np.testing.assert_allclose(index.get_scores(query), expected, rtol=1e-9)
        result = index.search(query, top=15)
        want = sorted(range(len(corpus)), key=lambda i: (-expected[i], i))
        want = [i for i in want if expected[i] > 0][:15]
        assert result.docs.tolist() == want


def test_replace_and_remove_keep_vocabulary_of_other_documents():
    index = BM25Index(CORPUS)
    index.replace(3, ["新", "词"])
    assert index.doc_freq("巴黎") == 0 and index.doc_freq("新") == 1
    index.remove([0, 2])
    assert len(index) == 2 and index.doc_freq("水果") == 0 and index.doc_freq("苹果") == 1
    assert index.matched_tokens(1, ["词", "苹果"]) == ("词",)
