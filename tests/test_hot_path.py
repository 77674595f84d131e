"""The engine's search hot path: hits built only for those shown, highlights, batches, the int8 scan inside."""

from pathlib import Path

import numpy as np
import pytest

import hybrid.vectors as vectors
from hybrid import EmptyQueryError, HybridEngine, Settings
from hybrid.tokenize import Tokenizer
from tests.fakes import OneHotEncoder

KB = [
    "苹果是一种很好吃的水果，苹果也能做成果汁。",
    "香蕉是黄色的水果。",
    "法国的首都是巴黎。",
    "我的笔记本电脑黑屏了怎么办",
]


def expected_spans(text, matched):
    spans = sorted((t.start, t.end) for t in Tokenizer().tokenize_with_offsets(text) if t.text in set(matched))
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return tuple((s, e) for s, e in merged)


def test_highlights_equal_a_fresh_tokenisation_in_every_list():
    engine = HybridEngine(KB, embedder=OneHotEncoder())
    for _ in range(2):  # the second search reads the offsets cache
        res = engine.search("苹果 水果", k=4)
        for hit in res.keyword + res.semantic + res.hybrid:
            assert hit.highlights == expected_spans(hit.text, hit.matched_tokens)
            assert (hit.highlights == ()) == (hit.matched_tokens == ())


def test_highlights_follow_an_updated_text():
    engine = HybridEngine(KB, embedder=OneHotEncoder())
    assert engine.search("巴黎", k=1, mode="keyword").keyword[0].highlights == ((6, 8),)
    engine.update("3", "巴黎是法国的首都。")
    assert engine.search("巴黎", k=1, mode="keyword").keyword[0].highlights == ((0, 2),)


