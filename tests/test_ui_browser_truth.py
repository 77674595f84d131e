"""The page tells the truth (issue 20): colours, bars, fusion parts, alpha's meaning, the normaliser and the
evaluation tab's best setting, clicked in Debian's Chromium (Playwright) at 1440 and 390 px, in Chinese and
English. After each test the server's log must hold no exception and no error record (``tests/conftest.py``).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser import (BROWSER_MARKS, choose, idle, open_accordion, open_page, search, set_number, settled,
                           upload_eval_files)
from webui.i18n import TEXTS
from webui.samples import sample_text

pytestmark = BROWSER_MARKS

PHONE = (390, 844)


def _sample(page, name: str, lang: str = "zh") -> None:
    from playwright.sync_api import expect

    open_accordion(page, "kb-panel", "#kb textarea")
    choose(page, "sample", TEXTS[lang][f"sample_{name}"])
    expect(page.locator("#kb textarea")).to_have_value(sample_text(name))
    page.wait_for_selector("#index-info:has-text('向量索引就绪'), #index-info:has-text('Vector index ready')")
    idle(page)


def _english(page) -> None:
    page.get_by_label("English").check()
    idle(page)


def _card(page, column: str, text: str):
    return page.locator(f"#col-{column} .hit", has_text=text).first


def test_colours_follow_the_evidence_not_a_made_up_probability(chromium, real_demo):
    """Clicks: search the issue's queries on the everyday and tech samples (1440 px, then 390 px in English).
    Irrelevant runners-up are grey, the right answers green in every column, and no "相关概率" is shown."""
    from playwright.sync_api import expect

    page = open_page(chromium, real_demo.url, width=1440)
    for query, wrong in (("我的笔记本突然黑屏了", "手机电池不耐用"), ("坐高铁从北京去上海", "北京是中国的首都"),
                         ("喝咖啡睡不着", "猫是一种独立的宠物")):
        search(page, query)
        settled(page)
        expect(_card(page, "semantic", wrong)).to_have_class(re.compile(r"\bother\b"))
        expect(page.locator("#col-semantic .hit").first).to_have_class(re.compile(r"\brelevant\b"))
    search(page, "capital of France")
    settled(page)
    expect(_card(page, "semantic", "法国的首都是巴黎")).to_have_class(re.compile(r"\brelevant\b"))
    assert "相关概率" not in page.locator("#results").inner_text()
    expect(page.locator("#colour-legend")).to_contain_text("灰色 = 证据不够强，不等于不相关")
    expect(page.locator("#col-semantic .col-note")).to_have_text(TEXTS["zh"]["bar_note_semantic"])
    widths = page.locator("#col-semantic .hit .fill").evaluate_all("els => els.map(e => parseFloat(e.style.width))")
    assert widths[0] == 100.0 and max(widths[1:]) < 50  # relative to the top, from the mean cosine
    page.context.close()

    page = open_page(chromium, real_demo.url, width=PHONE[0], height=PHONE[1])
    _english(page)
    _sample(page, "tech_faq", "en")
    search(page, "GPU memory error")
    settled(page)
    for column in ("keyword", "semantic", "hybrid"):  # the BM25 #1 is green in all three columns
        card = page.locator(f"#col-{column} .hit", has_text="CUDA out of memory").first
        assert "relevant" in (card.get_attribute("class") or "").split(), column
    assert "P(relevant)" not in page.locator("body").inner_text()
    expect(page.locator("#colour-legend")).to_contain_text("grey = no strong evidence, which does not mean irrelevant")
    # adaptive gave keywords weight 0 here: the card says so beside its "keyword 0.0000" part
    expect(page.locator("#column-picker")).to_be_visible()
    page.locator("#column-picker input[value=hybrid]").check()
    cuda = page.locator("#col-hybrid .hit", has_text="CUDA out of memory").first
    if "keyword 0.0000" in cuda.locator(".parts").inner_text():
        expect(cuda.locator(".zero-note")).to_contain_text("but this search gives keywords weight 0")
    page.context.close()


def test_a_near_top_keyword_match_gets_keyword_credit(chromium, real_demo):
    """Clicks: the tech sample, search 如何给表格排序, then k = 20."""
    from playwright.sync_api import expect

    page = open_page(chromium, real_demo.url, width=1440)
    _sample(page, "tech_faq")
    search(page, "如何给表格排序")
    settled(page)
    pandas = _card(page, "hybrid", "pandas")
    expect(pandas).to_be_visible()
    keyword_part = re.search(r"关键词 ([\d.]+)", pandas.locator(".parts").inner_text())
    assert keyword_part and float(keyword_part.group(1)) > 0.05, pandas.locator(".parts").inner_text()
    expect(page.locator("#col-hybrid .hit").first).to_contain_text("pandas")
    # k = 20 shows entries with no evidence either way: a fused 0 says why and how the ties are ordered.
    set_number(page, "k", 20)
    settled(page)
    cards = page.locator("#col-hybrid .hit")
    expect(cards).to_have_count(18)  # the whole sample
    zeros = [i for i in range(cards.count()) if cards.nth(i).locator(".score").first.inner_text() == "0.0000"]
    assert zeros, "the sample has entries below the mean cosine without a keyword match"
    for i in zeros:
        expect(cards.nth(i).locator(".zero-note")).to_contain_text("没有关键词匹配")
    assert all(cards.nth(i).locator(".zero-note").count() == 0 for i in range(cards.count()) if i not in zeros)
    page.context.close()


def test_alpha_says_what_it_means_and_the_normaliser_where_it_does_nothing(chromium, fake_demo):
    """Clicks: fusion adaptive / rrf / weighted, alpha 0 under weighted, English, at 1440 px."""
    from playwright.sync_api import expect

    page = open_page(chromium, fake_demo.url, width=1440)
    alpha, normalizer = page.locator("#alpha"), page.locator("#normalizer")
    expect(alpha).to_contain_text("0 并不是只用关键词")  # the default, adaptive
    expect(normalizer).to_contain_text("adaptive 不用它")
    expect(normalizer.locator("input")).to_be_disabled()
    choose(page, "fusion", "weighted")
    expect(alpha).to_contain_text("0 = 只用关键词")
    expect(normalizer.locator("input")).to_be_enabled()
    search(page, "法国首都")
    set_number(page, "alpha", 0)
    settled(page)
    expect(page.locator("#col-hybrid .hit-text")).to_have_text(page.locator("#col-keyword .hit-text").all_inner_texts())
    choose(page, "fusion", "rrf")
    expect(normalizer).to_contain_text("rrf 不用它")
    expect(normalizer.locator("input")).to_be_disabled()
    _english(page)
    expect(alpha).to_contain_text("0 = keyword only")
    expect(normalizer).to_contain_text("rrf does not use it")
    choose(page, "fusion", "adaptive")
    expect(alpha).to_contain_text("0 is not keyword only")
    page.context.close()


CORPUS = [("d1", "巴黎"), ("d2", "今天天气晴朗，适合去公园散步，也适合骑车。"), ("d3", "明天下雨"),
          ("d4", "苹果"), ("d5", "香蕉是黄色的，吃起来很甜，大家都爱吃。"), ("d6", "食物和美食")]
QUERIES = [("q1", "巴黎天气"), ("q2", "苹果香蕉")]
QRELS = [("q1", "d2", 1), ("q2", "d5", 1)]  # the weaker keyword match is the answer


def test_evaluation_best_setting_beats_every_row_and_alpha_ends_are_the_single_lists(chromium, fake_demo, tmp_path):
    """Clicks: the evaluation tab, its upload box (corpus.jsonl, queries.jsonl, qrels.tsv) and "run"."""
    from playwright.sync_api import expect

    for name, rows in (("corpus.jsonl", CORPUS), ("queries.jsonl", QUERIES)):
        (tmp_path / name).write_text("".join(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n"
                                             for i, t in rows), encoding="utf-8")
    (tmp_path / "qrels.tsv").write_text("".join(f"{q}\t{d}\t{r}\n" for q, d, r in QRELS), encoding="utf-8")
    page = open_page(chromium, fake_demo.url, width=1440)
    page.get_by_role("tab", name="评测").click()
    upload_eval_files(page, [str(tmp_path / n) for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")])
    page.click("#eval-run")
    note = page.locator("#eval-status")
    expect(note).to_contain_text("最好的设置")
    best = float(re.search(r"nDCG@10 = ([\d.]+)", note.inner_text()).group(1))
    expect(page.locator("#eval-table")).to_contain_text("关键词 (BM25)")
    table = page.locator("#eval-table").inner_text().split()
    numbers = [c for c in table if re.fullmatch(r"[\d.]+", c)]
    assert len(numbers) >= 12 and all(re.fullmatch(r"\d\.\d{4}", c) for c in numbers), numbers  # 1.0000, not 1
    curve = page.locator("#eval-curve .js-plotly-plot")
    expect(curve).to_be_visible()
    data = curve.evaluate("""e => ({traces: e.data.map(t => ({name: t.name, x: t.x, y: t.y})),
                                    lines: e.layout.shapes.map(s => s.y0)})""")
    keyword, semantic = data["lines"][:2]
    # the table's rows are on the curve too: keyword and semantic lines, the default's star, the sweep
    # (the bands behind the lines are intervals, not settings: left out)
    shown = [keyword, semantic, *(y for t in data["traces"] if not t["name"].endswith("95% band") for y in t["y"])]
    assert best >= max(shown) - 1e-4, (best, data)
    for trace in data["traces"]:
        if trace["name"] in ("weighted", "rrf"):
            ends = dict(zip(trace["x"], trace["y"]))
            assert ends[0] == pytest.approx(keyword) and ends[1] == pytest.approx(semantic), trace
    page.context.close()


_LAYOUT = """() => {
  const wide = [], split = [];
  for (const t of document.querySelectorAll('#why-table table, .why-grid')) {
    if (!t.offsetParent) continue;
    const holder = t.closest('.hit, .block');
    let shown = t;  // what the visitor sees of the table: itself, or the box it scrolls in
    for (let e = t; e !== holder; e = e.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(e).overflowX)) { shown = e; break; }
    const card = holder.getBoundingClientRect(), box = shown.getBoundingClientRect();
    if (box.left < card.left - 1 || box.right > card.right + 1) wide.push(`${t.className}: ${box.width} > ${card.width}`);
  }
  for (const th of document.querySelectorAll('#why-table th, .why-grid thead th')) {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode());) {
      for (const m of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
  }
  return {wide, split};
}"""


@pytest.mark.parametrize("size", [(1440, 1000), PHONE])
def test_english_tables_fit_their_cards_and_headers_keep_whole_words(chromium, fake_demo, size):
    """Clicks: English, search 苹果, open the first hit's "why" grid and the summary table (1440 and 390 px).
    No table is wider than its card (on a phone a wide one scrolls inside it) and no header word is broken over
    two lines."""
    page = open_page(chromium, fake_demo.url, *size, locale="en-US")
    _english(page)
    search(page, "苹果")
    settled(page)
    page.locator("#col-hybrid details.why summary").first.click()
    open_accordion(page, "why", "#why-table table")
    page.wait_for_timeout(300)  # the table measures its columns after it is shown
    found = page.evaluate(_LAYOUT)
    assert found == {"wide": [], "split": []}
    if size[0] >= 1440:  # on a desktop the summary table fits its card whole, without a scrollbar
        assert page.evaluate("""() => { const v = document.querySelector('#why-table .virtual-table-viewport');
            return v.scrollWidth <= v.clientWidth + 1; }""")
    page.context.close()


# Records every text the index line (with its progress overlay), the notice, the hybrid column and the model
# pill show, one snapshot per batch of DOM changes (a MutationObserver sees every state the page renders).
_RECORD_STATUS = """() => {
  const grab = () => {
    const index = document.querySelector('#index-info');
    const tracker = index.querySelector('[data-testid=status-tracker]');
    const shown = index.innerText, busy = tracker ? tracker.innerText : '';
    return {index: (busy ? shown.replace(busy, '') : shown).trim(), tracker: busy.trim(),
            notice: document.querySelector('#notice').innerText.trim(),
            hybrid: document.querySelector('#col-hybrid').innerText.trim(),
            hybridHits: document.querySelectorAll('#col-hybrid .hit').length,
            pill: (document.querySelector('#model-status .status') || {dataset: {}}).dataset.state};
  };
  window.statusLog = [grab()];
  new MutationObserver(() => window.statusLog.push(grab())).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ['class']});
}"""


def _status_of(shot: dict, zh: dict) -> dict:
    """What each status element claims: "ready" or "embedding" (None: it claims neither)."""
    embedding_notice = (zh["notice_indexing"], zh["notice_embedding"])
    # the embedding's progress bar claims "embedding"; Gradio's bare "processing | 0.1s" before the event's first
    # answer claims nothing
    index = ("embedding" if zh["progress_embed"] in shot["tracker"] or "向量化" in shot["index"] else
             "ready" if "向量索引就绪" in shot["index"] else None)
    notice = "embedding" if any(n in shot["notice"] for n in embedding_notice) else "ready"
    hybrid = ("ready" if shot["hybridHits"] else
              "embedding" if "正在向量化知识库" in shot["hybrid"] else None)
    return {"index": index, "notice": notice, "hybrid": hybrid, "pill": shot["pill"]}


def test_status_lines_never_contradict_each_other_while_an_edit_is_embedded(chromium, tmp_path):
    """Clicks: search 苹果 (model ready, sample embedded), then paste the sample with 15 more lines; every text
    the index line, the notice, the hybrid column and the model pill show meanwhile is recorded (issue 20.9:
    for about a second a "向量索引就绪" line stood beside "刚刚改动，正在重新向量化", a progress bar ran over a stale
    "就绪" line). In every recorded moment they tell one story, "embedding" or "ready", and while embedding the
    hybrid column says why it is empty (the entries being embedded)."""
    from playwright.sync_api import expect

    from tests.browser import ServerProcess, hits, type_knowledge_base

    zh = TEXTS["zh"]
    server = ServerProcess(["-m", "tests.ui_server", "--model", "slow"], tmp_path / "server.log")
    try:
        page = open_page(chromium, server.url)
        search(page, "苹果")
        expect(hits(page, "hybrid")).not_to_have_count(0)
        settled(page)
        idle(page)
        page.evaluate(_RECORD_STATUS)
        edited = sample_text("everyday") + "\n" + "\n".join(f"苹果的第 {i} 种吃法。" for i in range(15))
        type_knowledge_base(page, edited)
        expect(page.locator("#index-info")).to_contain_text("向量索引就绪：33 条", timeout=60_000)
        expect(hits(page, "hybrid")).not_to_have_count(0)
        idle(page)
        log = page.evaluate("window.statusLog")
        (tmp_path / "status.json").write_text(json.dumps(log, ensure_ascii=False, indent=1), encoding="utf-8")
        page.context.close()
    finally:
        server.stop()
    states = [_status_of(shot, zh) for shot in log]
    contradictions = [(s, shot) for s, shot in zip(states, log)
                      if len({v for k, v in s.items() if k != "pill" and v is not None}) > 1 or s["pill"] != "ready"]
    assert contradictions == [], contradictions[:3]
    waiting = [shot for s, shot in zip(states, log) if s["hybrid"] == "embedding"]
    assert waiting, "the hybrid column never said it waits for the embedding"
    assert all(zh["semantic_embedding"].format(n=33) in shot["hybrid"] for shot in waiting), waiting[:2]
    assert any("正在向量化新增或改动的 15 条" in shot["index"] for shot in waiting), waiting[:2]  # the 15 new lines
    assert states[-1] == {"index": "ready", "notice": "ready", "hybrid": "ready", "pill": "ready"}, log[-1]
    assert server.problems() == []


_PHONE_FIT = """() => {
  const grids = [...document.querySelectorAll('#col-hybrid details.why[open] .why-grid')].map(g => {
    const card = g.closest('.hit').getBoundingClientRect(), box = g.getBoundingClientRect();
    const last = [...g.querySelectorAll('td:last-child')].map(td => td.getBoundingClientRect());
    return {scroll: g.scrollWidth, client: g.clientWidth, inside: box.right <= card.right + 1,
            lastShown: last.length === 3 && last.every(r => r.width > 0 && r.right <= card.right + 1)};
  });
  const broken = [];
  for (const cell of document.querySelectorAll('#why-table .body-cell:not(:nth-child(2))')) {
    const tops = new Set(), walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode());) {
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.top));
    }
    if (tops.size > 1) broken.push(cell.innerText);
  }
  return {grids, broken, cells: document.querySelectorAll('#why-table .body-cell').length};
}"""


def test_phone_english_why_grid_fits_its_card_and_numbers_stay_whole(chromium, fake_demo):
    """Clicks: 390 px, English, search 苹果, open the first hybrid hit's "Why rank 1?" and the summary table. The
    grid's last column ("contribution") was reachable only by a sideways scroll nobody is told about, and the
    summary's numbers broke as "3.411" over "1": the grid now fits its card (its rows stack, each value after its
    column's name) and no number cell spans two lines."""
    page = open_page(chromium, fake_demo.url, *PHONE, locale="en-US")
    _english(page)
    search(page, "苹果")
    settled(page)
    page.locator("#col-hybrid details.why summary").first.click()
    open_accordion(page, "why", "#why-table table")
    page.wait_for_timeout(300)  # the table measures its columns after it is shown
    found = page.evaluate(_PHONE_FIT)
    assert found["grids"] and all(g["scroll"] <= g["client"] + 1 and g["inside"] and g["lastShown"]
                                  for g in found["grids"]), found
    assert found["cells"] > 10 and found["broken"] == [], found
    page.context.close()


