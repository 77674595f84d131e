"""The store boundary: every store answers the engine the same way (keys, candidates, raw scores)."""

import numpy as np
import pytest

from hybrid import Document, HybridEngine
from hybrid.keyword import BM25Index
from hybrid.store import STORES, StoreError, open_store
from hybrid.store.memory import MemoryStore
from hybrid.tokenize import Tokenizer
from tests.fakes import OneHotEncoder

TEXTS = ["苹果是一种很好吃的水果。", "香蕉是黄色的水果。", "法国的首都是巴黎。", "我的笔记本电脑黑屏了怎么办",
         "苹果手机的屏幕坏了"]


def filled(store):
    tok = Tokenizer()
    docs = [Document(str(i + 1), t, {"n": i}) for i, t in enumerate(TEXTS)]
    tokens = tok.tokenize_many(TEXTS)
    vectors = OneHotEncoder().encode_documents(TEXTS)
    keys = store.add(docs, tokens, vectors, "fake")
    return keys, tokens, vectors


def test_memory_store_answers_with_stable_keys():
    store = MemoryStore()
    keys, tokens, vectors = filled(store)
    assert len(store) == 5 and store.vectors_model == "fake"
    assert [store.key(str(i + 1)) for i in range(5)] == keys
    found = store.keyword_search("苹果 水果", ["苹果", "水果"], top=10, k1=1.2, b=0.75)
    want = BM25Index(tokens).search(["苹果", "水果"], top=10)
    assert found.docs.tolist() == [keys[i] for i in want.docs.tolist()]
    np.testing.assert_allclose(found.scores, want.scores)
    store.remove([keys[0]])
    # the other documents keep their keys; positions shifted underneath
    assert store.key("3") == keys[2] and store.documents([keys[2]])[0].text == TEXTS[2]
    assert store.keyword_search("苹果", ["苹果"], top=10, k1=1.2, b=0.75).docs.tolist() == [keys[4]]
    query = OneHotEncoder().encode_queries(["巴黎"])[0]
    best = store.vector_search(query, top=1)
    assert best.docs.tolist() == [keys[2]]
    np.testing.assert_allclose(store.cosines([keys[2], keys[1]], query), vectors[[2, 1]] @ query, rtol=1e-6)
    assert store.doc_freqs(["水果", "苹果", "没有"]) == [1, 1, 0]
    assert store.matched_tokens(keys[4], ["手机", "没有", "屏幕", "手机"]) == ("手机", "屏幕")
    with pytest.raises(KeyError, match="no document with id '1'"):
        store.key("1")


def test_memory_store_drops_vectors_that_no_longer_fit():
    store = MemoryStore()
    keys, tokens, _ = filled(store)
    store.update(keys[0], Document("1", "新的文本"), ["新", "文本"], None)
    assert store.vectors_model is None  # an entry changed without a new vector: no stale cosine is served
    store.set_vectors(OneHotEncoder().encode_documents([d.text for d in store.iter_documents()]), "fake")
    store.add([Document("9", "又一条")], [["又", "一条"]], None, None)
    assert store.vectors_model is None


def test_memory_store_vector_sample_spreads_over_the_collection_and_follows_changes():
    store = MemoryStore()
    keys, _, vectors = filled(store)
    sample_keys, sample = store.vector_sample(100)
    assert sample_keys.tolist() == keys and np.allclose(sample, vectors / np.linalg.norm(vectors, axis=1)[:, None])
    assert store.vector_sample(100)[0] is sample_keys  # the same arrays until the collection changes
    few_keys, few = store.vector_sample(3)
    assert few_keys.tolist() == [keys[0], keys[2], keys[4]] and few.shape == (3, vectors.shape[1])
    store.remove([keys[0]])
    assert store.vector_sample(100)[0].tolist() == keys[1:]


def test_engine_over_a_given_store_and_the_default_one():
    store = MemoryStore()
    engine = HybridEngine(TEXTS, embedder=OneHotEncoder(), store=store)
    assert engine.store is store and len(store) == len(TEXTS)
    default = HybridEngine(TEXTS, embedder=OneHotEncoder())
    a, b = engine.search("苹果 首都", k=5), default.search("苹果 首都", k=5)
    assert [h.to_dict() for h in a.hybrid] == [h.to_dict() for h in b.hybrid]


