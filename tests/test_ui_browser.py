"""The demo as its users meet it, in Debian's Chromium (Playwright), served by ``python demo.py`` with the
real packaged model: the first screen, the phone layout, bars and colours, three columns that disagree.

``UPDATE_SCREENSHOT=1`` rewrites docs/screenshot.png (1440x900) and docs/screenshot-phone.png (390 px wide).
The other controls are clicked in tests/test_ui_browser_controls.py (fake model, faster).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.browser import (
    BROWSER_MARKS, hit_texts, hits, open_accordion, open_page, search, settled, type_knowledge_base)
from webui.samples import sample_text

pytestmark = [*BROWSER_MARKS, pytest.mark.model]

DOCS = Path(__file__).resolve().parent.parent / "docs"
WIDE, PHONE = (1440, 900), (390, 844)


def _save(page, name: str, full_page: bool = False) -> None:
    """Write a screenshot into docs/ when UPDATE_SCREENSHOT=1 (palette-quantised, so it stays small)."""
    if os.environ.get("UPDATE_SCREENSHOT") != "1":
        return
    from PIL import Image

    path = DOCS / name
    page.screenshot(path=str(path), full_page=full_page)
    Image.open(path).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def _inside(box, width: int, height: int) -> bool:
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width + 1 \
        and box["y"] < height


def test_results_on_the_first_screen_at_1440x900(chromium, real_demo):
    """Clicks: an example chip. The query box and the three columns with their top hits fit in 1440x900."""
    from playwright.sync_api import expect

    page = open_page(chromium, real_demo.url, *WIDE)
    expect(page.locator("#model-status")).to_contain_text("向量空间已展开：multilingual-e5-small")
    page.locator("#examples button", has_text="运动后吃什么补充体力").click()
    expect(hits(page, "hybrid").first).to_be_visible()
    settled(page)
    assert _inside(page.locator("#query").bounding_box(), *WIDE)
    for column in ("keyword", "semantic", "hybrid"):
        head = page.locator(f"#col-{column} .col-head").bounding_box()
        assert _inside(head, *WIDE), (column, head)
    for column in ("semantic", "hybrid"):
        first = hits(page, column).first.bounding_box()
        assert first["y"] + first["height"] <= WIDE[1], (column, first)
    # The knowledge base is folded away, its size still in sight.
    expect(page.locator("#kb textarea")).to_be_hidden()
    expect(page.locator("#kb-panel .label-wrap")).to_contain_text("日常知识 · 共 18 条")
    _save(page, "screenshot.png")
    page.context.close()


def test_phone_layout_at_390px(chromium, real_demo):
    """Clicks: search, then the column picker's three choices. Nothing overlaps, text stays readable."""
    from playwright.sync_api import expect

    page = open_page(chromium, real_demo.url, *PHONE)
    search(page, "外出要不要带雨具")
    expect(hits(page, "hybrid").first).to_be_visible()
    settled(page)
    expect(page.locator("#col-keyword")).to_be_hidden()  # one column at a time, hybrid first
    expect(page.locator("#col-semantic")).to_be_hidden()
    column = page.locator("#col-hybrid").bounding_box()
    assert column["width"] >= 300 and column["x"] >= 0 and column["x"] + column["width"] <= PHONE[0]
    size = page.locator("#col-hybrid .hit-text").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 14
    # No horizontal scrolling, and no two visible controls on top of each other.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    boxes = page.evaluate("""() => ['header-row', 'kb-panel', 'query-row', 'examples', 'alpha', 'fusion',
        'normalizer', 'k', 'column-picker', 'col-hybrid', 'why', 'backstage', 'more-controls']
        .map(id => document.getElementById(id)).filter(e => e && e.offsetParent !== null)
        .map(e => { const r = e.getBoundingClientRect(); return [e.id, r.left, r.top, r.right, r.bottom]; })""")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            overlap = min(a[3], b[3]) - max(a[1], b[1]) > 1 and min(a[4], b[4]) - max(a[2], b[2]) > 1
            assert not overlap, (a, b)
    _save(page, "screenshot-phone.png", full_page=True)

    for name, label in (("keyword", "关键词"), ("semantic", "语义"), ("hybrid", "混合")):
        page.locator("#column-picker").get_by_label(label, exact=True).check()
        expect(page.locator(f"#col-{name}")).to_be_visible()
        others = [c for c in ("keyword", "semantic", "hybrid") if c != name]
        for other in others:
            expect(page.locator(f"#col-{other}")).to_be_hidden()
    page.context.close()


def test_three_columns_disagree_where_they_should(chromium, real_demo):
    """Clicks: search, Enter, "behind the scenes"."""
    from playwright.sync_api import expect

    page = open_page(chromium, real_demo.url)
    # No word of this query is in the knowledge base: BM25 finds nothing, the model finds the answer.
    search(page, "怎样学好英语")
    answer = "学习一门外语最好每天坚持练习听力和口语。"
    expect(page.locator("#col-semantic .hit .hit-text").first).to_have_text(answer)
    expect(page.locator("#col-hybrid .hit .hit-text").first).to_have_text(answer)
    expect(hits(page, "keyword")).to_have_count(0)
    expect(page.locator("#notice")).to_contain_text("关键词搜索没有找到：查询里的词（")
    expect(page.locator("#col-semantic")).to_contain_text("语义 (multilingual-e5-small)")
    # BM25 did not list it: no keyword movement badge, only the semantic one; the parts line says why.
    first = hits(page, "hybrid").first
    expect(first.locator(".move")).to_have_count(1)
    expect(first.locator(".move")).to_contain_text("语义")
    expect(first.locator(".parts")).to_contain_text("关键词 0.0000")

    # Enter searches too; now all three columns agree, and the matched words are highlighted.
    search(page, "巴黎是哪个国家的首都", enter=True)
    for column in ("keyword", "semantic", "hybrid"):
        expect(page.locator(f"#col-{column} .hit .hit-text").first).to_have_text("法国的首都是巴黎。")
    expect(page.locator("#col-keyword .hit mark").first).to_be_visible()
    expect(hits(page, "semantic").first.locator(".score")).to_have_text(re.compile(r"^0\.\d{4}$"))

    open_accordion(page, "backstage", "#vector-summary")
    expect(page.locator("#vector-summary")).to_contain_text("384")
    expect(page.locator("#vector-bar .js-plotly-plot")).to_be_visible()
    page.context.close()


def test_bars_separate_relevant_from_unrelated_hits(chromium, real_demo):
    """Clicks: search. The packaged model's cosines all sit near 0.85; bars counted from the mean cosine do not."""
    from playwright.sync_api import expect

    page = open_page(chromium, real_demo.url)
    search(page, "怎样学好英语")
    semantic = hits(page, "semantic")
    expect(semantic).to_have_count(5)
    settled(page)
    cosines = [float(t) for t in page.locator("#col-semantic .hit .score").all_inner_texts()]
    widths = page.locator("#col-semantic .hit .fill").evaluate_all(
        "els => els.map(e => parseFloat(e.style.width))")
    assert max(cosines) - min(cosines) < 0.15  # raw cosines alike: 92% against 82% bars
    assert widths[0] == 100.0 and max(widths[1:]) < 50  # from the knowledge base's mean: the answer stands out
    expect(page.locator("#col-semantic .hit.relevant")).to_have_count(1)
    expect(semantic.first).to_contain_text("余弦 +")
    expect(semantic.first).not_to_contain_text("相关概率")
    expect(page.locator("#col-semantic .col-note")).to_have_text("条长 = 相对第一名（从知识库平均余弦算起）")
    open_accordion(page, "more-controls", "#threshold")
    expect(page.locator("#threshold")).to_contain_text("不是概率")
    page.context.close()