def test_hybrid_cards_show_rank_badges_only_for_lists_the_hit_is_in(chromium, fake_demo):
    """Clicks: search 苹果 (one entry holds the word). A "关键词 新" badge stood on nearly every hybrid card (every hit
    keyword search did not match): a badge that is always there says nothing. Now only a hit keyword search
    matched carries a keyword badge (its move), the others none, and the badge's tooltip says what it means."""
    page = open_page(chromium, fake_demo.url, width=1440)
    search(page, "苹果")
    settled(page)
    cards = page.evaluate("""() => [...document.querySelectorAll('#col-hybrid .hit')].map(c => ({
        text: c.querySelector('.hit-text').innerText,
        badges: [...c.querySelectorAll('.hit-head .move')].map(m => [m.innerText, m.title])}))""")
    assert len(cards) == 5, cards
    badges = [b for c in cards for b in c["badges"]]
    assert not [b for b in badges if "新" in b[0]], cards
    matched = [c for c in cards if "苹果" in c["text"]]
    assert matched and all(any(b[0].startswith("关键词 ") for b in c["badges"]) for c in matched), cards
    assert all(not any(b[0].startswith("关键词 ") for b in c["badges"]) for c in cards if "苹果" not in c["text"])
    assert all("↑" in b[1] and "=" in b[1] for b in badges), badges
    page.context.close()


def test_example_chips_follow_the_page_language_where_the_sample_has_english_queries(chromium, fake_demo):
    """Clicks: English, pick the mixed Chinese-English sample, then switch to 中文 and back. The chips stayed
    Chinese on the English page; now the English page shows the sample's English queries, the Chinese page its
    Chinese ones, and a chip still searches what it shows."""
    from playwright.sync_api import expect

    from webui.samples import example_queries

    page = open_page(chromium, fake_demo.url, width=1440, locale="en-US")
    _english(page)
    _sample(page, "mixed_zh_en", "en")
    chips = page.locator("#examples button")
    english = list(example_queries("mixed_zh_en", "en"))
    expect(chips).to_have_text(english)
    page.get_by_label("中文").check()
    idle(page)
    expect(chips).to_have_text(list(example_queries("mixed_zh_en", "zh")))
    page.get_by_label("English").check()
    idle(page)
    expect(chips).to_have_text(english)
    chips.nth(2).click()
    expect(page.locator("#query textarea")).to_have_value(english[2])
    expect(page.locator("#col-keyword .hit").first).to_contain_text("reset my password")
    page.context.close()
