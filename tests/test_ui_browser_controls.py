"""Every control of the demo clicked in Debian's Chromium (Playwright), with the fake one-hot model.

The page is served in its own process (``tests/ui_server.py``, the way ``demo.py`` serves it); after each
test the server's log must hold no exception and no error record (``tests/conftest.py``). What each test
clicks is listed in its docstring.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.browser import (
    ServerProcess,
    choose,
    drag_slider,
    english,
    hit_texts,
    hits,
    idle,
    open_accordion,
    open_page,
    search,
    set_number,
    settled,
    type_knowledge_base,
    upload_eval_files,
)
from hybrid.settings import Settings
from webui.i18n import TEXTS
from webui.samples import example_queries, sample_names, sample_text

pytestmark = [
    pytest.mark.browser,
    # Gradio's queue builds DataFrames with options pandas 3 deprecates; nothing this project can change.
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CJK = re.compile(r"[\u4e00-\u9fff]")


def _kb(page):
    """The knowledge-base text box, its panel opened (and its content rendered, so typing is not lost to
    the first render)."""
    from playwright.sync_api import expect

    open_accordion(page, "kb-panel", "#kb textarea")
    box = page.locator("#kb textarea")
    expect(box).not_to_have_value("")
    return box


def test_every_sample_and_every_example_chip(page):
    """Clicks: the sample dropdown and each of its samples; every example chip of each sample; undo."""
    from playwright.sync_api import expect

    p = page()
    kb = _kb(p)
    first = kb.input_value()
    names = {name: TEXTS["zh"][f"sample_{name}"] for name in sample_names()}
    for name in [*sample_names()[1:], sample_names()[0]]:
        # undo brings back the text from before a run of samples: the page's first one (itself when chosen again)
        before = first if sample_text(name).strip() != first.strip() else kb.input_value()
        choose(p, "sample", names[name])
        expect(kb).to_have_value(sample_text(name))
        expect(p.locator("#kb-panel .label-wrap")).to_contain_text(f"{names[name]} · 共 ")
        expect(p.locator("#kb-notice")).to_contain_text(f"已换成示例知识库“{names[name]}”")
        entries = sum(1 for line in sample_text(name).splitlines() if line.strip())
        expect(p.locator("#index-info")).to_contain_text(f"向量索引就绪：{entries} 条")  # this sample's index
        chips = p.locator("#examples button")
        expect(chips).to_have_text(list(example_queries(name)))
        for query in example_queries(name):
            idle(p)
            chips.filter(has_text=query).first.click()
            expect(p.locator("#query textarea")).to_have_value(query)
            expect(p.locator("#col-hybrid .hit").first).to_be_visible()
            settled(p)
            # the chip's own query was searched: every highlighted keyword match is made of its words
            marks = p.locator("#col-keyword .hit mark").all_inner_texts()
            assert all(set(m.lower()) <= set(query.lower()) for m in marks), (query, marks)
        # The text before the samples is one click away.
        idle(p)
        p.click("#undo")
        expect(kb).to_have_value(before)
        expect(p.locator("#kb-notice")).to_contain_text("已换回另一份知识库")
        idle(p)
        p.click("#undo")
        expect(kb).to_have_value(sample_text(name))
    expect(p.locator(".toast-body")).to_have_count(0)  # no error toast at any point


def test_uploads_append_or_replace_and_never_lose_typed_text(page, tmp_path):
    """Clicks: the upload box with a UTF-8 .txt (replace), a GBK .csv (append), a UTF-8 .jsonl (append),
    a GBK .txt (replace), undo, and a broken file; the mode radio both ways."""
    from playwright.sync_api import expect

    p = page()
    typed = "我自己输入的知识。\n第二条自己的知识。"
    type_knowledge_base(p, typed)
    kb = _kb(p)
    expect(p.locator("#kb-info")).to_contain_text("共 2 条")
    files = {"kb.txt": "上传的第一条。\n上传的第二条。\n".encode("utf-8"),
             "gbk.csv": "id,text\n1,苹果很甜\n2,香蕉很软\n".encode("gbk"),
             "kb.jsonl": '{"text": "巴黎"}\n{"text": "东京"}\n'.encode("utf-8"),
             "gbk.txt": "上海是中国最大的城市。\n杭州以西湖闻名。".encode("gbk"),
             "broken.txt": b"\x80\xff\xfe\xfa\xfb\x80\x81" * 4,
             "faq.csv": "问题,答案\n怎么退货,七天内可退\n".encode("utf-8"),
             "big5.txt": "電腦開機後黑屏怎麼辦\n印表機無法連線".encode("cp950"),
             "notes.docx": b"PK\x03\x04 not a text file", "zeros.txt": b"\x00" * 5000}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    upload = p.locator("#upload input[type=file]")

    idle(p)
    upload.set_input_files(str(tmp_path / "kb.txt"))  # replace (the default)
    expect(kb).to_have_value("上传的第一条。\n上传的第二条。")
    expect(p.locator("#kb-notice")).to_contain_text("已用 kb.txt 的 2 条替换了知识库（原来 2 条）")
    idle(p)
    p.click("#undo")
    expect(kb).to_have_value(typed)

    idle(p)
    p.get_by_label("追加到末尾").check()
    idle(p)
    upload.set_input_files(str(tmp_path / "gbk.csv"))
    expect(kb).to_have_value(typed + "\n苹果很甜\n香蕉很软")
    expect(p.locator("#kb-notice")).to_contain_text("现在共 4 条")
    idle(p)
    upload.set_input_files(str(tmp_path / "kb.jsonl"))
    expect(kb).to_have_value(typed + "\n苹果很甜\n香蕉很软\n巴黎\n东京")
    expect(p.locator("#kb-info")).to_contain_text("共 6 条")
    expect(p.locator("#index-info")).to_contain_text("向量索引就绪：6 条")
    search(p, "东京")
    expect(p.locator("#col-keyword .hit .hit-text").first).to_have_text("东京")

    idle(p)
    upload.set_input_files(str(tmp_path / "broken.txt"))
    expect(p.locator("#kb-notice")).to_contain_text("无法读取上传的文件")
    expect(kb).to_have_value(typed + "\n苹果很甜\n香蕉很软\n巴黎\n东京")
    idle(p)
    upload.set_input_files(str(tmp_path / "faq.csv"))  # no `text` column: refused, not the header row indexed
    expect(p.locator("#kb-notice")).to_contain_text("faq.csv：第一行须是列名，其中一列名为 text")
    expect(p.locator("#kb-notice")).to_contain_text("'问题', '答案'")
    expect(kb).to_have_value(typed + "\n苹果很甜\n香蕉很软\n巴黎\n东京")

    p.get_by_label("替换知识库（可撤销）").check()
    idle(p)
    upload.set_input_files(str(tmp_path / "gbk.txt"))
    expect(kb).to_have_value("上海是中国最大的城市。\n杭州以西湖闻名。")
    idle(p)
    p.click("#undo")
    expect(kb).to_have_value(typed + "\n苹果很甜\n香蕉很软\n巴黎\n东京")
    idle(p)
    upload.set_input_files(str(tmp_path / "big5.txt"))  # read as GB18030, it was "筿福秨诀..."
    expect(kb).to_have_value("電腦開機後黑屏怎麼辦\n印表機無法連線")
    # another type is refused in the notice, in the page's language (Gradio's English toast left the notice
    # saying the last upload had succeeded: review); a binary file renamed .txt too (it became one entry of NULs)
    for name, said in (("notes.docx", "notes.docx 的类型 .docx 不支持"), ("zeros.txt", "zeros.txt 含有 NUL 字节")):
        idle(p)
        upload.set_input_files(str(tmp_path / name))
        expect(p.locator("#kb-notice")).to_contain_text(said)
        expect(kb).to_have_value("電腦開機後黑屏怎麼辦\n印表機無法連線")


def test_split_switch_cuts_long_paragraphs(page):
    """Clicks: the split checkbox on and off, with a long paragraph in the knowledge base."""
    from playwright.sync_api import expect

    p = page()
    type_knowledge_base(p, "第一句话讲苹果的营养。" * 6 + "第二句话讲香蕉的产地！" * 6 + "\n短的一条。")
    expect(p.locator("#kb-info")).to_contain_text("共 2 条")
    idle(p)
    p.locator("#split input").check()
    expect(p.locator("#kb-info")).to_contain_text("共 13 条")
    expect(p.locator("#index-info")).to_contain_text("向量索引就绪：13 条")
    expect(p.locator("#kb-panel .label-wrap")).to_contain_text("共 13 条")
    idle(p)
    p.locator("#split input").uncheck()
    expect(p.locator("#kb-info")).to_contain_text("共 2 条")


def test_every_slider_and_dropdown_reranks(page):
    """Clicks: fusion (weighted, rrf, adaptive), alpha (dragged and typed), normaliser, k, BM25 k1 and b,
    and the relevance threshold, each while a query's results are shown."""
    from playwright.sync_api import expect

    p = page()
    search(p, "苹果是水果吗")
    expect(hits(p, "hybrid").first).to_be_visible()

    choose(p, "fusion", "weighted")
    expect(p.locator("#col-hybrid .col-title")).to_contain_text(f"weighted, α={Settings().alpha:.2f}")
    set_number(p, "alpha", 0)
    expect(p.locator("#col-hybrid .col-title")).to_contain_text("α=0.00")
    keyword = hit_texts(p, "keyword")
    assert keyword and hit_texts(p, "hybrid")[:len(keyword)] == keyword
    drag_slider(p, "alpha", 1.0)
    expect(p.locator("#col-hybrid .col-title")).to_contain_text("α=1.00")
    expect(p.locator("#alpha input[type=number]")).to_have_value("1")
    assert hit_texts(p, "hybrid")[0] == hit_texts(p, "semantic")[0]
    drag_slider(p, "alpha", 0.5)
    expect(p.locator("#col-hybrid .col-title")).not_to_contain_text("α=1.00")
    # retyping the number box (cleared, then a digit) sends null first: no error toast (third review), then 0.3
    box = p.locator("#alpha input[type=number]")
    box.click()
    box.press("Control+a")
    box.press("Backspace")
    p.wait_for_timeout(600)
    box.type("0.3")
    box.press("Enter")
    expect(p.locator("#col-hybrid .col-title")).to_contain_text("α=0.30")
    expect(p.locator(".toast-body")).to_have_count(0)

    open_accordion(p, "why", "#why-table")
    table = p.locator("#why-table")
    before = table.inner_text()
    choose(p, "normalizer", "zscore")
    expect(table).not_to_have_text(before)

    choose(p, "fusion", "rrf")
    expect(p.locator("#col-hybrid .col-title")).to_contain_text("rrf")
    p.locator("#col-hybrid .why summary").first.click()
    expect(p.locator("#col-hybrid .why").first).to_contain_text("60 / (60 + 名次)")
    choose(p, "fusion", "adaptive")
    expect(p.locator("#col-hybrid .col-title")).to_contain_text("adaptive")

    matched = hits(p, "keyword").count()  # this query's words are in one entry
    set_number(p, "k", 2)
    for column in ("semantic", "hybrid"):
        expect(hits(p, column)).to_have_count(2)
    expect(hits(p, "keyword")).to_have_count(min(matched, 2))
    set_number(p, "k", 5)
    expect(hits(p, "semantic")).to_have_count(5)

    open_accordion(p, "more-controls", "#k1")
    score = p.locator("#col-keyword .hit .score").first
    bm25 = score.inner_text()
    set_number(p, "k1", 0)
    expect(score).not_to_have_text(bm25)
    set_number(p, "k1", 1.2)
    expect(score).to_have_text(bm25)
    set_number(p, "b", 0)
    expect(score).not_to_have_text(bm25)
    set_number(p, "b", 0.75)
    expect(score).to_have_text(bm25)

    set_number(p, "threshold", 0)
    expect(p.locator("#col-semantic .hit.relevant")).to_have_count(5)
    set_number(p, "threshold", 1)
    expect(p.locator("#col-semantic .hit.relevant")).not_to_have_count(5)