class RowEmbedder(OneHotEncoder):
    """Random unit vectors per document text (fixed by the text), for an index large enough for int8."""

    def __init__(self):
        super().__init__("row-embedder")
        self.dimension = 48

    def _encode(self, texts):
        rows = [np.random.default_rng(abs(hash(t)) % (2**32)).standard_normal(self.dimension) for t in texts]
        out = np.asarray(rows, dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_engine_semantic_list_is_the_same_with_the_int8_scan():
    texts = [f"文档{i}" for i in range(vectors.INT8_MIN_ROWS + 10)]
    engine = HybridEngine(texts, embedder=RowEmbedder())
    assert isinstance(engine.store._vectors._scan(), vectors.Int8Scan)
    matrix = np.asarray(engine.store._vectors.matrix)
    for query in ("文档12", "随便问点什么", "第三个问题"):
        res = engine.search(query, k=10, mode="semantic")
        scores = matrix @ res.query_vector
        want = np.lexsort((np.arange(len(scores)), -scores))[:10]
        got = [engine.store.key(h.id) for h in res.semantic]  # keys are positions: nothing was removed
        np.testing.assert_allclose(scores[got], scores[want], atol=1e-6)


def test_equal_tokens_share_one_string_object():
    engine = HybridEngine(["苹果和香蕉", "香蕉和苹果"])
    engine.set_documents(["苹果和香蕉", "香蕉和苹果", "又是苹果"])
    tokens = [t for doc in engine.store._tokens for t in doc if t == "苹果"]
    assert len(tokens) == 3 and all(t is tokens[0] for t in tokens)


# ------------------------------------------------------------------ batches: search_many, retrieve_many


SAMPLES = sorted((Path(__file__).parents[1] / "data" / "samples").glob("*.txt"))
QUERIES = ["我的笔记本电脑黑屏了怎么办", "苹果 水果", "怎么学习Python", "今天天气怎么样", "数据库 性能 优化",
           "qwertyuiop", "机器学习模型", "我想吃点东西"]


def sample_lines():
    lines = []
    for path in SAMPLES:
        lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return list(dict.fromkeys(lines))


def without_timings(response):
    out = response.to_dict(include_vector=True)
    del out["timings_ms"]
    return out


@pytest.mark.parametrize("mode", ["all", "keyword", "semantic", "hybrid"])
def test_search_many_gives_what_search_gives(mode):
    engine = HybridEngine(sample_lines(), embedder=OneHotEncoder())
    many = engine.search_many(QUERIES, k=4, mode=mode, alpha=0.4)
    assert [without_timings(r) for r in many] == [without_timings(engine.search(q, k=4, mode=mode, alpha=0.4))
                                                  for q in QUERIES]
    for response in many:
        if mode != "keyword":
            assert {"embed", "vector"} <= set(response.timings_ms)
        assert response.timings_ms["total"] >= sum(v for s, v in response.timings_ms.items() if s != "total") - 1e-6


def test_search_many_on_an_int8_sized_index_and_with_a_reranker():
    from tests.fakes import WordReranker

    texts = [f"文档{i}" for i in range(vectors.INT8_MIN_ROWS + 10)]
    engine = HybridEngine(texts, embedder=RowEmbedder(), reranker=WordReranker(["文档7"]))
    queries = ["文档12", "随便问点什么", "第三个问题", "文档7"] * 2
    many = engine.search_many(queries, k=5, rerank=8)
    assert [without_timings(r) for r in many] == [without_timings(engine.search(q, k=5, rerank=8)) for q in queries]
    assert all(r.reranked and "rerank" in r.timings_ms for r in many)


def test_retrieve_many_gives_what_retrieve_gives():
    engine = HybridEngine(sample_lines(), embedder=OneHotEncoder())
    vectors_ = engine.embed_queries(QUERIES)
    for given in (None, vectors_):
        for one, batched in zip([engine.retrieve(q) for q in QUERIES], engine.retrieve_many(QUERIES, given)):
            assert one.tokens == batched.tokens and one.evidence == batched.evidence
            for a, b in ((one.keyword, batched.keyword), (one.semantic, batched.semantic)):
                assert a.docs.tolist() == b.docs.tolist() and a.scores.tolist() == b.scores.tolist()
            np.testing.assert_array_equal(one.query_vector, batched.query_vector)
    assert engine.retrieve_many([]) == []
    with pytest.raises(ValueError, match="2 query vectors for 3 queries"):
        engine.retrieve_many(QUERIES[:3], vectors_[:2])


def test_batches_embed_the_uncached_queries_in_one_call_and_check_every_query_first():
    encoder = OneHotEncoder()
    engine = HybridEngine(KB, embedder=encoder)
    engine.embed_query("苹果 水果")
    calls = encoder.query_calls
    out = engine.embed_queries(["苹果 水果", "巴黎", "巴黎", "香蕉"])
    assert encoder.query_calls == calls + 1  # one batch for the two new distinct queries
    np.testing.assert_array_equal(out[1], out[2])
    np.testing.assert_array_equal(out[0], engine.embed_query("苹果 水果"))
    with pytest.raises(EmptyQueryError):
        engine.search_many(["新问题", "  "])
    assert encoder.query_calls == calls + 1  # the blank query stopped the batch before any embedding
    assert engine.search_many([]) == []


# ------------------------------------------------------------------ hits: only those shown, highlights


def test_highlights_equal_a_fresh_tokenisation_on_the_samples():
    engine = HybridEngine(sample_lines(), embedder=OneHotEncoder())
    checked = 0
    for query in QUERIES + ["Python 的 数据", "iPhone 15", "电脑 黑屏 屏幕"]:
        res = engine.search(query, k=10)
        for hit in res.keyword + res.semantic + res.hybrid:
            assert hit.highlights == expected_spans(hit.text, hit.matched_tokens), (query, hit.text)
            checked += bool(hit.highlights)
    assert checked > 20


def test_a_token_inside_a_longer_word_is_not_highlighted_there():
    engine = HybridEngine(["I like pineapple and apple pie", "Apple 苹果手机 apple"])
    first, second = engine.search("apple", k=2, mode="keyword").keyword
    texts = {h.text: h.highlights for h in (first, second)}
    assert texts["I like pineapple and apple pie"] == ((21, 26),)  # not the "apple" of "pineapple"
    assert texts["Apple 苹果手机 apple"] == ((0, 5), (11, 16))  # both, whatever their case


def test_only_the_shown_hits_are_looked_up():
    engine = HybridEngine(sample_lines(), embedder=OneHotEncoder(), settings=Settings(window=40))
    store = engine.store
    asked: dict[str, list] = {"tokens": [], "cosines": [], "highlights": []}
    tokens, cosines, highlights = store.tokens, store.cosines, engine._highlights
    store.tokens = lambda keys: asked["tokens"].extend(keys) or tokens(keys)
    store.cosines = lambda keys, v: asked["cosines"].append(list(keys)) or cosines(keys, v)
    engine._highlights = lambda text, toks, matched: asked["highlights"].append(text) or highlights(text, toks, matched)
    res = engine.search("电脑 黑屏 怎么办 学习", k=3)
    shown = {store.key(h.id) for h in res.keyword + res.semantic + res.hybrid}
    assert len(res.hybrid) == 3 and len(shown) <= 9
    assert set(asked["tokens"]) == shown and len(asked["tokens"]) == len(shown)
    *for_fusion, for_hits = asked["cosines"]
    assert set(for_hits) == shown and len(for_hits) == len(shown)
    # besides, fusion looks up the cosines of keyword candidates outside the semantic window, once
    retrieval = engine.retrieve("电脑 黑屏 怎么办 学习")
    outside = set(retrieval.keyword.docs.tolist()) - set(retrieval.semantic.docs[:retrieval.semantic.own].tolist())
    assert [set(keys) for keys in for_fusion] == ([outside] if outside else [])
    assert len(asked["highlights"]) <= len(shown)


def test_evaluation_retrieves_its_queries_in_batches(monkeypatch):
    from hybrid.evaluate import LabelledSet, evaluate

    engine = HybridEngine(sample_lines(), embedder=OneHotEncoder())
    docs = engine.documents
    queries = tuple((f"q{i}", QUERIES[i % len(QUERIES)]) for i in range(70))
    labelled = LabelledSet("t", docs, queries, {qid: {docs[i % 5].id: 1} for i, (qid, _) in enumerate(queries)})
    many = engine.retrieve_many
    with monkeypatch.context() as patch:  # the same evaluation with one retrieve() per query
        patch.setattr(engine, "retrieve_many", lambda texts, query_vectors=None, **_: [
            engine.retrieve(t, query_vector=None if query_vectors is None else query_vectors[i])
            for i, t in enumerate(texts)])
        one_by_one = evaluate(engine, labelled, fusions=["weighted"], alphas=[0.5])
    batches = []
    monkeypatch.setattr(engine, "retrieve_many", lambda texts, query_vectors=None, **_: batches.append(len(texts))
                        or many(texts, query_vectors))
    monkeypatch.setattr(engine, "retrieve", lambda *a, **k: pytest.fail("retrieved one query at a time"))
    report = evaluate(engine, labelled, fusions=["weighted"], alphas=[0.5])
    assert batches == [64, 6]
    assert report["results"] == one_by_one["results"] and report["sweep"] == one_by_one["sweep"]
