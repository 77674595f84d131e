"""Engine reranking: the reranker scores the first N hybrid hits, the engine sorts them into a fourth list."""

import threading

import numpy as np
import pytest

from hybrid import EngineNotReadyError, HybridEngine
from hybrid.fusion import Candidates
from hybrid.rerank import Reranker
from tests.fakes import OneHotEncoder, WordReranker

KB = [
    "苹果是一种很好吃的水果。",
    "香蕉是黄色的水果。",
    "我想吃苹果和香蕉。",
    "水果店今天打折，苹果便宜。",
    "法国的首都是巴黎。",
    "我的笔记本电脑黑屏了怎么办",
    "今天天气晴朗，适合散步。",
]
QUERY = "苹果好吃吗"


@pytest.fixture
def reranker():
    return WordReranker(["香蕉", "黄色"])


@pytest.fixture
def engine(reranker):
    return HybridEngine(KB, embedder=OneHotEncoder(), reranker=reranker)


def test_the_fake_is_a_reranker(reranker):
    assert isinstance(reranker, Reranker)


def test_reranked_list_is_sorted_by_the_reranker_with_movement_against_hybrid(engine, reranker):
    res = engine.search(QUERY, k=4, rerank=6)
    pool = engine.search(QUERY, k=6, rerank=0).hybrid  # the same first-stage order, not reranked
    assert reranker.calls[-1] == (QUERY, [h.text for h in pool])
    scores = reranker.score(QUERY, [h.text for h in pool])
    expected = sorted(range(len(pool)), key=lambda i: (-scores[i], i))[:4]  # ties keep the hybrid order
    assert [h.id for h in res.reranked] == [pool[i].id for i in expected]
    assert [h.rank for h in res.reranked] == [1, 2, 3, 4]
    for hit, i in zip(res.reranked, expected):
        assert hit.rerank_score == hit.score == pytest.approx(scores[i])
        assert hit.hybrid_rank == i + 1  # movement = hybrid_rank - rank
        assert hit.text == pool[i].text and hit.keyword_score == pool[i].keyword_score
    assert res.reranked[0].id == "2" and res.reranked[0].hybrid_rank > 1  # 香蕉是黄色的 rises to the top
    assert res.reranker == "fake-reranker"


def test_other_lists_carry_the_rerank_score_and_the_hybrid_list_keeps_k(engine):
    res = engine.search(QUERY, k=3, rerank=6)
    assert len(res.hybrid) == 3 and [h.rank for h in res.hybrid] == [1, 2, 3]
    reranked_ids = {h.id: h.rerank_score for h in engine.search(QUERY, k=6, rerank=6).reranked}
    for hit in (*res.keyword, *res.semantic, *res.hybrid):
        assert hit.rerank_score == (reranked_ids.get(hit.id))


def test_only_the_first_n_hybrid_hits_are_reranked(engine, reranker):
    full = engine.search(QUERY, k=7, rerank=0).hybrid
    banana = next(h.rank for h in full if h.id == "2")
    n = banana - 1  # the reranker's favourite sits just below the cut
    res = engine.search(QUERY, k=3, rerank=n)
    assert len(reranker.calls[-1][1]) == n
    assert "2" not in [h.id for h in res.reranked]
    assert {h.id for h in res.reranked} <= {h.id for h in full[:n]}


def test_fewer_candidates_than_k_give_a_shorter_list(engine):
    res = engine.search(QUERY, k=5, rerank=2)
    assert len(res.reranked) == 2 and len(res.hybrid) == 5


def test_timings_include_the_rerank_stage(engine):
    res = engine.search(QUERY, k=3, rerank=5)
    assert {"tokenize", "keyword", "embed", "vector", "fuse", "rerank", "total"} == set(res.timings_ms)
    assert res.timings_ms["total"] >= res.timings_ms["rerank"] + res.timings_ms["fuse"]


