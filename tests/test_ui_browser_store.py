"""``python demo.py --store``: a Milvus Lite collection served read-only, in Debian's Chromium, with the real
packaged model; the collection is built first with ``python -m hybrid index``, as a user does."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.browser import (
    BROWSER_MARKS, ROOT, ServerProcess, hit_texts, hits, open_accordion, open_page, search, settled)

pytestmark = [*BROWSER_MARKS, pytest.mark.model, pytest.mark.milvus]

EVERYDAY = ROOT / "data" / "samples" / "everyday.txt"
FOOD = ("苹果是一种很好吃的水果。", "今天的晚饭是西红柿炒鸡蛋和米饭。")


@pytest.fixture(scope="module")
def store_demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("store-demo")
    uri = f"milvus:{folder / 'kb.db'}"
    built = subprocess.run([sys.executable, "-m", "hybrid", "index", "--kb", str(EVERYDAY), "--store", uri,
                            "--collection", "everyday", "--no-progress"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stderr
    assert "18 added" in built.stdout
    server = ServerProcess(["demo.py", "--port", "0", "--store", uri, "--collection", "everyday"],
                           folder / "server.log")
    yield server
    server.stop()


def test_a_served_collection_is_searched_read_only(chromium, store_demo):
    """Clicks: the knowledge-base panel, the search button, the advanced controls. The page says which
    collection it serves and how many entries, offers nothing to edit, ranks the three columns from Milvus,
    and shows BM25's k1/b fixed; POST /search answers from the same collection."""
    from playwright.sync_api import expect

    page = open_page(chromium, store_demo.url, ready=False)
    expect(page.locator("#model-status")).to_contain_text("multilingual-e5-small")
    expect(page.locator("#index-info")).to_contain_text("向量检索就绪：multilingual-e5-small")
    expect(page.locator("#kb-panel")).to_contain_text("milvus collection everyday · 共 18 条（只读）")
    open_accordion(page, "kb-panel", "#kb-info")
    expect(page.locator("#kb-info")).to_contain_text("共 18 条（只读）")
    assert not page.locator("#kb textarea").is_visible() and not page.locator("#upload").is_visible()
    assert not page.locator("#examples").is_visible()

    search(page, "我想吃点东西")
    expect(hits(page, "hybrid").first).to_be_visible()
    settled(page)
    for column in ("keyword", "semantic", "hybrid"):
        assert hits(page, column).count() == 5 or column == "keyword", column
    assert set(hit_texts(page, "semantic")[:2]) == set(FOOD)

    search(page, "笔记本电脑黑屏")
    expect(page.locator("#col-keyword .hit").first).to_contain_text("笔记本电脑")
    settled(page)
    assert page.locator("#col-keyword mark").count() >= 1  # matched words highlighted, as with a pasted base

    open_accordion(page, "more-controls", "#k1")
    expect(page.locator("#k1")).to_contain_text("由集合在建库时固定")
    assert page.locator("#k1 input[type=range]").is_disabled() and page.locator("#b input[type=range]").is_disabled()

    answer = httpx.post(f"{store_demo.url}search", json={"query": "巴黎", "k": 3}, timeout=60).json()
    assert answer["source"] == "knowledge_base" and answer["documents"] == 18
    assert answer["hybrid"][0]["text"] == "法国的首都是巴黎。" and answer["hybrid"][0]["id"] == "everyday.txt:4"