def test_the_alpha_note_says_when_a_query_is_semantic_only(page):
    """Clicks: a knowledge base with an English entry beside Chinese ones, a Chinese search, "why this rank";
    then weighted fusion. Found by the new-user review: on a small mixed knowledge base adaptive fusion is semantic
    only for most queries (an entry keyword matching cannot judge is among the semantic top 10), and the slider
    moved nothing without a word why."""
    from playwright.sync_api import expect

    p = page()
    type_knowledge_base(p, "巴黎是法国的首都\n北京是中国的首都\nParis is the capital of France")
    expect(p.locator("#index-info")).to_contain_text("3 条")
    search(p, "首都巴黎")
    open_accordion(p, "why", "#why-table")
    note = p.locator("#alpha-note")
    expect(note).to_contain_text("实际使用的 α = 1.0000")
    expect(note).to_contain_text("这次查询只用语义")
    expect(note).to_contain_text("滑块不改变这次的混合排序")
    choose(p, "fusion", "weighted")
    expect(note).to_contain_text("即滑块的值")
    expect(note).not_to_contain_text("只用语义")


def test_every_accordion_opens(page):
    """Clicks: the knowledge-base panel, "more controls", "why this rank" (table), "behind the scenes", and
    the "why" of every hybrid hit, whose numbers must add up to the hit's score."""
    from playwright.sync_api import expect

    p = page()
    search(p, "首都巴黎")
    expect(hits(p, "hybrid")).to_have_count(5)
    open_accordion(p, "kb-panel", "#kb textarea")
    open_accordion(p, "more-controls", "#threshold")
    open_accordion(p, "why", "#why-table")
    expect(p.locator("#why-table")).to_contain_text("关键词权重")
    expect(p.locator("#alpha-note")).to_contain_text("实际使用的 α")
    expect(p.locator("#alpha-note")).to_contain_text("adaptive 按关键词覆盖率调整")
    choose(p, "fusion", "rrf")  # user review: the note described adaptive fusion under every method
    expect(p.locator("#alpha-note")).to_contain_text("rrf 按名次而不按分数融合")
    expect(p.locator("#alpha-note")).not_to_contain_text("adaptive")
    choose(p, "fusion", "adaptive")
    expect(p.locator("#alpha-note")).to_contain_text("adaptive 按关键词覆盖率调整")
    open_accordion(p, "backstage", "#vector-summary")
    expect(p.locator("#vector-summary")).to_contain_text("fake-onehot")
    expect(p.locator("#vector-bar .js-plotly-plot")).to_be_visible()
    expect(p.locator("#timings")).to_contain_text("总计")
    for i in range(5):
        card = hits(p, "hybrid").nth(i)
        card.locator(".why summary").click()
        grid = card.locator(".why-grid")
        expect(grid).to_be_visible()
        rows = grid.locator("tbody tr")
        parts = [float(rows.nth(r).locator("td").last.inner_text().lstrip("= ")) for r in range(2)]
        for r in range(2):
            cells = rows.nth(r).locator("td").all_inner_texts()
            norm, weight = float(cells[1]), float(cells[2].lstrip("× "))
            assert norm * weight == pytest.approx(parts[r], abs=2e-4)
        total = float(rows.nth(2).locator("td").inner_text().lstrip("= "))
        assert parts[0] + parts[1] == pytest.approx(total, abs=2e-4)
        assert card.locator(".score").inner_text() == f"{total:.4f}"


