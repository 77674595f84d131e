"""Carry a setting out, in Debian's Chromium: set alpha and fusion, export the setting, start the demo with
``--config`` that file and find the page's controls and ranking as they were (fake one-hot model)."""

from __future__ import annotations

import json

import pytest

from hybrid.settings import DEFAULT_SETTINGS
from tests.browser import ServerProcess, choose, hit_texts, idle, open_page, search, set_number, settled

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

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
    search(p, QUERY)
    idle(p)
    tuned = ranking(p)
    assert tuned != default  # the setting changes the ranking, so finding it again below means something
    idle(p)
    p.click("#export-setting")
    link = p.locator("#export-file a[download]").first
    expect(link).to_be_visible()
    with p.expect_download() as caught:
        link.click()
    saved = tmp_path / "setting.json"
    caught.value.save_as(saved)
    exported = json.loads(saved.read_text(encoding="utf-8"))
    assert exported["settings"]["alpha"] == ALPHA and exported["settings"]["fusion"] == FUSION
    assert exported["settings"]["k"] == DEFAULT_SETTINGS.k
    assert exported["exports"]["milvus"]["python"] == "RRFRanker(60)"
    assert "rrf" in exported["exports"]["elasticsearch"]["search"]["retriever"]

    server = ServerProcess(["-m", "tests.ui_server", "--model", "fake", "--config", str(saved)],
                           tmp_path / "server.log")
    try:
        q = open_page(chromium, server.url, width=width, locale=locale)
        expect(q.locator("#alpha input[type=number]")).to_have_value(str(ALPHA))
        expect(q.locator("#fusion input")).to_have_value(FUSION)
        search(q, QUERY)
        expect(q.locator("#col-hybrid .hit").first).to_be_visible()
        assert ranking(q) == tuned
        q.context.close()
    finally:
        server.stop()
