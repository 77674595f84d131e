import json
import os
import threading

import numpy as np
import pytest

from hybrid import Document, EmptyQueryError, EngineNotReadyError, HybridEngine, IndexCorruptError, KnowledgeBaseError
from hybrid.cache import EmbeddingCache
from tests.fakes import OneHotEncoder

KB = [
    "苹果是一种很好吃的水果。",          # 1 food (semantic), keyword: 苹果 水果
    "香蕉是黄色的。",                    # 2 food via 香蕉
    "法国的首都是巴黎。",                # 3 capital, france
    "机器学习模型可以理解文本语义。",    # 4 ml
    "我的笔记本电脑黑屏了怎么办",        # 5 laptop
    "今天天气晴朗，适合散步。",          # 6 weather
]


@pytest.fixture
def engine():
    return HybridEngine(KB, embedder=OneHotEncoder())


def ids(hits):
    return [h.id for h in hits]


def test_three_lists_and_their_scores(engine):
    res = engine.search("苹果好吃吗", k=3)
    assert ids(res.keyword)[0] == "1"
    assert res.keyword[0].score == pytest.approx(res.keyword[0].keyword_score)
    assert all(h.keyword_score > 0 for h in res.keyword)
    assert res.semantic[0].score == pytest.approx(res.semantic[0].semantic_score)
    assert ids(res.hybrid)[0] == "1"
    h = res.hybrid[0]
    assert h.score == pytest.approx(h.keyword_contribution + h.semantic_contribution)
    assert h.matched_tokens == ("苹果", "好吃")
    assert [KB[0][s:e] for s, e in h.highlights] == ["苹果", "好吃"]
    assert res.query_vector.shape == (OneHotEncoder().dimension,)
    assert set(res.timings_ms) == {"tokenize", "keyword", "embed", "vector", "fuse", "total"}
    assert res.model == "fake-onehot" and res.device == "cpu"


@pytest.mark.parametrize("fusion", ["weighted", "rrf", "adaptive", "learned"])
def test_hybrid_hits_carry_the_weights_that_make_their_score(engine, fusion):
    res = engine.search("苹果好吃吗", k=6, alpha=0.4, fusion=fusion)
    assert res.hybrid
    for h in res.hybrid:
        assert h.keyword_contribution == pytest.approx(h.keyword_weight * h.keyword_score_norm)
        assert h.semantic_contribution == pytest.approx(h.semantic_weight * h.semantic_score_norm)
        assert h.score == pytest.approx(h.keyword_contribution + h.semantic_contribution)


def test_semantic_finds_what_keywords_miss(engine):
    res = engine.search("我饿了想吃东西", k=2)
    assert res.keyword == ()  # no shared word: BM25 is blind here
    assert set(ids(res.semantic)) == {"1", "2"}
    assert set(ids(res.hybrid)) == {"1", "2"}


def test_keyword_list_holds_only_matched_documents(engine):
    res = engine.search("巴黎", k=5)
    assert ids(res.keyword) == ["3"]
    assert len(res.semantic) == 5


def test_no_keyword_match_at_all_is_semantic_order(engine):
    res = engine.search("饿", k=3, fusion="weighted", alpha=0.5)
    assert res.keyword == ()
    assert ids(res.hybrid) == ids(res.semantic)
    assert all(h.keyword_contribution == 0 and h.keyword_score is None for h in res.hybrid)


def test_ranks_are_reported_in_each_list(engine):
    res = engine.search("苹果 法国 首都", k=6, alpha=0.5, fusion="weighted")
    for hit in res.hybrid:
        assert hit.hybrid_rank == hit.rank
        if hit.keyword_rank is not None:
            assert ids(res.keyword)[hit.keyword_rank - 1] == hit.id


@pytest.mark.parametrize("fusion", ["weighted", "rrf", "adaptive", "learned"])
def test_alpha_extremes(engine, fusion):
    query = "苹果 首都"
    kw_only = engine.search(query, k=2, alpha=0.0, fusion="weighted")
    assert ids(kw_only.hybrid) == ids(kw_only.keyword)
    sem_only = engine.search(query, k=3, alpha=1.0, fusion=fusion)
    assert ids(sem_only.hybrid) == ids(sem_only.semantic)


