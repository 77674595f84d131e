"""The Milvus store for real: embedded Milvus Lite and `milvus-lite server` over loopback, against the in-memory store."""

import numpy as np
import pytest

from hybrid import HybridEngine, KnowledgeBaseError
from hybrid.store import StoreError, open_store
from hybrid.store.memory import MemoryStore
from hybrid.store.milvus import MilvusStore, analyzer_params, doc_key, literal
from hybrid.tokenize import Tokenizer
from tests.fakes import OneHotEncoder
from tests.milvus_server import milvus_lite_server

pytestmark = pytest.mark.milvus

KB = [
    "苹果是一种很好吃的水果，苹果也能做成果汁。",
    "香蕉是黄色的水果。",
    "法国的首都是巴黎。",
    "机器学习模型可以理解文本语义。",
    "我的笔记本电脑黑屏了怎么办",
    "今天天气晴朗，适合散步。",
    "ＧＰＵ显存不够怎么办？",
    "The capital of France is Paris.",
]
QUERIES = ["苹果 水果", "巴黎是法国的首都吗？", "笔记本黑屏", "gpu显存", "capital of france", "我饿了"]


@pytest.fixture(scope="module")
def server_uri(tmp_path_factory):
    with milvus_lite_server(tmp_path_factory.mktemp("milvus-server") / "data") as uri:
        yield uri


@pytest.fixture(params=["lite", "server"])
def uri(request, tmp_path):
    if request.param == "lite":
        return f"milvus:{tmp_path / 'kb.db'}"
    return "milvus+" + request.getfixturevalue("server_uri")


def engines(uri, collection="kb"):
    """An in-memory engine counting BM25's statistics over every entry, as Milvus's BM25 function does, and
    the same knowledge base in Milvus."""
    store = open_store(uri, collection=collection)
    memory = HybridEngine(KB, embedder=OneHotEncoder(), store=MemoryStore(bm25_statistics="collection"))
    return memory, HybridEngine(KB, embedder=OneHotEncoder(), store=store)


def ids(hits):
    return [h.id for h in hits]


def test_same_lists_and_explanations_as_in_memory(uri, request):
    memory, milvus = engines(uri, collection=f"same_{request.node.callspec.id}")
    try:
        assert len(milvus) == len(KB) and milvus.has_vectors
        for query in QUERIES:
            a, b = memory.search(query, k=8), milvus.search(query, k=8)
            # the same matched documents with the same BM25 (Milvus's jieba cuts these texts as ours does, and the
            # collection's k1/b are the engine's)
            assert ids(a.keyword) == ids(b.keyword), query
            np.testing.assert_allclose([h.score for h in b.keyword], [h.score for h in a.keyword], rtol=1e-5)
            np.testing.assert_allclose([h.score for h in b.keyword], [h.keyword_score for h in b.keyword])
            # semantic: the same cosines (exact FLAT index), so the same list up to float ties
            np.testing.assert_allclose(sorted(h.score for h in a.semantic), sorted(h.score for h in b.semantic),
                                       atol=1e-5)
            assert ids(a.hybrid)[:2] == ids(b.hybrid)[:2], query
            for hit in b.hybrid:
                twin = next(h for h in a.hybrid + a.keyword + a.semantic if h.id == hit.id)
                assert hit.text == twin.text and hit.matched_tokens == twin.matched_tokens
                assert hit.highlights == twin.highlights
                assert hit.semantic_score == pytest.approx(twin.semantic_score, abs=1e-5)
                assert hit.score == pytest.approx(hit.keyword_contribution + hit.semantic_contribution)
            # adaptive fusion saw the same query evidence: the same per-query weight
            assert b.alpha_used == pytest.approx(a.alpha_used), query
    finally:
        milvus.store.close()


