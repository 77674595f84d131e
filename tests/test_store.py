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


def test_entries_in_another_language_change_no_keyword_score_unless_they_hold_the_words():
    """Adding Chinese entries leaves every English query's BM25 scores and statistics as they were; the one
    Chinese entry that holds "reset" counts for a query with "reset" (it matches, so it is one of the
    entries the word is rare or common among)."""
    alone, mixed = _store(ENGLISH), _store(ENGLISH + CHINESE)
    for query in ("capital of France", "Paris", "factory settings"):
        (scores_alone, stats_alone), (scores_mixed, stats_mixed) = _keyword(alone, query), _keyword(mixed, query)
        assert stats_mixed == stats_alone
        assert scores_mixed.keys() == scores_alone.keys()
        for key, score in scores_alone.items():
            assert scores_mixed[key] == pytest.approx(score, rel=1e-6), query
    scores, (n, dfs) = _keyword(mixed, "reset password")
    assert mixed.key("d6") in scores and (n, dfs) == (len(ENGLISH) + 1, [3, 1])
    # classic statistics: the Chinese entries count, and the English scores move
    classic = _store(ENGLISH + CHINESE, bm25_statistics="collection")
    scores_classic, stats_classic = _keyword(classic, "Paris")
    assert stats_classic[0] == len(ENGLISH + CHINESE)
    assert scores_classic[classic.key("d1")] != pytest.approx(_keyword(alone, "Paris")[0][alone.key("d1")])


def test_an_english_word_quoted_by_many_chinese_entries_stays_common():
    """A Chinese knowledge base quoting "pip install" everywhere: for the English query "install venv",
    "install" is a common word (150 entries hold it) and "venv" a rare one, so the three entries about venv
    come first, as with classic BM25."""
    texts = [f"第{i}步：用 pip install 安装依赖包" for i in range(150)]
    texts += ["用 venv 创建虚拟环境", "venv 激活后再安装", "Create the environment with venv first."]
    store = _store(texts)
    scores, (n, dfs) = _keyword(store, "install venv")
    assert dfs == [150, 3] and n == 1 + 152  # the English entry, and every entry holding a query word
    top = sorted(scores, key=scores.get, reverse=True)[:3]
    assert sorted(d.text for d in store.documents(top)) == sorted(texts[150:])
    classic = _store(texts, bm25_statistics="collection")
    classic_scores = _keyword(classic, "install venv")[0]
    assert sorted(classic_scores, key=classic_scores.get, reverse=True)[:3] == top


def test_a_single_script_knowledge_base_keeps_classic_bm25_and_its_fast_path():
    """Entries without letters (a date) belong to every population, so an English knowledge base with one
    is still scored with every entry, through the precomputed path."""
    store = _store(ENGLISH + ["2024-01-01"])
    assert store._population(Tokenizer().tokenize("reset password")) is None
    assert store._population(Tokenizer().tokenize("2024")) is None
    assert _keyword(store, "reset password") == _keyword(_store(ENGLISH + ["2024-01-01"], bm25_statistics="collection"),
                                                         "reset password")


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


@pytest.mark.parametrize("statistics", ["script", "collection"])
def test_the_bm25_statistics_survive_save_and_load(statistics, tmp_path):
    texts = ENGLISH + CHINESE
    engine = HybridEngine(texts, store=MemoryStore(bm25_statistics=statistics))
    before = [(h.id, h.score) for h in engine.search("Paris", mode="keyword").keyword]
    engine.save(tmp_path / "index")
    loaded = HybridEngine.load(tmp_path / "index")
    assert loaded.store.bm25_statistics == statistics
    assert [(h.id, pytest.approx(h.score, rel=1e-6)) for h in loaded.search("Paris", mode="keyword").keyword] == before