def test_keyword_mode_never_touches_the_model():
    enc = OneHotEncoder()
    engine = HybridEngine(KB)
    res = engine.search("巴黎", mode="keyword")
    assert ids(res.keyword) == ["3"] and res.semantic == () and res.hybrid == () and res.query_vector is None
    with pytest.raises(EngineNotReadyError, match="keyword"):
        engine.search("巴黎")
    engine.set_embedder(enc)
    assert ids(engine.search("巴黎").hybrid)[0] == "3"


def test_bad_input_errors(engine):
    with pytest.raises(EmptyQueryError, match="query is empty") as empty:
        engine.search("   ")
    assert empty.value.args[0].isascii()  # one language in hybrid/: the page translates by key
    for invisible in ("\u200b", "\ufeff \u200d", "\u00ad\n"):  # nothing a person can see is no query either
        with pytest.raises(EmptyQueryError):
            engine.search(invisible)
    assert engine.search("苹果\u200b").query == "苹果\u200b"  # visible text with them is searched as sent
    with pytest.raises(KnowledgeBaseError, match="empty"):
        HybridEngine(embedder=OneHotEncoder()).search("苹果")
    with pytest.raises(ValueError, match="alpha"):
        engine.search("苹果", alpha=2)
    with pytest.raises(ValueError, match="fusion"):
        engine.search("苹果", fusion="nope")
    with pytest.raises(ValueError, match="mode"):
        engine.search("苹果", mode="nope")


def test_k1_b_per_search_change_scores(engine):
    a = engine.search("苹果 水果", mode="keyword").keyword[0].score
    b = engine.search("苹果 水果", mode="keyword", k1=2.0, b=0.2).keyword[0].score
    assert a != pytest.approx(b)


def test_add_update_remove(engine):
    enc = engine.embedder
    before = enc.documents_embedded
    new = engine.add(["东京是日本的首都。", {"id": "pear", "text": "梨子很甜", "source": "faq"}])
    assert new == ["7", "pear"] and enc.documents_embedded == before + 2
    assert "pear" in ids(engine.search("梨子", k=3).keyword)
    assert engine.search("梨子", k=1).keyword[0].metadata == {"source": "faq"}
    engine.update("pear", "西瓜很甜")
    assert engine.search("梨子", mode="keyword").keyword == ()
    engine.remove(["pear", "1"])
    assert len(engine) == len(KB)
    assert "1" not in ids(engine.search("苹果 水果", k=5).hybrid)
    with pytest.raises(KeyError, match="nope"):
        engine.remove(["nope"])
    with pytest.raises(KnowledgeBaseError, match="already indexed"):
        engine.add([{"id": "3", "text": "x"}])


def test_set_documents_reembeds_only_changed_lines(engine):
    enc = engine.embedder
    before = enc.documents_embedded
    engine.set_documents(KB)
    assert enc.documents_embedded == before
    changed = KB[:-1] + ["明天会下雨吗"]
    engine.set_documents(changed)
    assert enc.documents_embedded == before + 1
    assert ids(engine.search("下雨", k=1).keyword) == ["6"]


def test_putting_replaced_entries_back_embeds_nothing(engine):
    """An undo after loading another knowledge base re-embedded the whole earlier one (72 entries, 43 s on the
    CPU): the entries the last replacement dropped keep their vectors, so putting them back embeds nothing."""
    enc = engine.embedder
    other = ["巴黎是法国的首都", "今天的天气很好"]
    before = enc.documents_embedded
    engine.set_documents(other)
    assert enc.documents_embedded == before + 2
    engine.set_documents(KB + ["新的一条：香蕉"])  # back, and one new line
    assert enc.documents_embedded == before + 3  # the new line alone
    fresh = HybridEngine(KB + ["新的一条：香蕉"], embedder=OneHotEncoder())
    keys = [engine.store.key(d.id) for d in engine.documents]
    np.testing.assert_array_equal(engine.store.vectors(keys), fresh.store.vectors(keys))
    assert engine.store.tokens(keys) == fresh.store.tokens(keys)
    assert ids(engine.search("苹果 水果", k=3).hybrid) == ids(fresh.search("苹果 水果", k=3).hybrid)
    engine.set_documents(other)  # kept one replacement deep: `other` was dropped by the last call
    assert enc.documents_embedded == before + 3
    engine.set_documents(["第三个知识库"])
    engine.set_documents(KB)  # two replacements ago: embedded again
    assert enc.documents_embedded == before + 4 + len(KB)