def test_on_a_mixed_knowledge_base_milvus_counts_every_entry_and_memory_the_query_script_by_default(uri, request):
    """The documented difference: Milvus's BM25 statistics cover the whole collection; the default in-memory
    store counts the entries written in the query's script (here the one English entry for an English
    query, the seven Chinese ones for a Chinese query). The same documents match either way."""
    from hybrid.keyword import BM25Index

    collection = f"stats_{request.node.callspec.id}"
    _, milvus = engines(uri, collection=collection)
    default = HybridEngine(KB, embedder=OneHotEncoder())
    tokens = default.store.tokens(list(range(len(KB))))
    try:
        for query, same_script in (("capital of france", [7]), ("苹果 水果", list(range(7)))):
            a, b = default.search(query, k=8, mode="keyword"), milvus.search(query, k=8, mode="keyword")
            assert sorted(ids(a.keyword)) == sorted(ids(b.keyword)), query
            q = default.tokenizer.tokenize(query)
            every = BM25Index(tokens).get_scores(q)
            alone = BM25Index([tokens[i] for i in same_script]).get_scores(q)
            for hit in b.keyword:
                assert hit.score == pytest.approx(every[int(hit.id) - 1], rel=1e-5)
            for hit in a.keyword:
                assert hit.score == pytest.approx(alone[same_script.index(int(hit.id) - 1)], rel=1e-6)
                assert hit.score != pytest.approx(every[int(hit.id) - 1], rel=1e-3)
    finally:
        milvus.store.close()


def test_vector_sample_holds_stored_vectors_until_a_change(uri, request):
    _, engine = engines(uri, collection=f"sample_{request.node.callspec.id}")
    store = engine.store
    try:
        keys, vectors = store.vector_sample(100)
        assert sorted(keys.tolist()) == sorted(store.key(str(i + 1)) for i in range(len(KB)))
        np.testing.assert_allclose(vectors, store.vectors(keys.tolist()), atol=1e-6)
        assert store.vector_sample(100)[0] is keys
        engine.add(["梨子很甜"])
        assert len(store.vector_sample(100)[0]) == len(KB) + 1
    finally:
        store.close()


def _wait_for_sample_refresh():
    import threading

    for thread in threading.enumerate():
        if thread.name == "milvus-sample":
            thread.join(timeout=60)
            assert not thread.is_alive()


def test_an_aged_vector_sample_is_reread_in_the_background_and_follows_other_writers(uri, request, monkeypatch):
    """No search waits for the sample's rows once it has them: past its age a search gets the held sample
    at once and a background read replaces it; unchanged rows keep the same arrays, another writer's entry
    arrives with the next read."""
    import hybrid.store.milvus as milvus

    collection = f"aged_{request.node.callspec.id}"
    _, engine = engines(uri, collection=collection)
    store = engine.store
    other = open_store(uri, collection=collection)
    try:
        keys, _ = store.vector_sample(100)
        monkeypatch.setattr(milvus, "_SAMPLE_SECONDS", 0.0)
        assert store.vector_sample(100)[0] is keys  # the held sample, while it is re-read
        _wait_for_sample_refresh()
        assert store.vector_sample(100)[0] is keys  # the same rows: the same arrays
        _wait_for_sample_refresh()
        HybridEngine(embedder=OneHotEncoder(), store=other).add([{"id": "pear", "text": "梨子很甜"}])
        assert store.vector_sample(100)[0] is keys  # another process's write shows with the next read
        _wait_for_sample_refresh()
        fresh, vectors = store.vector_sample(100)
        assert store.key("pear") in fresh.tolist() and len(fresh) == len(KB) + 1
        np.testing.assert_allclose(vectors, store.vectors(fresh.tolist()), atol=1e-6)
    finally:
        other.close()
        store.close()


