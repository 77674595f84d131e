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
