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
    doc_freq = {q: sum(1 for d in corpus if q in d) for q in set(query)}
    scores = []
    for doc in corpus:
        s = 0.0
        for q in query:
            df = doc_freq[q]
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


def random_corpus(seed, n_docs=400, n_vocab=60):
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(n_vocab)]
    # Zipf-like word frequencies: a few words in most documents, many rare ones
    p = 1.0 / np.arange(1, n_vocab + 1)
    return [list(rng.choice(vocab, size=rng.integers(1, 25), p=p / p.sum())) for _ in range(n_docs)], vocab


def expected_top(scores, top):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [i for i in order if scores[i] > 0][:top]


@pytest.mark.parametrize("k1,b", [(1.2, 0.75), (2.0, 0.3)])
def test_precomputed_scores_rank_like_the_float64_formula(k1, b):
    corpus, vocab = random_corpus(2)
    index = BM25Index(corpus, k1=k1, b=b)
    rng = np.random.default_rng(3)
    queries = [list(rng.choice(vocab, size=rng.integers(1, 7))) for _ in range(60)]
    queries += [["w0", "w0", "w1"], ["w59", "nothing"], ["w0"], ["w3", "w3"]]
    for query in queries:
        expected = reference_bm25(corpus, query, k1, b)
        for top in (1, 10, 500):
            result = index.search(query, top=top)  # the index's own k1, b: summed precomputed scores
            assert result.docs.tolist() == expected_top(expected, top), query
            np.testing.assert_allclose(result.scores, [expected[i] for i in result.docs], rtol=1e-6)
            assert result.scores.dtype == np.float64 and result.docs.dtype == np.int64


def test_other_k1_b_are_computed_per_search():
    corpus, vocab = random_corpus(4)
    index = BM25Index(corpus)
    for k1, b in ((0.5, 1.0), (1.2, 0.0), (3.0, 0.75)):
        expected = reference_bm25(corpus, ["w1", "w7", "w20"], k1, b)
        result = index.search(["w1", "w7", "w20"], top=20, k1=k1, b=b)
        assert result.docs.tolist() == expected_top(expected, 20)
        np.testing.assert_allclose(result.scores, [expected[i] for i in result.docs], rtol=1e-9)


def test_reused_score_array_is_left_clean():
    corpus, vocab = random_corpus(5)
    index = BM25Index(corpus)
    first = index.search(["w0", "w1", "w2"], top=50)
    for query in (["w3", "w4"], ["w0", "w9", "w9"], ["w1", "w2", "w5", "w8"]):
        index.search(query, top=5)
    again = index.search(["w0", "w1", "w2"], top=50)
    assert again.docs.tolist() == first.docs.tolist() and again.scores.tolist() == first.scores.tolist()
    scratch = index._built().scratch
    assert scratch and all(not a.any() for a in scratch)


def test_concurrent_searches_agree_with_serial_ones():
    from concurrent.futures import ThreadPoolExecutor

    corpus, vocab = random_corpus(6, n_docs=3000)
    index = BM25Index(corpus)
    rng = np.random.default_rng(7)
    queries = [list(rng.choice(vocab, size=rng.integers(2, 6))) for _ in range(200)]
    serial = [index.search(q, top=10).docs.tolist() for q in queries]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda q: index.search(q, top=10).docs.tolist(), queries))
    assert parallel == serial


def test_bad_bm25_parameters_are_refused():
    with pytest.raises(ValueError, match="k1 >= 0"):
        BM25Index(CORPUS, k1=-1)
    with pytest.raises(ValueError, match="b in"):
        BM25Index(CORPUS, b=1.5)


def test_large_term_counts_widen_the_count_type():
    corpus = [["a", "b"], ["a"] * 300 + ["c"], ["b"] * 70000]
    index = BM25Index(corpus[:1])
    index.add(corpus[1:2])
    index.add(corpus[2:])
    for query in (["a"], ["b"], ["a", "b", "c"]):
        np.testing.assert_allclose(index.get_scores(query), reference_bm25(corpus, query), rtol=1e-9)
        assert index.search(query, top=3).docs.tolist() == expected_top(reference_bm25(corpus, query), 3)


