"""Issue 20, "the page tells the truth": what a new visitor met in Chromium (1440 px and 390 px, Chinese and
English), each clicked again: typed values out of range, evaluation uploads in the BEIR form, the phone layout,
status lines, share links made with one's own knowledge base.

The page is served in its own process (``tests/ui_server.py``); after each test the server's log must hold no
exception and no error record (``tests/conftest.py``).
"""

from __future__ import annotations

import re

import pytest

from tests.browser import (BROWSER_MARKS, choose, hit_texts, hits, idle, open_accordion, open_page, search,
                           set_number, settled, upload_eval_files)

pytestmark = BROWSER_MARKS


def _no_toast(p) -> None:
    from playwright.sync_api import expect

    expect(p.locator(".toast-body")).to_have_count(0)


@pytest.mark.parametrize("lang", ["zh-CN", "en-US"])
def test_typed_values_out_of_range_are_clamped_and_searched(page, lang):
    """Types alpha 1.5 and -0.2, k 25 and 0 (issue 20.6: an English toast, stale results, a traceback each
    time): the box shows the nearest end, the results are those of that value, no toast, a clean log."""
    from playwright.sync_api import expect

    p = page(locale=lang)
    choose(p, "fusion", "weighted")
    search(p, "电脑黑屏")
    settled(p)
    open_accordion(p, "why", "#alpha-note")
    for typed, shown in ((1.5, "1"), (-0.2, "0")):
        set_number(p, "alpha", typed)
        expect(p.locator("#alpha input[type=number]")).to_have_value(shown)
        expect(p.locator("#alpha-note")).to_contain_text(f"{float(shown):.4f}")
        settled(p)
        _no_toast(p)
    set_number(p, "alpha", 1.0)
    expect(p.locator("#alpha-note")).to_contain_text("1.0000")
    settled(p)
    assert hit_texts(p, "hybrid") == hit_texts(p, "semantic")  # alpha 1: the semantic ranking
    for typed, shown in ((25, "20"), (0, "1")):
        set_number(p, "k", typed)
        expect(p.locator("#k input[type=number]")).to_have_value(shown)
        if shown == "1":
            expect(hits(p, "hybrid")).to_have_count(1)
        else:  # more than the 5 shown before (CI read the count before the k=20 results arrived: 5, then 18)
            p.wait_for_function("document.querySelectorAll('#col-hybrid .hit').length > 5", timeout=90_000)
        settled(p)
        if shown == "20":  # every entry of the sample (fewer than 20), as in the semantic column
            expect(hits(p, "semantic")).to_have_count(hits(p, "hybrid").count())
        _no_toast(p)
    expect(hits(p, "keyword").first).to_be_visible()
    assert hits(p, "hybrid").count() == 1


CJK = re.compile(r"[\u4e00-\u9fff]")


