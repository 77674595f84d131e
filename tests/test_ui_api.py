"""The page's one public endpoint, called as programs call it: ``gradio_client`` and an MCP client against the
running servers (``python demo.py --mcp`` with the real packaged model; the fake-model demo with a server
knowledge base). Its answers must equal POST /search's."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.server, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

KB = ["学习一门外语最好每天坚持练习听力和口语。", "法国的首都是巴黎。", "明天可能会下雨，出门记得带伞。",
      "苹果是一种很好吃的水果。", "跑步前要充分热身，避免拉伤肌肉。"]


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def _comparable(answer: dict) -> dict:
    """An answer without what differs between two runs of the same search (timings)."""
    return {key: value for key, value in answer.items() if key != "timings_ms"}


@pytest.mark.model
def test_gradio_client_sees_one_typed_endpoint_and_gets_semantic_results(real_demo):
    client = _client(real_demo.url)
    api = client.view_api(return_format="dict", print_info=False)
    assert list(api["named_endpoints"]) == ["/search"] and api["unnamed_endpoints"] == {}
    params = {p["parameter_name"]: p for p in api["named_endpoints"]["/search"]["parameters"]}
    assert list(params) == ["query", "knowledge_base", "k", "alpha", "fusion", "mode", "rerank"]
    assert params["k"]["parameter_default"] == 5 and params["fusion"]["parameter_default"] == "adaptive"
    assert not params["query"]["parameter_has_default"]

    answer = client.predict("怎样学好英语", KB, 3, api_name="/search")
    assert answer["model"] == "multilingual-e5-small" and answer["source"] == "documents"
    assert answer["documents"] == len(KB)
    assert [h["text"] for h in answer["semantic"]][0] == KB[0]
    assert answer["hybrid"][0]["text"] == KB[0] and answer["keyword"] == []
    assert len(answer["semantic"]) == 3 and answer["semantic"][0]["semantic_score"] > 0.85

    # The same JSON as POST /search for the same request.
    posted = httpx.post(f"{real_demo.url}search", json={"query": "怎样学好英语", "documents": KB, "k": 3},
                        timeout=60).json()
    assert _comparable(answer) == _comparable(posted)

    keyword_only = client.predict(query="巴黎", knowledge_base=KB, mode="keyword", api_name="/search")
    assert keyword_only["keyword"][0]["text"] == "法国的首都是巴黎。" and keyword_only["semantic"] == []


@pytest.mark.model
def test_gradio_client_errors_say_what_to_fix(real_demo):
    from gradio_client.exceptions import AppError

    client = _client(real_demo.url)
    with pytest.raises(AppError, match="unknown fusion 'nope'; choose one of weighted, rrf, adaptive"):
        client.predict("巴黎", KB, fusion="nope", api_name="/search")
    with pytest.raises(AppError, match="no_knowledge_base"):
        client.predict("巴黎", api_name="/search")  # this server has no --kb
    with pytest.raises(AppError, match="empty_query"):
        client.predict("  ", KB, api_name="/search")


def test_gradio_client_searches_the_servers_knowledge_base(fake_demo):
    client = _client(fake_demo.url)
    answer = client.predict("巴黎", api_name="/search")
    assert answer["source"] == "knowledge_base" and answer["documents"] == 2
    assert answer["keyword"][0]["text"] == "服务器知识库：巴黎是法国的首都。"
    posted = httpx.post(f"{fake_demo.url}search", json={"query": "巴黎"}, timeout=60).json()
    assert _comparable(answer) == _comparable(posted)


def test_the_endpoints_documents_are_bounded_as_post_searchs_are(fake_demo):
    """POST /search's body limit (HYBRID_MAX_BODY_BYTES) bounds its documents; the page's endpoint takes page-sized
    bodies (31 MB), so 6 MB of documents were tokenised there (19 s of jieba a request, measured). The same bound
    now holds for the documents themselves, said before any work."""
    from gradio_client.exceptions import AppError

    from server.settings import DEFAULT_API_SETTINGS

    documents = ["巴黎" + "电" * 8000] + ["电" * 8000] * 199  # 200 x 24 KB: 4.8 MB, each within max_input_chars
    size = sum(len(d.encode("utf-8")) for d in documents)
    assert size > DEFAULT_API_SETTINGS.max_body_bytes
    client = _client(fake_demo.url)
    limit = DEFAULT_API_SETTINGS.max_body_bytes
    with pytest.raises(AppError, match=rf"the knowledge_base entries' total size \(bytes, UTF-8\) is {size}; "
                                       rf"the limit is {limit} \(HYBRID_MAX_BODY_BYTES\)"):
        client.predict("巴黎", documents, mode="keyword", api_name="/search")
    answer = client.predict("巴黎", documents[:100], mode="keyword", api_name="/search")  # 2.4 MB: searched
    assert answer["documents"] == 100 and [h["text"][:2] for h in answer["keyword"]] == ["巴黎"]


async def _mcp(url: str, arguments: dict, headers: dict | None = None, error: bool = False) -> tuple[list, Any]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async with streamablehttp_client(f"{url}gradio_api/mcp/", headers=headers) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            result = await session.call_tool(tools[0].name, arguments)
            assert result.isError == error, result.content
            if error:
                return tools, result.content[0].text
            # the tool's answer is JSON text (Gradio sent Python's repr of the dict: not JSON)
            return tools, json.loads(result.content[0].text)


def _call_mcp(url: str, arguments: dict, headers: dict | None = None, error: bool = False) -> tuple[list, Any]:
    with ThreadPoolExecutor(1) as pool:  # its own thread: the browser tests' Playwright owns this thread's loop
        return pool.submit(asyncio.run, _mcp(url, arguments, headers, error)).result(timeout=120)


@pytest.mark.model
def test_mcp_lists_search_as_the_one_tool_and_calls_it(real_demo):
    arguments = {"query": "出门要带伞吗", "knowledge_base": KB, "k": 2}
    tools, answer = _call_mcp(real_demo.url, arguments)
    assert [t.name for t in tools] == ["search"]
    schema = tools[0].inputSchema["properties"]
    assert set(schema) == {"query", "knowledge_base", "k", "alpha", "fusion", "mode", "rerank"}
    assert "top-k" in schema["k"]["description"] and "Keyword (BM25)" in tools[0].description
    assert answer["model"] == "multilingual-e5-small" and len(answer["semantic"]) == 2
    assert answer["semantic"][0]["text"] == "明天可能会下雨，出门记得带伞。"


def test_mcp_and_the_search_endpoint_are_behind_the_servers_key(tmp_path):
    from gradio_client import Client

    from tests.browser import ServerProcess

    server = ServerProcess(["-m", "tests.ui_server", "--model", "fake", "--mcp"], tmp_path / "server.log",
                           env={"HYBRID_API_KEY": "k-123"})
    try:
        for path in ("gradio_api/mcp/", "gradio_api/info", "config"):
            assert httpx.post(f"{server.url}{path}", json={}, timeout=30).status_code == 401, path
        refused = httpx.post(f"{server.url}gradio_api/mcp/", timeout=30,
                             headers={"Authorization": "Bearer wrong"}, json={"jsonrpc": "2.0", "id": 1,
                                                                                "method": "tools/list"})
        assert refused.status_code == 401
        key = {"Authorization": "Bearer k-123"}
        tools, answer = _call_mcp(server.url, {"query": "巴黎", "knowledge_base": KB, "k": 1}, key)
        assert [t.name for t in tools] == ["search"] and answer["keyword"][0]["text"] == "法国的首都是巴黎。"
        # a refusal's text is the message, "code: ...", not its repr in quotes (fresh-eyes review)
        _, refused = _call_mcp(server.url, {"query": "\u200b", "knowledge_base": KB}, key, error=True)
        assert refused.startswith("empty_query: "), refused
        client = Client(server.url, verbose=False, headers=key)
        assert client.predict("巴黎", KB, 1, api_name="/search")["semantic"]
    finally:
        server.stop()


@pytest.fixture(scope="module")
def small_limits_demo(tmp_path_factory):
    """The fake-model demo without a server knowledge base, with small limits on the texts a search sends."""
    from tests.browser import ServerProcess

    server = ServerProcess(["-m", "tests.ui_server", "--model", "fake"],
                           tmp_path_factory.mktemp("small-limits") / "server.log",
                           env={"HYBRID_MAX_DOCUMENTS": "3", "HYBRID_MAX_INPUT_CHARS": "20", "HYBRID_MAX_TOKENS": "12"})
    yield server
    server.stop()


@pytest.mark.parametrize("knowledge_base, mode, expected", [
    ([], "all", "invalid_documents: knowledge_base is an empty list: send at least one text, or leave "
                "knowledge_base out to search the server's knowledge base"),
    (["巴黎"] * 4, "all", "limit_exceeded: the number of knowledge_base entries is 4; the limit is 3 "
                          "(HYBRID_MAX_DOCUMENTS)"),
    (["巴黎", "电" * 21], "all", "limit_exceeded: the length of knowledge_base[1] (document characters) is 21; "
                                "the limit is 20 (HYBRID_MAX_INPUT_CHARS)"),
    (["abcdefgh", "abcdefgh"], "all", "limit_exceeded: the tokens of knowledge_base (by fake-onehot's tokenizer) "
                                      "is 16; the limit is 12 (HYBRID_MAX_TOKENS)"),
    (["巴黎", "  "], "keyword", "invalid_documents: knowledge_base: entry 2 (id 2) is empty"),
], ids=["empty", "too-many", "too-long", "too-many-tokens", "blank-entry"])
def test_the_endpoints_errors_about_its_texts_name_knowledge_base(small_limits_demo, knowledge_base, mode, expected):
    """A gradio_client caller sends ``knowledge_base``; no message about those texts may name ``documents``,
    POST /search's name for them."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        _client(small_limits_demo.url).predict("巴黎", knowledge_base, mode=mode, api_name="/search")
    message = str(caught.value)
    assert message == expected
    assert "documents" not in message.removeprefix("invalid_documents: ")


def test_post_search_still_names_documents(small_limits_demo):
    empty = httpx.post(f"{small_limits_demo.url}search", json={"query": "巴黎", "documents": []}, timeout=30).json()
    assert empty["param"] == "documents" and empty["message"] == (
        "documents is an empty list: send at least one text, or leave documents out to search the server's "
        "knowledge base")
    many = httpx.post(f"{small_limits_demo.url}search", json={"query": "巴黎", "documents": ["巴黎"] * 4},
                      timeout=30).json()
    assert many["param"] == "documents" and many["message"] == (
        "the number of documents is 4; the limit is 3 (HYBRID_MAX_DOCUMENTS)")