def test_replaced_vectors_are_kept_within_their_budget_and_only_for_their_model(engine, monkeypatch):
    import hybrid.engine as engine_module

    enc = engine.embedder
    first_two = [engine_module._kept_bytes(d.text, engine.store.tokens([engine.store.key(d.id)])[0], enc.dimension)
                 for d in engine.documents[:2]]
    monkeypatch.setattr(engine_module, "REPLACED_BYTES", sum(first_two))  # the first two entries, texts and all
    engine.set_documents(["另一条"])
    before = enc.documents_embedded
    engine.set_documents(KB)
    assert enc.documents_embedded == before + len(KB) - 2
    other_model = OneHotEncoder("fake-other")
    engine.set_embedder(other_model)  # KB embedded with the other model
    engine.set_documents(["另一条"])  # its vector kept from fake-onehot is not taken for fake-other
    assert other_model.documents_embedded == len(KB) + 1
    engine.set_documents(KB)  # two of KB kept under fake-other
    assert other_model.documents_embedded == len(KB) + 1 + len(KB) - 2


def test_kept_entries_count_their_texts_and_tokens_not_only_their_vectors(monkeypatch):
    """A review found 2,700 kept entries of 2,000 characters holding 49 MB under a 4 MB budget of vectors."""
    import hybrid.engine as engine_module

    monkeypatch.setattr(engine_module, "REPLACED_BYTES", 200_000)  # the vectors alone would keep all 50
    long = [f"第{i}条" + "很长的知识库条目" * 250 for i in range(50)]
    engine = HybridEngine(long, embedder=OneHotEncoder())
    engine.set_documents(["另一条"])
    kept = engine._replaced
    used = sum(engine_module._kept_bytes(t, toks, engine.embedder.dimension) for t, (toks, _) in kept.items())
    assert 0 < len(kept) < len(long) and used <= 200_000
    following = long[len(kept)]
    assert following not in kept and used + engine_module._kept_bytes(  # full: the next one did not fit
        following, engine.tokenizer.tokenize(following), engine.embedder.dimension) > 200_000


def test_a_snapshot_of_the_vectors_is_consistent_while_the_knowledge_base_is_replaced(monkeypatch):
    """A review found an evaluation pairing texts with other texts' vectors: it read the documents, then their
    keys and vectors, while the page's index event replaced the knowledge base in between."""
    import threading
    import time

    from hybrid.service import ModelService

    enc = OneHotEncoder()
    engine = HybridEngine(["苹果是水果", "巴黎是法国的首都", "今天下雨"], embedder=enc)
    store, original = engine.store, engine.store.iter_documents
    started = threading.Event()

    def slow_iter():
        for d in original():
            started.set()
            time.sleep(0.05)
            yield d

    monkeypatch.setattr(store, "iter_documents", slow_iter)
    service = ModelService.__new__(ModelService)  # only its known_vectors is used: no model is loaded
    monkeypatch.setattr(ModelService, "embedder", property(lambda self: enc))
    found = {}
    reader = threading.Thread(target=lambda: found.setdefault("cache", service.known_vectors(engine)))
    reader.start()
    started.wait(5)
    monkeypatch.setattr(store, "iter_documents", original)
    engine.set_documents(["香蕉很甜", "东京是日本的首都", "明天晴天"])
    reader.join(5)
    cache = found["cache"]
    assert set(cache.vectors) == {"苹果是水果", "巴黎是法国的首都", "今天下雨"}
    for text, vector in cache.vectors.items():
        np.testing.assert_allclose(vector, enc._encode([text])[0], atol=1e-6)