MIXED = [
    ["apple", "fruit", "tasty"],
    ["apple", "phone", "apple", "release"],
    ["banana", "fruit"],
    ["苹果", "水果", "好吃", "apple"],
    ["法国", "首都", "巴黎"],
    ["香蕉", "水果", "很", "甜", "的", "水果"],
]


@pytest.mark.parametrize("k1,b", [(1.2, 0.75), (0.9, 0.4)])
def test_a_query_is_scored_with_its_population_and_the_documents_holding_its_words(k1, b):
    """N and avgdl come from the population (the three English documents) plus every document holding a
    query word (the Chinese entry quoting "apple"); a word's df counts every document that holds it."""
    index = BM25Index(MIXED)
    population = index.population(np.array([True, True, True, False, False, False]))
    assert (population.n_docs, population.total_len) == (3, 9.0)
    query = ["apple", "fruit"]
    got = index.get_scores(query, k1=k1, b=b, population=population)
    counted = MIXED[:4]  # the population and the outsider holding "apple"
    assert got[:4] == pytest.approx(reference_bm25(counted, query, k1, b))
    assert got[4:] == pytest.approx([0.0, 0.0])
    assert index.statistics(query, population) == (4, pytest.approx(13 / 4))
    assert index.statistics(query) == (6, pytest.approx(sum(map(len, MIXED)) / 6))
    assert got[:4] != pytest.approx(reference_bm25(MIXED, query, k1, b)[:4])  # every document counted
    found = index.search(query, top=10, k1=k1, b=b, population=population)
    assert sorted(found.docs.tolist()) == [0, 1, 2, 3]
    assert found.scores == pytest.approx(got[found.docs])
    # a word held only outside the population is as rare as it is where it occurs
    assert index.statistics(["水果"], population)[0] == 3 + 2


def test_population_statistics_equal_a_count_by_hand_on_random_indexes():
    """Documents outside the population that hold several query words count once, and what one query
    leaves in the reused scratch arrays never leaks into the next one's counts."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(12)]
    for _ in range(20):
        docs = [list(rng.choice(words, size=rng.integers(1, 8))) for _ in range(int(rng.integers(5, 60)))]
        index = BM25Index(docs)
        mask = rng.random(len(docs)) < 0.3
        population = index.population(mask)
        for _ in range(10):
            query = list(rng.choice(words + ["absent"], size=rng.integers(1, 5)))
            counted = [i for i, d in enumerate(docs) if mask[i] or set(d) & set(query)]
            total = sum(len(docs[i]) for i in counted)
            n, avgdl = index.statistics(query, population)
            assert n == len(counted)
            assert avgdl == pytest.approx(total / n if n and total else 1.0)


def test_population_statistics_stay_right_when_searches_run_at_once():
    """Concurrent searches each take their own scratch array from the index's pool."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(11)
    words = [f"w{i}" for i in range(30)]
    docs = [list(rng.choice(words, size=rng.integers(1, 12))) for _ in range(5000)]
    index = BM25Index(docs)
    mask = rng.random(len(docs)) < 0.5
    population = index.population(mask)
    queries = [list(rng.choice(words, size=rng.integers(1, 6))) for _ in range(240)]
    sets = [set(d) for d in docs]

    def by_hand(query: list[str]) -> int:
        return sum(1 for i, d in enumerate(sets) if mask[i] or d & set(query))

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda q: index.statistics(q, population)[0], queries))
    assert got == [by_hand(q) for q in queries]


def test_no_population_is_classic_bm25_and_a_stale_population_is_refused():
    index = BM25Index(MIXED)
    everyone = index.population(np.ones(len(MIXED), dtype=bool))
    assert index.get_scores(["apple", "水果"], population=everyone) == pytest.approx(
        reference_bm25(MIXED, ["apple", "水果"]))
    assert index.search(["apple"], top=3, population=everyone).scores == pytest.approx(
        index.search(["apple"], top=3).scores, rel=1e-6)
    stale = index.population(np.array([True] * 3 + [False] * 3))
    index.replace(0, ["kiwi"])  # same size: only the version tells
    with pytest.raises(ValueError, match="before the index changed"):
        index.search(["apple"], top=3, population=stale)
    with pytest.raises(ValueError, match="before the index changed"):
        index.statistics(["apple"], stale)
    with pytest.raises(ValueError, match="one bool per document"):
        index.population(np.ones(3, dtype=bool))
