"""The engine's search hot path: highlights computed once per document, int8 vector scan inside the engine."""

import numpy as np

import hybrid.vectors as vectors
from hybrid import HybridEngine
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