def test_default_depth_and_switching_off(engine, reranker):
    res = engine.search(QUERY, k=3)
    assert len(reranker.calls[-1][1]) == min(20, len(KB)) and len(res.reranked) == 3
    assert res.settings.rerank == 20
    calls = len(reranker.calls)
    off = engine.search(QUERY, k=3, rerank=0)
    assert off.reranked == () and off.reranker == "" and "rerank" not in off.timings_ms
    assert len(reranker.calls) == calls
    assert all(h.rerank_score is None for h in off.hybrid)


def test_modes_without_the_hybrid_list(engine, reranker):
    for mode in ("keyword", "semantic"):
        assert engine.search(QUERY, mode=mode).reranked == ()  # the default simply does not apply
        with pytest.raises(ValueError, match="rerank re-scores the hybrid list"):
            engine.search(QUERY, mode=mode, rerank=5)
    assert engine.search(QUERY, mode="hybrid", k=2, rerank=4).reranked


def test_no_reranker_attached():
    engine = HybridEngine(KB, embedder=OneHotEncoder())
    res = engine.search(QUERY, k=3)
    assert res.reranked == () and res.reranker == ""
    with pytest.raises(EngineNotReadyError, match="needs a reranker"):
        engine.search(QUERY, rerank=5)
    with pytest.raises(EngineNotReadyError, match="no reranker"):
        engine.rerank(QUERY, Candidates(np.array([0, 1]), np.zeros(2)))
    with pytest.raises(ValueError, match="rerank is how many"):
        engine.search(QUERY, rerank=-1)
    engine.reranker = WordReranker(["巴黎"])
    assert engine.search("法国首都", k=1).reranked[0].id == "5"


def test_engine_rerank_orders_candidates(engine):
    retrieval = engine.retrieve(QUERY)
    fused = retrieval.fuse(0.3, "adaptive")
    first = Candidates(fused.docs[:5], fused.scores[:5])
    out = engine.rerank(QUERY, first)
    assert sorted(out.docs.tolist()) == sorted(first.docs.tolist())
    assert list(out.scores) == sorted(out.scores, reverse=True)
    texts = {d.id: d.text for d in engine.documents}
    top = engine.store.documents([int(out.docs[0])])[0]
    assert "香蕉" in texts[top.id]


def test_the_reranker_runs_outside_the_engine_lock():
    gate = threading.Event()
    engine = HybridEngine(KB, embedder=OneHotEncoder(), reranker=WordReranker(["香蕉"], gate=gate))
    done = []
    slow = threading.Thread(target=lambda: done.append(engine.search(QUERY, rerank=5)))
    slow.start()
    try:
        # While the reranker is busy, another search on the same engine is answered.
        quick = engine.search(QUERY, mode="keyword", k=2)
        assert quick.keyword and not done
    finally:
        gate.set()
        slow.join(10)
    assert done and done[0].reranked


def test_response_to_dict_has_the_reranked_list(engine):
    import json

    out = engine.search(QUERY, k=2, rerank=4).to_dict()
    json.dumps(out, ensure_ascii=False)
    assert out["reranker"] == "fake-reranker" and len(out["reranked"]) == 2
    assert out["reranked"][0]["rerank_score"] == out["reranked"][0]["score"]
    assert out["settings"]["rerank"] == 4


@pytest.mark.model
def test_end_to_end_with_the_tiny_qwen3_reranker(tiny_reranker):
    engine = HybridEngine(KB, embedder=OneHotEncoder(), reranker=tiny_reranker)
    res = engine.search(QUERY, k=3, rerank=5)
    pool = engine.search(QUERY, k=5, rerank=0).hybrid
    scores = tiny_reranker.score(QUERY, [h.text for h in pool])
    assert [h.rerank_score for h in res.reranked] == pytest.approx(sorted(scores, reverse=True)[:3], abs=1e-6)
    assert res.reranker == tiny_reranker.name