def test_language_switch_translates_every_string(page, tmp_path):
    """Clicks: English, a search, the evaluation tab, then 中文 again."""
    from playwright.sync_api import expect

    p = page()
    search(p, "😀🎉")
    expect(p.locator("#notice")).to_contain_text("关键词搜索没有找到")
    p.get_by_label("English").check()
    expect(p.locator("#search-button")).to_have_text("Search")
    expect(p.locator("#model-status")).to_contain_text("Vector space ready")
    expect(p.locator("#index-info")).to_contain_text("Vector index ready: 18 entries")
    expect(p.locator("#kb-panel .label-wrap")).to_contain_text("Everyday facts · 18 entries")
    expect(p.locator("#notice")).to_contain_text("Keyword search found nothing")
    open_accordion(p, "more-controls", "#threshold")
    open_accordion(p, "why", "#why-table")
    open_accordion(p, "backstage", "#vector-summary")
    p.locator("#col-hybrid .why summary").first.click()
    labels = ("label, button, [data-testid='block-info'], .label-wrap, th, .col-head, .hit-head, .parts, .why,"
              " #notice, #index-info, #kb-info, #model-status, #alpha-note, #vector-summary")
    # Data is left out (the example chips, hit texts); so is Gradio's own footer, which follows the
    # browser's language.
    seen = [t for t in p.locator(f":is({labels}):not(#examples *, footer *, .hit-text)").all_inner_texts()
            if CJK.search(t)]
    allowed = ("中文", "语言 / Language")
    assert [t for t in seen if not any(a in t for a in allowed)] == [], seen

    p.get_by_role("tab", name="Evaluate").click()
    expect(p.locator("#eval-help")).to_contain_text("qrels.tsv")
    expect(p.locator("#eval-help")).to_contain_text("relevance > 0 means relevant")  # nothing cut off
    expect(p.locator("#eval-run")).to_have_text("Run evaluation")
    # The upload box's own "drop a file here" follows the browser's language, as Gradio's footer does.
    seen = [t for t in p.locator(f"#tab-evaluate :is({labels}):not(#eval-files button, #eval-files button *)")
            .all_inner_texts() if CJK.search(t)]
    assert seen == []
    p.get_by_label("中文").check()
    expect(p.locator("#eval-run")).to_have_text("开始评测")
    expect(p.locator("#eval-help")).to_contain_text("相关度 > 0 表示相关")