def test_a_failed_sample_reread_keeps_the_held_sample_and_is_tried_again(tmp_path, monkeypatch, caplog):
    import hybrid.store.milvus as milvus
    from hybrid.engine import _SPREAD_SAMPLE

    _, engine = engines(f"milvus:{tmp_path / 'kb.db'}")
    store = engine.store
    try:
        assert engine.search("苹果", k=3).semantic
        keys, _ = store.vector_sample(_SPREAD_SAMPLE)  # what the search read
        monkeypatch.setattr(milvus, "_SAMPLE_SECONDS", 0.0)
        calls = []

        def broken(*args, **kwargs):
            calls.append(args)
            raise ConnectionError("server went away")

        monkeypatch.setattr(store, "_read_sample", broken)
        with caplog.at_level("WARNING", logger="hybrid.store.milvus"):
            first = engine.search("苹果", k=3)  # searches go on with the held sample
            _wait_for_sample_refresh()
        assert "re-reading the vector sample" in caplog.text and "server went away" in caplog.text
        tried = len(calls)
        assert tried >= 1
        monkeypatch.setattr(milvus, "_SAMPLE_SECONDS", 60.0)
        assert store.vector_sample(_SPREAD_SAMPLE)[0] is keys  # still the held one, kept for another age
        _wait_for_sample_refresh()
        assert len(calls) == tried  # no new read within it
        monkeypatch.setattr(milvus, "_SAMPLE_SECONDS", -1.0)  # that age over: the next search tries again
        store.vector_sample(_SPREAD_SAMPLE)
        _wait_for_sample_refresh()
        assert len(calls) == tried + 1
        assert [h.id for h in first.hybrid] == [h.id for h in engine.search("苹果", k=3).hybrid]
    finally:
        store.close()


def test_add_update_remove_by_id_keep_document_frequencies(uri, request):
    _, engine = engines(uri, collection=f"change_{request.node.callspec.id}")
    store = engine.store
    try:
        engine.add([{"id": "pear", "text": "梨子很甜", "source": "faq"}])
        assert store.doc_freqs(["梨子", "水果"]) == [1, 2]
        hit = engine.search("梨子", k=1).keyword[0]
        assert (hit.id, hit.metadata, hit.matched_tokens) == ("pear", {"source": "faq"}, ("梨子",))
        engine.update("pear", "西瓜很甜")
        assert engine.search("梨子", mode="keyword").keyword == ()
        assert store.doc_freqs(["梨子", "西瓜"]) == [0, 1]
        engine.remove(["pear", "1"])
        assert len(engine) == len(KB) - 1 and store.doc_freqs(["西瓜", "苹果", "水果"]) == [0, 0, 1]
        assert "1" not in ids(engine.search("苹果 水果", k=8).hybrid)
        with pytest.raises(KeyError, match="nope"):
            engine.remove(["nope"])
        with pytest.raises(KnowledgeBaseError, match="already indexed"):
            engine.add([{"id": "3", "text": "x"}])
        assert store.key("3") == doc_key("3")
        assert store._read_properties()["hybrid.df_state"] == "clean"
    finally:
        store.close()


def test_read_only_serving_refuses_changes_and_fixed_bm25(uri, request):
    collection = f"ro_{request.node.callspec.id}"
    _, writer = engines(uri, collection=collection)
    writer.store.close()
    store = open_store(uri, collection=collection, read_only=True)
    try:
        engine = HybridEngine(embedder=OneHotEncoder(), store=store)
        assert engine.has_vectors and len(engine) == len(KB)
        assert engine.search("香蕉", k=1).hybrid[0].id == "2"
        with pytest.raises(StoreError, match="read-only"):
            engine.add(["新的一条"])
        with pytest.raises(StoreError, match="read-only"):
            engine.remove(["3"])
        with pytest.raises(ValueError, match="fixes BM25 k1=1.2 and b=0.75"):
            engine.search("香蕉", k1=2.0)
        assert engine.search("香蕉", k1=1.2, b=0.75).settings.k1 == 1.2  # the fixed values themselves are fine
        with pytest.raises(StoreError, match="holds vectors of fake:fake-onehot"):
            engine.set_embedder(OneHotEncoder("another-model"))
    finally:
        store.close()
    with pytest.raises(StoreError, match="no collection 'missing'.*" + collection):
        open_store(uri, collection="missing", read_only=True)


