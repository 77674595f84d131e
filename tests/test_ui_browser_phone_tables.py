"""The demo's tables read on a phone, in Chromium: the vector table behind the scenes (390 px Chinese, and 1440 px
unchanged) and the evaluation tab's three tables (390 px English).

Gradio sizes a table's columns from ``column_widths`` and the card's width (the vector table's numbers were cut
to "0.06…") or from each column's longest value on one line (the quality table's label column filled the card,
every metric off-screen; the helps/hurts table broke its headers inside words, "qu|er|y"). Measured here in the
rendered page: no cell's text is cut, no word breaks over two lines, every column can be reached.

The page is served in its own process (``tests/ui_server.py``, the fake one-hot model); after each test the
server's log must hold no exception and no error record (``tests/conftest.py``).
"""

from __future__ import annotations

import pytest

from tests.browser import BROWSER_MARKS, english, idle, open_accordion, search, settled, upload_eval_files
from tests.test_ui_browser_lab import _open_tab, write_lab_set

pytestmark = BROWSER_MARKS

# What a visitor sees of one table (``#id``): cells whose text is cut (wider than its box, or narrower than
# ``widest``, the widest value the column may hold, in the cell's own font), words broken over two lines, rows
# drawn over each other, the columns' boxes and the scroll box they are shown in.
_MEASURE = """([id, widest]) => {
  const root = document.getElementById(id);
  const viewport = root.querySelector('.virtual-table-viewport');
  const canvas = document.createElement('canvas').getContext('2d');
  const textWidth = (el, text) => {
    const s = getComputedStyle(el);
    canvas.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    return canvas.measureText(text).width;
  };
  // a word: a run of letters, digits and signs, or one CJK character (Chinese may break between any two)
  const WORD = /[^\\s\\u2e80-\\u9fff\\uf900-\\ufaff\\uff00-\\uffef]+|[\\u2e80-\\u9fff\\uf900-\\ufaff\\uff00-\\uffef]/g;
  const cut = [], split = [], narrow = [];
  for (const cell of root.querySelectorAll('th, .body-cell')) {
    const span = cell.querySelector('span.text');
    const text = cell.innerText.replace('⋮', '').trim();
    if (!span || !text) continue;
    if (span.scrollWidth > span.clientWidth + 1 || span.scrollHeight > span.clientHeight + 1) cut.push(text);
    if (widest && cell.matches('.body-cell:not(:first-child)') && span.clientWidth + 1 < textWidth(span, widest))
      narrow.push(`${text}: ${span.clientWidth} < ${textWidth(span, widest)}`);
    const walker = document.createTreeWalker(span, NodeFilter.SHOW_TEXT);
    for (let node; (node = walker.nextNode());) {
      for (const m of node.textContent.matchAll(WORD)) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
  }
  const rows = [...root.querySelectorAll('.virtual-row')].map(r => r.getBoundingClientRect())
    .sort((a, b) => a.top - b.top);
  const overlapping = rows.slice(1).filter((r, i) => r.top < rows[i].bottom - 1).length;
  const view = viewport.getBoundingClientRect();
  const columns = [...root.querySelectorAll('th')].map(th => {
    const box = th.getBoundingClientRect(), style = th.getAttribute('style') || '';
    return {left: box.left - view.left + viewport.scrollLeft, right: box.right - view.left + viewport.scrollLeft,
            width: box.width, set: parseFloat((style.match(/(?:^|;)\\s*width:\\s*([\\d.]+)px/) || [])[1])};
  });
  return {cut, split, narrow, overlapping, rows: rows.length, columns, viewWidth: viewport.clientWidth,
          scrollWidth: viewport.scrollWidth, scrolls: ['auto', 'scroll'].includes(getComputedStyle(viewport).overflowX),
          pageWidth: document.documentElement.scrollWidth};
}"""


def _reachable(found: dict) -> bool:
    """Every column lies inside the table's scroll box, which scrolls when it is wider than the card."""
    inside = all(c["right"] <= found["scrollWidth"] + 1 for c in found["columns"])
    return inside and (found["scrollWidth"] <= found["viewWidth"] + 1 or found["scrolls"])


@pytest.mark.parametrize("width", [390, 1440])
def test_vector_table_numbers_are_whole(page, width):
    """Clicks: search 我的笔记本突然黑屏了, open 查看幕后数据 (390 px: the cells read "0.06…", "-0.0…"). Every cell of the
    vector table shows its whole number and has room for the widest one, "-0.0000"; at 390 px the table scrolls
    inside its card, the page does not; at 1440 px the columns keep their set widths and the table fits."""
    p = page(width=width, height=844 if width < 800 else 1000)
    search(p, "我的笔记本突然黑屏了")
    settled(p)
    open_accordion(p, "backstage", "#vector-table .body-cell")
    p.wait_for_timeout(300)  # the table measures its columns after it is shown
    found = p.evaluate(_MEASURE, ["vector-table", "-0.0000"])
    assert found["rows"] >= 1 and len(found["columns"]) == 11, found
    assert (found["cut"], found["split"], found["narrow"], found["overlapping"]) == ([], [], [], 0), found
    assert _reachable(found), found
    assert found["pageWidth"] <= width, found
    if width >= 1440:  # unchanged: the column_widths' shares, no scrollbar
        assert all(abs(c["width"] - c["set"]) < 1 for c in found["columns"]), found["columns"]
        assert found["scrollWidth"] <= found["viewWidth"] + 1, found


def test_phone_english_evaluation_tables_keep_whole_words_and_every_column(page, tmp_path):
    """Clicks: 390 px, English, the Evaluate tab, upload a labelled set (corpus, queries, qrels), Run evaluation.
    In the quality, helps/hurts and overlap tables no header or cell breaks inside a word ("qu|er|y", "defaul|t")
    and no text is cut; the label column leaves room for the first number beside it (it filled the card, every
    metric off-screen) and every other column can be scrolled to inside the table."""
    from playwright.sync_api import expect

    p = page(width=390, height=844, locale="en-US")
    english(p)
    _open_tab(p, "en")
    upload_eval_files(p, write_lab_set(tmp_path / "lab"))
    p.click("#eval-run")
    expect(p.locator("#eval-status")).to_contain_text("5 queries")
    expect(p.locator("#eval-overlap")).to_contain_text("RBO@0.9")
    expect(p.locator("#eval-changes .body-cell").first).to_be_visible()
    idle(p)
    p.wait_for_timeout(300)  # the tables measure their columns after they are shown
    for table in ("eval-table", "eval-changes", "eval-overlap"):
        found = p.evaluate(_MEASURE, [table, ""])
        assert found["rows"] >= 1 and len(found["columns"]) >= 4, (table, found)
        assert (found["cut"], found["split"], found["overlapping"]) == ([], [], 0), (table, found)
        assert found["columns"][1]["right"] <= found["viewWidth"] + 1, (table, found["columns"])
        assert _reachable(found), (table, found)
        assert found["pageWidth"] <= 390, (table, found)