def test_evaluation_tab_runs_and_applies_the_best_alpha(page, tmp_path):
    """Clicks: the evaluation tab, "apply" and "run" too early, its upload box (corpus.jsonl, queries.jsonl,
    qrels.tsv), the number of queries, "run", and "apply the best alpha"; then the search tab shows it."""
    from playwright.sync_api import expect

    from tests.test_evaluate import write_set

    folder = write_set(tmp_path / "tiny")
    p = page()
    p.get_by_role("tab", name="评测").click()
    p.click("#eval-apply")
    expect(p.locator("#eval-status")).to_contain_text("请先运行一次评测")
    p.click("#eval-run")
    expect(p.locator("#eval-status")).to_contain_text("无法读取评测文件：还没有上传文件")
    upload_eval_files(p, [str(folder / n) for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")])
    for typed in ("-5", "2.5"):  # Gradio's number box answered -5 with an English toast and a traceback, cut 2.5 to 2
        p.locator("#eval-max-queries input").fill(typed)
        p.click("#eval-run")
        expect(p.locator("#eval-status")).to_contain_text(f"评测的查询数应为 0（全部）或正整数，而不是 {typed}")
    p.locator("#eval-max-queries input").fill("3")
    p.click("#eval-run")
    expect(p.locator("#eval-status")).to_contain_text("3 个查询")
    expect(p.locator("#eval-table")).to_contain_text("关键词 (BM25)")
    expect(p.locator("#eval-table")).to_contain_text("最好的扫描点")
    expect(p.locator("#eval-curve .js-plotly-plot")).to_be_visible()
    note = p.locator("#eval-status")
    expect(note).to_contain_text("最好的设置")
    best = re.search(r"最好的设置：(\w+)，α = ([\d.]+)", note.inner_text())
    p.click("#eval-apply")
    expect(note).to_contain_text(f"已把 α = {best.group(2)}")
    p.get_by_role("tab", name="搜索").click()
    expect(p.locator("#alpha input[type=number]")).to_have_value(f"{float(best.group(2)):g}")
    expect(p.locator("#fusion input")).to_have_value(best.group(1))


def test_long_and_emoji_queries_say_what_happened(page):
    """Clicks: search with a 5,000-character query, then with an emoji-only one."""
    from playwright.sync_api import expect

    p = page()
    started = time.monotonic()
    search(p, "巴黎" * 2500)
    expect(p.locator("#notice")).to_contain_text("查询有 5,000 个字")
    expect(p.locator("#notice")).to_contain_text("只用了前 480 个字")
    expect(hits(p, "keyword").first).to_be_visible()
    assert time.monotonic() - started < 20
    search(p, "🍎🍌", enter=True)
    expect(p.locator("#notice")).to_contain_text("关键词搜索没有找到")
    expect(p.locator("#col-keyword")).to_contain_text("没有结果")


def test_share_link_reproduces_the_query_and_settings(page):
    """Clicks: a sample, fusion, k, alpha, English, the share button; then opens the link as a colleague;
    then 中文 (the link hides)."""
    from playwright.sync_api import expect

    p = page()
    _kb(p)
    choose(p, "sample", "技术问答")
    choose(p, "fusion", "weighted")
    set_number(p, "k", 3)
    set_number(p, "alpha", 0.55)
    english(p)
    search(p, "显存不够怎么办")
    expect(hits(p, "hybrid")).to_have_count(3)
    shown = hit_texts(p, "hybrid")
    p.click("#share-button")
    link_box = p.locator("#share-link textarea, #share-link input").first
    expect(link_box).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/\?q="))
    link = link_box.input_value()
    assert p.url == link  # the address bar holds it too
    for part in ("sample=tech_faq", "fusion=weighted", "k=3", "alpha=0.55", "lang=en"):
        assert part in link

    colleague = open_page(p.context.browser, link, ready=False)
    expect(colleague.locator("#query textarea")).to_have_value("显存不够怎么办")
    expect(colleague.locator("#search-button")).to_have_text("Search")
    expect(colleague.locator("#alpha input[type=number]")).to_have_value("0.55")
    expect(colleague.locator("#fusion input")).to_have_value("weighted")
    expect(hits(colleague, "hybrid")).to_have_count(3)
    expect(colleague.locator("#col-hybrid .hit .hit-text")).to_have_text(shown)
    colleague.context.close()

    # The English link outlives the switch to English (whose events may end after the click); back in
    # Chinese it is out of date and hidden.
    idle(p)
    expect(link_box).to_be_visible()
    p.get_by_label("中文").check()
    expect(p.locator("#share-link")).to_be_hidden()


def test_sessions_are_isolated(page):
    """Clicks: two visitors each type their own knowledge base and search it."""
    from playwright.sync_api import expect

    alice, bob = page(), page()
    type_knowledge_base(alice, "独角兽乐园建在火星上。\n火星是太阳系的第四颗行星。")
    expect(alice.locator("#kb-info")).to_contain_text("共 2 条")
    search(alice, "独角兽")
    expect(alice.locator("#col-keyword .hit .hit-text").first).to_have_text("独角兽乐园建在火星上。")
    expect(hits(alice, "semantic")).to_have_count(2)

    assert "独角兽" not in _kb(bob).input_value()
    search(bob, "独角兽")
    expect(hits(bob, "semantic")).to_have_count(5)
    expect(hits(bob, "keyword")).to_have_count(0)
    type_knowledge_base(bob, "鲍勃的唯一一条知识。")
    expect(bob.locator("#kb-info")).to_contain_text("共 1 条")
    search(alice, "火星")
    expect(hits(alice, "semantic")).to_have_count(2)
    assert "鲍勃" not in alice.inner_text("#col-semantic")


def test_bad_input_gives_messages_and_keeps_the_text(page):
    """Clicks: search with no query, with an empty knowledge base, and with a 100,000-line paste."""
    from playwright.sync_api import expect

    p = page()
    p.click("#search-button")
    expect(p.locator("#notice")).to_contain_text("请输入查询词")
    type_knowledge_base(p, "")
    kb = p.locator("#kb textarea")
    expect(p.locator("#kb-info")).to_contain_text("知识库为空")
    search(p, "苹果")
    expect(p.locator("#notice")).to_contain_text("知识库为空")
    assert p.input_value("#query textarea") == "苹果"

    # A 100k-line paste (set in one go, as a paste does; typing it key by key would take Playwright minutes).
    paste = "\n".join(f"第 {i} 条粘贴的知识" for i in range(100_000))
    p.evaluate("""(text) => { const box = document.querySelector('#kb textarea');
        box.value = text; box.dispatchEvent(new Event('input', {bubbles: true})); }""", paste)
    expect(p.locator("#kb-info")).to_contain_text("100,000")
    search(p, "知识")
    expect(p.locator("#notice")).to_contain_text("超过本演示的上限")
    assert kb.input_value() == paste


def test_markup_in_the_knowledge_base_is_shown_as_text_everywhere(page):
    """Clicks: paste a knowledge base whose entries hold HTML and Markdown, search, open three hits' "why" and
    the why table. Found by the attacker review: the why table receives the entries' text
    unescaped (a share-link visitor's own text, but also the server's --kb); nothing of it may run or render."""
    from playwright.sync_api import expect

    p = page()
    img = '<img src=x onerror="window.__pwned = 1">'
    entries = [f"黑屏 {img} 笔记本", "黑屏 <b>粗体</b> **星号** [链接](javascript:window.__pwned=2)",
               "黑屏 <script>window.__pwned = 3</script> 电脑", "普通的电池说明"]
    type_knowledge_base(p, "\n".join(entries))
    expect(p.locator("#kb-info")).to_contain_text("共 4 条")
    search(p, "黑屏")
    expect(hits(p, "hybrid")).to_have_count(4)
    settled(p)
    for i in range(3):
        hits(p, "hybrid").nth(i).locator(".why summary").click()
    open_accordion(p, "why", "#why-table")
    expect(p.locator("#why-table")).to_contain_text("onerror")
    why = p.locator("#why-table").inner_text()
    assert '<img src=x onerror="window' in why and "<b>粗体</b>" in why and "**星号**" in why, why  # cut at 30
    cards = " ".join(hit_texts(p, "hybrid"))
    assert "<b>粗体</b>" in cards and "<script>" in cards and "onerror" in cards, cards
    for area in ("#col-hybrid", "#col-keyword", "#col-semantic", "#why-table"):
        assert p.locator(f"{area} img, {area} script, {area} b, {area} a[href^='javascript']").count() == 0, area
    assert p.evaluate("window.__pwned") is None


# ------------------------------------------------------------------ servers with slow models


@pytest.fixture(scope="module")
def gated_demo(tmp_path_factory):
    """The demo whose model finishes loading only when the test creates the gate file."""
    folder = tmp_path_factory.mktemp("gated-demo")
    server = ServerProcess(["-m", "tests.ui_server", "--model", "gated", "--gate", str(folder / "gate")],
                           folder / "server.log")
    server.gate = folder / "gate"
    yield server
    server.stop()


def test_loading_state_with_keyword_search_until_the_model_is_ready(chromium, gated_demo):
    """Clicks: search while the model loads; then (the model ready) nothing: the page updates itself."""
    from playwright.sync_api import expect

    p = open_page(chromium, gated_demo.url, ready=False)
    expect(p.locator("#model-status")).to_contain_text("正在加载向量引擎…")
    expect(p.locator("#index-info")).to_contain_text("关键词索引就绪（18 条）")
    search(p, "巴黎")
    expect(p.locator("#col-keyword .hit .hit-text").first).to_have_text("法国的首都是巴黎。")
    expect(p.locator("#notice")).to_contain_text("向量引擎仍在加载")
    expect(p.locator("#col-semantic")).to_contain_text("语义结果将在向量引擎就绪后显示")
    Path(gated_demo.gate).touch()
    expect(p.locator("#model-status")).to_contain_text("向量空间已展开")
    expect(p.locator("#index-info")).to_contain_text("向量索引就绪：18 条")
    expect(hits(p, "semantic")).to_have_count(5)  # the query re-ran with the model, unasked
    expect(p.locator("#notice")).not_to_contain_text("向量引擎仍在加载")
    p.context.close()


@pytest.fixture(scope="module")
def slow_demo(tmp_path_factory):
    """The demo with a fake model that embeds 5 documents a second (no cache): embedding is easy to watch."""
    folder = tmp_path_factory.mktemp("slow-demo")
    server = ServerProcess(["-m", "tests.ui_server", "--model", "slow"], folder / "server.log")
    yield server
    server.stop()


def test_searches_get_through_while_another_visitor_embeds(chromium, slow_demo):
    """Clicks: two visitors paste 60 entries each (filling both embedding slots); a third searches."""
    from playwright.sync_api import expect

    alice, bob, carol = (open_page(chromium, slow_demo.url) for _ in range(3))
    type_knowledge_base(alice, "\n".join(f"第 {i} 条新知识：北京的天气。" for i in range(60)))
    type_knowledge_base(carol, "\n".join(f"卡罗尔的第 {i} 条笔记。" for i in range(60)))
    # The progress bar counts entries on the index line, which stays visible with the panel closed.
    expect(alice.locator("#index-info")).to_contain_text(re.compile(r"\d+/60"))
    expect(carol.locator("#index-info")).to_contain_text(re.compile(r"\d+/60"))

    # Meanwhile Bob's search is answered in full (keyword, semantic, hybrid) ...
    search(bob, "巴黎是哪个国家的首都")
    expect(bob.locator("#col-semantic .hit .hit-text").first).to_have_text("法国的首都是巴黎。", timeout=8_000)
    expect(bob.locator("#col-keyword .hit .hit-text").first).to_have_text("法国的首都是巴黎。")
    # ... and Alice gets keyword results at once, with a note that semantic ones follow.
    search(alice, "天气")
    expect(alice.locator("#notice")).to_contain_text("正在重新向量化", timeout=8_000)
    expect(hits(alice, "keyword")).to_have_count(5)
    expect(alice.locator("#index-info")).to_contain_text(re.compile(r"\d+/60"))  # still embedding

    # When her embedding is done, her query is re-run with all three columns.
    expect(alice.locator("#index-info")).to_contain_text("向量索引就绪：60 条", timeout=60_000)
    expect(hits(alice, "semantic")).to_have_count(5)
    expect(alice.locator("#notice")).not_to_contain_text("正在重新向量化")
    for p in (alice, bob, carol):
        p.context.close()


def test_undo_after_an_upload_brings_the_knowledge_base_back_without_embedding_it_again(chromium, slow_demo,
                                                                                        tmp_path):
    """Clicks: 60 typed entries (12 s to embed at 5 a second), an upload replacing them, undo. The undo used to
    embed the 60 entries again (user review: 72 entries, 43 s on the CPU); their vectors are kept, so the index
    is ready at once."""
    from playwright.sync_api import expect

    p = open_page(chromium, slow_demo.url)
    typed = "\n".join(f"撤销测试的第 {i} 条笔记。" for i in range(60))
    type_knowledge_base(p, typed)
    kb = _kb(p)
    expect(p.locator("#index-info")).to_contain_text("向量索引就绪：60 条", timeout=60_000)
    (tmp_path / "two.txt").write_text("上传的第一条。\n上传的第二条。\n", encoding="utf-8")
    idle(p)
    p.locator("#upload input[type=file]").set_input_files(str(tmp_path / "two.txt"))
    expect(kb).to_have_value("上传的第一条。\n上传的第二条。")
    expect(p.locator("#index-info")).to_contain_text("向量索引就绪：2 条", timeout=20_000)
    idle(p)
    p.evaluate("""() => { window.indexLines = [];
      new MutationObserver(() => window.indexLines.push(document.querySelector('#index-info').innerText))
        .observe(document.querySelector('#index-info'), {subtree: true, childList: true, characterData: true}); }""")
    p.click("#undo")
    expect(kb).to_have_value(typed)
    # embedding them again would take 12 s, with a progress count on this line
    expect(p.locator("#index-info")).to_contain_text("向量索引就绪：60 条", timeout=5_000)
    shown = p.evaluate("window.indexLines")
    assert not [line for line in shown if "正在向量化" in line], shown  # no "embedding" flash (nor its progress bar)
    search(p, "第 7 条笔记")
    expect(hits(p, "semantic")).to_have_count(5)
    p.context.close()


def test_evaluating_my_judgements_takes_the_knowledge_bases_vectors(chromium, slow_demo):
    """Clicks: 60 typed entries (12 s to embed at 5 a second), a search, "2" on a hit, the evaluation tab's
    "evaluate my judgements". The evaluation used to embed the whole knowledge base again (user review); it takes
    the session's vectors, so the report is there within seconds."""
    from playwright.sync_api import expect

    p = open_page(chromium, slow_demo.url)
    type_knowledge_base(p, "\n".join(f"评测测试的第 {i} 条笔记。" for i in range(60)))
    expect(p.locator("#index-info")).to_contain_text("向量索引就绪：60 条", timeout=60_000)
    search(p, "第 7 条笔记")
    card = hits(p, "keyword").filter(has=p.locator(".hit-text", has_text="第 7 条笔记")).first
    idle(p)
    card.locator(".judge button[data-grade='2']").click()
    idle(p)
    p.get_by_role("tab", name="评测").click()
    p.click("#eval-judged")
    expect(p.locator("#eval-status")).to_contain_text("我的评判：1 个查询", timeout=6_000)
    p.context.close()


def test_why_this_rank_of_a_learned_weight_names_the_chosen_weight_and_the_raise(page):
    """Clicks: fusion "learned", a search with one word in the knowledge base and one not, the first hybrid hit's
    "why this rank": it names the weight the model chose and why the weight used is higher (partial coverage)."""
    from playwright.sync_api import expect

    p = page()
    search(p, "苹果 capital")  # 苹果 is in the sample, "capital" in no entry: the coverage rule raises the weight
    expect(hits(p, "hybrid").first).to_be_visible()
    choose(p, "fusion", "learned")  # searches again
    expect(p.locator("#col-hybrid .col-title")).to_contain_text("learned")
    p.locator("#col-hybrid .why summary").first.click()
    why = p.locator("#col-hybrid .why").first
    expect(why).to_contain_text("学习的权重：")
    expect(why).to_contain_text(re.compile(r"实际语义权重从 0\.\d+ 提高到 0\.\d\d"))


def test_a_second_evaluation_run_clicked_during_the_first_runs_after_it(chromium, slow_demo, tmp_path):
    """Clicks: the evaluation tab; a 25-document set, "run"; while it embeds, another set's files and "run" again.
    User review: Gradio dropped the second click, and the first set's result stood beside the second set's files."""
    import json as _json

    from playwright.sync_api import expect

    def labelled(folder: Path, n_docs: int, word: str) -> list[str]:
        folder.mkdir()
        docs = [(f"d{i}", f"{word}的第 {i} 条说明") for i in range(n_docs)]
        (folder / "corpus.jsonl").write_text("".join(_json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                                                     for i, t in docs), encoding="utf-8")
        (folder / "queries.jsonl").write_text(_json.dumps({"id": "q1", "text": f"{word} 第 1 条"},
                                                          ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "qrels.tsv").write_text("q1\td1\t1\n", encoding="utf-8")
        return [str(folder / n) for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")]

    p = open_page(chromium, slow_demo.url)
    p.get_by_role("tab", name="评测").click()
    upload_eval_files(p, labelled(tmp_path / "first", 25, "苹果"))  # 5 s of embedding at 5 a second
    p.click("#eval-run")
    expect(p.locator("#eval-status")).to_contain_text(re.compile(r"\d+/25"))
    p.locator("#eval-files input[type=file]").set_input_files(labelled(tmp_path / "second", 7, "香蕉"))
    expect(p.locator("#eval-status")).to_contain_text("7")
    p.click("#eval-run")
    # the second set's result (before: the first set's "1 个查询，25 篇文档，模型 …" stayed)
    expect(p.locator("#eval-status")).to_contain_text("1 个查询，7 篇文档，模型", timeout=60_000)
    p.context.close()