def test_open_store_names_the_registry_on_a_bad_uri():
    assert isinstance(open_store("memory"), MemoryStore)
    with pytest.raises(StoreError) as err:
        open_store("redis://localhost")
    for key in STORES:
        assert f"{key}:" in str(err.value)
    with pytest.raises(StoreError, match="no location"):
        open_store("memory:./somewhere")


ENGLISH = ["How to reset my password", "The capital of France is Paris", "Reset the router to factory settings",
           "Paris is a large city in France"]
CHINESE = ["苹果是一种很好吃的水果", "香蕉是黄色的水果", "路由器 reset 按钮在背面", "法国的首都是巴黎"]


def _keyword(store, query):
    tokens = Tokenizer().tokenize(query)
    found = store.keyword_search(query, tokens, top=10, k1=1.2, b=0.75)
    return dict(zip(found.docs.tolist(), found.scores.tolist())), store.keyword_statistics(list(dict.fromkeys(tokens)))


def _store(texts, **options):
    store = MemoryStore(**options)
    tok = Tokenizer()
    store.add([Document(f"d{i}", t) for i, t in enumerate(texts)], tok.tokenize_many(texts), None, None)
    return store


def test_entries_in_another_language_change_no_keyword_score():
    """Adding Chinese entries (one quoting the English word "reset") leaves every English query's BM25
    scores and statistics as they were; the Chinese entry that holds "reset" matches, scored alike."""
    alone, mixed = _store(ENGLISH), _store(ENGLISH + CHINESE)
    for query in ("reset password", "capital of France", "Paris"):
        (scores_alone, stats_alone), (scores_mixed, stats_mixed) = _keyword(alone, query), _keyword(mixed, query)
        assert stats_mixed == stats_alone
        for key, score in scores_alone.items():
            assert scores_mixed[key] == pytest.approx(score, rel=1e-6), query
        assert set(scores_mixed) - set(scores_alone) <= {mixed.key("d6")}
    assert mixed.key("d6") in _keyword(mixed, "reset")[0]
    # classic statistics: the Chinese entries count, and the English scores move
    classic = _store(ENGLISH + CHINESE, bm25_statistics="collection")
    scores_classic, stats_classic = _keyword(classic, "reset password")
    assert stats_classic[0] == len(ENGLISH + CHINESE)
    assert scores_classic[classic.key("d0")] != pytest.approx(_keyword(alone, "reset password")[0][alone.key("d0")])


def test_a_query_in_both_scripts_counts_every_entry_and_changes_are_followed():
    store = _store(ENGLISH + CHINESE)
    classic = _store(ENGLISH + CHINESE, bm25_statistics="collection")
    assert _keyword(store, "路由器 reset") == _keyword(classic, "路由器 reset")
    n_before = _keyword(store, "Paris")[1][0]
    store.add([Document("new", "Paris in spring")], [Tokenizer().tokenize("Paris in spring")], None, None)
    assert _keyword(store, "Paris")[1][0] == n_before + 1
    store.remove([store.key("d0"), store.key("d4")])
    assert _keyword(store, "Paris")[1][0] == n_before  # one English entry and one Chinese one gone
    store.update(store.key("d5"), Document("d5", "bananas are yellow"), Tokenizer().tokenize("bananas are yellow"), None)
    assert _keyword(store, "Paris")[1][0] == n_before + 1
    fresh = _store([d.text for d in store.iter_documents()])
    by_id = lambda s, scores: {s.documents([k])[0].text: v for k, v in scores.items()}  # noqa: E731
    got, want = by_id(store, _keyword(store, "Paris")[0]), by_id(fresh, _keyword(fresh, "Paris")[0])
    assert got.keys() == want.keys() and all(got[t] == pytest.approx(want[t], rel=1e-6) for t in want)


def test_unknown_bm25_statistics_lists_the_choices():
    with pytest.raises(ValueError, match="script, collection"):
        MemoryStore(bm25_statistics="global")