def test_lite_file_persists_and_checks_what_it_holds(tmp_path):
    path = tmp_path / "kb.db"
    _, engine = engines(f"milvus:{path}")
    before = engine.search("笔记本黑屏", k=3)
    engine.store.close()
    store = open_store(f"milvus:{path}", collection="kb", read_only=True)
    after = HybridEngine(embedder=OneHotEncoder(), store=store).search("笔记本黑屏", k=3)
    assert [h.to_dict() for h in after.hybrid] == [h.to_dict() for h in before.hybrid]
    store.close()
    with pytest.raises(StoreError, match="indexed with tokenizer"):
        open_store(f"milvus:{path}", collection="kb", tokenizer=Tokenizer(mode="precise"))
    with pytest.raises(StoreError, match="must end in .db"):
        open_store(f"milvus:{tmp_path / 'kb.sqlite'}")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"milvus:{tmp_path / 'none.db'}", read_only=True)
    with pytest.raises(StoreError, match="unknown vector index 'DISKANN'"):
        open_store(f"milvus:{path}", vector_index="DISKANN")


def test_interrupted_bulk_write_is_repaired(tmp_path):
    store = open_store(f"milvus:{tmp_path / 'kb.db'}", collection="kb")
    tok, enc = Tokenizer(), OneHotEncoder()
    docs = HybridEngine(KB).documents
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            with store.bulk():
                store.put(docs[:4], tok.tokenize_many([d.text for d in docs[:4]]),
                          enc.encode_documents([d.text for d in docs[:4]]), "fake:fake-onehot:7")
                raise RuntimeError("power cut")
        assert store.needs_repair
        assert store.repair() == 4 and not store.needs_repair
        assert store.doc_freqs(["水果", "巴黎"]) == [2, 1]
        with store.bulk():  # indexing again: unchanged entries change nothing, new ones count once
            store.put(docs, tok.tokenize_many([d.text for d in docs]), enc.encode_documents([d.text for d in docs]),
                      "fake:fake-onehot:7")
        assert len(store) == len(KB) and store.doc_freqs(["水果", "巴黎", "paris"]) == [2, 1, 1]
    finally:
        store.close()


def test_entry_limits_and_filter_literals(tmp_path):
    store = open_store(f"milvus:{tmp_path / 'kb.db'}", collection="kb")
    try:
        engine = HybridEngine(embedder=OneHotEncoder(), store=store)
        with pytest.raises(KnowledgeBaseError, match="split long entries"):
            engine.add([{"id": "long", "text": "字" * 30_000}])
        engine.add([{"id": 'quote"and\\slash', "text": '他说"你好"'}])
        assert engine.search("你好", k=1).keyword[0].id == 'quote"and\\slash'
    finally:
        store.close()
    assert literal('a"b\\c\n') == '"a\\"b\\\\c\\n"'


def test_analyzer_follows_the_tokenizer(tmp_path):
    user_dict = tmp_path / "words.txt"
    user_dict.write_text("显存不够 10 n\n", encoding="utf-8")
    params = analyzer_params(Tokenizer(mode="precise", user_dict=user_dict))
    assert params["tokenizer"] == {"type": "jieba", "mode": "exact", "hmm": True, "dict": ["_default_", "显存不够"]}
    stop = set(params["filter"][0]["stop_words"])
    assert {"的", "，", "。", "?", "！"} <= stop and not {"苹果", "paris", "1"} & stop


def test_missing_milvus_and_bad_uris_say_how_to_fix():
    with pytest.raises(StoreError, match="cannot open Milvus at http://127.0.0.1:9") as err:
        MilvusStore.open("http://root:s3cret@127.0.0.1:9", collection="kb", timeout=2)
    assert "s3cret" not in str(err.value)
    assert "check that a Milvus server answers at that host and port" in str(err.value)