def test_a_saved_index_keeps_each_entry_script_and_an_older_one_works_it_out(tmp_path):
    import json

    engine = HybridEngine(ENGLISH + CHINESE)
    engine.save(tmp_path / "index")
    path = tmp_path / "index" / "documents.jsonl"
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [r["script"] for r in records] == engine.store._scripts.tolist() == [2] * len(ENGLISH) + [1] * len(CHINESE)
    assert HybridEngine.load(tmp_path / "index").store._scripts.tolist() == engine.store._scripts.tolist()
    # an index written before the field existed: the scripts are worked out from the texts
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "script"}, ensure_ascii=False) + "\n"
                            for r in records), "utf-8")
    older = MemoryStore.read(tmp_path / "index", {})
    assert older._scripts.tolist() == engine.store._scripts.tolist()
    assert _keyword(older, "Paris") == _keyword(engine.store, "Paris")


def test_an_entry_without_letters_does_not_stop_the_fallback_to_every_entry():
    """A Chinese knowledge base with a date entry, asked in English: no entry is in the query's script, so
    every entry counts (classic BM25), not just the date and the entries holding the word."""
    texts = [f"第{i}条：虚拟环境的说明" for i in range(200)] + ["用 venv 创建虚拟环境", "2024-01-01"]
    store = _store(texts)
    assert store._population(Tokenizer().tokenize("venv")) is None
    classic = _store(texts, bm25_statistics="collection")
    assert _keyword(store, "venv") == _keyword(classic, "venv")


def test_unreadable_saved_scripts_are_worked_out_again(tmp_path):
    import json

    engine = HybridEngine(ENGLISH + CHINESE)
    engine.save(tmp_path / "index")
    path = tmp_path / "index" / "documents.jsonl"
    records = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    for bad in (300, 3, "2", None):
        records[0]["script"] = bad
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
        assert MemoryStore.read(tmp_path / "index", {})._scripts.tolist() == engine.store._scripts.tolist()


def test_a_sample_in_one_script_spreads_over_that_script_only():
    store = MemoryStore()
    texts = ENGLISH + CHINESE * 3
    tok = Tokenizer()
    store.add([Document(f"d{i}", t) for i, t in enumerate(texts)], tok.tokenize_many(texts),
              OneHotEncoder().encode_documents(texts), "fake")
    keys, vectors = store.vector_sample(3, "alphabetic")
    assert [d.text for d in store.documents(keys.tolist())] == [ENGLISH[0], ENGLISH[1], ENGLISH[3]]
    np.testing.assert_allclose(vectors, store.vectors(keys.tolist()))
    assert store.vector_sample(3, "alphabetic")[0] is keys  # the same arrays until a change
    assert {d.text for d in store.documents(store.vector_sample(100, "cjk")[0].tolist())} == set(CHINESE)
    assert len(store.vector_sample(100)[0]) == len(texts)
    with pytest.raises(ValueError, match="unknown script"):
        store.vector_sample(3, "latin")
    store.add([Document("new", "Paris in spring")], [tok.tokenize("Paris in spring")],
              OneHotEncoder().encode_documents(["Paris in spring"]), "fake")
    assert len(store.vector_sample(100, "alphabetic")[0]) == len(ENGLISH) + 1


def test_the_yardstick_of_an_english_query_ignores_chinese_entries_past_the_sample_size(monkeypatch):
    """The cosine mean and spread of an English query come from English entries only, however many Chinese
    entries outnumber them in a sample of the whole knowledge base."""
    import hybrid.engine as engine_module

    monkeypatch.setattr(engine_module, "_SPREAD_SAMPLE", 3)
    monkeypatch.setattr(engine_module, "_SPREAD_MIN_SAME", 2)
    alone = HybridEngine(ENGLISH, embedder=OneHotEncoder())
    mixed = HybridEngine(ENGLISH + CHINESE * 5, embedder=OneHotEncoder())
    for query in ("capital of France", "laptop screen black"):
        a, b = alone.retrieve(query).evidence, mixed.retrieve(query).evidence
        assert (b.cosine_mean, b.cosine_std) == pytest.approx((a.cosine_mean, a.cosine_std))