def test_why_of_each_hybrid_hit_adds_up(chromium, real_demo):
    """Clicks: search, the "why" of each hybrid hit, and "why this rank" (the summary table)."""
    from playwright.sync_api import expect

    page = open_page(chromium, real_demo.url)
    search(page, "运动后吃什么补充体力")
    expect(hits(page, "hybrid")).to_have_count(5)
    settled(page)
    for i in range(5):
        card = hits(page, "hybrid").nth(i)
        card.locator(".why summary").click()
        rows = card.locator(".why-grid tbody tr")
        expect(rows).to_have_count(3)
        parts = []
        for r in range(2):
            cells = rows.nth(r).locator("td").all_inner_texts()
            norm, weight, part = float(cells[1]), float(cells[2].lstrip("× ")), float(cells[3].lstrip("= "))
            assert norm * weight == pytest.approx(part, abs=2e-4)
            parts.append(part)
        total = float(rows.nth(2).locator("td").inner_text().lstrip("= "))
        assert sum(parts) == pytest.approx(total, abs=2e-4)
        assert card.locator(".score").inner_text() == f"{total:.4f}"
    open_accordion(page, "why", "#why-table")
    expect(page.locator("#why-table")).to_contain_text("语义权重")
    assert hit_texts(page, "hybrid")[0][:10] in page.locator("#why-table").inner_text()
    page.context.close()


def test_typed_knowledge_base_is_embedded_and_searched(chromium, real_demo):
    """Clicks: the knowledge-base panel, the text box (typing), search."""
    from playwright.sync_api import expect

    page = open_page(chromium, real_demo.url)
    type_knowledge_base(page, sample_text("everyday") + "\n我家的猫喜欢晒太阳。")
    expect(page.locator("#kb-info")).to_contain_text("共 19 条")
    expect(page.locator("#index-info")).to_contain_text("向量索引就绪：19 条 · multilingual-e5-small")
    search(page, "喵星人")
    expect(page.locator("#col-semantic .hit .hit-text").nth(0)).to_contain_text("猫")
    expect(page.locator("#col-semantic .hit .hit-text").nth(1)).to_contain_text("猫")
    page.context.close()