def test_query_vector_cached_between_reranks(engine):
    engine.search("苹果", alpha=0.1)
    calls = engine.embedder.query_calls
    engine.search("苹果", alpha=0.9, fusion="rrf")
    assert engine.embedder.query_calls == calls


def test_save_and_load_roundtrip(engine, tmp_path):
    engine.add([{"id": "m", "text": "带元数据的条目", "lang": "zh"}])
    folder = engine.save(tmp_path / "idx")
    enc = OneHotEncoder()
    loaded = HybridEngine.load(folder, embedder=enc)
    assert enc.documents_embedded == 0  # vectors came from disk
    assert loaded.documents == engine.documents
    a, b = engine.search("苹果 首都", k=5), loaded.search("苹果 首都", k=5)
    assert [h.to_dict() for h in a.hybrid] == [h.to_dict() for h in b.hybrid]
    engine.save(folder)  # overwrite in place
    assert HybridEngine.load(folder).documents == engine.documents


def test_save_is_atomic_against_a_crash(engine, tmp_path, monkeypatch):
    folder = engine.save(tmp_path / "idx")
    real_save = np.save

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "save", crash)
    with pytest.raises(OSError):
        HybridEngine(["新内容"], embedder=OneHotEncoder()).save(folder)
    monkeypatch.setattr(np, "save", real_save)
    assert len(HybridEngine.load(folder)) == len(KB)


def test_load_detects_damage(engine, tmp_path):
    folder = engine.save(tmp_path / "idx")
    with open(folder / "documents.jsonl", "a", encoding="utf-8") as f:
        f.write("garbage\n")
    with pytest.raises(IndexCorruptError, match="damaged"):
        HybridEngine.load(folder)
    with pytest.raises(IndexCorruptError, match="no saved index"):
        HybridEngine.load(tmp_path / "nothing")


def test_load_recovers_from_crash_between_renames(engine, tmp_path):
    folder = engine.save(tmp_path / "idx")
    folder.rename(tmp_path / ".idx.old")
    assert len(HybridEngine.load(tmp_path / "idx")) == len(KB)


def test_load_with_other_model_reembeds(engine, tmp_path):
    folder = engine.save(tmp_path / "idx")
    other = OneHotEncoder(name="another-model")
    loaded = HybridEngine.load(folder, embedder=other)
    assert other.documents_embedded == len(KB)
    assert loaded.search("巴黎").model == "another-model"


def test_embedding_cache_survives_engines(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    enc = OneHotEncoder()
    HybridEngine(KB, embedder=enc, cache=cache)
    first = enc.documents_embedded
    enc2 = OneHotEncoder()
    HybridEngine(KB + ["新的一行"], embedder=enc2, cache=EmbeddingCache(tmp_path / "cache"))
    assert first == len(KB) and enc2.documents_embedded == 1


def test_concurrent_searches_are_consistent(engine):
    expected = ids(engine.search("苹果 首都", k=5).hybrid)
    errors = []

    def worker():
        for _ in range(20):
            if ids(engine.search("苹果 首都", k=5).hybrid) != expected:
                errors.append("mismatch")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors


def test_response_to_dict_is_json(engine):
    res = engine.search("苹果", k=2)
    data = json.loads(json.dumps(res.to_dict(include_vector=True), ensure_ascii=False))
    assert data["hybrid"][0]["id"] == "1" and len(data["query_vector"]) == engine.embedder.dimension


def test_an_index_saved_with_folding_is_retokenised_when_loaded_without(tmp_path):
    from hybrid.tokenize import Tokenizer

    HybridEngine(["電腦開機後黑屏怎麼辦", "打印机无法连接"]).save(tmp_path / "idx")
    assert HybridEngine.load(tmp_path / "idx").search("电脑开机", mode="keyword").keyword
    unfolded = HybridEngine.load(tmp_path / "idx", tokenizer=Tokenizer(fold=False))
    assert unfolded.search("电脑开机", mode="keyword").keyword == ()
    assert unfolded.search("電腦開機", mode="keyword").keyword[0].text == "電腦開機後黑屏怎麼辦"
