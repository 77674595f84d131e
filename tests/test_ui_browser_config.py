"""Carry a setting out, in Debian's Chromium: set alpha and fusion, export the setting, start the demo with
``--config`` that file and find the page's controls and ranking as they were (fake one-hot model)."""

from __future__ import annotations

import pytest

from hybrid.settings import DEFAULT_SETTINGS
from tests.browser import (BROWSER_MARKS, ServerProcess, choose, exported_setting, hit_texts, idle, open_accordion,
                           open_page, search, set_number, settled, upload_eval_files)

pytestmark = BROWSER_MARKS

QUERY = "运动后吃什么补充体力"  # one of the sample's examples whose hybrid ranking the setting changes
ALPHA, FUSION = 0.25, "rrf"


def ranking(page) -> list[str]:
    settled(page)
    return hit_texts(page, "hybrid")


@pytest.mark.parametrize("width,locale", [(1440, "zh-CN"), (390, "en-US")])
def test_an_exported_setting_restarts_the_demo_as_it_was(chromium, page, tmp_path, width, locale):
    """Clicks: search; alpha and fusion; export setting; the file's download link. Then a server started with
    ``--config`` that file: its alpha slider, fusion dropdown and the same query's hybrid ranking."""
    from playwright.sync_api import expect

    p = page(width=width, locale=locale)
    search(p, QUERY)
    expect(p.locator("#col-hybrid .hit").first).to_be_visible()
    default = ranking(p)
    choose(p, "fusion", FUSION)
    set_number(p, "alpha", ALPHA)
    open_accordion(p, "more-controls", "#window")
    set_number(p, "window", 20)  # the sixth user review: the export left the candidate window out
    search(p, QUERY)
    idle(p)
    tuned = ranking(p)
    assert tuned != default  # the setting changes the ranking, so finding it again below means something
    idle(p)
    saved = tmp_path / "setting.json"
    exported = exported_setting(p, "export", saved)
    assert exported["settings"]["alpha"] == ALPHA and exported["settings"]["fusion"] == FUSION
    assert exported["settings"]["k"] == DEFAULT_SETTINGS.k and exported["settings"]["window"] == 20
    assert exported["exports"]["milvus"]["python"] == "RRFRanker(60)"
    assert "rrf" in exported["exports"]["elasticsearch"]["search"]["retriever"]
    # the server runs "auto": the notes name the model it loaded, not every model auto could be
    assert all('(fake-onehot, the one "auto" loaded here)' in out["notes"][-1]
               for out in exported["exports"].values()), exported["exports"]["milvus"]["notes"]

    server = ServerProcess(["-m", "tests.ui_server", "--model", "fake", "--config", str(saved)],
                           tmp_path / "server.log")
    try:
        q = open_page(chromium, server.url, width=width, locale=locale)
        expect(q.locator("#alpha input[type=number]")).to_have_value(str(ALPHA))
        expect(q.locator("#fusion input")).to_have_value(FUSION)
        open_accordion(q, "more-controls", "#window")
        expect(q.locator("#window input[type=number]")).to_have_value("20")
        search(q, QUERY)
        expect(q.locator("#col-hybrid .hit").first).to_be_visible()
        assert ranking(q) == tuned
        q.context.close()
    finally:
        server.stop()


def test_the_evaluation_tab_exports_its_best_setting(page, tmp_path):
    """Clicks: the evaluation tab, "export the best setting" too early, the upload box, "run", "export the best
    setting" and the file's download link: the file holds the best sweep point the tab names."""
    import re

    from playwright.sync_api import expect

    from tests.test_evaluate import write_set

    folder = write_set(tmp_path / "tiny")
    p = page()
    p.get_by_role("tab", name="评测").click()
    p.click("#eval-export-setting")
    expect(p.locator("#eval-status")).to_contain_text("请先运行一次评测")
    upload_eval_files(p, [str(folder / n) for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")])
    p.click("#eval-run")
    note = p.locator("#eval-status")
    expect(note).to_contain_text("最好的设置")
    best = re.search(r"最好的设置：(\w+)，α = ([\d.]+)", note.inner_text())
    idle(p)
    exported = exported_setting(p, "eval-export", tmp_path / "best.json")
    assert exported["settings"]["fusion"] == best.group(1)
    assert exported["settings"]["alpha"] == pytest.approx(float(best.group(2)))
    milvus = exported["exports"]["milvus"]
    if best.group(1) == "adaptive":  # no equivalent: the nearest, measured on the set beside ours
        assert milvus["equivalent"] == "none" and set(milvus["measured"]) == {"ours", "nearest", "lost"}
    else:
        assert milvus["equivalent"] in ("exact", "approximate")
