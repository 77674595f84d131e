"""The fourth column in Debian's Chromium (Playwright): with a reranker (the tiny random-weight Qwen3 reranker,
loaded for real in the server process) the page shows 精排 with movement badges and a top-N control; without
one it says how to enable it. After each test the server's log must be clean (tests/conftest.py)."""

from __future__ import annotations

import re

import pytest

from tests.browser import BROWSER_MARKS, ServerProcess, hits, open_accordion, open_page, search, set_number, settled

pytestmark = [*BROWSER_MARKS, pytest.mark.model]


@pytest.fixture(scope="module")
def rerank_demo(tmp_path_factory, tiny_reranker_path):
    """The demo with the fake embedding model and ``--reranker <tiny Qwen3 reranker folder>``."""
    folder = tmp_path_factory.mktemp("rerank-demo")
    server = ServerProcess(["-m", "tests.ui_server", "--model", "fake", "--reranker", str(tiny_reranker_path)],
                           folder / "server.log")
    yield server
    server.stop()


def test_the_fourth_column_appears_with_a_reranker(chromium, rerank_demo):
    """Clicks: search; then the top-N control set to 2. The 精排 column fills in (after its model has loaded,
    by itself), its hits carry movement badges against the hybrid column, and N bounds it."""
    from playwright.sync_api import expect

    page = open_page(chromium, rerank_demo.url)
    expect(page.locator("#rerank-hint")).to_have_count(0)
    search(page, "外出要不要带雨具")
    expect(hits(page, "reranked").first).to_be_visible(timeout=120_000)
    settled(page, "notice", "col-keyword", "col-semantic", "col-hybrid", "col-reranked")
    head = page.locator("#col-reranked .col-head")
    expect(head).to_contain_text("精排 (tiny-qwen3-reranker")
    expect(head).to_contain_text("前 20 条")
    first = hits(page, "reranked").first
    expect(first.locator(".move")).to_contain_text(re.compile(r"混合 (↑\d+|↓\d+|=)"))
    expect(first.locator(".score")).to_have_text(re.compile(r"0\.\d{4}"))
    assert hits(page, "reranked").count() == hits(page, "hybrid").count() == 5
    # Every reranked hit is one of the hybrid candidates, in descending reranker score.
    scores = [float(s) for s in page.locator("#col-reranked .hit .score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)

    set_number(page, "rerank-n", 2)
    expect(head).to_contain_text("前 2 条")
    expect(hits(page, "reranked")).to_have_count(2)
    hybrid_top2 = set(page.locator("#col-hybrid .hit .hit-text").all_inner_texts()[:2])
    assert set(page.locator("#col-reranked .hit .hit-text").all_inner_texts()) == hybrid_top2
    open_accordion(page, "backstage", "#timings")
    expect(page.locator("#timings")).to_contain_text("精排")  # the stage's time, beside the others
    page.context.close()


def test_without_a_reranker_the_page_says_how_to_enable_one(chromium, fake_demo):
    """Clicks: search. Three columns only, and the line naming --reranker instead of an empty fourth."""
    from playwright.sync_api import expect

    page = open_page(chromium, fake_demo.url)
    search(page, "巴黎")
    expect(hits(page, "hybrid").first).to_be_visible()
    expect(page.locator("#col-reranked")).to_have_count(0)
    hint = page.locator("#rerank-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("--reranker qwen3-0.6b")
    expect(page.locator("#rerank-n")).to_have_count(0)
    page.context.close()