def test_evaluation_reads_beir_files_and_answers_in_the_pages_language(page, tmp_path):
    """Clicks: the evaluation tab; its table before any run; an upload of a BEIR-form set (``_id``, qrels
    header) and "run"; a second upload of the same three files and "run"; the language switch and a broken
    file (issue 20.5: BEIR refused, English errors in the Chinese page, a second upload added to the first,
    a hash as the title, headers "1 | 2 | 3")."""
    from playwright.sync_api import expect

    from tests.test_evaluate import write_beir_set

    beir = write_beir_set(tmp_path / "beir")
    files = [str(beir / n) for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")]
    p = page()
    p.get_by_role("tab", name="评测").click()
    table, status = p.locator("#eval-table"), p.locator("#eval-status")
    expect(table.locator("th").first).to_contain_text("方法")
    expect(table).to_contain_text("nDCG@10")
    upload = p.locator("#eval-files input[type=file]")
    upload_eval_files(p, files)
    p.click("#eval-run")
    expect(status).to_contain_text("4 个查询")
    expect(status).to_contain_text("上传的评测集")
    assert not re.search(r"[0-9a-f]{32}", status.inner_text() + p.locator("#eval-curve").inner_text())
    expect(table).to_contain_text("关键词 (BM25)")

    upload.set_input_files(files)  # a second upload replaces the first: the box holds three files, not six
    expect(status).to_contain_text("已读入：3 个文件，4 个查询")
    expect(p.locator("#eval-files .file-preview td.filename")).to_have_count(3)
    p.click("#eval-run")
    expect(status).to_contain_text("4 个查询")
    assert "上传了不止一个" not in status.inner_text()

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("corpus.jsonl", "queries.jsonl"):
        (broken / name).write_text('{"title": "没有 id"}\n', encoding="utf-8")
    (broken / "qrels.tsv").write_text("q1\td1\t1\n", encoding="utf-8")
    p.locator("#eval-files button[aria-label='Clear'], #eval-files button[aria-label='清除']").first.click()
    idle(p)
    upload.set_input_files([str(broken / n) for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")])
    expect(status).to_contain_text("corpus.jsonl 第 1 行应是")  # the upload's own reading, before any run
    idle(p)
    p.click("#eval-run")
    idle(p)
    expect(status).to_contain_text("corpus.jsonl 第 1 行应是")
    assert "expected" not in status.inner_text()
    p.get_by_label("English").check()
    expect(table.locator("th").first).to_contain_text("method")


def test_a_link_made_on_ones_own_knowledge_base_tells_its_recipient(page):
    """Clicks: a typed knowledge base, search, share; then opens the link as a colleague (issue 20.10: the
    recipient saw the default sample's results without a word)."""
    from playwright.sync_api import expect

    from tests.browser import type_knowledge_base
    from webui.i18n import TEXTS
    from webui.samples import sample_names

    p = page()
    type_knowledge_base(p, "我的私人笔记：周三交报告\n我的私人笔记：周五开会")
    expect(p.locator("#index-info")).to_contain_text("向量索引就绪：2 条")
    search(p, "报告")
    expect(p.locator("#col-keyword .hit .hit-text").first).to_contain_text("周三交报告")
    p.click("#share-button")
    expect(p.locator("#share-note")).to_contain_text("不包含你自己输入或上传的知识库")
    link = p.locator("#share-link textarea, #share-link input").first.input_value()
    assert "kb=own" in link and "sample=" not in link

    colleague = open_page(p.context.browser, link)
    note = colleague.locator("#share-note")
    expect(note).to_contain_text("分享者在自己的知识库上做的")
    expect(note).to_contain_text(f"“{TEXTS['zh'][f'sample_{sample_names()[0]}']}”")
    expect(colleague.locator("#query textarea")).to_have_value("报告")
    colleague.get_by_label("English").check()
    expect(colleague.locator("#search-button")).to_have_text("Search")
    expect(note).to_be_visible()
    # the note follows the page's language (it stayed Chinese: review)
    expect(note).to_contain_text("This link's search was made on the sharer's own knowledge base")
    expect(note).to_contain_text(TEXTS["en"][f"sample_{sample_names()[0]}"])
    colleague.get_by_label("中文").check()
    expect(note).to_contain_text("分享者在自己的知识库上做的")
    colleague.context.close()


@pytest.mark.parametrize("language", ["中文", "English"])
def test_phone_tables_stay_readable_inside_their_cards(page, language):
    """At 390 px: search, open "why" and "behind the scenes" (issue 20.7: the why table ran one character a
    line, the vector table showed "0." and "-."): every cell is wide enough for its number, the page itself
    does not scroll sideways (the tables scroll inside their cards)."""
    from playwright.sync_api import expect

    p = page(width=390, height=844)
    p.get_by_label(language).check()
    search(p, "电脑黑屏")
    settled(p)
    open_accordion(p, "why", "#why-table .body-cell")
    open_accordion(p, "backstage", "#vector-table .body-cell")
    expect(p.locator("#vector-table .body-cell").nth(1)).to_contain_text("0.")
    clipped = p.evaluate("""() => [...document.querySelectorAll('#why-table .body-cell, #vector-table .body-cell')]
        .filter(c => c.textContent.trim() && c.getBoundingClientRect().width < 48)
        .map(c => c.textContent.trim())""")
    assert clipped == [], clipped
    assert p.evaluate("document.documentElement.scrollWidth") <= 390
    for card in ("#why", "#backstage"):
        assert p.locator(card).bounding_box()["width"] <= 390


def test_phone_search_brings_the_results_into_view(page):
    """At 390 px: types a query and presses 开始搜索 (issue 20.7: the results stayed below the screen)."""
    from playwright.sync_api import expect

    p = page(width=390, height=844)
    assert p.evaluate("window.scrollY") == 0
    search(p, "电脑黑屏")
    expect(hits(p, "hybrid").first).to_be_visible()
    p.wait_for_function("window.scrollY > 0")
    top = p.locator("#column-picker").bounding_box()["y"]
    assert -2 <= top < 844 / 2, top  # at the top of the screen (sub-pixel layout)
    expect(hits(p, "hybrid").first).to_be_in_viewport()
