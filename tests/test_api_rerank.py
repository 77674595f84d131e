"""POST /v1/rerank and `rerank` in /search: in-process with a fake reranker (fast), then the real server on a
loopback port with the tiny Qwen3 reranker, called as rerank clients call it (httpx, the common schema)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from hybrid.rerank import LoadedReranker, RerankerLoadError
from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from server import ApiSettings, create_app
from server.rerank import run_rerank
from tests.fakes import OneHotEncoder, WordReranker

KB = ["我爱吃苹果和香蕉", "法国的首都是巴黎", "笔记本电脑黑屏怎么办", "香蕉是黄色的水果", "深度学习模型需要大量数据"]
DOCS = ["巴黎是法国的首都", "香蕉很好吃", "黄色的香蕉", "电脑黑屏"]


def service_with(reranker="fake", gate: threading.Event | None = None, error: Exception | None = None,
                 loaded: LoadedReranker | None = None) -> ModelService:
    """A service with the fake embedder and a ``load_reranker`` stand-in (the fake WordReranker)."""

    def load_reranker(model, device="auto"):
        if gate is not None:
            gate.wait(30)
        if error is not None:
            raise error
        return loaded or LoadedReranker(WordReranker(["香蕉", "黄色"], name="fake-reranker"), model)

    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model),
                           reranker=reranker, reranker_loader=load_reranker).start()
    service.wait(10)
    return service


def client_for(service: ModelService | None = None, **settings) -> TestClient:
    service = service or service_with()
    service.wait_reranker(0 if service.reranker_requested == "none" else 10)
    return TestClient(create_app(service, service.new_engine(KB), ApiSettings(**settings)))


@pytest.fixture(scope="module")
def client() -> TestClient:
    return client_for()


# ----------------------------------------------------------------------------- POST /v1/rerank


def test_rerank_orders_documents_in_the_common_schema(client):
    r = client.post("/v1/rerank", json={"model": "fake-reranker", "query": "水果", "documents": DOCS, "top_n": 3,
                                        "return_documents": True})
    assert r.status_code == 200, r.text
    body = r.json()
    scores = WordReranker(["香蕉", "黄色"]).score("水果", DOCS)
    order = sorted(range(len(DOCS)), key=lambda i: (-scores[i], i))[:3]
    assert [x["index"] for x in body["results"]] == order == [2, 1, 0]
    assert [x["relevance_score"] for x in body["results"]] == pytest.approx([scores[i] for i in order])
    assert [x["document"] for x in body["results"]] == [{"text": DOCS[i]} for i in order]
    assert body["model"] == "fake-reranker" and body["id"].startswith("rerank-")
    assert body["usage"]["total_tokens"] == sum(len("水果") + len(d) for d in DOCS)


def test_documents_as_objects_all_results_and_no_documents_by_default(client):
    r = client.post("/v1/rerank", json={"query": "水果", "documents": [{"text": d} for d in DOCS]})
    results = r.json()["results"]
    assert r.status_code == 200 and len(results) == len(DOCS)
    assert all(set(x) == {"index", "relevance_score"} for x in results)
    assert sorted(x["index"] for x in results) == list(range(len(DOCS)))


@pytest.mark.parametrize("body, code, param", [
    ({"query": "", "documents": DOCS}, "empty_query", "query"),
    ({"documents": DOCS}, "empty_query", "query"),
    ({"query": "水果", "documents": []}, "invalid_documents", "documents"),
    ({"query": "水果"}, "invalid_documents", "documents"),
    ({"query": "水果", "documents": DOCS, "top_n": 0}, "invalid_request", None),
    ({"query": "水果", "documents": [1, 2]}, "invalid_request", None),
])
def test_bad_requests_are_400_in_openai_shape(client, body, code, param):
    r = client.post("/v1/rerank", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    if param:
        assert error["param"] == param


def test_another_model_is_a_404_naming_the_served_one(client):
    r = client.post("/v1/rerank", json={"model": "bge-reranker", "query": "水果", "documents": DOCS})
    assert r.status_code == 404 and "fake-reranker" in r.json()["error"]["message"]


def test_limits_name_the_variable():
    c = client_for(max_rerank=3, max_input_chars=10)
    r = c.post("/v1/rerank", json={"query": "水果", "documents": DOCS})  # sizes are 413, other values 400
    assert r.status_code == 413 and "HYBRID_MAX_RERANK" in r.json()["error"]["message"]
    assert "limit is 3" in r.json()["error"]["message"]
    r = c.post("/v1/rerank", json={"query": "水果", "documents": ["x" * 11]})
    assert r.status_code == 413 and "HYBRID_MAX_INPUT_CHARS" in r.json()["error"]["message"]
    r = c.post("/search", json={"query": "水果", "rerank": 4})
    assert r.status_code == 400 and "HYBRID_MAX_RERANK" in r.json()["message"]
    # The fake counts len(query) + len(text) tokens per pair: (2 + 8) + (2 + 5) + (2 + 5) + (2 + 4) = 30.
    small_budget = client_for(max_tokens=29)
    r = small_budget.post("/v1/rerank", json={"query": "水果", "documents": DOCS})
    assert r.status_code == 413 and "HYBRID_MAX_TOKENS" in r.json()["error"]["message"] and "is 30" in r.text
    assert client_for(max_tokens=30).post("/v1/rerank", json={"query": "水果", "documents": DOCS}).status_code == 200


def test_without_a_reranker_the_answer_says_how_to_start_one():
    c = client_for(service_with(reranker="none"))
    r = c.post("/v1/rerank", json={"query": "水果", "documents": DOCS})
    assert r.status_code == 400 and r.json()["error"]["code"] == "no_reranker"
    assert "--reranker" in r.json()["error"]["message"] and "qwen3-0.6b" in r.json()["error"]["message"]
    r = c.post("/search", json={"query": "水果", "rerank": 5})
    assert r.status_code == 400 and r.json()["error"] == "no reranker loaded"
    body = c.post("/search", json={"query": "水果"}).json()
    assert body["reranked"] == [] and body["reranker"] == ""  # nothing asked, nothing reranked
    auto_off = client_for(service_with(reranker="auto", loaded=LoadedReranker(None, "auto", "no CUDA GPU")))
    r = auto_off.post("/v1/rerank", json={"query": "水果", "documents": DOCS})
    assert r.status_code == 400 and "no CUDA GPU" in r.json()["error"]["message"]
    assert auto_off.get("/health").json()["reranker"]["state"] == "off"


def test_while_loading_503_with_retry_after_and_a_failure_says_why():
    gate = threading.Event()
    service = service_with(gate=gate)
    c = TestClient(create_app(service, service.new_engine(KB), ApiSettings()))
    try:
        r = c.post("/v1/rerank", json={"query": "水果", "documents": DOCS})
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert c.get("/health").json()["status"] == "loading"
        assert c.post("/search", json={"query": "水果", "k": 2}).status_code == 200  # search does not wait
    finally:
        gate.set()
    service.wait_reranker(10)
    assert c.post("/v1/rerank", json={"query": "水果", "documents": DOCS}).status_code == 200
    failed = client_for(service_with(error=RerankerLoadError("no such folder")))
    r = failed.post("/v1/rerank", json={"query": "水果", "documents": DOCS})
    assert r.status_code == 503 and "retry-after" not in r.headers and "no such folder" in r.json()["error"]["message"]
    health = failed.get("/health").json()
    assert health["status"] == "degraded" and health["reranker"]["state"] == "failed"


def test_models_and_health_list_the_reranker(client):
    data = client.get("/v1/models").json()["data"]
    assert [m["id"] for m in data] == ["fake-onehot", "fake-reranker"]
    assert data[1]["task"] == "rerank" and data[1]["instruction"] == "fake"
    health = client.get("/health").json()
    assert health["reranker"] == {"state": "ready", "requested": "fake", "name": "fake-reranker", "device": "cpu",
                                  "dtype": "float32", "reason": None, "error": None}


def test_the_api_key_and_the_body_limit_cover_rerank():
    c = client_for(api_key="s3cret", max_body_bytes=2000)
    body = {"query": "水果", "documents": DOCS}
    assert c.post("/v1/rerank", json=body).status_code == 401
    assert c.post("/v1/rerank", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.post("/v1/rerank", json=body, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    big = {"query": "水果", "documents": ["x" * 3000]}
    assert c.post("/v1/rerank", json=big, headers={"Authorization": "Bearer s3cret"}).status_code == 413


def test_fuzzed_rerank_bodies_never_give_a_5xx(client):
    texts = st.text(max_size=30)
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | texts,
                               lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                               max_leaves=8)
    near = st.fixed_dictionaries({}, optional={
        "query": texts | json_values, "documents": st.lists(texts | st.fixed_dictionaries({"text": texts}), max_size=4)
        | json_values, "top_n": st.integers(-2, 6) | json_values, "return_documents": json_values,
        "model": texts | json_values})
    bodies = (near | json_values).map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")) | st.binary(max_size=64)

    @hyp_settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=bodies)
    def check(body):
        r = client.post("/v1/rerank", content=body, headers={"content-type": "application/json"})
        assert r.status_code < 500, (body[:200], r.status_code, r.text[:300])
        assert "error" in r.json() or r.status_code == 200

    check()


# ----------------------------------------------------------------------------- rerank in /search


def test_search_returns_the_reranked_list_with_movement(client):
    r = client.post("/search", json={"query": "苹果", "k": 3, "rerank": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reranker"] == "fake-reranker" and len(body["reranked"]) == 3
    assert body["settings"]["rerank"] == 5 and "rerank" in body["timings_ms"]
    top = body["reranked"][0]
    assert "香蕉" in top["text"] and top["rerank_score"] == top["score"]
    assert top["hybrid_rank"] >= top["rank"]
    assert body["reranked"] == sorted(body["reranked"], key=lambda h: -h["rerank_score"])
    assert client.post("/search", json={"query": "苹果", "rerank": 0}).json()["reranked"] == []
    assert client.post("/search", json={"query": "苹果"}).json()["reranked"]  # the server has one: default 20


def test_search_rerank_over_adhoc_documents_and_bad_values(client):
    r = client.post("/search", json={"query": "水果", "documents": DOCS, "k": 2, "rerank": 4})
    assert r.status_code == 200 and r.json()["reranked"][0]["text"] == "黄色的香蕉"
    r = client.post("/search", json={"query": "水果", "rerank": 3, "mode": "keyword"})
    assert r.status_code == 400 and "hybrid list" in r.json()["message"]
    for bad in (-1, "many", 2.5, True):
        assert client.post("/search", json={"query": "水果", "rerank": bad}).status_code == 400, bad


def test_a_rerank_whose_client_left_stops():
    """Issue item: /v1/rerank went on scoring after its client gave up. It scores a batch at a time and stops
    after the batch it is on, on the real server."""
    import time

    from server.app import start

    class SlowReranker(WordReranker):
        batch_size = 4
        scored = 0

        def score(self, query, texts):
            time.sleep(0.025 * len(texts))
            self.scored += len(texts)
            return super().score(query, texts)

    slow = SlowReranker(["香蕉"])
    service = service_with(loaded=LoadedReranker(slow, "slow"))
    service.wait_reranker(10)
    running = start(None, service, host="127.0.0.1", port=0, api_settings=ApiSettings())
    try:
        with pytest.raises(httpx.ReadTimeout):  # 100 documents: 25 batches, 2.5 s of scoring
            httpx.post(f"{running.url}/v1/rerank", json={"query": "香蕉", "documents": DOCS * 25}, timeout=0.5)
        time.sleep(3.0)  # past the time all 100 would take
        stopped_at = slow.scored
        time.sleep(0.5)
        assert slow.scored == stopped_at < 80, stopped_at
    finally:
        running.stop()


def test_run_rerank_without_a_web_framework():
    service = service_with()
    service.wait_reranker(10)
    out = run_rerank(service, ApiSettings(), "水果", DOCS, top_n=1)
    assert out["results"] == [{"index": 2, "relevance_score": 1.0}]


# ============================================================================= the real server, real reranker


@pytest.fixture(scope="module")
def live_reranker(tiny_reranker_path):
    """The real server (uvicorn, loopback, free port) with the tiny Qwen3 reranker loaded by name."""
    from server.app import start

    service = ModelService(cache=False, loader=lambda model, **_: LoadedEmbedder(OneHotEncoder(), model),
                           reranker=str(tiny_reranker_path), device="cpu")
    running = start(None, service, host="127.0.0.1", port=0, api_settings=ApiSettings(api_key="k1"))
    assert service.wait_reranker(120) is not None, service.reranker_status()
    yield running, service.reranker
    running.stop()


@pytest.mark.server
@pytest.mark.model
def test_a_rerank_client_over_http_gets_the_models_own_scores(live_reranker):
    running, reranker = live_reranker
    query = "笔记本电脑黑屏怎么办"
    documents = ["电脑开机后屏幕没有显示", "今天天气很好", "laptop screen is black after boot", "苹果是一种水果"]
    # As the rerank clients' documentation shows it: a bearer key and the shared JSON schema.
    r = httpx.post(f"{running.url}/v1/rerank", headers={"Authorization": "Bearer k1"}, timeout=60,
                   json={"model": reranker.name, "query": query, "documents": documents, "top_n": 3,
                         "return_documents": True})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = reranker.score(query, documents)
    order = np.argsort(-expected, kind="stable")[:3].tolist()
    assert [x["index"] for x in body["results"]] == order
    assert [x["relevance_score"] for x in body["results"]] == pytest.approx(expected[order].tolist(), abs=1e-6)
    assert [x["document"]["text"] for x in body["results"]] == [documents[i] for i in order]
    assert body["usage"]["total_tokens"] == sum(reranker.count_tokens(query, documents)) > 0
    assert httpx.post(f"{running.url}/v1/rerank", json={"query": query, "documents": documents}).status_code == 401
    models = httpx.get(f"{running.url}/v1/models", headers={"Authorization": "Bearer k1"}).json()["data"]
    # A local folder is named by its last part: where it lives is not shown.
    assert models[-1]["id"] == Path(reranker.name).name and models[-1]["max_tokens"] == 8192


@pytest.mark.server
@pytest.mark.model
def test_search_over_http_reranks_with_the_real_reranker(live_reranker):
    running, reranker = live_reranker
    r = httpx.post(f"{running.url}/search", headers={"Authorization": "Bearer k1"}, timeout=60,
                   json={"query": "苹果好吃", "documents": KB, "k": 3, "rerank": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reranker"] == reranker.name
    scores = [h["rerank_score"] for h in body["reranked"]]
    assert scores == sorted(scores, reverse=True) and len(scores) == 3
    texts = [h["text"] for h in body["reranked"]]
    assert scores == pytest.approx(reranker.score("苹果好吃", texts).tolist(), abs=1e-6)