def test_the_api_serves_a_store_read_only(tmp_path):
    from fastapi.testclient import TestClient

    from hybrid.semantic import LoadedEmbedder
    from hybrid.service import ModelService
    from server import ApiSettings, create_app
    from server.knowledge import ServerKnowledgeBase

    uri = f"milvus:{tmp_path / 'kb.db'}"
    _, writer = engines(uri)
    writer.store.close()

    def serve(model_name):
        service = ModelService(loader=lambda *a, **k: LoadedEmbedder(OneHotEncoder(model_name), "auto"), cache=False)
        store = open_store(uri, collection="kb", read_only=True)
        kb = ServerKnowledgeBase.from_store(store, service).start()
        assert kb.wait(30) == (model_name == "fake-onehot")
        return TestClient(create_app(service, kb, ApiSettings())), store

    client, store = serve("fake-onehot")
    try:
        health = client.get("/health").json()["knowledge_base"]
        assert health == {"path": "milvus collection kb", "size": len(KB), "state": "ready", "embedded": len(KB),
                          "error": None}
        body = client.post("/search", json={"query": "笔记本黑屏", "k": 2}).json()
        assert body["source"] == "knowledge_base" and body["documents"] == len(KB)
        assert body["hybrid"][0]["text"] == KB[4] and body["hybrid"][0]["semantic_score"] > 0.9
        assert body["settings"]["k1"] == 1.2  # the collection's BM25 parameters
        # ad-hoc documents still search in memory beside the store
        adhoc = client.post("/search", json={"query": "巴黎", "documents": ["巴黎很美", "苹果"], "mode": "keyword"})
        assert adhoc.json()["source"] == "documents" and adhoc.json()["keyword"][0]["text"] == "巴黎很美"
    finally:
        store.close()
    client, store = serve("another-model")  # the collection's vectors came from another model: keyword only
    try:
        health = client.get("/health").json()["knowledge_base"]
        assert health["state"] == "failed" and "holds vectors of fake:fake-onehot:7" in health["error"]
        assert str(tmp_path) not in health["error"]  # where files live is not shown
        assert client.post("/search", json={"query": "巴黎", "mode": "keyword"}).status_code == 200
        assert client.post("/search", json={"query": "巴黎"}).status_code == 503
    finally:
        store.close()


def test_reads_do_not_depend_on_the_cache_keeping_what_they_fetched(tmp_path, monkeypatch):
    """On a slow server the first rows of a large read can expire from the cache before the last arrive
    (seen at 100,000 entries under load: a KeyError in the middle of a search); every read answers from
    what it fetched itself."""
    import hybrid.store.milvus as milvus

    memory, stored = engines(f"milvus:{tmp_path / 'kb.db'}")
    monkeypatch.setattr(milvus, "_CACHE_SECONDS", -1.0)  # everything read has expired at once
    store = stored.store
    keys, _ = store.vector_sample(100)
    assert len(keys) == len(KB)
    assert sorted(d.text for d in store.documents(keys.tolist())) == sorted(KB)
    assert store.vectors(keys.tolist()).shape == (len(KB), memory.store.vectors([0]).shape[1])
    assert all(store.tokens(keys.tolist()))
    for query in ("苹果", "how to reset my password"):
        assert ids(stored.search(query, k=5, mode="all").hybrid) == ids(memory.search(query, k=5, mode="all").hybrid)


def test_traditional_and_simplified_find_each_other_in_milvus(uri, request):
    entries = ["打印机无法连接网络", "电脑开机后黑屏怎么办", "電腦螢幕閃爍怎麼處理", "開機密碼忘記了"]
    store = open_store(uri, collection=f"fold_{request.node.callspec.id}")
    try:
        engine = HybridEngine(entries, embedder=OneHotEncoder(), store=store)
        for query, expected in (("電腦開機黑屏", "电脑开机后黑屏怎么办"), ("电脑屏幕闪烁", "電腦螢幕閃爍怎麼處理")):
            response = engine.search(query, k=3, mode="keyword")
            top = response.keyword[0]
            assert top.text == expected and top.score > 0, query
            assert top.highlights and set(top.matched_tokens) >= {"电脑"}
    finally:
        store.close()
    with pytest.raises(StoreError, match="script folding"):
        open_store(uri, collection=f"fold_{request.node.callspec.id}", tokenizer=Tokenizer(fold=False))


def test_the_analyzer_gets_the_user_dictionary_words_folded(tmp_path):
    user_dict = tmp_path / "words.txt"
    user_dict.write_text("顯存不夠 10 n\nABX9000\n", encoding="utf-8")
    assert analyzer_params(Tokenizer(user_dict=user_dict))["tokenizer"]["dict"] == ["_default_", "显存不够", "abx9000"]
    assert analyzer_params(Tokenizer(user_dict=user_dict, fold=False))["tokenizer"]["dict"] == \
        ["_default_", "顯存不夠", "abx9000"]
